// The one config module: raw stack config in, a typed, validated, defaulted StackSettings out.
// It collects every problem as `<key path>: <what is wrong, what is expected>` and never throws
// on bad input, so `pulumi up` and the offline plan report the same lines before any resource exists.
import * as path from "path";
import * as fs from "fs";
import * as ipaddr from "ipaddr.js";
import { LayoutContext, ROLES, Role, checkoutBindPaths } from "./layout";
import { DEFAULT_HOST, PROJECT, cloudNames } from "./naming";
import { stackCapacity } from "./capacity";
import { DnsSettings, recordFor, validateDns } from "./dnsConfig";
import { HOST_KEY_ALGORITHMS, parsePublicHostKey, publicHostKeyLine } from "./hostKey";

/** The stack config's namespace: `housing-portal:<key>`. */
export const CONFIG_NAMESPACE = PROJECT;

export const PROVIDERS = ["local", "digitalocean", "aws"] as const;
export type ProviderKind = (typeof PROVIDERS)[number];
export type CloudProvider = Exclude<ProviderKind, "local">;

/**
 * The list of every key of T, checked by the compiler both ways: a key T lacks does not compile,
 * and neither does a list that misses one of T's keys. Ties each allowed-key list to its settings.
 */
function keysOf<T>() {
    return <const K extends readonly (keyof T & string)[]>(
        keys: K & ([Exclude<keyof T, K[number]>] extends [never] ? unknown : { missing: Exclude<keyof T, K[number]> }),
    ): K => keys;
}

/** The keys of a stack file under `housing-portal:`, as the operator writes them. */
interface StackConfigKeys {
    /** `local`, `digitalocean` or `aws`. */
    readonly provider: unknown;
    /** dev: the portal checkout, relative to this project. */
    readonly projectRoot: unknown;
    /** local: a data root instead of a checkout. @default "/mnt/data" on cloud stacks, where it is fixed */
    readonly dataRoot: unknown;
    /** The portal instances, one per country. */
    readonly instances: unknown;
    /** The default images of every instance, by role. @default DEFAULT_IMAGES */
    readonly images: unknown;
    /** The block volume (cloud stacks). */
    readonly volume: unknown;
    /** Snapshot and dump schedule and retention (cloud stacks). */
    readonly snapshots: unknown;
    /** The machine and how it is reached (cloud stacks); with `hosts`, the defaults of every host. */
    readonly host: unknown;
    /** The hosts by name, each overriding fields of `host`, `volume` and `snapshots` (local: its `dataRoot`, `dockerHost`). @default one host, `main` */
    readonly hosts: unknown;
    /** Secret: the DigitalOcean token the host's snapshot timer uses. */
    readonly snapshotApiToken: unknown;
    /** Secret: the SSH key Pulumi connects with. @default the ssh-agent's keys */
    readonly sshPrivateKey: unknown;
    /** Secret values: per instance, environment variables of its backend (a Django secret key). @default none */
    readonly backendSecrets: unknown;
    /** The edge proxy's ACME settings: CA directory, contact email, extra CA root. @default Let's Encrypt production; none in dev */
    readonly edge: unknown;
    /** Encrypted off-site copies of the dumps to S3-compatible storage (cloud stacks). @default none */
    readonly offsite: unknown;
    /** Where backup failures are reported: a webhook (its URL a secret leaf), SNS email (aws). @default none */
    readonly alerts: unknown;
    /** Secret: the access key id of the off-site bucket. */
    readonly offsiteAccessKeyId: unknown;
    /** Secret: the secret access key of the off-site bucket. */
    readonly offsiteSecretAccessKey: unknown;
    /** Secret: the restic repository's password, which encrypts the off-site copies. */
    readonly offsitePassword: unknown;
    /** Secret: the access key id of a Spaces key with which the stack creates the off-site bucket (digitalocean, offsite.create). */
    readonly spacesAccessKeyId: unknown;
    /** Secret: that Spaces key's secret. */
    readonly spacesSecretAccessKey: unknown;
    /** The zone in which the program manages each instance's DNS records (cloud stacks). @default none: the records are listed (dnsRecords) to create by hand */
    readonly dns: unknown;
}

/** Every key this program reads; anything else under the namespace is a typo. */
export const CONFIG_KEYS = keysOf<StackConfigKeys>()([
    "provider", "projectRoot", "dataRoot", "instances", "images", "volume", "snapshots", "host", "hosts",
    "snapshotApiToken", "sshPrivateKey", "backendSecrets", "edge", "offsite", "alerts",
    "offsiteAccessKeyId", "offsiteSecretAccessKey", "offsitePassword", "spacesAccessKeyId", "spacesSecretAccessKey", "dns",
]);
export type ConfigKey = (typeof CONFIG_KEYS)[number];

/**
 * How a config key holds secrets: `plain` (none), `secret` (the whole value, set with
 * `pulumi config set --secret`), `secret-values` (every leaf under it, under names that are not
 * secret: `backendSecrets.<instance>.<NAME>`, each set with `--secret --path`, so the stack file
 * and the plan show the names and never the values), or `{secretLeaves}` (those leaves of a plain
 * object, set with `--secret --path`: `alerts.webhookUrl`; the rest of it stays readable).
 */
export type Secrecy = "plain" | "secret" | "secret-values" | { readonly secretLeaves: readonly string[] };

/**
 * The one table of secret config: every key says how it holds secrets, so a new key does not
 * compile until it says. The offline plan refuses each secret path in plain text in a stack file
 * and marks it secret when given with --set (tools/stackFile.ts); Pulumi.yaml's `secret: true`
 * follows it (a unit test); values arrive as Outputs (settings.ts).
 */
export const CONFIG_SECRECY = {
    provider: "plain", projectRoot: "plain", dataRoot: "plain", instances: "plain", images: "plain",
    volume: "plain", snapshots: "plain", host: "plain", hosts: "plain", edge: "plain", offsite: "plain", dns: "plain",
    alerts: { secretLeaves: ["webhookUrl"] },
    backendSecrets: "secret-values",
    snapshotApiToken: "secret", sshPrivateKey: "secret",
    offsiteAccessKeyId: "secret", offsiteSecretAccessKey: "secret", offsitePassword: "secret",
    spacesAccessKeyId: "secret", spacesSecretAccessKey: "secret",
} as const satisfies Readonly<Record<ConfigKey, Secrecy>>;

/** Keys whose whole value is a secret: they arrive as Outputs, never as plain settings. */
export type SecretKey = { [K in ConfigKey]: (typeof CONFIG_SECRECY)[K] extends "secret" ? K : never }[ConfigKey];
export const SECRET_KEYS: readonly SecretKey[] = CONFIG_KEYS.filter((k): k is SecretKey => CONFIG_SECRECY[k] === "secret");

/** One secret path of the config: a whole key, every leaf under a key, or one leaf of a plain object. */
export type SecretPath =
    | { readonly kind: "key"; readonly key: SecretKey }
    | { readonly kind: "values"; readonly key: ConfigKey }
    | { readonly kind: "leaf"; readonly key: ConfigKey; readonly leaf: string };
export type SecretLeaf = Extract<SecretPath, { kind: "leaf" }>;

/** Every secret path, from CONFIG_SECRECY. */
export const SECRET_PATHS: readonly SecretPath[] = CONFIG_KEYS.flatMap((key): SecretPath[] => {
    const s: Secrecy = CONFIG_SECRECY[key];
    if (s === "plain") return [];
    if (s === "secret") return [{ kind: "key", key: key as SecretKey }];
    if (s === "secret-values") return [{ kind: "values", key }];
    return s.secretLeaves.map((leaf) => ({ kind: "leaf", key, leaf }));
});
const SECRET_LEAVES: readonly SecretLeaf[] = SECRET_PATHS.filter((p): p is SecretLeaf => p.kind === "leaf");

/** A secret path as the operator writes it after the namespace: `offsitePassword`, `backendSecrets.<instance>.<NAME>`, `alerts.webhookUrl`. */
export function secretPathName(p: SecretPath): string {
    return p.kind === "key" ? p.key : p.kind === "values" ? `${p.key}.<instance>.<NAME>` : `${p.key}.${p.leaf}`;
}

/**
 * Whether the value of `key` (parsed) holds a secret, by the table: the whole key, a key of secret
 * values, or a plain object with one of its secret leaves. What --set marks secret.
 */
export function holdsSecret(key: string, value: unknown): boolean {
    if (!(CONFIG_KEYS as readonly string[]).includes(key)) return false;
    const s: Secrecy = CONFIG_SECRECY[key as ConfigKey];
    if (s === "plain") return false;
    if (typeof s === "string") return true;
    return value !== null && typeof value === "object" && !Array.isArray(value) && s.secretLeaves.some((leaf) => leaf in value);
}

/** Whether a cloud stack declares off-site copies. */
function declaresOffsite(raw: Readonly<Record<string, unknown>>): boolean {
    return raw.provider !== "local" && raw.offsite !== undefined;
}

/** Whether a DigitalOcean stack creates its off-site bucket, a Spaces bucket, which needs the stack's Spaces key. */
function createsSpacesBucket(raw: Readonly<Record<string, unknown>>): boolean {
    return raw.provider === "digitalocean" && isObject(raw.offsite) && raw.offsite.create === true;
}

/** Secret leaves a raw config cannot run without: the webhook where it is the only channel (digitalocean, or aws without email). */
export function requiredSecretLeaves(raw: Readonly<Record<string, unknown>>): SecretLeaf[] {
    const a = raw.alerts;
    if (raw.provider === "local" || !isObject(a)) return [];
    const email = Array.isArray(a.email) && a.email.length > 0;
    return raw.provider === "digitalocean" || !email ? [...SECRET_LEAVES] : [];
}

/** Whether a host's raw settings name an existing host (host.address) rather than one to create. */
function namesExistingHost(h: RawHost): boolean {
    return isObject(h.host) && h.host.address !== undefined;
}

/** Whether a DigitalOcean stack has a host that takes its volume's snapshots itself: a created host, or an existing one whose volume is adopted. */
function hostTakesSnapshots(raw: Readonly<Record<string, unknown>>): boolean {
    return raw.provider === "digitalocean" && rawHosts(raw).some((h) => !namesExistingHost(h) || (isObject(h.volume) && h.volume.adoptId !== undefined));
}

/** When a stack uses each secret, whether it then cannot run without it, and what uses it. */
const SECRET_USE: Readonly<Record<SecretKey, { readonly usedWhen: (raw: Readonly<Record<string, unknown>>) => boolean; readonly required: boolean; readonly usedBy: string }>> = {
    snapshotApiToken: { usedWhen: hostTakesSnapshots, required: true, usedBy: "a DigitalOcean host that snapshots its volume (a created host, or an existing one with volume.adoptId)" },
    sshPrivateKey: { usedWhen: (raw) => raw.provider !== "local", required: false, usedBy: "Pulumi's SSH connections to a cloud host" },
    offsiteAccessKeyId: { usedWhen: declaresOffsite, required: true, usedBy: "the off-site copies (offsite)" },
    offsiteSecretAccessKey: { usedWhen: declaresOffsite, required: true, usedBy: "the off-site copies (offsite)" },
    offsitePassword: { usedWhen: declaresOffsite, required: true, usedBy: "the off-site copies (offsite)" },
    spacesAccessKeyId: { usedWhen: createsSpacesBucket, required: true, usedBy: "creating the off-site Spaces bucket (offsite.create on digitalocean)" },
    spacesSecretAccessKey: { usedWhen: createsSpacesBucket, required: true, usedBy: "creating the off-site Spaces bucket (offsite.create on digitalocean)" },
};
const SECRET_PURPOSE: Readonly<Record<SecretKey, string>> = {
    snapshotApiToken: "a token scoped to block-storage snapshots",
    sshPrivateKey: "the private key Pulumi connects to the host with",
    offsiteAccessKeyId: "the access key id of a key that may read and write the off-site bucket",
    offsiteSecretAccessKey: "that key's secret",
    offsitePassword: "the password that encrypts the off-site copies; without it they cannot be restored, so keep a copy outside the stack",
    spacesAccessKeyId: "the access key id of a Spaces key with which the stack creates the bucket (API → Spaces Keys; not the host's bucket-scoped key)",
    spacesSecretAccessKey: "that Spaces key's secret",
};

/** The image of each container of an instance. */
export type ImageSettings = Readonly<Record<Role, string>>;

/** Let's Encrypt's production directory: the edge's certificates by default. */
export const LETS_ENCRYPT_PRODUCTION = "https://acme-v02.api.letsencrypt.org/directory";
/** Let's Encrypt's staging directory: for a first try (untrusted certificates, generous rate limits). */
export const LETS_ENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory";
/** The edge proxy's image. @default for the `images.edge` key */
export const DEFAULT_EDGE_IMAGE = "caddy:2";

/** The edge proxy of a host: one Caddy that serves every instance at https://<domain>. */
export interface EdgeSettings {
    /** The ACME directory URL certificates are ordered from. @default LETS_ENCRYPT_PRODUCTION */
    readonly caUrl: string;
    /** The ACME account's contact email (expiry and incident notices). @default none */
    readonly email?: string;
    /** PEM of a root that signs the ACME directory's own TLS certificate (a private CA). @default the system's roots */
    readonly caRootPem?: string;
    /** The edge's image (stack-level `images.edge`). @default DEFAULT_EDGE_IMAGE */
    readonly image: string;
}

export interface DatabaseSettings {
    /** The database's name. @default "portal" */
    readonly name: string;
    /** The role the backend logs in as: it owns the database and is no superuser. @default "portal" */
    readonly user: string;
}

/** The PostGIS superuser: only the host's maintenance (role sync, dumps, CHECKPOINT) uses it. */
export const DATABASE_SUPERUSER = "postgres";

/** One container's share of the host. */
export interface ContainerResources {
    /** Hard memory limit in MB; no swap beyond it (the kernel kills what exceeds it). */
    readonly memoryMb: number;
    /** CPU ceiling, in CPUs, e.g. "1.5"; not a reservation. */
    readonly cpus: string;
    /** Most processes and threads the container may have at once (the pids cgroup); a fork bomb stops there. */
    readonly pids: number;
}

/** The limits of each container of an instance. */
export type ResourceSettings = Readonly<Record<Role, ContainerResources>>;

/**
 * Each container's default share of the host, so one runaway import or request cannot take the
 * memory or CPUs of every other country's portal. Sized for the portal on the example machines
 * (2 vCPUs; 4 GiB with two instances, 8 GiB with three): an instance's limits add up to 1.9 GiB.
 * Process counts (threads included) leave room for what each runs at its busiest: PostgreSQL's
 * 100 connections and its background and parallel workers; the backend's workers and threads;
 * nginx's master and one worker per host CPU (`worker_processes auto`), on hosts of up to 64 CPUs.
 */
export const DEFAULT_RESOURCES: ResourceSettings = {
    postgis: { memoryMb: 1024, cpus: "1.5", pids: 256 },
    backend: { memoryMb: 768, cpus: "1.0", pids: 256 },
    nginx: { memoryMb: 128, cpus: "0.5", pids: 128 },
};
/** The edge's share of its host: TLS and proxying only, no content. Here beside the instances' limits, which a host's capacity adds it to. */
export const EDGE_RESOURCES: ContainerResources = { memoryMb: 256, cpus: "1.0", pids: 256 };
const MEMORY_MB = { min: 32, max: 262144 };
const PIDS = { min: 16, max: 32768 };
const CPUS = { min: 0.1, max: 64 };

export interface InstanceSettings {
    /** Lowercase DNS label; part of every name the instance owns. */
    readonly name: string;
    /** The domain the instance is served at (the edge's route and certificate, nginx's server_name). */
    readonly domain: string;
    /** More names of the same portal: each gets its own certificate and route. @default [] */
    readonly aliases: readonly string[];
    /** local only: the host port nginx publishes (cloud stacks serve https://<domain> through the edge). @default none */
    readonly port?: number;
    /** The image of each container. @default the stack's `images`, then DEFAULT_IMAGES */
    readonly images: ImageSettings;
    /** The instance's database. @default { name: "portal", user: "portal" } */
    readonly database: DatabaseSettings;
    /** Extra plain environment for the backend (no secrets: those come from the program). @default {} */
    readonly backendEnv: Readonly<Record<string, string>>;
    /** Each container's memory and CPU limits, role by role. @default DEFAULT_RESOURCES */
    readonly resources: ResourceSettings;
    /** The host the instance runs on, a name of `hosts`. @default the stack's one host (required with several) */
    readonly host: string;
}

/** The block volume as the stack file gives it. */
export interface VolumeSettings {
    /** Size in GiB. */
    readonly sizeGb: number;
    /** The volume's name in the cloud; DigitalOcean shows it in the device path. @default CloudNames.dataVolume */
    readonly name?: string;
    /** A snapshot to create the volume from. @default a blank volume */
    readonly fromSnapshot?: string;
    /** An existing volume to adopt (import) as it stands. @default a new volume */
    readonly adoptId?: string;
    /** aws: the customer KMS key that encrypts the volume. @default the account's EBS key */
    readonly kmsKeyId?: string;
}

/** Where a data volume lives: DigitalOcean volumes are regional, EBS volumes zonal. */
export type VolumePlacement =
    | { readonly provider: "digitalocean"; /** The Droplet's region. */ readonly region: string }
    | { readonly provider: "aws"; /** The instance's availability zone. */ readonly availabilityZone: string };

/** A data volume the stack manages: created, or adopted (adoptId). */
export interface DataVolumeSettings extends VolumeSettings {
    /** The volume's name in the cloud. */
    readonly name: string;
    readonly placement: VolumePlacement;
}

export interface SnapshotSettings {
    /** Hours between snapshots; one of SNAPSHOT_INTERVALS. */
    readonly everyHours: number;
    /** The first snapshot of the day, "HH:MM" UTC. */
    readonly at: string;
    /** Snapshots kept. */
    readonly retain: number;
    /** Dumps kept per instance. @default retain */
    readonly dumpRetain: number;
    /** aws: a region to copy each snapshot to. @default no copies */
    readonly copyToRegion?: string;
    /** aws: copies kept, with copyToRegion. @default retain */
    readonly copyRetain?: number;
}

/** Off-site copies of the dumps (and the edge's certificates) with restic, to S3-compatible storage. */
export interface OffsiteSettings {
    /** The storage's https endpoint, e.g. "https://fra1.digitaloceanspaces.com" or "https://s3.eu-central-1.amazonaws.com". */
    readonly endpoint: string;
    /** The bucket. */
    readonly bucket: string;
    /** How many copies forget --prune keeps: the newest of each of the last N days, ISO weeks and months. */
    readonly retain: OffsiteRetention;
    /** Whether the stack creates the bucket (a Spaces bucket, or an S3 bucket with versioning and public access blocked). @default false */
    readonly create: boolean;
}

export interface OffsiteRetention {
    /** @default 7 */
    readonly daily: number;
    /** @default 4 */
    readonly weekly: number;
    /** @default 6 */
    readonly monthly: number;
}

/** Who is told when a backup fails. */
export interface AlertSettings {
    /** Whether a webhook is set (its URL is a secret, alerts.webhookUrl: the value stays an Output, settings.ts). */
    readonly webhook: boolean;
    /** aws: addresses subscribed by email to the alerts topic. @default [] */
    readonly email: readonly string[];
}

export const DEFAULT_OFFSITE_RETENTION: OffsiteRetention = { daily: 7, weekly: 4, monthly: 6 };

/** What every cloud host has, created or existing. */
interface HostCommonSettings {
    /** The cloud region. @default "fra1" (digitalocean), "eu-central-1" (aws) */
    readonly region: string;
    /** The machine size. @default "s-2vcpu-4gb" (digitalocean), "t3.medium" (aws) */
    readonly size: string;
    /** The machine image. @default "ubuntu-24-04-x64" (digitalocean); required on aws (an AMI id) */
    readonly image: string;
    /** aws: the zone of the instance and its volume. @default none; required on aws for a created host */
    readonly availabilityZone?: string;
    /** The SSH user that drives Docker. @default "root" (digitalocean), "ubuntu" (aws) */
    readonly sshUser: string;
    /** digitalocean: key fingerprints or ids; aws: the one public key of the key pair. @default [] */
    readonly sshKeys: readonly string[];
    /** The CIDRs that may reach SSH. @default [] */
    readonly sshAllowedCidrs: readonly string[];
    /** Accept SSH from the whole internet. @default false */
    readonly allowSshFromAnywhere: boolean;
    /**
     * The host's SSH public host key, one OpenSSH line: required for an existing host; on a created
     * host, the key of a machine created before the program generated host keys (hostKey.ts, docs/security.md).
     * @default none: a created host gets a generated key
     */
    readonly hostKey?: string;
}

/** A host the program creates, with its data volume. */
export interface CreatedHostSettings extends HostCommonSettings {
    readonly kind: "create";
    readonly dataVolume: DataVolumeSettings;
}

/** A host that already runs (`host.address`): the program only manages Docker on it. */
export interface ExistingHostSettings extends HostCommonSettings {
    readonly kind: "existing";
    /** Where the host is reached over SSH. */
    readonly address: string;
    /** Its attached volume, when adopted into the stack (volume.adoptId). @default not managed */
    readonly dataVolume?: DataVolumeSettings;
}

export type HostSettings = CreatedHostSettings | ExistingHostSettings;

/** One host of a local stack: a Docker engine and where its data lives. */
export interface LocalHost {
    /** The host's name, a key of `hosts`; DEFAULT_HOST for a stack without them. */
    readonly name: string;
    /** The host's Docker engine, a unix socket. @default LOCAL_DOCKER_HOST */
    readonly dockerHost: string;
    readonly layout: LayoutContext;
}

/** One host of a cloud stack, a full copy of the design: machine, data volume, snapshots, dumps, edge. */
export interface CloudHost {
    /** The host's name, a key of `hosts`; DEFAULT_HOST (`main`) for a stack without them, whose cloud names carry no host part. */
    readonly name: string;
    readonly host: HostSettings;
    readonly snapshots: SnapshotSettings;
    readonly layout: Extract<LayoutContext, { kind: "data-volume" }>;
}

/** A non-empty list: a stack has at least one host. */
export type OneOrMore<T> = readonly [T, ...T[]];

interface CommonSettings {
    readonly stack: string;
    /** The edge proxy: always on cloud stacks; on local stacks only with the `edge` key and a dataRoot. @default none on local stacks */
    readonly edge?: EdgeSettings;
    readonly instances: readonly InstanceSettings[];
    /** The names of each instance's backend secrets (`backendSecrets`); the values stay Outputs (settings.ts). @default {} */
    readonly backendSecretNames: Readonly<Record<string, readonly string[]>>;
}

/** provider local: the local Docker engine, storage from a checkout or a data root. */
export interface LocalSettings extends CommonSettings {
    readonly provider: "local";
    readonly hosts: OneOrMore<LocalHost>;
}

/** digitalocean / aws: a cloud host with the block volume at the data root. */
export interface CloudSettings extends CommonSettings {
    readonly provider: CloudProvider;
    readonly edge: EdgeSettings;
    readonly hosts: OneOrMore<CloudHost>;
    /** @default none: the dumps stay on the volume (and in its snapshots) only */
    readonly offsite?: OffsiteSettings;
    /** @default none: failures show only in the journal and `systemctl --failed` */
    readonly alerts?: AlertSettings;
    /** @default none: the records to create are listed (stack output dnsRecords) */
    readonly dns?: DnsSettings;
}

export type StackSettings = LocalSettings | CloudSettings;

export type ValidationResult =
    /** `notes`: what is allowed but worth a line (a host without instances). */
    | { readonly ok: true; readonly settings: StackSettings; readonly notes: readonly string[] }
    | { readonly ok: false; readonly problems: readonly string[] };

/** What validation may look at besides the config: the stack and the file system. */
export interface ValidationContext {
    readonly stack: string;
    /** This project's directory: projectRoot is relative to it. */
    readonly projectDir: string;
    /** Whether a path exists, overridable for tests. @default fs.existsSync */
    readonly pathExists?: (p: string) => boolean;
}

export const DEFAULT_DATA_ROOT = "/mnt/data";
export const DEFAULT_IMAGES: ImageSettings = {
    postgis: "postgis/postgis:16-3.4",
    backend: "ghcr.io/housing-portal/backend:latest",
    nginx: "nginx:1.27",
};
/** Hour intervals both providers can schedule from a fixed time of day (DLM's interval set). */
export const SNAPSHOT_INTERVALS = [1, 2, 3, 4, 6, 8, 12, 24] as const;
export const VOLUME_SIZE_LIMITS: Readonly<Record<CloudProvider, { min: number; max: number }>> = {
    digitalocean: { min: 1, max: 16384 },
    aws: { min: 1, max: 16384 },
};
export const MAX_SNAPSHOT_RETAIN: Readonly<Record<CloudProvider, number>> = { digitalocean: 1000, aws: 1000 };
const HOST_DEFAULTS: Readonly<Record<CloudProvider, Pick<HostCommonSettings, "region" | "size" | "image" | "sshUser">>> = {
    // Not root: cloud-init creates the deploy user with DigitalOcean's keys and disables root's login.
    digitalocean: { region: "fra1", size: "s-2vcpu-4gb", image: "ubuntu-24-04-x64", sshUser: "deploy" },
    aws: { region: "eu-central-1", size: "t3.medium", image: "", sshUser: "ubuntu" },
};
/** The whole internet, IPv4 and IPv6. */
export const WORLD_CIDRS = ["0.0.0.0/0", "::/0"] as const;

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** A lowercase domain name of DNS labels under a top-level domain of letters: instance domains, aliases, the dns zone. */
export const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
/** The firewall keeps SSH to host.sshAllowedCidrs; an instance must not publish on it. */
const SSH_PORT = 22;
const HH_MM = /^([01][0-9]|2[0-3]):[0-5][0-9]$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** DigitalOcean's rule for volume names, applied on both clouds so a name works on either. */
const VOLUME_NAME = /^[a-z][a-z0-9-]{0,63}$/;
/** A POSIX user name (the portable subset useradd accepts): the SSH user goes into commands and unit files. */
const POSIX_USER = /^[a-z_][a-z0-9_-]{0,31}$/;
/** A host name of RFC 1123 labels (letters, digits, '-'; 1 to 63 each), at most 253 characters. */
const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
/** An AWS region name, e.g. "eu-west-1" or "us-gov-west-1". */
const AWS_REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** The id formats of what volume.adoptId and volume.fromSnapshot name, by cloud. */
const VOLUME_ID_FORMATS: Readonly<Record<CloudProvider, Readonly<Record<"adoptId" | "fromSnapshot", { readonly format: RegExp; readonly what: string }>>>> = {
    aws: {
        adoptId: { format: /^vol-([0-9a-f]{8}|[0-9a-f]{17})$/, what: "an EBS volume id, \"vol-\" and 8 or 17 hex digits such as \"vol-0123456789abcdef0\"" },
        fromSnapshot: { format: /^snap-([0-9a-f]{8}|[0-9a-f]{17})$/, what: "an EBS snapshot id, \"snap-\" and 8 or 17 hex digits such as \"snap-0123456789abcdef0\"" },
    },
    // DigitalOcean's API: volumes and volume snapshots have UUIDs; numeric snapshot ids are Droplet snapshots.
    digitalocean: {
        adoptId: { format: UUID, what: "a DigitalOcean volume id, a UUID such as \"506f78a4-e098-11e5-ad9f-000f53306ae1\"" },
        fromSnapshot: { format: UUID, what: "a DigitalOcean volume snapshot id, a UUID such as \"fbe805e8-866b-11e6-96bf-000f53315a41\"" },
    },
};
/** PostgreSQL's own databases: an instance's data must not live in them. */
const SYSTEM_DATABASES = ["postgres", "template0", "template1"];
/** Directories of the operating system itself: a dev data root must be a directory of its own (subdirectories are fine). */
const SYSTEM_DIRECTORIES = ["/etc", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/boot", "/dev", "/proc", "/sys", "/run", "/var", "/root", "/home"];
/** The namespaces of the providers' own settings (aws:region, ...): Pulumi reads those, not this program. */
export const PROVIDER_NAMESPACES = ["aws", "digitalocean", "docker", "command", "random", "pulumi"] as const;
/** The allowed keys of each object in a stack file, tied to the settings they become. */
export const INSTANCE_KEYS = keysOf<InstanceSettings>()(["name", "domain", "aliases", "port", "images", "database", "backendEnv", "resources", "host"]);
export const EDGE_KEYS = keysOf<Omit<EdgeSettings, "image">>()(["caUrl", "email", "caRootPem"]);
const RESOURCE_KEYS = keysOf<ContainerResources>()(["memoryMb", "cpus", "pids"]);
const DATABASE_KEYS = keysOf<DatabaseSettings>()(["name", "user"]);
export const VOLUME_KEYS = keysOf<VolumeSettings>()(["sizeGb", "name", "fromSnapshot", "adoptId", "kmsKeyId"]);
export const SNAPSHOT_KEYS = keysOf<SnapshotSettings>()(["everyHours", "at", "retain", "dumpRetain", "copyToRegion", "copyRetain"]);
const OFFSITE_KEYS = keysOf<OffsiteSettings>()(["endpoint", "bucket", "retain", "create"]);
const OFFSITE_RETAIN_KEYS = keysOf<OffsiteRetention>()(["daily", "weekly", "monthly"]);
const ALERT_KEYS = ["webhookUrl", "email"] as const;
export const HOST_KEYS = keysOf<HostCommonSettings & Pick<ExistingHostSettings, "address">>()([
    "region", "size", "image", "availabilityZone", "sshUser", "sshKeys", "sshAllowedCidrs", "allowSshFromAnywhere", "hostKey", "address",
]);
/** Keys that only cloud stacks use. */
const CLOUD_ONLY_KEYS = ["volume", "snapshots", "host", "offsite", "alerts", "dns"] as const satisfies readonly ConfigKey[];
/** The stack-wide sections a cloud host's entry in `hosts` overrides, field by field. */
export const HOST_SECTIONS = ["host", "volume", "snapshots"] as const satisfies readonly ConfigKey[];
type HostSection = (typeof HOST_SECTIONS)[number];
/** The keys of a local host's entry in `hosts`. */
export const LOCAL_HOST_KEYS = keysOf<Pick<LocalHost, "dockerHost"> & { dataRoot: unknown }>()(["dockerHost", "dataRoot"]);
/** The engine of a local host without a `dockerHost`: the socket of the machine that runs Pulumi. */
export const LOCAL_DOCKER_HOST = "unix:///var/run/docker.sock";
/** A host's name is part of its cloud names (cloudNames), among them an IAM role's, which AWS limits to 64 characters. */
const MAX_HOST_NAME = 24;

/** Backend variables the program sets itself; config must not override them. */
export const RESERVED_BACKEND_ENV = ["POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD", "DATABASE_URL", "PORTAL_INSTANCE"];
/** libpq reads every PG* variable (PGHOST, PGPASSWORD, PGSSLMODE, …): one would redirect the backend's database connection. */
const LIBPQ_ENV = /^PG[A-Z_]*$/;
/** Names that say their value is a secret: such a value belongs in backendSecrets, never in plain config. */
export const SECRET_LOOKING_ENV = /(SECRET|PASSWORD|PASSWD|TOKEN|PRIVATE_KEY|API_KEY|CREDENTIAL)/;

/** What is wrong with a backend variable's name, wherever it is set; undefined when it may be set. */
function backendEnvNameProblem(name: string): string | undefined {
    if (!ENV_NAME.test(name)) return "must be an environment variable name (A-Z, a-z, 0-9, _)";
    if (RESERVED_BACKEND_ENV.includes(name)) return "is set by the program (the instance's name and its generated database credentials); remove it";
    if (LIBPQ_ENV.test(name)) return "is read by PostgreSQL's client library and would change where and how the backend connects; the program sets the connection, remove it";
    return undefined;
}

/** One problem with the config: where, and what is wrong and expected. */
export interface Problem {
    readonly path: string;
    readonly message: string;
}

/** Collects problems; reported as `<key path>: <message>` lines. */
export class Problems {
    readonly all: Problem[] = [];
    add(path: string, message: string): void {
        this.all.push({ path, message });
    }
    /** Whether any problem lies at or below this key path. */
    anyAt(keyPath: string): boolean {
        return this.all.some((p) => p.path === keyPath || p.path.startsWith(`${keyPath}.`) || p.path.startsWith(`${keyPath}[`));
    }
    get lines(): string[] {
        return this.all.map((p) => `${p.path}: ${p.message}`);
    }
}

type Raw = Record<string, unknown>;

function isObject(v: unknown): v is Raw {
    return typeof v === "object" && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
    if (v === undefined) return "nothing";
    return JSON.stringify(v);
}

/** Reports keys of an object that the program does not know: a typo must not pass silently. */
function rejectUnknown(obj: Raw, allowed: readonly string[], keyPath: string, problems: Problems): void {
    for (const k of Object.keys(obj)) {
        if (!allowed.includes(k)) problems.add(`${keyPath}.${k}`, unknownKeyMessage(k, allowed));
    }
}

function unknownKeyMessage(key: string, allowed: readonly string[]): string {
    const near = nearMiss(key, allowed);
    return near === undefined ? `unknown key; expected one of ${allowed.join(", ")}` : `unknown key; did you mean ${near}?`;
}

/** The edit distance of two strings: insertions, deletions, substitutions and swaps of neighbours. */
export function editDistance(a: string, b: string): number {
    const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
    for (let i = 1; i <= a.length; i++) {
        for (let j = 1; j <= b.length; j++) {
            const cost = a[i - 1] === b[j - 1] ? 0 : 1;
            d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
            if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
        }
    }
    return d[a.length][b.length];
}

/** The known word one or two edits away from `word` (the closest, the first on a tie), if any; short words only one. */
export function nearMiss(word: string, known: readonly string[]): string | undefined {
    let best: { word: string; distance: number } | undefined;
    for (const candidate of known) {
        const distance = editDistance(word, candidate);
        // Two edits turn any 2-letter word into any other: a hint needs more of the word to stand.
        if (distance === 0 || distance > 2 || distance * 2 >= candidate.length) continue;
        if (best === undefined || distance < best.distance) best = { word: candidate, distance };
    }
    return best?.word;
}

function optionalString(obj: Raw, key: string, keyPath: string, problems: Problems): string | undefined {
    const v = obj[key];
    if (v === undefined) return undefined;
    if (typeof v !== "string" || v.trim() === "") {
        problems.add(keyPath, `must be a non-empty string, got ${describe(v)}`);
        return undefined;
    }
    return v;
}

function integerIn(v: unknown, keyPath: string, min: number, max: number, problems: Problems, what = "an integer"): number | undefined {
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
        problems.add(keyPath, `must be ${what} from ${min} to ${max}, got ${describe(v)}`);
        return undefined;
    }
    return v;
}

/** Validates an instance name: a lowercase DNS label (RFC 1123), 1 to 63 characters. */
export function validateInstanceName(name: unknown): string | undefined {
    if (typeof name !== "string" || name === "") return "must be a non-empty lowercase DNS label (a-z, 0-9, -)";
    if (name.length > 63) return `must be at most 63 characters, got ${name.length}`;
    if (!DNS_LABEL.test(name)) {
        return `must be a lowercase DNS label: a-z, 0-9 and '-', starting and ending with a letter or digit; got ${JSON.stringify(name)}`;
    }
    return undefined;
}

/**
 * An object by role that overrides `base` role by role (images, resources): `one` reads a role's
 * value, reporting its own problems, and gives undefined to keep the base.
 */
function validateByRole<T>(
    raw: unknown, keyPath: string, base: Readonly<Record<Role, T>>, shape: string, problems: Problems,
    one: (value: unknown, at: string, role: Role) => T | undefined,
): Readonly<Record<Role, T>> {
    if (raw === undefined) return base;
    if (!isObject(raw)) {
        problems.add(keyPath, `must be an object ${shape}, got ${describe(raw)}`);
        return base;
    }
    rejectUnknown(raw, ROLES, keyPath, problems);
    const out: Record<Role, T> = { ...base };
    for (const role of ROLES) {
        if (raw[role] === undefined) continue;
        const value = one(raw[role], `${keyPath}.${role}`, role);
        if (value !== undefined) out[role] = value;
    }
    return out;
}

/** An instance's limits: DEFAULT_RESOURCES with the roles and fields it overrides. */
function validateResources(raw: unknown, keyPath: string, problems: Problems): ResourceSettings {
    return validateByRole(raw, keyPath, DEFAULT_RESOURCES, `by role {${ROLES.join(", ")}}, each {memoryMb, cpus, pids}`, problems, (r, at, role) => {
        if (!isObject(r)) {
            problems.add(at, `must be an object {memoryMb, cpus, pids}, got ${describe(r)}`);
            return undefined;
        }
        rejectUnknown(r, RESOURCE_KEYS, at, problems);
        const memoryMb = r.memoryMb === undefined ? DEFAULT_RESOURCES[role].memoryMb
            : integerIn(r.memoryMb, `${at}.memoryMb`, MEMORY_MB.min, MEMORY_MB.max, problems, "a memory limit in MB, an integer");
        let cpus = DEFAULT_RESOURCES[role].cpus;
        if (r.cpus !== undefined) {
            if (typeof r.cpus !== "number" || !(r.cpus >= CPUS.min && r.cpus <= CPUS.max)) {
                problems.add(`${at}.cpus`, `must be a number of CPUs from ${CPUS.min} to ${CPUS.max}, e.g. 1.5, got ${describe(r.cpus)}`);
            } else cpus = String(r.cpus);
        }
        const pids = r.pids === undefined ? DEFAULT_RESOURCES[role].pids
            : integerIn(r.pids, `${at}.pids`, PIDS.min, PIDS.max, problems, "a limit of processes and threads, an integer");
        return memoryMb === undefined || pids === undefined ? undefined : { memoryMb, cpus, pids };
    });
}

function withoutKey(obj: Raw, key: string): Raw {
    const { [key]: _dropped, ...rest } = obj;
    return rest;
}

/** One image reference, or undefined with its problem reported. */
function validateImage(v: unknown, at: string, problems: Problems): string | undefined {
    const problem = typeof v === "string" ? imageReferenceProblem(v) : "it is not a string";
    if (problem === undefined) return v as string;
    problems.add(at, `must be an image reference such as "nginx:1.27", "ghcr.io/org/img:tag" or "img@sha256:<64 hex>" (${problem}), got ${describe(v)}`);
    return undefined;
}

const EMAIL = /^[^\s@"'<>()]+@[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/i;
/** The characters a value may have to be written into the Caddyfile as one plain token. */
const CADDY_TOKEN = /^[^\s"'{}#`\\]+$/;

/** The edge's ACME settings: a CA directory over https, a contact email, a PEM root; the image from `images.edge`. */
export function validateEdge(raw: unknown, image: string, problems: Problems): EdgeSettings | undefined {
    if (raw === undefined) return { caUrl: LETS_ENCRYPT_PRODUCTION, image };
    if (!isObject(raw)) {
        problems.add("edge", `must be an object {caUrl?, email?, caRootPem?}, got ${describe(raw)}`);
        return undefined;
    }
    rejectUnknown(raw, EDGE_KEYS, "edge", problems);
    let caUrl = LETS_ENCRYPT_PRODUCTION;
    if (raw.caUrl !== undefined) {
        let url: URL | undefined;
        try {
            url = typeof raw.caUrl === "string" ? new URL(raw.caUrl) : undefined;
        } catch {
            url = undefined;
        }
        if (url === undefined || url.protocol !== "https:" || !CADDY_TOKEN.test(String(raw.caUrl))) {
            problems.add("edge.caUrl", `must be an ACME directory URL over https, such as "${LETS_ENCRYPT_STAGING}" (Let's Encrypt staging), got ${describe(raw.caUrl)}`);
        } else caUrl = String(raw.caUrl);
    }
    let email: string | undefined;
    if (raw.email !== undefined) {
        if (typeof raw.email !== "string" || !EMAIL.test(raw.email) || !CADDY_TOKEN.test(raw.email)) {
            problems.add("edge.email", `must be an email address such as "ops@example.org" (the ACME account's contact), got ${describe(raw.email)}`);
        } else email = raw.email;
    }
    let caRootPem: string | undefined;
    if (raw.caRootPem !== undefined) {
        if (typeof raw.caRootPem !== "string" || !/^-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE-----\n?$/.test(raw.caRootPem.trim() + "\n")) {
            problems.add("edge.caRootPem", "must be one PEM certificate (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----): the root that signs the ACME directory's TLS certificate");
        } else caRootPem = `${raw.caRootPem.trim()}\n`;
    }
    if (problems.anyAt("edge")) return undefined;
    return { caUrl, ...(email === undefined ? {} : { email }), ...(caRootPem === undefined ? {} : { caRootPem }), image };
}

function validateImages(raw: unknown, keyPath: string, base: ImageSettings, problems: Problems): ImageSettings {
    return validateByRole(raw, keyPath, base, `{${ROLES.join(", ")}}`, problems, (v, at) => validateImage(v, at, problems));
}

const IMAGE_PATH_COMPONENT = /^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*$/;
const REGISTRY_HOST = /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:[0-9]{1,5})?$/;
const IMAGE_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const IMAGE_DIGEST = /^sha256:[0-9a-f]{64}$/;

/**
 * What is wrong with an image reference (Docker's grammar: `[registry[:port]/]repository[:tag][@digest]`),
 * or undefined. A tag or a digest is required: an untagged image is whatever "latest" is that day.
 */
export function imageReferenceProblem(ref: string): string | undefined {
    let name = ref;
    const at = name.indexOf("@");
    if (at >= 0) {
        if (!IMAGE_DIGEST.test(name.slice(at + 1))) return "a digest is \"sha256:\" and 64 lowercase hex digits";
        name = name.slice(0, at);
    }
    const colon = name.lastIndexOf(":");
    let tagged = false;
    if (colon > name.lastIndexOf("/")) {
        if (!IMAGE_TAG.test(name.slice(colon + 1))) return "a tag is 1 to 128 of A-Z, a-z, 0-9, _, . and -, not starting with . or -";
        name = name.slice(0, colon);
        tagged = true;
    }
    if (!tagged && at < 0) return "it names no tag or digest; pin one";
    const parts = name.split("/");
    // Docker's rule: the first part is a registry when it has a dot or a port, or is localhost.
    if (parts.length > 1 && (/[.:]/.test(parts[0]) || parts[0] === "localhost")) {
        if (!REGISTRY_HOST.test(parts[0])) return `the registry ${JSON.stringify(parts[0])} is a host name with an optional port, such as "registry.example.org:5000"`;
        parts.shift();
    }
    if (!parts.every((p) => IMAGE_PATH_COMPONENT.test(p))) {
        return "the repository is lowercase a-z and 0-9 in parts joined by /, each part separated inside by ., _, __ or -";
    }
    if (name.length > 255) return "the name is at most 255 characters";
    return undefined;
}

/** An instance's host: the one it names, or the stack's only host; required with several. */
function placement(v: unknown, keyPath: string, hostNames: readonly string[], problems: Problems): string | undefined {
    const expected = hostNames.length === 1 ? `"${hostNames[0]}", the stack's one host` : `one of ${hostNames.join(", ")} (the keys of hosts)`;
    if (v === undefined) {
        if (hostNames.length === 1) return hostNames[0];
        problems.add(keyPath, `is required with several hosts: the host the instance runs on, ${expected}`);
        return undefined;
    }
    if (typeof v !== "string" || !hostNames.includes(v)) {
        problems.add(keyPath, `names no host of this stack; expected ${expected}, got ${describe(v)}`);
        return undefined;
    }
    return v;
}

/**
 * Validates the instances list: names, domains and aliases, ports (unique per host), images, uniqueness. `publishesPorts`:
 * "each" instance publishes its own host port (local stacks; required there), or "none" (cloud stacks:
 * refused); "unknown" (no valid provider): a port is checked when given, never required.
 */
export function validateInstances(raw: unknown, defaults: ImageSettings, problems: Problems, publishesPorts: "each" | "none" | "unknown" = "each", hostNames: readonly string[] = [DEFAULT_HOST]): InstanceSettings[] {
    if (raw === undefined || (Array.isArray(raw) && raw.length === 0)) {
        problems.add("instances", "at least one portal instance is required: a list of objects with name and domain (and port with provider local)");
        return [];
    }
    if (!Array.isArray(raw)) {
        problems.add("instances", `must be a list of objects with name and domain (and port with provider local), got ${describe(raw)}`);
        return [];
    }
    const out: InstanceSettings[] = [];
    const names = new Map<string, number>();
    // Host ports are the host's: two instances on two hosts may publish the same one.
    const ports = publishesPorts === "none" ? undefined : new Map<string, number>();
    const domains = new Map<string, string>();
    raw.forEach((entry, i) => {
        const at = `instances[${i}]`;
        if (!isObject(entry)) {
            problems.add(at, `must be an object with name and domain (and port with provider local), got ${describe(entry)}`);
            return;
        }
        rejectUnknown(entry, INSTANCE_KEYS, at, problems);
        const nameProblem = validateInstanceName(entry.name);
        if (nameProblem) problems.add(`${at}.name`, nameProblem);
        const name = nameProblem ? undefined : (entry.name as string);
        if (name !== undefined) {
            const first = names.get(name);
            if (first !== undefined) problems.add(`${at}.name`, `duplicate instance name "${name}" (also instances[${first}].name); names must be unique`);
            else names.set(name, i);
        }
        let domain: string | undefined;
        // Every name the edge routes (domains and aliases) belongs to one instance only.
        const claim = (name: string, keyPath: string) => {
            const first = domains.get(name);
            if (first !== undefined) problems.add(keyPath, `duplicate domain "${name}" (also ${first}); the edge and nginx tell instances apart by domain, every name belongs to one instance`);
            else domains.set(name, keyPath);
        };
        if (typeof entry.domain !== "string" || !DOMAIN.test(entry.domain)) {
            problems.add(`${at}.domain`, `must be a lowercase domain name such as "colombia.example.org", got ${describe(entry.domain)}`);
        } else {
            domain = entry.domain;
            claim(domain, `${at}.domain`);
        }
        const aliases: string[] = [];
        if (entry.aliases !== undefined) {
            if (!Array.isArray(entry.aliases)) problems.add(`${at}.aliases`, `must be a list of domain names such as ["www.colombia.example.org"], got ${describe(entry.aliases)}`);
            else {
                entry.aliases.forEach((a: unknown, j: number) => {
                    if (typeof a !== "string" || !DOMAIN.test(a)) problems.add(`${at}.aliases[${j}]`, `must be a lowercase domain name such as "www.colombia.example.org", got ${describe(a)}`);
                    else {
                        claim(a, `${at}.aliases[${j}]`);
                        aliases.push(a);
                    }
                });
            }
        }
        const host = placement(entry.host, `${at}.host`, hostNames, problems);
        let port: number | undefined;
        if (ports === undefined) {
            // Cloud stacks: no instance publishes a host port; the edge serves it.
            if (entry.port !== undefined) {
                problems.add(`${at}.port`, `is only used with provider local: the edge serves the instance on 443 at https://${domain ?? "<domain>"} (and redirects port 80 there); remove it`);
            }
        } else if (publishesPorts === "each" || entry.port !== undefined) {
            port = integerIn(entry.port, `${at}.port`, 1, 65535, problems, "a TCP port");
            if (port === SSH_PORT) {
                problems.add(`${at}.port`, `${SSH_PORT} is SSH's port: the firewall would open it to the world; pick another host port`);
            } else if (port !== undefined) {
                const onHost = `${host ?? ""}:${port}`;
                const first = ports.get(onHost);
                if (first !== undefined) problems.add(`${at}.port`, `host port ${port} is already used by instances[${first}]${hostNames.length === 1 ? "" : ` on host ${host}`}; every instance on a host needs its own port`);
                else ports.set(onHost, i);
            }
        }
        if (isObject(entry.images) && entry.images.edge !== undefined) {
            problems.add(`${at}.images.edge`, "the edge serves every instance of its host, so its image is the stack's: set images.edge, not an instance's");
        }
        const images = validateImages(isObject(entry.images) ? withoutKey(entry.images, "edge") : entry.images, `${at}.images`, defaults, problems);
        const database: { -readonly [K in keyof DatabaseSettings]: string } = { name: "portal", user: "portal" };
        if (entry.database !== undefined) {
            if (!isObject(entry.database)) problems.add(`${at}.database`, `must be an object {name, user}, got ${describe(entry.database)}`);
            else {
                rejectUnknown(entry.database, DATABASE_KEYS, `${at}.database`, problems);
                for (const k of DATABASE_KEYS) {
                    const v = entry.database[k];
                    if (v === undefined) continue;
                    if (typeof v !== "string" || !/^[a-z_][a-z0-9_]{0,62}$/.test(v)) {
                        problems.add(`${at}.database.${k}`, `must be a PostgreSQL identifier (a-z, 0-9, _; starting with a letter or _), got ${describe(v)}`);
                    } else if (k === "user" && (v === DATABASE_SUPERUSER || v.startsWith("pg_"))) {
                        problems.add(`${at}.database.user`, `"${v}" is ${v === DATABASE_SUPERUSER ? "the database's superuser, which only the host's maintenance uses" : "a name PostgreSQL reserves for its own roles (pg_*)"}; the backend needs a role of its own, e.g. "portal"`);
                    } else if (k === "name" && SYSTEM_DATABASES.includes(v)) {
                        problems.add(`${at}.database.name`, `"${v}" is one of PostgreSQL's own databases (${SYSTEM_DATABASES.join(", ")}); give the instance a database of its own, e.g. "portal"`);
                    } else database[k] = v;
                }
            }
        }
        const backendEnv: Record<string, string> = {};
        if (entry.backendEnv !== undefined) {
            if (!isObject(entry.backendEnv)) problems.add(`${at}.backendEnv`, `must be an object of NAME: "value" strings, got ${describe(entry.backendEnv)}`);
            else {
                for (const [k, v] of Object.entries(entry.backendEnv)) {
                    const nameProblem = backendEnvNameProblem(k);
                    if (nameProblem) problems.add(`${at}.backendEnv.${k}`, nameProblem);
                    else if (SECRET_LOOKING_ENV.test(k)) problems.add(`${at}.backendEnv.${k}`, `looks like a secret, and backendEnv is plain config (in the stack file and the plan); set it as a backend secret: \`pulumi config set --secret --path '${CONFIG_NAMESPACE}:backendSecrets.${typeof entry.name === "string" ? entry.name : "<instance>"}.${k}' <value>\``);
                    else if (typeof v !== "string") problems.add(`${at}.backendEnv.${k}`, `must be a string, got ${describe(v)}`);
                    else backendEnv[k] = v;
                }
            }
        }
        const resources = validateResources(entry.resources, `${at}.resources`, problems);
        if (name !== undefined && domain !== undefined && host !== undefined && (publishesPorts !== "each" || port !== undefined)) {
            out.push({ name, domain, aliases, ...(port === undefined ? {} : { port }), images, database, backendEnv, resources, host });
        }
    });
    return out;
}

/**
 * The names of each instance's backend secrets: `backendSecrets` maps a configured instance to
 * NAME: value, every value a non-empty string. A message never repeats a value: it is a secret.
 */
export function validateBackendSecrets(raw: unknown, instances: readonly InstanceSettings[], problems: Problems): Record<string, string[]> {
    const names: Record<string, string[]> = Object.fromEntries(instances.map((i) => [i.name, []]));
    if (raw === undefined) return names;
    const setWith = `pulumi config set --secret --path '${CONFIG_NAMESPACE}:backendSecrets.<instance>.<NAME>' <value>`;
    if (!isObject(raw)) {
        problems.add("backendSecrets", `must map instance names to {NAME: secret value}, each set with \`${setWith}\``);
        return names;
    }
    for (const [instance, vars] of Object.entries(raw)) {
        const inst = instances.find((i) => i.name === instance);
        if (inst === undefined) {
            problems.add(`backendSecrets.${instance}`, `names no instance (instances: ${instances.map((i) => i.name).join(", ") || "none"})`);
            continue;
        }
        if (!isObject(vars)) {
            problems.add(`backendSecrets.${instance}`, `must be an object of NAME: secret value, each set with \`${setWith}\``);
            continue;
        }
        for (const [k, v] of Object.entries(vars)) {
            const at = `backendSecrets.${instance}.${k}`;
            const nameProblem = backendEnvNameProblem(k);
            if (nameProblem) problems.add(at, nameProblem);
            else if (k in inst.backendEnv) problems.add(at, `is also set in plain backendEnv of instance ${instance}; keep it in one place, here`);
            else if (typeof v !== "string" || v === "") problems.add(at, `must be a non-empty string (the value is not shown: it is a secret)`);
            else names[instance].push(k);
        }
        names[instance].sort();
    }
    return names;
}

/** Validates the block volume settings for a cloud provider. */
export function validateVolume(raw: unknown, provider: CloudProvider, problems: Problems): VolumeSettings | undefined {
    if (!isObject(raw)) {
        problems.add("volume", `is required on ${provider}: an object {sizeGb, name?, fromSnapshot?, adoptId?}, got ${describe(raw)}`);
        return undefined;
    }
    rejectUnknown(raw, VOLUME_KEYS, "volume", problems);
    const limits = VOLUME_SIZE_LIMITS[provider];
    const sizeGb = integerIn(raw.sizeGb, "volume.sizeGb", limits.min, limits.max, problems, `a whole number of GiB (${provider})`);
    const name = optionalString(raw, "name", "volume.name", problems);
    if (name !== undefined && !VOLUME_NAME.test(name)) {
        problems.add("volume.name", `must be 1 to 64 lowercase letters, digits or '-', starting with a letter, got ${JSON.stringify(name)}`);
    }
    const fromSnapshot = cloudId(raw, "fromSnapshot", provider, problems);
    const adoptId = cloudId(raw, "adoptId", provider, problems);
    const kmsKeyId = optionalString(raw, "kmsKeyId", "volume.kmsKeyId", problems);
    if (raw.fromSnapshot !== undefined && raw.adoptId !== undefined) {
        problems.add("volume", "fromSnapshot and adoptId exclude each other: create the volume from a snapshot, or adopt an existing one");
    }
    if (kmsKeyId !== undefined && provider !== "aws") problems.add("volume.kmsKeyId", "is only used on aws");
    if (sizeGb === undefined) return undefined;
    return { sizeGb, name, fromSnapshot, adoptId, kmsKeyId };
}

/** volume.adoptId or volume.fromSnapshot in this cloud's id format; another cloud's id is named as such. */
function cloudId(raw: Raw, key: "adoptId" | "fromSnapshot", provider: CloudProvider, problems: Problems): string | undefined {
    const id = optionalString(raw, key, `volume.${key}`, problems);
    if (id === undefined) return undefined;
    const { format, what } = VOLUME_ID_FORMATS[provider][key];
    if (format.test(id)) return id;
    const other = PROVIDERS.find((p): p is CloudProvider => p !== "local" && p !== provider && VOLUME_ID_FORMATS[p][key].format.test(id));
    const hint = other !== undefined ? ` (an id of ${other}; this stack's provider is ${provider})`
        : provider === "digitalocean" && key === "fromSnapshot" && /^[0-9]+$/.test(id) ? " (a numeric id is a Droplet snapshot, which cannot make a volume)" : "";
    problems.add(`volume.${key}`, `must be ${what}, got ${JSON.stringify(id)}${hint}`);
    return undefined;
}

/** Validates the snapshot schedule and retention; `hostRegion` is where the snapshots are taken. */
export function validateSnapshots(raw: unknown, provider: CloudProvider, problems: Problems, hostRegion = HOST_DEFAULTS[provider].region): SnapshotSettings | undefined {
    if (!isObject(raw)) {
        problems.add("snapshots", `is required on ${provider}: an object {everyHours, at, retain}, got ${describe(raw)}`);
        return undefined;
    }
    rejectUnknown(raw, SNAPSHOT_KEYS, "snapshots", problems);
    const everyHours = raw.everyHours;
    if (!SNAPSHOT_INTERVALS.includes(everyHours as never)) {
        problems.add("snapshots.everyHours", `${provider} schedules snapshots every ${SNAPSHOT_INTERVALS.join(", ")} hours; got ${describe(everyHours)}`);
    }
    if (typeof raw.at !== "string" || !HH_MM.test(raw.at)) {
        problems.add("snapshots.at", `must be a UTC time of day as "HH:MM" (00:00 to 23:59), got ${describe(raw.at)}`);
    }
    const max = MAX_SNAPSHOT_RETAIN[provider];
    const retain = integerIn(raw.retain, "snapshots.retain", 1, max, problems, "how many snapshots to keep, an integer");
    const dumpRetain = raw.dumpRetain === undefined ? retain : integerIn(raw.dumpRetain, "snapshots.dumpRetain", 1, max, problems, "how many dumps to keep, an integer");
    const copyToRegion = optionalString(raw, "copyToRegion", "snapshots.copyToRegion", problems);
    if (copyToRegion !== undefined && provider !== "aws") problems.add("snapshots.copyToRegion", "cross-region copies are only scheduled on aws");
    else if (copyToRegion !== undefined && !AWS_REGION.test(copyToRegion)) {
        problems.add("snapshots.copyToRegion", `must be an AWS region name such as "eu-west-1", got ${JSON.stringify(copyToRegion)}`);
    } else if (copyToRegion !== undefined && copyToRegion === hostRegion) {
        problems.add("snapshots.copyToRegion", `"${copyToRegion}" is host.region itself; a copy survives the loss of a region only in another one, e.g. "${hostRegion === "eu-west-1" ? "eu-central-1" : "eu-west-1"}"`);
    }
    const copyRetain = raw.copyRetain === undefined ? undefined : integerIn(raw.copyRetain, "snapshots.copyRetain", 1, max, problems, "how many copies to keep, an integer");
    if (copyRetain !== undefined && copyToRegion === undefined) problems.add("snapshots.copyRetain", "only applies together with snapshots.copyToRegion");
    if (problems.anyAt("snapshots") || retain === undefined || dumpRetain === undefined) return undefined;
    return {
        everyHours: everyHours as number, at: raw.at as string, retain, dumpRetain,
        copyToRegion, copyRetain: copyToRegion === undefined ? undefined : (copyRetain ?? retain),
    };
}

/** An S3 bucket name (also DigitalOcean Spaces'): 3 to 63 lowercase letters, digits, '.' and '-'. */
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
/** An https endpoint: host name or address, optional port, nothing else. */
const HTTPS_ENDPOINT = /^https:\/\/([a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*|\d{1,3}(\.\d{1,3}){3})(:\d{1,5})?$/;
const S3_ENDPOINT = /^https:\/\/s3\.[a-z]{2}(-[a-z]+)+-\d\.amazonaws\.com$/;
const SPACES_ENDPOINT = /^https:\/\/[a-z]{3}[0-9]\.digitaloceanspaces\.com$/;
const MAX_OFFSITE_RETAIN = 1000;

/** Validates the off-site copies: endpoint, bucket, retention, whether the stack creates the bucket. */
export function validateOffsite(raw: unknown, provider: CloudProvider, problems: Problems): OffsiteSettings | undefined {
    if (!isObject(raw)) {
        problems.add("offsite", `must be an object {endpoint, bucket, retain?: {daily, weekly, monthly}, create?}, got ${describe(raw)}`);
        return undefined;
    }
    rejectUnknown(raw, OFFSITE_KEYS, "offsite", problems);
    let endpoint = optionalString(raw, "endpoint", "offsite.endpoint", problems);
    if (raw.endpoint === undefined) problems.add("offsite.endpoint", `is required: the storage's https endpoint, e.g. "https://fra1.digitaloceanspaces.com"`);
    else if (endpoint !== undefined) {
        endpoint = endpoint.replace(/\/+$/, "");
        if (endpoint.startsWith("http://")) {
            problems.add("offsite.endpoint", `must use https (restic's uploads to S3-compatible storage need TLS), got ${JSON.stringify(endpoint)}`);
        } else if (!HTTPS_ENDPOINT.test(endpoint.includes("://") ? endpoint : `https://${endpoint}`)) {
            problems.add("offsite.endpoint", `must be an https endpoint such as "https://fra1.digitaloceanspaces.com" (no path), got ${JSON.stringify(endpoint)}`);
        } else if (!endpoint.includes("://")) endpoint = `https://${endpoint}`;
    }
    const bucket = optionalString(raw, "bucket", "offsite.bucket", problems);
    if (raw.bucket === undefined) problems.add("offsite.bucket", "is required: the bucket the copies go to");
    else if (bucket !== undefined && !BUCKET_NAME.test(bucket)) {
        problems.add("offsite.bucket", `must be a bucket name: 3 to 63 lowercase letters, digits, '.' or '-', got ${JSON.stringify(bucket)}`);
    }
    let retain: OffsiteRetention = DEFAULT_OFFSITE_RETENTION;
    if (raw.retain !== undefined) {
        if (!isObject(raw.retain)) problems.add("offsite.retain", `must be an object {daily, weekly, monthly}, got ${describe(raw.retain)}`);
        else {
            const r = raw.retain;
            rejectUnknown(r, OFFSITE_RETAIN_KEYS, "offsite.retain", problems);
            const count = (k: keyof OffsiteRetention) => r[k] === undefined ? DEFAULT_OFFSITE_RETENTION[k]
                : integerIn(r[k], `offsite.retain.${k}`, 0, MAX_OFFSITE_RETAIN, problems, `how many ${k} copies to keep, an integer`) ?? 0;
            retain = { daily: count("daily"), weekly: count("weekly"), monthly: count("monthly") };
            if (retain.daily + retain.weekly + retain.monthly === 0) problems.add("offsite.retain", "keeps no copy at all: set daily, weekly or monthly above 0");
        }
    }
    if (raw.create !== undefined && typeof raw.create !== "boolean") problems.add("offsite.create", `must be true or false, got ${describe(raw.create)}`);
    else if (raw.create === true && provider === "digitalocean" && endpoint !== undefined && !SPACES_ENDPOINT.test(endpoint)) {
        problems.add("offsite.create", `creates a Spaces bucket, whose region comes from a Spaces endpoint such as "https://fra1.digitaloceanspaces.com"; got ${JSON.stringify(endpoint)} (create the bucket yourself, or drop create)`);
    } else if (raw.create === true && provider === "aws" && endpoint !== undefined && !S3_ENDPOINT.test(endpoint)) {
        problems.add("offsite.create", `creates an S3 bucket, whose region comes from an S3 endpoint such as "https://s3.eu-west-1.amazonaws.com"; got ${JSON.stringify(endpoint)} (create the bucket yourself, or drop create)`);
    }
    if (problems.anyAt("offsite") || endpoint === undefined || bucket === undefined) return undefined;
    return { endpoint, bucket, retain, create: raw.create === true };
}

/** Validates where failures are reported; the webhook's URL is a secret leaf, checked for shape only (the plan sees a stand-in). */
export function validateAlerts(raw: unknown, provider: CloudProvider, problems: Problems): AlertSettings | undefined {
    if (!isObject(raw)) {
        problems.add("alerts", `must be an object {webhookUrl?, email?}, got ${describe(raw)}`);
        return undefined;
    }
    rejectUnknown(raw, ALERT_KEYS, "alerts", problems);
    const setWith = `\`pulumi config set --secret --path '${CONFIG_NAMESPACE}:alerts.webhookUrl' <url>\``;
    if (raw.webhookUrl !== undefined && (typeof raw.webhookUrl !== "string" || raw.webhookUrl.trim() === "" || /\s/.test(raw.webhookUrl))) {
        problems.add("alerts.webhookUrl", `must be the webhook's URL, set with ${setWith}`);
    }
    const email: string[] = [];
    if (raw.email !== undefined) {
        if (provider !== "aws") problems.add("alerts.email", "is only used on aws (email through the stack's SNS topic); on digitalocean use alerts.webhookUrl");
        else if (!Array.isArray(raw.email)) problems.add("alerts.email", `must be a list of email addresses, got ${describe(raw.email)}`);
        else raw.email.forEach((e, i) => {
            if (typeof e !== "string" || !EMAIL.test(e)) problems.add(`alerts.email[${i}]`, `must be an email address, got ${describe(e)}`);
            else if (email.includes(e)) problems.add(`alerts.email[${i}]`, `${JSON.stringify(e)} is listed twice`);
            else email.push(e);
        });
    }
    if (raw.webhookUrl === undefined && email.length === 0 && !problems.anyAt("alerts")) {
        problems.add("alerts.webhookUrl", provider === "aws"
            ? `or alerts.email is required: set the webhook with ${setWith}, or list addresses in alerts.email`
            : `is required on digitalocean (the only channel there): set it with ${setWith}`);
    }
    if (problems.anyAt("alerts")) return undefined;
    return { webhook: raw.webhookUrl !== undefined, email };
}

/** The stack's block volume, validated, with the name it gets when the stack file gives none. */
export interface VolumeInput {
    readonly settings: VolumeSettings;
    readonly defaultName: string;
}

const ADDRESS_FAMILIES = ["ipv4", "ipv6"] as const;
type AddressFamily = (typeof ADDRESS_FAMILIES)[number];
const FAMILY_BITS: Readonly<Record<AddressFamily, number>> = { ipv4: 32, ipv6: 128 };

/** The addresses a CIDR covers, as numbers: first and last, both included. */
export interface AddressRange {
    readonly family: AddressFamily;
    readonly first: bigint;
    readonly last: bigint;
}

/**
 * A CIDR parsed by ipaddr.js, or undefined when it is not one. IPv4 only in four-part decimal
 * (ipaddr.js also reads "10.1/8" or hex, which firewalls do not), IPv6 without a zone ("%eth0").
 */
export function parseCidr(text: string): AddressRange | undefined {
    let cidr: [ipaddr.IPv4 | ipaddr.IPv6, number];
    if (ipaddr.IPv4.isValidCIDRFourPartDecimal(text)) cidr = ipaddr.IPv4.parseCIDR(text);
    else if (text.includes(":") && !text.includes("%") && ipaddr.IPv6.isValidCIDR(text)) cidr = ipaddr.IPv6.parseCIDR(text);
    else return undefined;
    const [address, prefix] = cidr;
    const value = address.toByteArray().reduce((n, byte) => (n << 8n) | BigInt(byte), 0n);
    const size = 1n << BigInt(FAMILY_BITS[address.kind()] - prefix);
    const first = value - (value % size); // the host bits do not narrow the range
    return { family: address.kind(), first, last: first + size - 1n };
}

/**
 * Whether the ranges together cover every address of the family: sorted by start, each must
 * begin at or before the first address not yet covered. Hand-written because ipaddr.js matches
 * one address against ranges but does not merge a set of ranges; on numbers it is this loop.
 */
export function coversFamily(ranges: readonly AddressRange[], family: AddressFamily): boolean {
    const sorted = ranges.filter((r) => r.family === family).sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
    let uncovered = 0n;
    for (const r of sorted) {
        if (r.first > uncovered) return false;
        if (r.last + 1n > uncovered) uncovered = r.last + 1n;
    }
    return uncovered === 1n << BigInt(FAMILY_BITS[family]);
}

/** The address families these CIDRs cover entirely, together ("the world"); texts that are no CIDR count for nothing. */
export function worldFamiliesOf(cidrs: readonly string[]): AddressFamily[] {
    const ranges = cidrs.map(parseCidr).filter((r): r is AddressRange => r !== undefined);
    return ADDRESS_FAMILIES.filter((family) => coversFamily(ranges, family));
}

/** An IPv4 address (four-part decimal), an IPv6 address (no zone) or an RFC 1123 host name. */
function isHostAddress(text: string): boolean {
    if (ipaddr.IPv4.isValidFourPartDecimal(text)) return true;
    if (text.includes(":")) return !text.includes("%") && ipaddr.IPv6.isValid(text);
    // All-digit last label: a mistyped IPv4 address ("999.1.1.1", "10.1"), not a name (RFC 1123, 2.1).
    return HOST_NAME.test(text) && !/(^|\.)[0-9]+$/.test(text);
}

/**
 * Validates the host settings; SSH open to the world needs an explicit opt-in. With the validated
 * volume, gives the host with its data volume placed (a created host always has one, an existing
 * host when the volume is adopted); without it, reports the host's own problems only.
 */
export function validateHost(raw: unknown, provider: CloudProvider, problems: Problems, volume?: VolumeInput): HostSettings | undefined {
    if (!isObject(raw)) {
        problems.add("host", `is required on ${provider}: an object {sshKeys, sshAllowedCidrs, ...}, got ${describe(raw)}`);
        return undefined;
    }
    rejectUnknown(raw, HOST_KEYS, "host", problems);
    const d = HOST_DEFAULTS[provider];
    const address = optionalString(raw, "address", "host.address", problems);
    if (address !== undefined && !isHostAddress(address)) {
        problems.add("host.address", `must be an IPv4 or IPv6 address or a host name (RFC 1123: letters, digits and '-' in dot-separated labels), got ${JSON.stringify(address)}`);
    }
    const creates = address === undefined;
    const str = (k: string, dflt: string) => optionalString(raw, k, `host.${k}`, problems) ?? dflt;
    const image = str("image", d.image);
    if (creates && image === "") problems.add("host.image", `is required on ${provider}: the machine image (an AMI id on aws)`);
    const list = (k: string): string[] => {
        const v = raw[k];
        if (v === undefined) return [];
        if (!Array.isArray(v) || v.some((x) => typeof x !== "string" || x === "")) {
            problems.add(`host.${k}`, `must be a list of non-empty strings, got ${describe(v)}`);
            return [];
        }
        return v as string[];
    };
    const sshKeys = list("sshKeys");
    sshKeys.forEach((k, i) => {
        // The value is never repeated in the message: it is a secret.
        if (k.includes("PRIVATE KEY")) {
            problems.add(`host.sshKeys[${i}]`, `is a private key; list public keys only, and give Pulumi a private key with \`pulumi config set --secret ${CONFIG_NAMESPACE}:sshPrivateKey < key\` (remove this one from the stack file and its history, and replace the key)`);
        }
    });
    if (creates && sshKeys.length === 0) {
        problems.add("host.sshKeys", provider === "aws"
            ? "needs one SSH public key (\"ssh-ed25519 AAAA...\") for the host's key pair"
            : "needs at least one SSH key fingerprint or id registered with DigitalOcean");
    }
    if (provider === "aws" && sshKeys.length > 1) problems.add("host.sshKeys", "aws takes exactly one public key for the key pair");
    const sshAllowedCidrs = list("sshAllowedCidrs");
    if (creates && sshAllowedCidrs.length === 0) {
        problems.add("host.sshAllowedCidrs", "needs the CIDRs that may reach SSH (port 22), e.g. [\"203.0.113.0/24\"]");
    }
    sshAllowedCidrs.forEach((c, i) => {
        if (parseCidr(c) === undefined) {
            const bare = ipaddr.IPv4.isValidFourPartDecimal(c) || (c.includes(":") && !c.includes("%") && ipaddr.IPv6.isValid(c)) ? `; a single address takes its prefix, "${c}/${c.includes(":") ? 128 : 32}"` : "";
            problems.add(`host.sshAllowedCidrs[${i}]`, `must be a CIDR such as "203.0.113.0/24" or "2001:db8::/32", got ${JSON.stringify(c)}${bare}`);
        }
    });
    const allowWorld = raw.allowSshFromAnywhere;
    if (allowWorld !== undefined && typeof allowWorld !== "boolean") problems.add("host.allowSshFromAnywhere", `must be true or false, got ${describe(allowWorld)}`);
    const allowSshFromAnywhere = allowWorld === true;
    const world = worldFamiliesOf(sshAllowedCidrs);
    if (!allowSshFromAnywhere && world.length > 0) {
        problems.add("host.sshAllowedCidrs", `opens SSH to the whole internet (together they cover all of ${world.map((f) => (f === "ipv4" ? "IPv4" : "IPv6")).join(" and ")}); list your own CIDRs, or set host.allowSshFromAnywhere: true to accept that`);
    }
    const availabilityZone = optionalString(raw, "availabilityZone", "host.availabilityZone", problems);
    if (availabilityZone !== undefined && provider !== "aws") problems.add("host.availabilityZone", "is only used on aws");
    if (availabilityZone === undefined && provider === "aws" && creates) {
        problems.add("host.availabilityZone", "is required on aws: the instance and its EBS volume must share one zone, e.g. \"eu-central-1a\"");
    }
    const region = str("region", d.region);
    // A zone is its region and one letter: "eu-central-10a" starts with "eu-central-1" and is not in it.
    if (availabilityZone !== undefined && provider === "aws" && !(availabilityZone.startsWith(region) && /^[a-z]$/.test(availabilityZone.slice(region.length)))) {
        problems.add("host.availabilityZone", `${JSON.stringify(availabilityZone)} is not in host.region ${JSON.stringify(region)}; a zone is the region and one letter, e.g. "${region}a"`);
    }
    if (!creates && provider === "aws" && availabilityZone === undefined && volume?.settings.adoptId !== undefined) {
        problems.add("host.availabilityZone", "is required on aws to adopt a volume: the zone the volume lives in, e.g. \"eu-central-1a\"");
    }
    const sshUser = str("sshUser", d.sshUser);
    if (!POSIX_USER.test(sshUser)) {
        problems.add("host.sshUser", `must be a POSIX user name (a-z, 0-9, _ and -, starting with a letter or _, at most 32 characters), got ${JSON.stringify(sshUser)}`);
    }
    const hostKey = validateHostKey(raw.hostKey, creates, problems);
    const common: HostCommonSettings = {
        region, size: str("size", d.size), image, availabilityZone,
        sshUser, sshKeys, sshAllowedCidrs, allowSshFromAnywhere, ...(hostKey === undefined ? {} : { hostKey }),
    };
    const placement: VolumePlacement | undefined = provider === "digitalocean"
        ? { provider, region }
        : availabilityZone === undefined ? undefined : { provider, availabilityZone };
    const dataVolume: DataVolumeSettings | undefined = volume === undefined || placement === undefined
        ? undefined
        : { ...volume.settings, name: volume.settings.name ?? volume.defaultName, placement };
    if (!creates) {
        // An existing host's volume is attached already: it is only managed when adopted.
        return { kind: "existing", address, ...common, dataVolume: volume?.settings.adoptId === undefined ? undefined : dataVolume };
    }
    return dataVolume === undefined ? undefined : { kind: "create", ...common, dataVolume };
}

/** host.hostKey: one OpenSSH public key line; required for an existing host, whose key the program cannot know otherwise. */
function validateHostKey(v: unknown, creates: boolean, problems: Problems): string | undefined {
    const read = "read it over a trusted path: `cat /etc/ssh/ssh_host_ed25519_key.pub` on the host's console, or `ssh-keyscan -t ed25519 <address>` from inside its network";
    if (v === undefined) {
        if (!creates) problems.add("host.hostKey", `is required for an existing host (host.address): its SSH public host key, one line "ssh-ed25519 AAAA..."; ${read}`);
        return undefined;
    }
    if (typeof v !== "string" || parsePublicHostKey(v) === undefined) {
        // A private key is never repeated, not even in part.
        const shown = typeof v !== "string" ? describe(v) : v.includes("PRIVATE KEY") ? "a private key (give its public half)" : JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
        problems.add("host.hostKey", `must be one OpenSSH public key line "<type> <base64> [comment]" (${Object.keys(HOST_KEY_ALGORITHMS).join(", ")}), got ${shown}; ${read}`);
        return undefined;
    }
    return publicHostKeyLine(v);
}

/** An absolute, normalised path; `..` segments or a relative path are refused. */
function validateAbsolutePath(v: unknown, keyPath: string, problems: Problems): string | undefined {
    if (typeof v !== "string" || !path.posix.isAbsolute(v)) {
        problems.add(keyPath, `must be an absolute host path such as "/mnt/data", got ${describe(v)}; a relative path would silently become a new, empty Docker volume`);
        return undefined;
    }
    const trimmed = v.length > 1 ? v.replace(/\/+$/, "") : v;
    if (v.split("/").includes("..") || path.posix.normalize(trimmed) !== trimmed) {
        problems.add(keyPath, `must be a normalised absolute path without "..", got ${JSON.stringify(v)}`);
        return undefined;
    }
    if (v === "/") {
        problems.add(keyPath, "must not be the root directory: portal data needs a directory of its own");
        return undefined;
    }
    return trimmed;
}

/** In the checkout layout every relative bind path must exist under projectRoot. */
function validateCheckout(raw: unknown, instances: readonly InstanceSettings[], ctx: ValidationContext, problems: Problems): string | undefined {
    if (typeof raw !== "string" || raw === "") {
        problems.add("projectRoot", `is required with provider local: the portal checkout, relative to this project (for example "../housing_portal"), got ${describe(raw)}`);
        return undefined;
    }
    const root = path.resolve(ctx.projectDir, raw);
    const exists = ctx.pathExists ?? fs.existsSync;
    if (!exists(root)) {
        problems.add("projectRoot", `the portal checkout ${JSON.stringify(raw)} (${root}) does not exist; clone the portal there or point projectRoot at your checkout`);
        return undefined;
    }
    for (const rel of checkoutBindPaths(instances.map((i) => i.name))) {
        const abs = path.resolve(root, rel);
        if (!exists(abs)) problems.add("projectRoot", `bind path ${rel} does not exist (${abs}); create it (mkdir -p), Docker must not bind a missing path`);
    }
    return root;
}

/** A local data root: absolute, normalised, not a system directory. */
function validateLocalDataRoot(v: unknown, keyPath: string, problems: Problems): string | undefined {
    const dataRoot = validateAbsolutePath(v, keyPath, problems);
    if (dataRoot !== undefined && SYSTEM_DIRECTORIES.includes(dataRoot)) {
        problems.add(keyPath, `${JSON.stringify(dataRoot)} is a system directory; portal data needs a directory of its own, such as "/srv/portal" or "/var/lib/portal"`);
        return undefined;
    }
    return dataRoot;
}

/** Where a dev stack's storage lives: a data root, or the portal checkout. */
function localLayout(raw: Readonly<Record<string, unknown>>, instances: readonly InstanceSettings[], ctx: ValidationContext, problems: Problems): LayoutContext | undefined {
    if (raw.dataRoot !== undefined && raw.projectRoot !== undefined) {
        problems.add("dataRoot", "and projectRoot exclude each other with provider local: projectRoot selects a portal checkout, dataRoot a data root");
        return undefined;
    }
    if (raw.dataRoot !== undefined) {
        const dataRoot = validateLocalDataRoot(raw.dataRoot, "dataRoot", problems);
        return dataRoot === undefined ? undefined : { kind: "data-volume", dataRoot };
    }
    const projectRoot = validateCheckout(raw.projectRoot, instances, ctx, problems);
    return projectRoot === undefined ? undefined : { kind: "checkout", projectRoot };
}

/** One host of a raw config: its entry in `hosts` (empty without them), and each stack-wide section with the entry's fields over it. */
type RawHost = { readonly name: string; readonly entry: Raw } & { readonly [K in HostSection]: unknown };

/** The hosts of a raw config as written: the entries of `hosts`, or the one DEFAULT_HOST. */
function rawHosts(raw: Readonly<Record<string, unknown>>): RawHost[] {
    const entries: [string, unknown][] = isObject(raw.hosts) && Object.keys(raw.hosts).length > 0 ? Object.entries(raw.hosts) : [[DEFAULT_HOST, {}]];
    return entries.map(([name, e]) => {
        const entry = isObject(e) ? e : {};
        const merged = (k: HostSection) => (!isObject(entry[k]) ? raw[k] : isObject(raw[k]) ? { ...raw[k], ...entry[k] } : entry[k]);
        return { name, entry, host: merged("host"), volume: merged("volume"), snapshots: merged("snapshots") };
    });
}

/** A key path into one of HOST_SECTIONS: the section, and the field when there is one. */
const HOST_SECTION_PATH = new RegExp(`^(${HOST_SECTIONS.join("|")})(?:\\.([A-Za-z]+))?`);

/**
 * The key that sets one host's field: its entry's, `hosts.<name>.<path>`, on a stack with a
 * `hosts` map; the stack-wide `<path>` on a stack without one.
 */
export function hostKeyPath(host: string, path: string, declared: boolean): string {
    return declared ? `hosts.${host}.${path}` : path;
}

/**
 * The problems of one host's merged settings, each at the key that set the value:
 * `hosts.<name>.<section>.<field>` when the host's entry sets it, else the stack-wide key, once
 * however many hosts share it. The validators see the paths they wrote (`anyAt`).
 */
class HostProblems extends Problems {
    constructor(private readonly into: Problems, private readonly host: RawHost) {
        super();
    }

    override add(path: string, message: string): void {
        super.add(path, message);
        const at = this.keyPath(path);
        if (!this.into.all.some((p) => p.path === at && p.message === message)) this.into.add(at, message);
    }

    private keyPath(path: string): string {
        const m = HOST_SECTION_PATH.exec(path);
        if (m === null) return path;
        const section = this.host.entry[m[1]];
        return isObject(section) && (m[2] === undefined || section[m[2]] !== undefined) ? `hosts.${this.host.name}.${path}` : path;
    }
}

/** The `hosts` map's names and entries (each entry's own keys); every host of the stack, merged. */
function validateHostEntries(raw: Readonly<Record<string, unknown>>, entryKeys: readonly string[], problems: Problems): RawHost[] {
    if (raw.hosts === undefined) return rawHosts(raw);
    if (!isObject(raw.hosts) || Object.keys(raw.hosts).length === 0) {
        problems.add("hosts", `must be a map from a host name (a lowercase DNS label) to its settings, e.g. {a: {}, b: {}}, got ${describe(raw.hosts)}; without it the stack has one host`);
        return [];
    }
    for (const [name, entry] of Object.entries(raw.hosts)) {
        const at = `hosts.${name}`;
        if (!DNS_LABEL.test(name) || name.length > MAX_HOST_NAME) {
            problems.add(at, `a host's name must be a lowercase DNS label of at most ${MAX_HOST_NAME} characters (a-z, 0-9 and '-'; it is part of the host's cloud names), got ${JSON.stringify(name)}`);
        }
        if (entry === null) continue; // `b:` with nothing under it: every setting the stack-wide one
        if (!isObject(entry)) {
            problems.add(at, `must be an object of the host's own settings (${entryKeys.join(", ")}), got ${describe(entry)}`);
            continue;
        }
        rejectUnknown(entry, entryKeys, at, problems);
        for (const k of HOST_SECTIONS) {
            if (entryKeys.includes(k) && entry[k] !== undefined && !isObject(entry[k])) {
                problems.add(`${at}.${k}`, `must be an object of the fields of ${k} this host sets otherwise, got ${describe(entry[k])}`);
            }
        }
    }
    return rawHosts(raw);
}

/** Each value belongs to one host only: a machine's address, host key, volume. */
function refuseShared(hosts: readonly { readonly name: string; readonly values: readonly (readonly [string, string | undefined])[] }[], declared: boolean, problems: Problems): void {
    const first = new Map<string, string>();
    for (const h of hosts) {
        for (const [key, value] of h.values) {
            if (value === undefined) continue;
            const other = first.get(`${key}=${value}`);
            if (other === undefined) first.set(`${key}=${value}`, h.name);
            else problems.add(hostKeyPath(h.name, key, declared), `hosts ${other} and ${h.name} have the same ${key}, ${JSON.stringify(value)}; each host is a machine with a volume of its own: set it per host in hosts.<name>.${key}`);
        }
    }
}

/** The hosts of a local stack: each an engine of its own and a data root of its own (or, alone, the checkout). */
function validateLocalHosts(raw: Readonly<Record<string, unknown>>, instances: readonly InstanceSettings[], ctx: ValidationContext, problems: Problems): LocalHost[] | undefined {
    const declared = raw.hosts !== undefined;
    const entries = validateHostEntries(raw, LOCAL_HOST_KEYS, problems);
    if (!declared || raw.projectRoot !== undefined) {
        if (entries.length > 1) problems.add("hosts", `the checkout layout (projectRoot) runs on one engine: give one host, or a dataRoot per host instead of projectRoot`);
        const layout = localLayout(raw, instances, ctx, problems);
        const only = entries[0];
        const dockerHost = only === undefined ? undefined : validateDockerHost(only, problems);
        if (only !== undefined && only.entry.dataRoot !== undefined) problems.add(`hosts.${only.name}.dataRoot`, "and projectRoot exclude each other with provider local: projectRoot selects a portal checkout, dataRoot a data root");
        return layout === undefined || only === undefined || dockerHost === undefined ? undefined : [{ name: only.name, dockerHost, layout }];
    }
    const hosts: LocalHost[] = [];
    for (const h of entries) {
        const given = h.entry.dataRoot !== undefined;
        if (!given && raw.dataRoot === undefined) {
            problems.add(`hosts.${h.name}.dataRoot`, "is required with provider local: the absolute directory that holds this host's data (or set the stack-wide dataRoot)");
            continue;
        }
        const dataRoot = validateLocalDataRoot(given ? h.entry.dataRoot : raw.dataRoot, given ? `hosts.${h.name}.dataRoot` : "dataRoot", problems);
        const dockerHost = validateDockerHost(h, problems);
        if (dataRoot !== undefined && dockerHost !== undefined) hosts.push({ name: h.name, dockerHost, layout: { kind: "data-volume", dataRoot } });
    }
    refuseShared(hosts.map((h) => ({ name: h.name, values: [["dataRoot", h.layout.kind === "data-volume" ? h.layout.dataRoot : undefined], ["dockerHost", h.dockerHost]] })), declared, problems);
    return hosts;
}

/** A local host's engine: a unix socket URL. */
function validateDockerHost(h: RawHost, problems: Problems): string | undefined {
    const v = h.entry.dockerHost;
    if (v === undefined) return LOCAL_DOCKER_HOST;
    if (typeof v !== "string" || !/^unix:\/\/\/[^\s]+$/.test(v)) {
        problems.add(`hosts.${h.name}.dockerHost`, `must be the unix socket of a Docker engine, such as "unix:///run/docker-b.sock", got ${describe(v)}`);
        return undefined;
    }
    return v;
}

/** The hosts of a cloud stack, each validated as the one host of a stack is. */
function validateCloudHosts(raw: Readonly<Record<string, unknown>>, provider: CloudProvider, stack: string, problems: Problems): CloudHost[] {
    const declared = raw.hosts !== undefined;
    const hosts: CloudHost[] = [];
    for (const h of validateHostEntries(raw, HOST_SECTIONS, problems)) {
        const hp = new HostProblems(problems, h);
        // An existing host's volume is managed only when adopted: without one, it is not snapshotted.
        const existing = namesExistingHost(h);
        if (existing && isObject(h.volume) && h.volume.adoptId === undefined) {
            problems.add(hostKeyPath(h.name, "volume", declared), "an existing host's volume is managed only when adopted: set volume.adoptId (and its sizeGb), or remove volume");
        }
        const volume = existing && h.volume === undefined ? undefined : validateVolume(h.volume, provider, hp);
        const host = validateHost(h.host, provider, hp, volume && { settings: volume, defaultName: cloudNames(stack, h.name).dataVolume });
        const hostRegion = isObject(h.host) && typeof h.host.region === "string" ? h.host.region : undefined;
        const snapshots = validateSnapshots(h.snapshots, provider, hp, hostRegion);
        if (host && snapshots) hosts.push({ name: h.name, host, snapshots, layout: { kind: "data-volume", dataRoot: DEFAULT_DATA_ROOT } });
    }
    refuseShared(hosts.map((h) => ({
        name: h.name,
        values: [
            ["host.address", h.host.kind === "existing" ? h.host.address : undefined],
            ["host.hostKey", h.host.hostKey],
            ["volume.name", h.host.dataVolume?.name],
            ["volume.adoptId", h.host.dataVolume?.adoptId],
        ],
    })), declared, problems);
    return hosts;
}

/** A note for each host no instance is placed on: allowed (a host being filled or emptied), but worth a line. */
function emptyHostNotes(hosts: readonly { readonly name: string }[], instances: readonly InstanceSettings[]): string[] {
    return hosts.filter((h) => !instances.some((i) => i.host === h.name))
        .map((h) => `hosts.${h.name}: no instance is placed on this host; it runs its edge and backups all the same`);
}

/** The host names a raw config declares, for placing instances before the hosts themselves are read. */
function declaredHostNames(raw: Readonly<Record<string, unknown>>): string[] {
    return rawHosts(raw).map((h) => h.name);
}

/** Secret keys: set where the stack needs them, absent where nothing uses them. */
function validateSecrets(raw: Readonly<Record<string, unknown>>, provider: ProviderKind, problems: Problems): void {
    for (const key of SECRET_KEYS) {
        const use = SECRET_USE[key];
        const used = use.usedWhen(raw);
        if (!used && raw[key] !== undefined) {
            problems.add(key, `is only used by ${use.usedBy} (${SECRET_PURPOSE[key]}); remove it`);
        } else if (used && use.required && raw[key] === undefined) {
            problems.add(key, `is required on ${provider} for ${use.usedBy}: set it with \`pulumi config set --secret ${CONFIG_NAMESPACE}:${key} <value>\` (${SECRET_PURPOSE[key]})`);
        }
    }
}

/** Reads raw config (keys without the namespace, values already parsed) into settings, or all problems. */
export function validateConfig(raw: Readonly<Record<string, unknown>>, ctx: ValidationContext): ValidationResult {
    const problems = new Problems();
    for (const key of Object.keys(raw)) {
        if (!(CONFIG_KEYS as readonly string[]).includes(key)) problems.add(key, unknownKeyMessage(key, CONFIG_KEYS));
    }
    const provider = raw.provider;
    if (!PROVIDERS.includes(provider as ProviderKind)) {
        problems.add("provider", `must be one of ${PROVIDERS.join(", ")}, got ${describe(provider)}`);
    }
    // images.edge is the host's edge proxy; the other keys are the instances' roles.
    const defaults = validateImages(isObject(raw.images) ? withoutKey(raw.images, "edge") : raw.images, "images", DEFAULT_IMAGES, problems);
    const edgeImage = isObject(raw.images) && raw.images.edge !== undefined ? validateImage(raw.images.edge, "images.edge", problems) ?? DEFAULT_EDGE_IMAGE : DEFAULT_EDGE_IMAGE;
    const instances = validateInstances(raw.instances, defaults, problems, provider === "local" ? "each" : PROVIDERS.includes(provider as ProviderKind) ? "none" : "unknown", declaredHostNames(raw));
    const backendSecretNames = validateBackendSecrets(raw.backendSecrets, instances, problems);

    let settings: StackSettings | undefined;
    if (provider === "local") {
        for (const key of CLOUD_ONLY_KEYS) {
            if (raw[key] !== undefined) problems.add(key, "is not used with provider local; remove it (it applies to digitalocean and aws)");
        }
        validateSecrets(raw, provider, problems);
        const hosts = validateLocalHosts(raw, instances, ctx, problems);
        // A local edge (the e2e tier, a trial) keeps its certificates under the data root.
        const edge = raw.edge === undefined ? undefined : validateEdge(raw.edge, edgeImage, problems);
        if (raw.edge !== undefined && hosts?.some((h) => h.layout.kind === "checkout")) {
            problems.add("edge", "needs dataRoot with provider local: the edge keeps its certificates under the data root; dev serves the portals on http://localhost:<port> without it");
        }
        if (hosts !== undefined && hosts.length > 0) settings = { provider, stack: ctx.stack, instances, backendSecretNames, hosts: hosts as [LocalHost, ...LocalHost[]], ...(edge === undefined ? {} : { edge }) };
    } else if (provider === "digitalocean" || provider === "aws") {
        if (raw.projectRoot !== undefined) problems.add("projectRoot", `is only used with provider local; ${provider} keeps data under dataRoot`);
        // The host's units and scripts mount and back up /mnt/data: cloud stacks keep it there.
        if (raw.dataRoot !== undefined && raw.dataRoot !== DEFAULT_DATA_ROOT) {
            problems.add("dataRoot", `is fixed at ${DEFAULT_DATA_ROOT} on ${provider}, where the block volume is mounted; remove it`);
        }
        const hosts = validateCloudHosts(raw, provider, ctx.stack, problems);
        const offsite = raw.offsite === undefined ? undefined : validateOffsite(raw.offsite, provider, problems);
        const alerts = raw.alerts === undefined ? undefined : validateAlerts(raw.alerts, provider, problems);
        validateSecrets(raw, provider, problems);
        const edge = validateEdge(raw.edge, edgeImage, problems);
        // Hosts reached by a host name (an existing host's address): their records are CNAMEs.
        const namedHosts = hosts.filter((h) => h.host.kind === "existing" && recordFor(h.host.address).type === "CNAME").map((h) => h.name);
        const dns = validateDns(raw.dns, provider, instances, problems, namedHosts);
        if (hosts.length > 0 && edge) {
            settings = {
                provider, stack: ctx.stack, instances, backendSecretNames, hosts: hosts as [CloudHost, ...CloudHost[]], edge,
                ...(offsite ? { offsite } : {}), ...(alerts ? { alerts } : {}), ...(dns ? { dns } : {}),
            };
        }
    }
    // A placement whose memory limits exceed a machine's memory is refused, with the numbers.
    if (settings !== undefined) {
        for (const p of stackCapacity(settings, raw.hosts !== undefined, EDGE_RESOURCES).problems) problems.add(p.path, p.message);
    }
    // Every part that could not be read has said why in a problem.
    if (problems.all.length > 0 || settings === undefined) return { ok: false, problems: problems.lines };
    return { ok: true, settings, notes: emptyHostNotes(settings.hosts, settings.instances) };
}

/** Thrown where the program cannot go on: carries the problem lines for a clean report. */
export class ConfigError extends Error {
    constructor(readonly problems: readonly string[]) {
        super(`invalid stack config:\n${problems.join("\n")}`);
        this.name = "ConfigError";
    }
}

/** validateConfig, or a ConfigError with every problem. */
export function requireValidConfig(raw: Readonly<Record<string, unknown>>, ctx: ValidationContext): StackSettings {
    const result = validateConfig(raw, ctx);
    if (!result.ok) throw new ConfigError(result.problems);
    return result.settings;
}

/**
 * The keys of Pulumi's flat config map that nothing reads: a namespace that is neither this
 * program's nor a provider's (a typo such as `housingportal:images` would pass unseen), or none.
 */
export function validateNamespaces(fullKeys: readonly string[], problems: Problems): void {
    const known: readonly string[] = [CONFIG_NAMESPACE, ...PROVIDER_NAMESPACES];
    for (const fullKey of fullKeys) {
        const colon = fullKey.indexOf(":");
        if (colon < 0) {
            const key = (CONFIG_KEYS as readonly string[]).includes(fullKey) ? fullKey : nearMiss(fullKey, CONFIG_KEYS);
            problems.add(fullKey, key !== undefined
                ? `has no namespace; did you mean ${CONFIG_NAMESPACE}:${key}?`
                : `has no namespace; keys are written namespace:key, e.g. ${CONFIG_NAMESPACE}:provider`);
            continue;
        }
        const namespace = fullKey.slice(0, colon);
        if (known.includes(namespace)) continue;
        const near = nearMiss(namespace, known);
        problems.add(fullKey, near !== undefined
            ? `unknown namespace; did you mean ${near}:${fullKey.slice(colon + 1)}?`
            : `unknown namespace ${JSON.stringify(namespace)}; expected ${known.map((n) => `${n}:`).join(", ")}`);
    }
}

/** validateConfig on Pulumi's flat config map, whose namespaces are checked first. */
export function validateConfigMap(all: Readonly<Record<string, string>>, ctx: ValidationContext): ValidationResult {
    const problems = new Problems();
    validateNamespaces(Object.keys(all), problems);
    const result = validateConfig(parseConfigMap(all), ctx);
    if (problems.all.length === 0) return result;
    return { ok: false, problems: [...problems.lines, ...(result.ok ? [] : result.problems)] };
}

/** Turns Pulumi's flat config map (`housing-portal:key` → string) into parsed values. */
export function parseConfigMap(all: Readonly<Record<string, string>>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const prefix = `${CONFIG_NAMESPACE}:`;
    for (const [fullKey, text] of Object.entries(all)) {
        if (!fullKey.startsWith(prefix)) continue;
        const key = fullKey.slice(prefix.length);
        out[key] = parseConfigValue(text);
    }
    return out;
}

/** Pulumi hands objects, lists, numbers and booleans over as JSON text; plain strings stay strings. */
export function parseConfigValue(text: string): unknown {
    try {
        return JSON.parse(text);
    } catch {
        return text;
    }
}

/** Secret keys this raw config cannot run without (keys without the namespace, values parsed). */
export function requiredSecretKeys(raw: Readonly<Record<string, unknown>>): SecretKey[] {
    return SECRET_KEYS.filter((key) => SECRET_USE[key].required && SECRET_USE[key].usedWhen(raw));
}
