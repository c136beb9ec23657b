// Every physical name, tag and label the program gives: cloud machines, firewalls, key pairs,
// volumes, snapshots, Docker objects and the files it installs on a host. Derived from
// (stack, host, instance, role) here and nowhere else, so that two things never collide and a
// name never changes by accident (a changed name is a replaced resource). Pure.
import * as crypto from "crypto";
import type { Role } from "./layout";

/** The project's name: the prefix of every physical name, and the stack config's namespace. */
export const PROJECT = "housing-portal";

/** The host of a stack that declares no hosts of its own. Its names carry no host part, as before hosts existed. */
export const DEFAULT_HOST = "main";

/** What a host is made of in the program: each a component of its own, one set per host. */
export type HostPart = "host" | "data" | "snapshots" | "backups" | "edge" | "dns";

/**
 * The name of one of a host's components: the part alone for DEFAULT_HOST, as the one-host
 * stacks were deployed (their URNs stay, and with them every resource), `<part>-<host>` for any
 * other host. Its children are named from it (`host-b-docker`, `edge-b-container`).
 */
export function hostComponentName(host: string, part: HostPart): string {
    return host === DEFAULT_HOST ? part : `${part}-${host}`;
}

/** The host a host component's name belongs to (hostComponentName's inverse), or undefined when it is no such name. */
export function hostOfComponent(componentName: string, part: HostPart): string | undefined {
    if (componentName === part) return DEFAULT_HOST;
    return componentName.startsWith(`${part}-`) ? componentName.slice(part.length + 1) : undefined;
}

/**
 * The name of what an instance has on its host alone and must give up there when it moves to
 * another (its place in the host's registry): `<instance>-<part>` on DEFAULT_HOST, as before
 * hosts existed, `<instance>-<part>-<host>` on another.
 */
export function instanceOnHostName(instance: string, part: string, host: string): string {
    return host === DEFAULT_HOST ? `${instance}-${part}` : `${instance}-${part}-${host}`;
}

/** The Docker label that names the instance an object belongs to; host scripts find containers by it. */
export const LABEL_INSTANCE = `${PROJECT}.instance`;
/** The Docker label that names what an object is to its instance (a Role, or "network", "exports"). */
export const LABEL_ROLE = `${PROJECT}.role`;

/**
 * The Docker label that names the machine an object was created on. A replaced machine has a new
 * id, so the label of every container and network changes, and Docker (which cannot relabel
 * them) creates each again on the new machine's engine in the same `pulumi up`.
 */
export const LABEL_MACHINE = `${PROJECT}.machine`;

/**
 * The Docker label that carries the SHA-256 of a container's rendered config file (nginx.conf),
 * which reaches the container as a read-only bind mount rather than as an input: a changed
 * config changes the label, and so replaces the container.
 */
export const LABEL_CONFIG_SHA256 = `${PROJECT}.config-sha256`;

/** The tag DLM adds to every snapshot it takes, so they can be told from manual ones. */
export const DLM_SNAPSHOT_TAG = { key: `${PROJECT}-snapshot`, value: "dlm" } as const;

/** What one instance owns on its Docker host besides its containers (which are named by Role). */
export type InstanceDockerPart = Role | "net" | "postgis-data" | "exports";

/** The Docker object of one instance: `housing-portal-<instance>-<part>`. */
export function instanceDockerName(instance: string, part: InstanceDockerPart): string {
    return `${PROJECT}-${instance}-${part}`;
}

/**
 * The container of a role that is replaced start-before-stop (backend, nginx): its stable name
 * (`instanceDockerName`, the network alias the others reach it by) and a digest of the inputs
 * that replace it. A change of any of them gives the new container a name of its own, so it
 * starts next to the old one, which is removed only once the new one is healthy.
 */
export function generationalContainerName(instance: string, role: Role, replacingInputs: unknown): string {
    return `${instanceDockerName(instance, role)}-${crypto.createHash("sha256").update(canonicalJson(replacingInputs)).digest("hex").slice(0, 10)}`;
}

/** JSON with object keys sorted and undefined members left out: equal values give equal text. */
function canonicalJson(v: unknown): string {
    if (v === undefined || v === null || typeof v !== "object") return JSON.stringify(v ?? null);
    if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(",")}}`;
}

/**
 * A Docker object that serves every instance on a host (the edge, for example):
 * `housing-portal_<service>[-<part>]`. The underscore cannot occur in an instance name (a DNS
 * label), so no host-level name can ever equal an instance's.
 */
export function hostServiceDockerName(service: string, part?: string): string {
    return part === undefined ? `${PROJECT}_${service}` : `${PROJECT}_${service}-${part}`;
}

/** The Docker label that names the host-level service an object belongs to (the edge); clean-up finds them by it. */
export const LABEL_SERVICE = `${PROJECT}.service`;

/** The edge proxy: the host-level service that serves every instance at https://<domain>. */
export const EDGE_SERVICE = "edge";

/**
 * The edge's Docker objects: its container, and the network it publishes its ports from. Docker
 * gives a container on several networks its default route and published ports through the one
 * whose name sorts first; connecting a network that sorts before it moves them, and the ports are
 * closed for a moment. "--" sorts before every instance network (`housing-portal-<DNS label>-net`,
 * a label never starts with "-"), so the edge's own network stays first as it joins instances'.
 */
export const EDGE_NAMES = {
    container: hostServiceDockerName(EDGE_SERVICE),
    network: `${PROJECT}--${EDGE_SERVICE}-net`,
} as const;

/**
 * Where the edge keeps its files on the data volume, so that snapshots hold them and a
 * replaced or restored host serves its certificates at once: `storage` (certificates, the ACME
 * account; Caddy's data directory) and `config` (the Caddyfile, which a reload re-reads).
 */
export function edgeDirs(dataRoot: string): { readonly root: string; readonly storage: string; readonly config: string } {
    const root = `${dataRoot}/${EDGE_SERVICE}`;
    return { root, storage: `${root}/storage`, config: `${root}/config` };
}

/** The names and tags of one host's cloud resources. */
export interface CloudNames {
    /** The machine (Droplet, EC2 Name tag), its firewall and its key pair. */
    readonly machine: string;
    /** The block volume's default name. */
    readonly dataVolume: string;
    /** What the host's snapshot script starts its snapshots' names with. */
    readonly snapshotPrefix: string;
    /** The tag a DLM policy selects the data volume by. */
    readonly snapshotTargetTag: { readonly key: string; readonly value: string };
    /** aws: the SNS topic the backup alarms notify; operators subscribe to it. */
    readonly alertsTopic: string;
    /** aws: the CloudWatch alarms on the DLM policy's metrics: a snapshot not created, a cross-region copy not made. */
    readonly snapshotAlarms: { readonly createFailed: string; readonly copyFailed: string };
    /** Tags of every AWS resource of the stack, besides Name. */
    readonly awsTags: Readonly<Record<string, string>>;
    /** Tags of the DigitalOcean machine. */
    readonly dropletTags: readonly string[];
    /** Tags of the DigitalOcean volume. */
    readonly volumeTags: readonly string[];
    /** aws: the host's IAM role and instance profile, which may publish to the alerts topic. */
    readonly hostRole: string;
    /** The off-site copies: the repository's path in the bucket, and restic's --host (stable across replaced machines). */
    readonly offsite: { readonly repositoryPath: string; readonly hostTag: string };
    /** How descriptions name the host: the stack, and the host's name for any host but the default. */
    readonly label: string;
}

/** The cloud names of a host of a stack. */
export function cloudNames(stack: string, host: string = DEFAULT_HOST): CloudNames {
    const base = host === DEFAULT_HOST ? `${PROJECT}-${stack}` : `${PROJECT}-${stack}-${host}`;
    const snapshotTargetTag = { key: `${PROJECT}-snapshots`, value: host === DEFAULT_HOST ? stack : `${stack}-${host}` };
    return {
        machine: base,
        dataVolume: `${base}-data`,
        snapshotPrefix: base,
        snapshotTargetTag,
        alertsTopic: `${base}-alerts`,
        snapshotAlarms: { createFailed: `${base}-snapshot-create-failed`, copyFailed: `${base}-snapshot-copy-failed` },
        awsTags: { project: PROJECT, stack },
        dropletTags: [PROJECT, base],
        volumeTags: [PROJECT, `${snapshotTargetTag.key}-${snapshotTargetTag.value}`],
        hostRole: `${base}-host`,
        offsite: { repositoryPath: base, hostTag: base },
        label: host === DEFAULT_HOST ? stack : `${stack}, host ${host}`,
    };
}

// ---- on the host ---------------------------------------------------------------------------

/** Where the program keeps a host's settings and secrets. */
const HOST_SETTINGS_DIR = `/etc/${PROJECT}`;

/** Where a script from host/ is installed, e.g. mount-data-volume.sh → /usr/local/sbin/housing-portal-mount-data-volume. */
export function installedScriptPath(script: string): string {
    return `/usr/local/sbin/${PROJECT}-${script.replace(/\.sh$/, "")}`;
}

/** The settings file of a host unit, read by its EnvironmentFile= line. */
export function hostSettingsFile(name: string): string {
    return `${HOST_SETTINGS_DIR}/${name}.env`;
}

/** Where the DigitalOcean snapshot token lives on the host (root-only). */
export const SNAPSHOT_TOKEN_FILE = `${HOST_SETTINGS_DIR}/do-token`;

/** Where the off-site copy's access key lives on the host (root-only; AWS_ACCESS_KEY_ID= and AWS_SECRET_ACCESS_KEY= lines). */
export const OFFSITE_CREDENTIALS_FILE = `${HOST_SETTINGS_DIR}/offsite-credentials`;
/** Where the off-site repository's password lives on the host (root-only). */
export const OFFSITE_PASSWORD_FILE = `${HOST_SETTINGS_DIR}/offsite-password`;
/** Where the alert webhook's URL lives on the host (root-only: the URL is its credential). */
export const ALERT_WEBHOOK_URL_FILE = `${HOST_SETTINGS_DIR}/alert-webhook-url`;

/** The backup units the program installs; each is a .service and a .timer under host/systemd/. */
export type BackupUnit = "dump" | "snapshot" | "backup-status" | "offsite" | "restore-check";

/** The systemd name of a backup unit, without the .service/.timer suffix. */
export function systemdUnit(unit: BackupUnit): string {
    return `${PROJECT}-${unit}`;
}

/**
 * Where a host keeps the names of its configured instances, one empty file each: the dump and
 * the freshness check must find every one of them. On the data volume, so it goes where the
 * data goes (a new machine, a restored snapshot).
 */
export function instanceRegistryDir(dataRoot: string): string {
    return `${dataRoot}/.${PROJECT}/instances`;
}

/** The unit that keeps containers away from the metadata service on a created host (host/block-container-metadata.sh). */
export const METADATA_BLOCK_UNIT = `${PROJECT}-block-container-metadata.service`;
/** Where the host keeps one instance's rendered nginx.conf (host/nginx-config.sh writes it; nginx binds it read-only). */
export function nginxConfigDir(dataRoot: string, instance: string): string {
    return `${dataRoot}/.${PROJECT}/nginx/${instance}`;
}

/** The drop-in that makes Docker start only with the data volume mounted. */
export const DOCKER_MOUNT_DROP_IN = `/etc/systemd/system/docker.service.d/${PROJECT}-data.conf`;
