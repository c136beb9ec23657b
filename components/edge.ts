// The edge proxy of one Docker host: Caddy, serving every instance on the host at
// https://<domain> with certificates from ACME (HTTP-01), the only container that publishes host
// ports. It reaches each instance's nginx over that instance's own network, and nothing else of
// the instance. Its routes (the Caddyfile) and its network attachments are not inputs of its
// container: host/edge-routes.sh writes them and has Caddy reload, so adding or removing an
// instance never restarts the edge, and the other portals answer throughout.
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { EDGE_RESOURCES, EdgeSettings } from "./config";
import { CADDYFILE, EDGE_PATHS, renderCaddyfile } from "./caddyfile";
import { DockerHost } from "./dockerHost";
import { InstanceWebEndpoint, NO_NEW_PRIVILEGES, UNPRIVILEGED_LOW_PORTS } from "./portalInstance";
import { EDGE_NAMES, EDGE_SERVICE, LABEL_MACHINE, LABEL_ROLE, LABEL_SERVICE, edgeDirs } from "./naming";

/** The ports the edge publishes on the host: HTTP (redirects, HTTP-01 challenges) and HTTPS. */
export const EDGE_PORTS = [80, 443] as const;
/**
 * The edge's uid and gid: no user of the host or of another container (nginx 101, PostgreSQL 999
 * or 70, the first login user 1000). Caddy needs no name for it, only its storage owned by it.
 */
export const EDGE_UID = 10443;
/** The edge's uid:gid, the container's user. */
export const EDGE_USER = `${EDGE_UID}:${EDGE_UID}`;
/**
 * All capabilities dropped but NET_BIND_SERVICE, which stays in the bounding set only: the caddy
 * image's /usr/bin/caddy carries it as a file capability, and the kernel refuses to execute a
 * file whose capabilities the bounding set lacks. A non-root process under no-new-privileges gains
 * nothing from it (no effective capability); the ports come from EDGE_SYSCTLS.
 */
export const EDGE_CAPABILITIES = ["NET_BIND_SERVICE"] as const;
/**
 * The edge is healthy when Caddy's admin endpoint (inside the container only) answers: it opens
 * after the configuration has loaded and its listeners are bound. wget: in the caddy image
 * (busybox) and the e2e tier's stand-in.
 */
export const EDGE_HEALTHCHECK = ["CMD", "wget", "-q", "-T", "5", "-O", "/dev/null", "http://localhost:2019/config/"];
/**
 * A reload of Caddy binds new listening sockets next to the old ones (SO_REUSEPORT) and closes
 * the old: the connections still in an old socket's accept queue would be reset. With
 * tcp_migrate_req (Linux 5.14 and later) the kernel hands them to the new socket instead.
 */
export const EDGE_SYSCTLS = {
    "net.ipv4.tcp_migrate_req": "1",
    // Ports 80 and 443 without root: unprivileged in the container's own network namespace only.
    ...UNPRIVILEGED_LOW_PORTS,
} as const;
/**
 * What Caddy writes besides its storage (autosaved config, temporary files): memory only, the
 * root is read-only. Owned by the edge's user: the engine gives a tmpfs the mode of the image's
 * directory it covers (root's) unless uid and gid are given.
 */
const EDGE_TMPFS_OPTIONS = `rw,noexec,nosuid,size=16m,uid=${EDGE_UID},gid=${EDGE_UID},mode=0700`;
const EDGE_TMPFS = { "/config": EDGE_TMPFS_OPTIONS, "/tmp": EDGE_TMPFS_OPTIONS };

/** One instance as the edge routes it. */
export interface EdgeRoute {
    /** The instance's name. */
    readonly instance: string;
    /** Its domain, then its aliases. */
    readonly names: readonly string[];
    /** Where its nginx is reached. */
    readonly web: InstanceWebEndpoint;
}

export interface EdgeArgs {
    /** The host the edge runs on (created with its serviceOptions). */
    readonly host: DockerHost;
    /** The host's data root: the edge's certificates live under it. */
    readonly dataRoot: string;
    /** The ACME settings and the image. */
    readonly settings: EdgeSettings;
    /** Every instance on the host. */
    readonly routes: readonly EdgeRoute[];
    /** Let host/edge-routes.sh write to a data root that is not a mount point (a dev data root). @default false */
    readonly allowUnmounted?: boolean;
}

export class Edge extends pulumi.ComponentResource {
    /** The edge's container name. */
    public readonly containerName: string;
    /** The Caddyfile as rendered. */
    public readonly caddyfile: string;

    constructor(name: string, args: EdgeArgs, opts?: pulumi.ComponentResourceOptions) {
        super("housing-portal:edge:Edge", name, {}, opts);
        const host = args.host;
        const labels = (role: string) => [
            { label: LABEL_SERVICE, value: EDGE_SERVICE },
            { label: LABEL_ROLE, value: role },
            { label: LABEL_MACHINE, value: host.machineId },
        ];
        // Named explicitly (it is also inherited from serviceOptions), so the plan shows the engine each runs on.
        const provider = host.dockerProvider;
        const fixedName: pulumi.CustomResourceOptions = { parent: this, provider, deleteBeforeReplace: true };
        const dirs = edgeDirs(args.dataRoot);
        this.containerName = EDGE_NAMES.container;

        this.caddyfile = renderCaddyfile({
            caUrl: args.settings.caUrl,
            email: args.settings.email,
            caRoot: args.settings.caRootPem !== undefined,
            sites: args.routes.map((r) => ({ instance: r.instance, names: r.names, upstream: `${r.web.nginxName}:${r.web.nginxPort}` })),
        });
        const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64");
        const routesEnv = (networks: string[]): Record<string, string> => ({
            EDGE_CONTAINER: EDGE_NAMES.container,
            EDGE_NETWORK: EDGE_NAMES.network,
            NETWORKS: networks.join(" "),
            CADDYFILE_B64: b64(this.caddyfile),
            ...(args.settings.caRootPem === undefined ? {} : { CA_ROOT_B64: b64(args.settings.caRootPem) }),
            DATA_ROOT: args.dataRoot,
            STORAGE_DIR: dirs.storage,
            STORAGE_OWNER: EDGE_USER,
            CONFIG_DIR: dirs.config,
            CONFIG_TARGET: EDGE_PATHS.config,
            ...(args.allowUnmounted ? { ALLOW_UNMOUNTED: "1" } : {}),
        });
        const instanceNetworks = args.routes.map((r) => r.web.network);
        const configured = routesEnv(args.routes.map((r) => r.web.networkName));

        const network = new docker.Network(`${name}-network`, {
            name: EDGE_NAMES.network,
            driver: "bridge",
            labels: labels("network"),
        }, fixedName);

        // Before the container: its directories and Caddyfile exist when Caddy starts. On a route
        // change this is the run that reloads the edge that runs.
        const written = host.runScript(`${name}-config`, "edge-routes.sh", configured, { parent: this, dependsOn: instanceNetworks });

        const image = new docker.RemoteImage(`${name}-image`, {
            name: args.settings.image,
            keepLocally: true,
            triggers: { [LABEL_MACHINE]: host.machineId },
        }, { parent: this, provider });

        const container = new docker.Container(`${name}-caddy`, {
            name: EDGE_NAMES.container,
            image: image.imageId,
            labels: labels(EDGE_SERVICE),
            user: EDGE_USER,
            // The stock image's own command, spelled out: every image (a stand-in too) runs the same.
            command: ["caddy", "run", "--config", `${EDGE_PATHS.config}/${CADDYFILE}`, "--adapter", "caddyfile"],
            envs: [`XDG_DATA_HOME=${EDGE_PATHS.storage}`, "XDG_CONFIG_HOME=/config"],
            restart: "unless-stopped",
            logDriver: "json-file",
            logOpts: { "max-size": "10m", "max-file": "5" },
            ports: EDGE_PORTS.map((p) => ({ internal: p, external: p })),
            networksAdvanced: [{ name: network.name, aliases: [] }],
            mounts: [
                { type: "bind", source: dirs.storage, target: EDGE_PATHS.storage, readOnly: false },
                { type: "bind", source: dirs.config, target: EDGE_PATHS.config, readOnly: true },
            ],
            readOnly: true,
            tmpfs: EDGE_TMPFS,
            securityOpts: [NO_NEW_PRIVILEGES],
            capabilities: { drops: ["ALL"], adds: [...EDGE_CAPABILITIES] },
            memory: EDGE_RESOURCES.memoryMb,
            memorySwap: EDGE_RESOURCES.memoryMb,
            cpus: EDGE_RESOURCES.cpus,
            sysctls: { ...EDGE_SYSCTLS },
            healthcheck: { tests: EDGE_HEALTHCHECK, interval: "5s", timeout: "10s", retries: 5, startPeriod: "30s" },
            // Created only once it serves: the routes' run after it reloads a running Caddy.
            wait: true,
            waitTimeout: 120,
            // A clean stop lets requests in flight finish (the provider's delete stops it first only with a grace).
            stopTimeout: 30,
            destroyGraceSeconds: 30,
        }, { ...fixedName, dependsOn: [written] });

        // After the container: a new container is connected to the instance networks and loads
        // its routes (the run before it found no edge running).
        host.runScript(`${name}-routes`, "edge-routes.sh", configured, { parent: this, dependsOn: [container, ...instanceNetworks] }, [container.id]);
        // Its process limit, which no provider input sets (host/limit-container-pids.sh).
        host.runScript(`${name}-pids`, "limit-container-pids.sh", { LIMITS: `${EDGE_NAMES.container}=${EDGE_RESOURCES.pids}` }, { parent: this, dependsOn: [container] }, [container.id]);

        this.registerOutputs({ containerName: this.containerName });
    }
}
