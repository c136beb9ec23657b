// housing-portal: composes the stack from its validated config. The pieces live in components/.
import * as pulumi from "@pulumi/pulumi";
import { loadSettings, optionalSecret } from "./components/settings";
import { CloudSettings } from "./components/config";
import { DataVolume } from "./components/dataVolume";
import { DockerHost } from "./components/dockerHost";
import { backupHostSetup } from "./components/backupSchedule";
import { SnapshotPolicy } from "./components/snapshotPolicy";
import { PortalInstance } from "./components/portalInstance";

const settings = loadSettings(__dirname);

/** The cloud host with its data volume and snapshots; an existing host only gets Docker resources. */
function cloudHost(s: CloudSettings): { host: DockerHost; volume?: DataVolume } {
    const creates = s.host.mode === "create";
    // An existing host's volume is attached already: it is only adopted when adoptId says so.
    const volume = creates || s.volume.adoptId !== undefined
        ? new DataVolume("data", {
            provider: s.provider, volumeName: s.volume.name ?? `housing-portal-${s.stack}-data`, volume: s.volume,
            region: s.host.region, availabilityZone: s.host.availabilityZone, stack: s.stack,
        })
        : undefined;
    const setup = volume?.volumeId.apply((volumeId) => backupHostSetup({
        provider: s.provider, snapshots: s.snapshots, volumeId, snapshotPrefix: `housing-portal-${s.stack}`,
    }));
    const host = new DockerHost("host", {
        mode: s.provider, host: s.host, stack: s.stack, dataRoot: s.dataRoot,
        dataVolume: creates ? volume : undefined, instancePorts: s.instances.map((i) => ({ instance: i.name, port: i.port })), setup,
        sshPrivateKey: optionalSecret("sshPrivateKey"),
    });
    if (volume !== undefined) {
        new SnapshotPolicy("snapshots", {
            provider: s.provider, snapshots: s.snapshots, stack: s.stack, dataVolume: volume, host: creates ? host : undefined,
            apiToken: s.provider === "digitalocean" ? optionalSecret("snapshotApiToken") : undefined,
        });
    }
    return { host, volume };
}

const { host, volume } = settings.provider === "local"
    ? { host: new DockerHost("host", { mode: "local" }), volume: undefined }
    : cloudHost(settings);

const instances = settings.instances.map((instance) => new PortalInstance(instance.name, {
    instance,
    layout: { kind: settings.layout, projectRoot: settings.provider === "local" ? settings.projectRoot : undefined, dataRoot: settings.dataRoot },
    host,
    protectDatabase: settings.provider !== "local",
}));

export const dockerEndpoint = host.dockerEndpoint;
export const hostAddress = host.address;
export const volumeId = volume?.volumeId;
export const devicePath = volume?.devicePath;
export const portals = Object.fromEntries(settings.instances.map((inst, i) => [inst.name, {
    url: `http://${inst.domain}:${inst.port}`,
    containers: instances[i].containerNames,
    databaseVolume: instances[i].databaseVolume.name,
}]));
export const databasePasswords = pulumi.secret(Object.fromEntries(settings.instances.map((inst, i) => [inst.name, instances[i].databasePassword])));
