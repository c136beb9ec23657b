// One portal instance: its network, PostGIS with a dedicated volume, backend and nginx, all named
// from the instance name so that instances on one host never collide or see each other's data.
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import * as random from "@pulumi/random";
import { DATABASE_SUPERUSER, InstanceSettings } from "./config";
import {
    DATA_KINDS, LayoutContext, POSTGIS_PGDATA, ROLES, ResolvedMount, Role, instanceDataDir, instanceMounts, volumeName,
} from "./layout";
import { NGINX_PORT, renderNginxConfig } from "./nginxConfig";
import { InstanceHost } from "./dockerHost";
import { LABEL_CONFIG_SHA256, LABEL_INSTANCE, LABEL_MACHINE, LABEL_ROLE, generationalContainerName, instanceDockerName, instanceOnHostName, instanceRegistryDir, nginxConfigDir } from "./naming";

/** The backend's port inside its container (gunicorn in the portal's images). */
export const BACKEND_PORT = 8000;
const POSTGRES_PORT = 5432;

const LOG_OPTS = { "max-size": "10m", "max-file": "5" };
const HEALTHCHECKS: Readonly<Record<Role, string[]>> = {
    postgis: ["CMD-SHELL", 'pg_isready -q -U "$POSTGRES_USER" -d "$POSTGRES_DB"'],
    backend: ["CMD", "python3", "-c", `import socket; socket.create_connection(('127.0.0.1', ${BACKEND_PORT}), 3)`],
    // The master writes its pid file after it has bound its listening sockets: connections queue from then on.
    nginx: ["CMD-SHELL", 'kill -0 "$(cat /var/run/nginx.pid)"'],
};
/**
 * How often each role's healthcheck runs. Docker runs the first check one interval after the
 * start, and a start-before-stop replacement waits for it: the backend's and nginx's interval
 * is how long their image update takes at least.
 */
const HEALTH_INTERVAL: Readonly<Record<Role, string>> = { postgis: "30s", backend: "5s", nginx: "5s" };

/**
 * The roles whose container is replaced start-before-stop: the new one is created under a new
 * name (generationalContainerName), next to the old one, with the same network alias; the
 * docker provider returns from the create only once it is healthy (`wait`), and Pulumi removes
 * the old one after that (stopping it gracefully first, `destroyGraceSeconds`). PostGIS is not
 * one: two servers on one data directory corrupt it, so it keeps its fixed name and is
 * removed before its replacement starts (deleteBeforeReplace). Nor is an nginx that publishes a
 * host port (dev): two containers cannot bind one port, so it is replaced delete-first too. Nor
 * is any container of the checkout layout (dev): it binds the developer's checkout by absolute
 * path, so a generational name would differ per checkout directory (and with it the golden
 * plans), and a developer's machine needs no zero-downtime update.
 */
export const START_BEFORE_STOP = ["backend", "nginx"] as const satisfies readonly Role[];
type StartBeforeStopRole = (typeof START_BEFORE_STOP)[number];
/**
 * The container inputs the program sets that the docker provider updates in place (the
 * provider's list is tools/replacementRules.ts; a unit test holds the two together). Every
 * other input replaces the container, and so is part of a start-before-stop container's name.
 */
export const IN_PLACE_CONTAINER_INPUTS = ["memory", "memorySwap", "restart", "healthcheck", "wait", "waitTimeout", "destroyGraceSeconds"] as const;
/**
 * Inputs the provider's schema updates in place although its update never applies them to the
 * running container (it sets limits and the restart policy only): kept in the name's digest, so
 * a change of nginx's tmpfs replaces it, start-before-stop, and so takes effect.
 */
export const APPLIED_BY_REPLACEMENT_ONLY = ["tmpfs"] as const;
/** How long a new backend or nginx may take to turn healthy before its create fails (the old one keeps serving then). */
export const HEALTHY_WITHIN_SECONDS: Readonly<Record<StartBeforeStopRole, number>> = { backend: 180, nginx: 60 };
/**
 * How long a container being removed may finish what it does after its stop signal, before it
 * is killed: PostgreSQL's clean shutdown (a checkpoint); the backend's and nginx's requests in
 * flight (gunicorn stops on SIGTERM, nginx on SIGQUIT, each after its open requests).
 */
export const STOP_GRACE_SECONDS: Readonly<Record<Role, number>> = { postgis: 60, backend: 30, nginx: 30 };

/** PostgreSQL's shared memory for parallel queries lives in /dev/shm; Docker's 64 MB default is too small. */
export const POSTGIS_SHM_MB = 256;
/** No process in any container gains privileges through setuid binaries or file capabilities. */
export const NO_NEW_PRIVILEGES = "no-new-privileges:true";

/**
 * The only capabilities each container keeps (all others dropped: raw sockets, mknod, chroot,
 * file capabilities, audit, …). PostGIS's and the backend's images start as root: what their
 * entrypoints need to hand their directories to their own user and drop root. nginx runs as its
 * own user from the start and needs none.
 */
const ENTRYPOINT_CAPABILITIES = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"];
export const ROLE_CAPABILITIES: Readonly<Record<Role, readonly string[]>> = {
    postgis: ENTRYPOINT_CAPABILITIES,
    backend: ENTRYPOINT_CAPABILITIES,
    nginx: [],
};

/**
 * Ports below 1024 are unprivileged inside the container's own network namespace, so a non-root
 * process binds 80 or 443 without NET_BIND_SERVICE (which Docker does not raise for a non-root
 * user, and file capabilities are blocked by no-new-privileges). It is no capability on the host.
 */
export const UNPRIVILEGED_LOW_PORTS = { "net.ipv4.ip_unprivileged_port_start": "0" } as const;

/** nginx's uid and gid: the official image's `nginx` user (the e2e stand-in runs it as the same numbers). */
const NGINX_UID = 101;
/** nginx's uid:gid. */
export const NGINX_USER = `${NGINX_UID}:${NGINX_UID}`;
/**
 * What nginx writes, in memory (its root file system is read-only): its temporary files (request
 * bodies up to the 20 MB limit, buffered responses) and its pid. Counted in its memory limit.
 * Owned by nginx's user: the engine gives a tmpfs the mode of the image's directory it covers
 * (root's 0755 for both), whatever `mode=` says.
 */
const NGINX_TMPFS_OPTIONS = `rw,noexec,nosuid,uid=${NGINX_UID},gid=${NGINX_UID},mode=0755`;
export const NGINX_TMPFS = { "/var/cache/nginx": `${NGINX_TMPFS_OPTIONS},size=64m`, "/var/run": `${NGINX_TMPFS_OPTIONS},size=1m` } as const;

/** What a host-level service (the edge) needs to reach an instance's nginx, and nothing else of it. */
export interface InstanceWebEndpoint {
    /** The instance's own network, which nginx is on. */
    readonly network: docker.Network;
    /** That network's name (a fixed name, known before it exists). */
    readonly networkName: string;
    /** nginx's host name on that network: the network alias every generation of its container carries. */
    readonly nginxName: string;
    /** The port nginx listens on inside its container. */
    readonly nginxPort: number;
}

export interface PortalInstanceArgs {
    /** The validated settings of this instance. */
    readonly instance: InstanceSettings;
    /** Where the instance's storage lives on the host. */
    readonly layout: LayoutContext;
    /** The host the containers run on. */
    readonly host: InstanceHost;
    /** Protect the database volume against deletion (cloud stacks); it is always retained on delete. */
    readonly protectDatabase: boolean;
    /** Secret environment variables of the backend, NAME → value (config `backendSecrets`). @default {} */
    readonly backendSecrets?: Readonly<Record<string, pulumi.Input<string>>>;
}

export class PortalInstance extends pulumi.ComponentResource {
    /** Container names by role (backend's and nginx's change with each replacement). */
    public readonly containerNames: Record<Role, pulumi.Output<string>>;
    /** The names the instance's containers reach each other by on its network, by role. */
    public readonly hostNames: Record<Role, string>;
    /** The Docker volume that holds the database. */
    public readonly databaseVolume: docker.Volume;
    /** The generated database password. */
    public readonly databasePassword: pulumi.Output<string>;
    /** Where a host-level service reaches this instance's nginx. */
    public readonly web: InstanceWebEndpoint;

    constructor(name: string, args: PortalInstanceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("housing-portal:portal:PortalInstance", name, {}, opts);
        const inst = args.instance;
        const provider = args.host.dockerProvider;
        const labelsFor = (role: string) => [
            { label: LABEL_INSTANCE, value: inst.name },
            { label: LABEL_ROLE, value: role },
        ];
        // Containers and networks live on one machine's engine: a new machine gets new ones. The
        // volumes do not carry it; their data is on the data volume (prepare-instance-dirs.sh
        // makes the database volume's record on a new engine before anything mounts it).
        const onMachine = (role: string) => [...labelsFor(role), { label: LABEL_MACHINE, value: args.host.machineId }];
        // Fixed Docker names: a replacement must remove the old object before creating the new one.
        const fixedName: pulumi.CustomResourceOptions = { parent: this, provider, deleteBeforeReplace: true };
        // A name that changes with the container: Pulumi's default, create the new one, then delete the old.
        const startBeforeStop: pulumi.CustomResourceOptions = { parent: this, provider };

        // The instance's host directories exist before anything binds them (data-volume layout).
        const prepared: pulumi.Resource[] = [];
        if (args.layout.kind === "data-volume") {
            // Also on every new machine: the database volume's record bound to the data volume
            // (before anything mounts it), and the instance in the host's registry.
            const registry = instanceRegistryDir(args.layout.dataRoot);
            prepared.push(args.host.runScript(`${name}-dirs`, "prepare-instance-dirs.sh", {
                INSTANCE: inst.name,
                DATA_ROOT: args.layout.dataRoot,
                DATA_DIRS: DATA_KINDS.join(" "),
                DOCKER_VOLUME: volumeName(inst.name, "postgis"),
                INSTANCES_DIR: registry,
            }, { parent: this }));
            // Out of the registry only when the instance leaves the config (its data stays), or
            // leaves this host: named per host, a moved instance's registration on the host it
            // left is deleted, which unregisters it there, so that host's dumps stop expecting it.
            args.host.runOnRemoval(instanceOnHostName(name, "registration", inst.host), "unregister-instance.sh", { INSTANCE: inst.name, INSTANCES_DIR: registry }, { parent: this, dependsOn: prepared });
        }

        const network = new docker.Network(`${name}-network`, {
            name: instanceDockerName(inst.name, "net"),
            driver: "bridge",
            labels: onMachine("network"),
        }, fixedName);

        const password = new random.RandomPassword(`${name}-db-password`, {
            length: 32,
            special: false,
        }, { parent: this });
        // Marked secret here too: every string built from it is masked in state, plans and logs.
        this.databasePassword = pulumi.secret(password.result);
        // The superuser's own password: the backend never has it.
        const superuserPassword = pulumi.secret(new random.RandomPassword(`${name}-db-superuser-password`, {
            length: 32,
            special: false,
        }, { parent: this }).result);

        // The database volume outlives the instance's config entry: never deleted by pulumi up.
        const dbVolumeOpts: pulumi.CustomResourceOptions = {
            parent: this, provider, retainOnDelete: true, protect: args.protectDatabase, dependsOn: prepared,
        };
        this.databaseVolume = args.layout.kind === "data-volume"
            ? new docker.Volume(`${name}-postgis-data`, {
                name: volumeName(inst.name, "postgis"),
                driver: "local",
                // The data lives on the block volume, so snapshots hold the database and its WAL.
                driverOpts: { type: "none", o: "bind", device: instanceDataDir(args.layout.dataRoot, "postgis", inst.name) },
                labels: labelsFor("postgis"),
            }, dbVolumeOpts)
            : new docker.Volume(`${name}-postgis-data`, {
                name: volumeName(inst.name, "postgis"),
                labels: labelsFor("postgis"),
            }, dbVolumeOpts);

        const namedVolumes: Record<string, docker.Volume> = { [volumeName(inst.name, "postgis")]: this.databaseVolume };
        if (args.layout.kind === "checkout") {
            namedVolumes[volumeName(inst.name, "exports")] = new docker.Volume(`${name}-exports`, {
                name: volumeName(inst.name, "exports"),
                labels: labelsFor("exports"),
            }, { parent: this, provider, retainOnDelete: true });
        }

        const mounts: ResolvedMount[] = instanceMounts(inst.name, args.layout);
        const mountsOf = (role: Role) => mounts
            .filter((m) => m.role === role)
            .map((m) => ({
                type: m.type,
                // A named volume is referenced through its resource, so the container waits for it.
                source: m.type === "volume" ? namedVolumes[m.source].name : m.source,
                target: m.target,
                readOnly: m.readOnly,
            }));

        const imageOf = (role: Role) => new docker.RemoteImage(`${name}-${role}-image`, {
            name: inst.images[role],
            keepLocally: true,
            // Pulled again onto a new machine's engine.
            triggers: { [LABEL_MACHINE]: args.host.machineId },
        }, { parent: this, provider });

        this.hostNames = Object.fromEntries(ROLES.map((role) => [role, instanceDockerName(inst.name, role)])) as Record<Role, string>;
        const common = (role: Role) => ({
            image: imageOf(role).imageId,
            labels: onMachine(role),
            restart: "unless-stopped",
            logDriver: "json-file",
            logOpts: LOG_OPTS,
            healthcheck: { tests: HEALTHCHECKS[role], interval: HEALTH_INTERVAL[role], timeout: "10s", retries: 5, startPeriod: "60s" },
            mounts: mountsOf(role),
            securityOpts: [NO_NEW_PRIVILEGES],
            capabilities: { drops: ["ALL"], adds: [...ROLE_CAPABILITIES[role]] },
            // No swap beyond the memory limit: the kernel kills what exceeds it.
            memory: inst.resources[role].memoryMb,
            memorySwap: inst.resources[role].memoryMb,
            cpus: inst.resources[role].cpus,
            destroyGraceSeconds: STOP_GRACE_SECONDS[role],
        });
        // A start-before-stop container: named from its replacing inputs, alias = its stable name,
        // created only healthy. The digest is of public names, never a secret, though it covers the
        // secret environment too (a rotated secret is a new container): the name is made plain.
        const generational = (role: StartBeforeStopRole, args: docker.ContainerArgs): docker.ContainerArgs => {
            const replacing = Object.fromEntries(Object.entries(args).filter(([k]) => !(IN_PLACE_CONTAINER_INPUTS as readonly string[]).includes(k)));
            return {
                ...args,
                name: pulumi.unsecret(pulumi.output(replacing).apply((r) => generationalContainerName(inst.name, role, r))),
                wait: true,
                waitTimeout: HEALTHY_WITHIN_SECONDS[role],
            };
        };
        const startsBeforeStop = (role: StartBeforeStopRole) => args.layout.kind !== "checkout" && (role !== "nginx" || inst.port === undefined);
        // The container's name and replacement order: start-before-stop where it can be, else the fixed name, delete-first.
        const replaced = (role: StartBeforeStopRole, containerArgs: docker.ContainerArgs): [docker.ContainerArgs, pulumi.CustomResourceOptions] =>
            startsBeforeStop(role) ? [generational(role, containerArgs), startBeforeStop] : [{ ...containerArgs, name: this.hostNames[role] }, fixedName];
        const onNetwork = (aliases: string[]) => [{ name: network.name, aliases }];

        const db = inst.database;
        const postgis = new docker.Container(`${name}-postgis`, {
            ...common("postgis"),
            name: this.hostNames.postgis,
            envs: [
                `POSTGRES_USER=${DATABASE_SUPERUSER}`,
                `POSTGRES_DB=${db.name}`,
                `PGDATA=${POSTGIS_PGDATA}`,
                pulumi.interpolate`POSTGRES_PASSWORD=${superuserPassword}`,
                // The backend's role, which host/sync-db-roles.sh creates and keeps as declared.
                `PORTAL_DB_USER=${db.user}`,
                pulumi.interpolate`PORTAL_DB_PASSWORD=${this.databasePassword}`,
            ],
            networksAdvanced: onNetwork(["postgis"]),
            // A clean shutdown writes a checkpoint; give it time before the engine kills it.
            stopTimeout: 60,
            shmSize: POSTGIS_SHM_MB,
        }, { ...fixedName, dependsOn: prepared });

        // A retained database keeps the roles and passwords it was initialised with: give it the
        // declared ones (and split a database from before the backend had a role of its own) each
        // time the container is (re)created, before the backend starts.
        const login = args.host.runScript(`${name}-db-login`, "sync-db-roles.sh", {
            CONTAINER: this.hostNames.postgis,
        }, { parent: this, dependsOn: [postgis] }, [postgis.id]);

        const backendEnv = Object.keys(inst.backendEnv).sort().map((k) => `${k}=${inst.backendEnv[k]}`);
        const secrets = args.backendSecrets ?? {};
        // Each one a secret Output: Pulumi keeps it encrypted in state, the plan masks it.
        const backendSecretEnv = Object.keys(secrets).sort().map((k) => pulumi.interpolate`${k}=${secrets[k]}`);
        const [backendArgs, backendOpts] = replaced("backend", {
            ...common("backend"),
            envs: [
                `PORTAL_INSTANCE=${inst.name}`,
                `POSTGRES_HOST=${this.hostNames.postgis}`,
                `POSTGRES_PORT=${POSTGRES_PORT}`,
                `POSTGRES_DB=${db.name}`,
                `POSTGRES_USER=${db.user}`,
                pulumi.interpolate`POSTGRES_PASSWORD=${this.databasePassword}`,
                pulumi.interpolate`DATABASE_URL=postgis://${db.user}:${this.databasePassword}@${this.hostNames.postgis}:${POSTGRES_PORT}/${db.name}`,
                ...backendEnv,
                ...backendSecretEnv,
            ],
            // "backend" is the upstream name in the checkout's nginx/dev.conf, the stable name the
            // one in ours; both live on this instance's network only. While an old and a new
            // backend run, Docker's DNS answers both addresses, then only the new one's.
            networksAdvanced: onNetwork([this.hostNames.backend, "backend"]),
        });
        const backend = new docker.Container(`${name}-backend`, backendArgs, { ...backendOpts, dependsOn: [postgis, login, ...prepared] });

        // The rendered config (data-volume layout) is a file on the data volume, bound read-only;
        // the checkout layout binds the checkout's own. Its hash is a label, and so one of nginx's
        // replacing inputs: a new config replaces nginx (start-before-stop on cloud stacks). The
        // script writes the new file by a rename before the new nginx is created: the old one,
        // still serving until the new one is healthy, keeps the old file's inode it bound.
        const nginxConfig = renderNginxConfig({ domain: inst.domain, aliases: inst.aliases, backendHost: this.hostNames.backend, backendPort: BACKEND_PORT });
        const renderedConfig = mounts.some((m) => m.role === "nginx" && m.rendered === "nginx.conf") && args.layout.kind === "data-volume"
            ? args.host.runScript(`${name}-nginx-config`, "nginx-config.sh", {
                NGINX_CONF_B64: Buffer.from(nginxConfig, "utf8").toString("base64"),
                CONFIG_DIR: nginxConfigDir(args.layout.dataRoot, inst.name),
                DATA_ROOT: args.layout.dataRoot,
            }, { parent: this, dependsOn: prepared })
            : undefined;
        const nginxCommon = common("nginx");
        const [nginxArgs, nginxOpts] = replaced("nginx", {
            ...nginxCommon,
            ...(renderedConfig === undefined ? {} : {
                labels: [...nginxCommon.labels, { label: LABEL_CONFIG_SHA256, value: crypto.createHash("sha256").update(nginxConfig).digest("hex") }],
            }),
            // A host port in dev only; on a cloud host the edge is the one way in.
            ...(inst.port === undefined ? {} : { ports: [{ internal: NGINX_PORT, external: inst.port }] }),
            user: NGINX_USER,
            readOnly: true,
            tmpfs: NGINX_TMPFS,
            sysctls: UNPRIVILEGED_LOW_PORTS,
            // Its stable name, by which the edge reaches it (two generations for a moment, as the backend).
            networksAdvanced: onNetwork([this.hostNames.nginx]),
            // nginx's graceful stop: it closes its listening sockets and ends after its open requests.
            stopSignal: "SIGQUIT",
        });
        const nginx = new docker.Container(`${name}-nginx`, nginxArgs, { ...nginxOpts, dependsOn: [backend, ...prepared, ...(renderedConfig ? [renderedConfig] : [])] });

        // The process limits: no provider input for them, so set on the engine right after each
        // container is created: the command names the containers' current names and runs again
        // whenever one is replaced (triggered by their ids), after the new one exists and before
        // Pulumi removes the old one; the engine keeps the limit from then on.
        const containers = { postgis, backend, nginx };
        args.host.runScript(`${name}-pids`, "limit-container-pids.sh", {
            LIMITS: pulumi.all(ROLES.map((role) => containers[role].name)).apply((names) => names.map((n, i) => `${n}=${inst.resources[ROLES[i]].pids}`).join(" ")),
        }, { parent: this, dependsOn: Object.values(containers) }, ROLES.map((role) => containers[role].id));

        this.containerNames = { postgis: postgis.name, backend: backend.name, nginx: nginx.name };
        this.web = { network, networkName: instanceDockerName(inst.name, "net"), nginxName: this.hostNames.nginx, nginxPort: NGINX_PORT };

        this.registerOutputs({
            containerNames: this.containerNames,
            databaseVolume: this.databaseVolume.name,
        });
    }
}
