// housing-portal: composes the stack from its validated config. The pieces live in components/;
// docs/architecture.md tells what each does and where each fact lives.
import * as pulumi from "@pulumi/pulumi";
import { alertWebhookUrl, backendSecret, loadSettings, optionalSecret, requiredSecret } from "./components/settings";
import { CloudHost, CloudSettings, DataVolumeSettings, EDGE_RESOURCES, LocalHost } from "./components/config";
import { stackCapacity } from "./components/capacity";
import { DataVolume } from "./components/dataVolume";
import { DockerHost } from "./components/dockerHost";
import { VolumeSnapshots, backupHostSetup } from "./components/backupSchedule";
import { SnapshotPolicy } from "./components/snapshotPolicy";
import { PortalInstance } from "./components/portalInstance";
import { Edge } from "./components/edge";
import { BackupTargets } from "./components/backupTargets";
import { DEFAULT_HOST, cloudNames, hostComponentName } from "./components/naming";
import { DnsRecordEntry, dnsRecordEntries } from "./components/dnsConfig";
import { DnsRecords } from "./components/dnsRecords";

const settings = loadSettings(__dirname);

/** One host as built: its engine, where its data lives, and its cloud volume and snapshots. */
interface BuiltHost {
    readonly name: string;
    readonly host: DockerHost;
    readonly layout: LocalHost["layout"];
    readonly volume?: DataVolume;
    readonly snapshots?: SnapshotPolicy;
}

/**
 * The host that creates the stack's one off-site bucket (offsite.create), which every host's
 * repository lives in: DEFAULT_HOST, whose backups created it before hosts existed, else the
 * first host by name. Another owner would be a new bucket, which the bucket's protection refuses.
 */
function bucketOwner(hosts: readonly CloudHost[]): string {
    return hosts.some((h) => h.name === DEFAULT_HOST) ? DEFAULT_HOST : [...hosts.map((h) => h.name)].sort()[0];
}

/** A cloud host with its data volume, snapshots and backups; an existing host's volume only when adopted. */
function cloudHost(s: CloudSettings, h: CloudHost): BuiltHost {
    const names = cloudNames(s.stack, h.name);
    const part = (p: Parameters<typeof hostComponentName>[1]) => hostComponentName(h.name, p);
    const dataVolume = (volumeSettings: DataVolumeSettings) => new DataVolume(part("data"), { volume: volumeSettings, names, stack: s.stack });
    const volume = h.host.kind === "create" ? dataVolume(h.host.dataVolume) : h.host.dataVolume && dataVolume(h.host.dataVolume);
    if (volume === undefined) {
        pulumi.log.warn(`host ${h.name}: an existing host's volume is not managed, so it is not snapshotted (dumps and their freshness check still run); set volume.adoptId to adopt it`);
    }
    const snapshotArgs = volume && { snapshots: h.snapshots, dataVolume: volume };
    // AWS snapshots in DLM, before the host: the host's alerts go to the same topic.
    // The volume's customer key (created or adopted): DLM's role must be allowed to use it.
    let snapshots = snapshotArgs && s.provider === "aws"
        ? new SnapshotPolicy(part("snapshots"), { ...snapshotArgs, provider: "aws", stack: s.stack, names, kmsKeyId: h.host.dataVolume?.kmsKeyId })
        : undefined;
    const topicArn = snapshots?.alertsTopic?.arn;
    // What every cloud host gets: SSH access and its backups, which depend on who snapshots the volume.
    const volumeSnapshots: pulumi.Input<VolumeSnapshots> = volume === undefined ? { by: "none" }
        : s.provider === "aws" ? { by: "dlm" }
        : volume.volumeId.apply((volumeId) => ({ by: "host-timer" as const, volumeId, prefix: names.snapshotPrefix }));
    const hostArgs = {
        provider: s.provider, names, stack: s.stack, dataRoot: h.layout.dataRoot, sshPrivateKey: optionalSecret("sshPrivateKey"),
        settings: pulumi.all([volumeSnapshots, topicArn]).apply(([v, snsTopicArn]) => backupHostSetup({
            snapshots: h.snapshots, volumeSnapshots: v,
            offsite: s.offsite && { settings: s.offsite, ...names.offsite },
            alerts: { stack: s.stack, hostName: h.name, snsTopicArn },
        })),
    };
    const host = h.host.kind === "create"
        ? new DockerHost(part("host"), {
            ...hostArgs, host: h.host, dataVolume: volume!,
            instanceProfile: snapshots?.hostInstanceProfile?.name,
        })
        : new DockerHost(part("host"), { ...hostArgs, host: h.host });
    if (snapshotArgs && s.provider === "digitalocean") {
        snapshots = new SnapshotPolicy(part("snapshots"), { ...snapshotArgs, provider: "digitalocean", host, apiToken: requiredSecret("snapshotApiToken") });
    }
    // Off-site copies and alerts: their secrets over SSH, the bucket, the email subscriptions.
    if (s.offsite || s.alerts) {
        new BackupTargets(part("backups"), {
            provider: s.provider, stack: s.stack, names, host,
            offsite: s.offsite && {
                settings: { ...s.offsite, create: s.offsite.create && h.name === bucketOwner(s.hosts) },
                accessKeyId: requiredSecret("offsiteAccessKeyId"),
                secretAccessKey: requiredSecret("offsiteSecretAccessKey"), password: requiredSecret("offsitePassword"),
                spacesKey: s.provider === "digitalocean" && s.offsite.create
                    ? { accessKeyId: requiredSecret("spacesAccessKeyId"), secretAccessKey: requiredSecret("spacesSecretAccessKey") }
                    : undefined,
            },
            alerts: s.alerts && { settings: s.alerts, webhookUrl: s.alerts.webhook ? alertWebhookUrl() : undefined, topic: snapshots?.alertsTopic },
        });
    }
    return { name: h.name, host, layout: h.layout, volume, snapshots };
}

const builtHosts: readonly BuiltHost[] = settings.provider === "local"
    ? settings.hosts.map((h) => ({ name: h.name, layout: h.layout, host: new DockerHost(hostComponentName(h.name, "host"), { provider: "local", dockerHost: h.dockerHost }) }))
    : settings.hosts.map((h) => cloudHost(settings, h));
const hostNamed = new Map(builtHosts.map((h) => [h.name, h]));

const instances = settings.instances.map((instance) => {
    const placed = hostNamed.get(instance.host)!;
    return new PortalInstance(instance.name, {
        instance,
        layout: placed.layout,
        host: placed.host,
        protectDatabase: settings.provider !== "local",
        backendSecrets: Object.fromEntries(settings.backendSecretNames[instance.name].map((n) => [n, backendSecret(instance.name, n)])),
    });
});
const instancesOn = (host: string) => settings.instances.flatMap((inst, i) => (inst.host === host ? [{ settings: inst, component: instances[i] }] : []));

// One edge per host, after its instances: it routes each one's domain (and aliases) to its nginx.
const edges = new Map(builtHosts.flatMap((h) => {
    if (settings.edge === undefined || h.layout.kind !== "data-volume") return [];
    return [[h.name, new Edge(hostComponentName(h.name, "edge"), {
        host: h.host,
        dataRoot: h.layout.dataRoot,
        settings: settings.edge,
        routes: instancesOn(h.name).map((inst) => ({ instance: inst.settings.name, names: [inst.settings.domain, ...inst.settings.aliases], web: inst.component.web })),
        // A local data root (the e2e tier, a trial) need not be a mount point.
        allowUnmounted: settings.provider === "local",
    }, h.host.serviceOptions)] as const];
}));

/** The names a host's edge serves: every domain and alias of its instances. */
const namesOn = (host: string) => instancesOn(host).flatMap((inst) => [inst.settings.domain, ...inst.settings.aliases]);

// With dns, each host's names get their records at its stable address, in the stack's zone.
const dnsOf = new Map(settings.provider === "local" || settings.dns === undefined ? [] : builtHosts.flatMap((h) => {
    if (!edges.has(h.name) || h.host.address === undefined) return [];
    return [[h.name, new DnsRecords(hostComponentName(h.name, "dns"), { dns: settings.dns!, address: h.host.address, names: namesOn(h.name) })] as const];
}));

/** Each name's record at its host's stable address: those the program manages (dns), or to create before the first `pulumi up`. */
function dnsRecordsOf(h: BuiltHost): pulumi.Output<DnsRecordEntry[]> | undefined {
    const managed = dnsOf.get(h.name);
    if (managed !== undefined) return managed.records;
    if (!edges.has(h.name) || h.host.address === undefined) return undefined;
    return h.host.address.apply((address) => dnsRecordEntries(namesOn(h.name), address));
}

const capacity = stackCapacity(settings, false, EDGE_RESOURCES).reports;

/** One host's outputs: where it is, its key, its volume, its edge, its instances, its capacity. */
function hostOutputs(h: BuiltHost) {
    return {
        dockerEndpoint: h.host.dockerEndpoint,
        address: h.host.address,
        /** The SSH host key every connection of the program pins: add it to your known_hosts (docs/security.md). */
        hostKey: h.host.hostKey,
        volumeId: h.volume?.volumeId,
        devicePath: h.volume?.devicePath,
        /** The data volume's facts a cloud cannot change in place: the next run's config is checked against them (npm run plan -- --deployed). */
        dataVolume: h.volume?.record,
        /** aws: the SNS topic DLM's failure alarms notify; subscribe to it (docs/backups.md). */
        alertsTopicArn: h.snapshots?.alertsTopic?.arn,
        edgeContainer: edges.get(h.name)?.containerName,
        /** Each name's record at the host's stable address: those the program manages (dns), or to create before the first `pulumi up`. */
        dnsRecords: dnsRecordsOf(h),
        instances: instancesOn(h.name).map((inst) => inst.settings.name),
        /** The memory limits of its containers against its machine's memory (validation refuses a placement above it). */
        capacity: capacity[h.name],
    };
}

const outputsOfHosts = builtHosts.map(hostOutputs);

/**
 * A one-host stack also exports its host's outputs at the top level, under the names it had
 * before hosts existed (the address as hostAddress): the deploy workflow and `npm run plan --
 * --deployed` of a stack deployed before hosts read them. A stack of several hosts has none.
 */
function oneHostOutputs(): Record<string, unknown> {
    if (outputsOfHosts.length !== 1) return {};
    const { address, instances: _instances, capacity: _capacity, ...rest } = outputsOfHosts[0];
    return { hostAddress: address, ...rest };
}

/** Without the values a stack does not have (a local engine's address): Pulumi warns of each undefined output. */
const defined = (outputs: Record<string, unknown>) => Object.fromEntries(Object.entries(outputs).filter(([, v]) => v !== undefined));

export = {
    /** Every host's outputs, by name. */
    hosts: Object.fromEntries(builtHosts.map((h, i) => [h.name, outputsOfHosts[i]])),
    ...defined(oneHostOutputs()),
    portals: Object.fromEntries(settings.instances.map((inst, i) => [inst.name, {
        url: inst.port !== undefined ? `http://${inst.domain}:${inst.port}` : `https://${inst.domain}`,
        host: inst.host,
        containers: instances[i].containerNames,
        databaseVolume: instances[i].databaseVolume.name,
    }])),
    databasePasswords: pulumi.secret(Object.fromEntries(settings.instances.map((inst, i) => [inst.name, instances[i].databasePassword]))),
};
