// The change-impact matrix: typical changes to a stack file (and to the program), each planned
// against the committed golden plan of its stack. The unit tests (test/unit/change-matrix.test.ts)
// hold each change's expected added / updated / replaced / deleted sets and the gate's verdict;
// docs/changes.md is generated from the same plans (tools/changesDoc.ts), so the table an operator
// reads cannot drift from what the program does. Every config key is listed in KEY_EFFECTS.
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { CONFIG_KEYS, ConfigKey, HOST_KEYS, INSTANCE_KEYS, SNAPSHOT_KEYS, VOLUME_KEYS } from "../components/config";
import { PROJECT_DIR } from "./planArgs";
import type { PlanJob } from "./planBatch";

/** A stack file's housing-portal keys, without the namespace. */
export type StackKeys = Readonly<Record<string, unknown>>;
type Instance = Readonly<Record<string, unknown>> & { readonly name: string };

/** The stacks the matrix changes: their committed golden plans are the "before". */
export type MatrixStack = "staging" | "production";

export type Edit =
    /** A change to the stack file. */
    | { readonly kind: "config"; readonly apply: (keys: StackKeys) => StackKeys }
    /** A new program version that changes a file under host/: this text is appended to it. */
    | { readonly kind: "program"; readonly hostFile: string; readonly append: string };

export interface MatrixChange {
    readonly stack: MatrixStack;
    /** The key it changes as the stack file writes it, or "program version". */
    readonly key: string;
    /** The change, as an operator would describe it. */
    readonly change: string;
    readonly edit: Edit;
}

const obj = (keys: StackKeys, key: string) => (keys[key] ?? {}) as Record<string, unknown>;
const withKey = (key: string, change: Record<string, unknown>) => (keys: StackKeys): StackKeys => ({ ...keys, [key]: { ...obj(keys, key), ...change } });
const instancesOf = (keys: StackKeys) => keys.instances as Instance[];
const withInstance = (name: string, change: (i: Instance) => Instance | undefined) => (keys: StackKeys): StackKeys => ({
    ...keys, instances: instancesOf(keys).flatMap((i) => (i.name === name ? [change(i)].filter((x): x is Instance => x !== undefined) : [i])),
});
const config = (apply: (keys: StackKeys) => StackKeys): Edit => ({ kind: "config", apply });
/** The stack's host as `main` and a larger second host `b`; each instance on main unless `placed` names another. */
const withHosts = (placed: Readonly<Record<string, string>>) => (keys: StackKeys): StackKeys => ({
    ...keys,
    hosts: { main: {}, b: { host: { size: "s-4vcpu-8gb" } } },
    instances: instancesOf(keys).map((i) => ({ ...i, host: placed[i.name] ?? "main" })),
});

export const CHANGE_IDS = [
    "snapshots-retain", "snapshots-schedule", "snapshots-dump-retain", "snapshots-copy",
    "volume-size", "volume-name", "volume-from-snapshot", "volume-kms-key",
    "host-size", "host-size-aws", "host-image", "host-image-aws", "host-region", "host-zone-aws", "host-ssh-user", "host-ssh-keys",
    "host-ssh-cidrs", "host-ssh-cidrs-aws",
    "instance-added", "instance-removed", "instance-renamed", "instance-domain", "instance-aliases", "instance-image",
    "instance-backend-env", "instance-backend-secret", "instance-memory", "instance-cpus", "stack-images",
    "edge-ca", "host-added", "instance-moved", "dns-zone", "dns-zone-aws", "program-host-script", "program-first-boot-script",
] as const;
export type ChangeId = (typeof CHANGE_IDS)[number];

export const CHANGE_MATRIX: Readonly<Record<ChangeId, MatrixChange>> = {
    "snapshots-retain": { stack: "staging", key: "snapshots.retain", change: "keep 8 snapshots instead of 7", edit: config(withKey("snapshots", { retain: 8 })) },
    "snapshots-schedule": { stack: "staging", key: "snapshots.everyHours, snapshots.at", change: "every 12 hours from 01:00", edit: config(withKey("snapshots", { everyHours: 12, at: "01:00" })) },
    "snapshots-dump-retain": { stack: "production", key: "snapshots.dumpRetain", change: "keep 15 dumps per instance", edit: config(withKey("snapshots", { dumpRetain: 15 })) },
    "snapshots-copy": {
        stack: "production", key: "snapshots.copyToRegion, snapshots.copyRetain", change: "no more copies to another region",
        edit: config((keys) => {
            const { copyToRegion: _to, copyRetain: _keep, ...rest } = obj(keys, "snapshots");
            return { ...keys, snapshots: rest };
        }),
    },
    "volume-size": { stack: "staging", key: "volume.sizeGb", change: "a larger volume, 100 → 200 GB", edit: config(withKey("volume", { sizeGb: 200 })) },
    "volume-name": { stack: "staging", key: "volume.name", change: "another name for the data volume", edit: config(withKey("volume", { name: "housing-portal-staging-data-2" })) },
    "volume-from-snapshot": {
        stack: "production", key: "volume.fromSnapshot", change: "fromSnapshot set on the existing volume",
        edit: config(withKey("volume", { fromSnapshot: "snap-0123456789abcdef0" })),
    },
    "volume-kms-key": {
        stack: "production", key: "volume.kmsKeyId", change: "a customer KMS key for the existing volume",
        edit: config(withKey("volume", { kmsKeyId: "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab" })),
    },
    "host-size": { stack: "staging", key: "host.size", change: "a larger Droplet", edit: config(withKey("host", { size: "s-4vcpu-8gb" })) },
    "host-size-aws": { stack: "production", key: "host.size", change: "a larger EC2 instance type", edit: config(withKey("host", { size: "t3.xlarge" })) },
    "host-image": { stack: "staging", key: "host.image", change: "a newer machine image", edit: config(withKey("host", { image: "ubuntu-24-10-x64" })) },
    "host-image-aws": { stack: "production", key: "host.image", change: "a newer AMI", edit: config(withKey("host", { image: "ami-0f1e2d3c4b5a69788" })) },
    "host-region": { stack: "staging", key: "host.region", change: "another region", edit: config(withKey("host", { region: "ams3" })) },
    "host-zone-aws": { stack: "production", key: "host.availabilityZone", change: "another availability zone", edit: config(withKey("host", { availabilityZone: "eu-central-1b" })) },
    "host-ssh-user": { stack: "staging", key: "host.sshUser", change: "another SSH user (operator instead of deploy)", edit: config(withKey("host", { sshUser: "operator" })) },
    "host-ssh-keys": {
        stack: "staging", key: "host.sshKeys", change: "another SSH key on the Droplet",
        edit: config(withKey("host", { sshKeys: ["9a:4e:0c:52:1d:36:2b:87:f1:60:ae:03:d5:c8:77:42"] })),
    },
    "host-ssh-cidrs": { stack: "staging", key: "host.sshAllowedCidrs", change: "SSH from another network", edit: config(withKey("host", { sshAllowedCidrs: ["192.0.2.0/24"] })) },
    "host-ssh-cidrs-aws": { stack: "production", key: "host.sshAllowedCidrs", change: "SSH from another network", edit: config(withKey("host", { sshAllowedCidrs: ["192.0.2.0/24"] })) },
    // On production: staging's two instances fill its machine's memory (capacity.ts refuses a third).
    "instance-added": {
        stack: "production", key: "instances", change: "an instance added (chile)",
        edit: config((keys) => ({ ...keys, instances: [...instancesOf(keys), { name: "chile", domain: "chile.housing-portal.org" }] })),
    },
    "instance-removed": { stack: "staging", key: "instances", change: "an instance removed (peru)", edit: config(withInstance("peru", () => undefined)) },
    "instance-renamed": { stack: "staging", key: "instances[].name", change: "an instance renamed (peru → lima)", edit: config(withInstance("peru", (i) => ({ ...i, name: "lima" }))) },
    "instance-domain": { stack: "staging", key: "instances[].domain", change: "another domain for peru", edit: config(withInstance("peru", (i) => ({ ...i, domain: "peru.staging.example.org" }))) },
    "instance-aliases": { stack: "staging", key: "instances[].aliases", change: "an alias for peru", edit: config(withInstance("peru", (i) => ({ ...i, aliases: ["www.peru.staging.housing-portal.org"] }))) },
    "instance-image": {
        stack: "staging", key: "instances[].images", change: "a new backend image tag for peru",
        edit: config(withInstance("peru", (i) => ({ ...i, images: { backend: "ghcr.io/housing-portal/backend:staging-next" } }))),
    },
    "instance-backend-env": {
        stack: "staging", key: "instances[].backendEnv", change: "a backend variable for peru",
        edit: config(withInstance("peru", (i) => ({ ...i, backendEnv: { DJANGO_LOG_LEVEL: "INFO" } }))),
    },
    "instance-backend-secret": {
        stack: "staging", key: "backendSecrets", change: "a new backend secret for peru",
        edit: config((keys) => ({ ...keys, backendSecrets: { peru: { DJANGO_SECRET_KEY: { secure: "v1:AAAAmatrixAAAA" } } } })),
    },
    "instance-memory": {
        stack: "production", key: "instances[].resources", change: "more memory for peru's PostGIS",
        edit: config(withInstance("peru", (i) => ({ ...i, resources: { postgis: { memoryMb: 2048 } } }))),
    },
    "instance-cpus": {
        stack: "staging", key: "instances[].resources", change: "more CPUs for peru's PostGIS",
        edit: config(withInstance("peru", (i) => ({ ...i, resources: { postgis: { cpus: 2 } } }))),
    },
    "stack-images": { stack: "staging", key: "images", change: "a new backend image for every instance", edit: config(withKey("images", { backend: "ghcr.io/housing-portal/backend:staging-next" })) },
    "edge-ca": {
        stack: "staging", key: "edge.caUrl, edge.email", change: "Let's Encrypt staging and a contact email for the edge",
        edit: config(withKey("edge", { caUrl: "https://acme-staging-v02.api.letsencrypt.org/directory", email: "ops@housing-portal.org" })),
    },
    "dns-zone": { stack: "staging", key: "dns", change: "the program manages the records in the DigitalOcean domain housing-portal.org", edit: config((keys) => ({ ...keys, dns: { zone: "housing-portal.org" } })) },
    "dns-zone-aws": { stack: "production", key: "dns", change: "the program manages the records in the Route 53 zone housing-portal.org", edit: config((keys) => ({ ...keys, dns: { zone: "housing-portal.org" } })) },
    "program-host-script": {
        stack: "staging", key: "program version", change: "a changed host script installed over SSH (host/backup-status.sh)",
        edit: { kind: "program", hostFile: "backup-status.sh", append: "# a new program version\n" },
    },
    "host-added": {
        stack: "staging", key: "hosts", change: "a second host, b, with no instance yet (the first keeps its name, main; each instance says its host)",
        edit: config(withHosts({})),
    },
    "instance-moved": {
        stack: "staging", key: "instances[].host", change: "peru moved to the second host, b (docs/instances.md, moving an instance)",
        edit: config(withHosts({ peru: "b" })),
    },
    "program-first-boot-script": {
        stack: "staging", key: "program version", change: "a changed first-boot script (host/mount-data-volume.sh)",
        edit: { kind: "program", hostFile: "mount-data-volume.sh", append: "# a new program version\n" },
    },
};

/** Every config key an operator may edit, as a path into the stack file. */
export type ConfigKeyPath =
    | Exclude<ConfigKey, "instances" | "volume" | "snapshots" | "host">
    | "instances"
    | `instances[].${(typeof INSTANCE_KEYS)[number]}`
    | `volume.${(typeof VOLUME_KEYS)[number]}`
    | `snapshots.${(typeof SNAPSHOT_KEYS)[number]}`
    | `host.${(typeof HOST_KEYS)[number]}`;

/** What a change to a key does: the matrix rows that plan it, or why it is not planned here. */
export type KeyEffect = { readonly rows: readonly ChangeId[] } | { readonly note: string };

export const KEY_EFFECTS: Readonly<Record<ConfigKeyPath, KeyEffect>> = {
    provider: { note: "another cloud is another stack: nothing of this one carries over (the data volume and the address are protected, so pulumi up refuses to delete them)" },
    projectRoot: { note: "dev only: the checkout the containers bind; every container of the dev stack is recreated with the new sources" },
    dataRoot: { note: "local stacks only (the e2e tier); on cloud stacks the data root is fixed at /mnt/data" },
    images: { rows: ["stack-images"] },
    snapshotApiToken: { note: "a secret: snapshots-api-token writes the new token to the host (updated in place, it runs again); the plan masks secrets, so the diff cannot show it" },
    backendSecrets: { rows: ["instance-backend-secret"] },
    edge: { rows: ["edge-ca"] },
    dns: { rows: ["dns-zone", "dns-zone-aws"] },
    sshPrivateKey: { note: "a secret: every SSH command's connection changes, so each is updated in place and runs its create command again; the plan masks it, so the diff cannot show it" },
    instances: { rows: ["instance-added", "instance-removed"] },
    hosts: { rows: ["host-added"] },
    "instances[].host": { rows: ["instance-moved"] },
    "instances[].name": { rows: ["instance-renamed"] },
    "instances[].domain": { rows: ["instance-domain"] },
    "instances[].port": { note: "dev (provider local) only: the host port nginx publishes; cloud stacks refuse it, the edge serves every instance on 443" },
    "instances[].aliases": { rows: ["instance-aliases"] },
    "instances[].images": { rows: ["instance-image"] },
    "instances[].database": { note: "a new database name or user recreates that instance's PostGIS and backend with it; the retained cluster keeps its old database and role (instances.md)" },
    "instances[].backendEnv": { rows: ["instance-backend-env"] },
    "instances[].resources": { rows: ["instance-memory", "instance-cpus"] },
    "volume.sizeGb": { rows: ["volume-size"] },
    "volume.name": { rows: ["volume-name"] },
    "volume.fromSnapshot": { rows: ["volume-from-snapshot"] },
    "volume.adoptId": { note: "the first time, the existing volume is imported as it is instead of created (adopt-existing.md); on a stack that created its volume, adopting another one replaces it, and the gate fails" },
    "volume.kmsKeyId": { rows: ["volume-kms-key"] },
    "snapshots.everyHours": { rows: ["snapshots-schedule"] },
    "snapshots.at": { rows: ["snapshots-schedule"] },
    "snapshots.retain": { rows: ["snapshots-retain"] },
    "snapshots.dumpRetain": { rows: ["snapshots-dump-retain"] },
    "snapshots.copyToRegion": { rows: ["snapshots-copy"] },
    "snapshots.copyRetain": { rows: ["snapshots-copy"] },
    "host.region": { rows: ["host-region"] },
    "host.size": { rows: ["host-size", "host-size-aws"] },
    "host.image": { rows: ["host-image", "host-image-aws"] },
    "host.availabilityZone": { rows: ["host-zone-aws"] },
    "host.sshUser": { rows: ["host-ssh-user"] },
    "host.sshKeys": { rows: ["host-ssh-keys"] },
    "host.sshAllowedCidrs": { rows: ["host-ssh-cidrs", "host-ssh-cidrs-aws"] },
    "host.allowSshFromAnywhere": { note: "opens the SSH rule to the world, as host.sshAllowedCidrs would: the firewall or security-group rules are updated, added or removed" },
    "host.hostKey": { note: "an existing host's new key updates every SSH command's connection in place (each runs its create again) and the Docker provider's pin; on a created host, setting it keeps a machine created before the program generated host keys as it is (its first boot unchanged, the machine protected), and removing it replaces that machine with one that gets the generated key (security.md)" },
    offsite: { note: "the off-site copies' endpoint, bucket or retention: the host's settings (offsite.env) are updated in place and nothing else; with create, a new bucket name replaces an S3 bucket, which is protected, so pulumi up refuses; a Spaces bucket's provider plans it as an update that it does not carry out: create the new bucket instead (backups.md)" },
    alerts: { note: "a new webhook URL rewrites /etc/housing-portal/alert-webhook-url (backups-alert-webhook, updated in place; a secret, masked in the diff); on aws each alerts.email address is one SNS subscription, added or deleted" },
    spacesAccessKeyId: { note: "a secret of the stack only (never on the host): the explicit DigitalOcean provider of the off-site Spaces bucket gets the new key, an update of that provider; the bucket stays (backups.md)" },
    spacesSecretAccessKey: { note: "as spacesAccessKeyId: the bucket's provider is updated, the bucket stays" },
    offsiteAccessKeyId: { note: "a secret: backups-offsite-credentials writes the new key to the host (updated in place, it runs again); the plan masks it" },
    offsiteSecretAccessKey: { note: "a secret: backups-offsite-credentials writes the new key to the host (updated in place, it runs again); the plan masks it" },
    offsitePassword: { note: "a secret: backups-offsite-password writes it to the host; the repository keeps its old key, so add the new one with `restic key add` first (secrets.md)" },
    "host.address": { note: "an existing host instead of a created one (adopt-existing.md): the created machine and everything of it would be deleted; not a change to make in place" },
};

/** Every key path KEY_EFFECTS must cover, from the config's own key lists. */
export function configKeyPaths(): ConfigKeyPath[] {
    const top = CONFIG_KEYS.filter((k) => !["volume", "snapshots", "host"].includes(k)) as ConfigKeyPath[];
    return [
        ...top,
        ...INSTANCE_KEYS.map((k) => `instances[].${k}` as const),
        ...VOLUME_KEYS.map((k) => `volume.${k}` as const),
        ...SNAPSHOT_KEYS.map((k) => `snapshots.${k}` as const),
        ...HOST_KEYS.map((k) => `host.${k}` as const),
    ];
}

/** A committed stack file's housing-portal keys, without the namespace. */
export function stackKeys(stack: MatrixStack): StackKeys {
    const doc = YAML.parse(fs.readFileSync(path.join(PROJECT_DIR, `Pulumi.${stack}.yaml`), "utf8"));
    return Object.fromEntries(Object.entries(doc.config).filter(([k]) => k.startsWith("housing-portal:")).map(([k, v]) => [k.replace(/^housing-portal:/, ""), v]));
}

/** The plan jobs of the matrix, in CHANGE_IDS order; config changes are written as stack files under `dir`. */
export function matrixJobs(dir: string): PlanJob[] {
    return CHANGE_IDS.map((id) => {
        const { stack, edit } = CHANGE_MATRIX[id];
        if (edit.kind === "program") {
            const text = fs.readFileSync(path.join(PROJECT_DIR, "host", edit.hostFile), "utf8");
            return { args: ["--stack", stack], hostFiles: { [edit.hostFile]: text + edit.append } };
        }
        const keys = stackKeys(stack);
        const other = Object.fromEntries(Object.entries(YAML.parse(fs.readFileSync(path.join(PROJECT_DIR, `Pulumi.${stack}.yaml`), "utf8")).config)
            .filter(([k]) => !k.startsWith("housing-portal:")));
        const file = path.join(fs.mkdtempSync(path.join(dir, `${id}-`)), `Pulumi.${stack}.yaml`);
        const changed = Object.fromEntries(Object.entries(edit.apply(keys)).map(([k, v]) => [`housing-portal:${k}`, v]));
        fs.writeFileSync(file, YAML.stringify({ config: { ...other, ...changed } }));
        return ["--config-file", file];
    });
}
