// housing-portal: composes the stack from its validated config. The pieces live in components/;
// docs/architecture.md tells what each does and where each fact lives.
import * as pulumi from "@pulumi/pulumi";
import { loadSettings, optionalSecret, requiredSecret } from "./components/settings";
import { CloudSettings, DataVolumeSettings } from "./components/config";
import { DataVolume } from "./components/dataVolume";
import { DockerHost } from "./components/dockerHost";
import { backupHostSetup } from "./components/backupSchedule";
import { SnapshotPolicy } from "./components/snapshotPolicy";
import { PortalInstance } from "./components/portalInstance";
import { cloudNames } from "./components/naming";

const settings = loadSettings(__dirname);

/** The cloud host with its data volume and snapshots; an existing host only gets Docker resources. */
function cloudHost(s: CloudSettings): { host: DockerHost; volume?: DataVolume; snapshots?: SnapshotPolicy } {
    const names = cloudNames(s.stack);
    const dataVolume = (volume: DataVolumeSettings) => new DataVolume("data", { volume, names, stack: s.stack });
    const common = { provider: s.provider, names, stack: s.stack, dataRoot: s.layout.dataRoot, sshPrivateKey: optionalSecret("sshPrivateKey") };
    let host: DockerHost;
    let volume: DataVolume | undefined;
    if (s.host.kind === "create") {
        volume = dataVolume(s.host.dataVolume);
        const setup = volume.volumeId.apply((volumeId) => backupHostSetup({
            provider: s.provider, snapshots: s.snapshots, volumeId, snapshotPrefix: names.snapshotPrefix,
        }));
        host = new DockerHost("host", {
            ...common, host: s.host, dataVolume: volume, setup,
            instancePorts: s.instances.map((i) => ({ instance: i.name, port: i.port })),
        });
    } else {
        // An existing host's volume is attached already: it is only adopted when adoptId says so.
        volume = s.host.dataVolume && dataVolume(s.host.dataVolume);
        host = new DockerHost("host", { ...common, host: s.host });
    }
    let snapshots: SnapshotPolicy | undefined;
    if (volume !== undefined) {
        const snapshotArgs = { snapshots: s.snapshots, dataVolume: volume };
        // The volume's customer key (created or adopted): DLM's role must be allowed to use it.
        snapshots = new SnapshotPolicy("snapshots", s.provider === "aws"
            ? { ...snapshotArgs, provider: "aws", stack: s.stack, names, kmsKeyId: s.host.dataVolume?.kmsKeyId }
            : { ...snapshotArgs, provider: "digitalocean", host: s.host.kind === "create" ? host : undefined, apiToken: requiredSecret("snapshotApiToken") });
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
}));

export const dockerEndpoint = host.dockerEndpoint;
export const hostAddress = host.address;
export const volumeId = volume?.volumeId;
export const devicePath = volume?.devicePath;
/** aws: the SNS topic DLM's failure alarms notify; subscribe to it (docs/backups.md). */
export const alertsTopicArn = snapshots?.alertsTopic?.arn;
export const portals = Object.fromEntries(settings.instances.map((inst, i) => [inst.name, {
    url: `http://${inst.domain}:${inst.port}`,
    containers: instances[i].containerNames,
    databaseVolume: instances[i].databaseVolume.name,
}]));
export const databasePasswords = pulumi.secret(Object.fromEntries(settings.instances.map((inst, i) => [inst.name, instances[i].databasePassword])));
