// housing-portal: composes the stack from its validated config. The pieces live in components/;
// docs/architecture.md tells what each does and where each fact lives.
import * as pulumi from "@pulumi/pulumi";
import { alertWebhookUrl, backendSecret, loadSettings, optionalSecret, requiredSecret } from "./components/settings";
import { CloudSettings, DataVolumeSettings } from "./components/config";
import { DataVolume } from "./components/dataVolume";
import { DockerHost } from "./components/dockerHost";
import { VolumeSnapshots, backupHostSetup } from "./components/backupSchedule";
import { SnapshotPolicy } from "./components/snapshotPolicy";
import { PortalInstance } from "./components/portalInstance";
import { Edge } from "./components/edge";
import { BackupTargets } from "./components/backupTargets";
import { DEFAULT_HOST, cloudNames } from "./components/naming";

const settings = loadSettings(__dirname);

/** The cloud host with its data volume, snapshots and backups; an existing host's volume only when adopted. */
function cloudHost(s: CloudSettings): { host: DockerHost; volume?: DataVolume; snapshots?: SnapshotPolicy } {
    const names = cloudNames(s.stack);
    const dataVolume = (volumeSettings: DataVolumeSettings) => new DataVolume("data", { volume: volumeSettings, names, stack: s.stack });
    const volume = s.host.kind === "create" ? dataVolume(s.host.dataVolume) : s.host.dataVolume && dataVolume(s.host.dataVolume);
    if (volume === undefined) {
        pulumi.log.warn("host.address: an existing host's volume is not managed, so it is not snapshotted (dumps and their freshness check still run); set volume.adoptId to adopt it");
    }
    const snapshotArgs = volume && { snapshots: s.snapshots, dataVolume: volume };
    // AWS snapshots in DLM, before the host: the host's alerts go to the same topic.
    // The volume's customer key (created or adopted): DLM's role must be allowed to use it.
    let snapshots = snapshotArgs && s.provider === "aws"
        ? new SnapshotPolicy("snapshots", { ...snapshotArgs, provider: "aws", stack: s.stack, names, kmsKeyId: s.host.dataVolume?.kmsKeyId })
        : undefined;
    const topicArn = snapshots?.alertsTopic?.arn;
    // What every cloud host gets: SSH access and its backups, which depend on who snapshots the volume.
    const volumeSnapshots: pulumi.Input<VolumeSnapshots> = volume === undefined ? { by: "none" }
        : s.provider === "aws" ? { by: "dlm" }
        : volume.volumeId.apply((volumeId) => ({ by: "host-timer" as const, volumeId, prefix: names.snapshotPrefix }));
    const hostArgs = {
        provider: s.provider, names, stack: s.stack, dataRoot: s.layout.dataRoot, sshPrivateKey: optionalSecret("sshPrivateKey"),
        settings: pulumi.all([volumeSnapshots, topicArn]).apply(([v, snsTopicArn]) => backupHostSetup({
            snapshots: s.snapshots, volumeSnapshots: v,
            offsite: s.offsite && { settings: s.offsite, ...names.offsite },
            alerts: { stack: s.stack, hostName: DEFAULT_HOST, snsTopicArn },
        })),
    };
    const host = s.host.kind === "create"
        ? new DockerHost("host", {
            ...hostArgs, host: s.host, dataVolume: volume!,
            instanceProfile: snapshots?.hostInstanceProfile?.name,
        })
        : new DockerHost("host", { ...hostArgs, host: s.host });
    if (snapshotArgs && s.provider === "digitalocean") {
        snapshots = new SnapshotPolicy("snapshots", { ...snapshotArgs, provider: "digitalocean", host, apiToken: requiredSecret("snapshotApiToken") });
    }
    // Off-site copies and alerts: their secrets over SSH, the bucket, the email subscriptions.
    if (s.offsite || s.alerts) {
        new BackupTargets("backups", {
            provider: s.provider, stack: s.stack, names, host,
            offsite: s.offsite && {
                settings: s.offsite, accessKeyId: requiredSecret("offsiteAccessKeyId"),
                secretAccessKey: requiredSecret("offsiteSecretAccessKey"), password: requiredSecret("offsitePassword"),
                spacesKey: s.provider === "digitalocean" && s.offsite.create
                    ? { accessKeyId: requiredSecret("spacesAccessKeyId"), secretAccessKey: requiredSecret("spacesSecretAccessKey") }
                    : undefined,
            },
            alerts: s.alerts && { settings: s.alerts, webhookUrl: s.alerts.webhook ? alertWebhookUrl() : undefined, topic: snapshots?.alertsTopic },
        });
    }
    return { host, volume, snapshots };
}

const { host, volume, snapshots } = settings.provider === "local"
    ? { host: new DockerHost("host", { provider: "local" }), volume: undefined, snapshots: undefined }
    : cloudHost(settings);

const instances = settings.instances.map((instance) => new PortalInstance(instance.name, {
    instance,
    layout: settings.layout,
    host,
    protectDatabase: settings.provider !== "local",
    backendSecrets: Object.fromEntries(settings.backendSecretNames[instance.name].map((n) => [n, backendSecret(instance.name, n)])),
}));

// One edge per host, after the instances: it routes each one's domain (and aliases) to its nginx.
const edge = settings.edge === undefined || settings.layout.kind !== "data-volume" ? undefined : new Edge("edge", {
    host,
    dataRoot: settings.layout.dataRoot,
    settings: settings.edge,
    routes: settings.instances.map((inst, i) => ({ instance: inst.name, names: [inst.domain, ...inst.aliases], web: instances[i].web })),
    // A local data root (the e2e tier, a trial) need not be a mount point.
    allowUnmounted: settings.provider === "local",
}, host.serviceOptions);

export const dockerEndpoint = host.dockerEndpoint;
export const hostAddress = host.address;
/** The host's SSH host key, which every connection of the program pins: add it to your known_hosts (docs/security.md). */
export const hostKey = host.hostKey;
export const volumeId = volume?.volumeId;
export const devicePath = volume?.devicePath;
/** The data volume's facts a cloud cannot change in place: the next run's config is checked against them (npm run plan -- --deployed). */
export const dataVolume = volume?.record;
/** aws: the SNS topic DLM's failure alarms notify; subscribe to it (docs/backups.md). */
export const alertsTopicArn = snapshots?.alertsTopic?.arn;
/** The edge's container, when the stack has one. */
export const edgeContainer = edge?.containerName;
/** The DNS records to create before the first `pulumi up`: each name an A record to the host's stable address. */
export const dnsRecords = edge === undefined || host.address === undefined ? undefined
    : host.address.apply((address) => settings.instances.flatMap((inst) => [inst.domain, ...inst.aliases].map((name) => ({ name, type: "A", value: address }))));
export const portals = Object.fromEntries(settings.instances.map((inst, i) => [inst.name, {
    url: inst.port !== undefined ? `http://${inst.domain}:${inst.port}` : `https://${inst.domain}`,
    containers: instances[i].containerNames,
    databaseVolume: instances[i].databaseVolume.name,
}]));
export const databasePasswords = pulumi.secret(Object.fromEntries(settings.instances.map((inst, i) => [inst.name, instances[i].databasePassword])));
