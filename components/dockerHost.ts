// The Docker host the portal instances run on, and the way the program reaches it:
// - local: this machine's engine through its socket (dev, e2e);
// - digitalocean / aws: a cloud machine with the data volume attached, built by cloud-init and
//   reached over SSH at an address that survives replacement;
// - existing: a host that already runs, reached over SSH; only its Docker resources are managed.
// Every Docker resource waits for the host's readiness gate (cloud-init done, volume mounted).
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import * as command from "@pulumi/command";
import * as digitalocean from "@pulumi/digitalocean";
import * as docker from "@pulumi/docker";
import * as tls from "@pulumi/tls";
import { CloudProvider, CreatedHostSettings, ExistingHostSettings, LOCAL_DOCKER_HOST, WORLD_CIDRS } from "./config";
import { HostKeyPair, renderCloudInit, sshLoginFor } from "./cloudInit";
import { pinnedSshOptions, publicHostKeyLine } from "./hostKey";
import { APPLY_SCRIPT, CREATED_HOST_SETTINGS, HostFileSet, joinHostFileSets, renderHostBundle } from "./hostSettings";
import { DataVolume } from "./dataVolume";
import { hostScriptCommandLine, readHostFile } from "./hostFiles";
import { CloudNames, installedScriptPath } from "./naming";

/** What a portal instance needs from its host. */
export interface InstanceHost {
    /** The Docker provider every Docker resource of the host uses. */
    readonly dockerProvider: docker.Provider;
    /** The machine the engine runs on: new when the machine is replaced (LABEL_MACHINE). */
    readonly machineId: pulumi.Input<string>;
    /**
     * Runs a script from host/ on the host with its settings in the environment: once, and again
     * when a setting or a trigger changes (@default triggers: none). A setting may be an Output
     * (a container's name that changes with each replacement).
     */
    runScript(name: string, script: string, env: Readonly<Record<string, pulumi.Input<string>>>, opts: pulumi.CustomResourceOptions, triggers?: pulumi.Input<unknown>[]): pulumi.Resource;
    /**
     * Runs an installed host script when the returned resource is deleted, that is when what
     * created it leaves the config; never on a new machine. Nothing on a local engine, which
     * takes no backups, so nothing there reads what such a script would clean up.
     */
    runOnRemoval(name: string, script: string, env: Readonly<Record<string, string>>, opts: pulumi.CustomResourceOptions): pulumi.Resource | undefined;
}

/** The only ports the host's firewall opens to the world: HTTP and HTTPS, which the edge serves (SSH is open to host.sshAllowedCidrs only). */
export const PUBLIC_WEB_PORTS = [80, 443];
const WORLD = [...WORLD_CIDRS];

export type DockerHostArgs = LocalHostArgs | CreatedHostArgs | ExistingHostArgs;

/** The resources an options object's dependsOn names (given as one resource or a plain list). */
function dependenciesOf(opts: pulumi.CustomResourceOptions): pulumi.Input<pulumi.Resource>[] {
    const d = opts.dependsOn;
    if (d === undefined) return [];
    return Array.isArray(d) ? d : [d as pulumi.Input<pulumi.Resource>];
}

/** A Docker engine on the machine that runs Pulumi, through its socket. */
export interface LocalHostArgs {
    readonly provider: "local";
    /** The engine's socket; the host's commands get it as DOCKER_HOST. @default LOCAL_DOCKER_HOST, this machine's engine */
    readonly dockerHost?: string;
}

interface CloudHostCommonArgs {
    /** The cloud the host lives in. */
    readonly provider: CloudProvider;
    /** The host's physical names and tags. */
    readonly names: CloudNames;
    /** The stack, for descriptions. */
    readonly stack: string;
    /** Where the data volume is mounted. */
    readonly dataRoot: string;
    /** SSH private key for Pulumi's connection. @default the ssh-agent's keys */
    readonly sshPrivateKey?: pulumi.Output<string>;
    /** Files and units installed over SSH after the first boot (the backup timers). @default only the scripts every host gets */
    readonly settings?: pulumi.Input<HostFileSet>;
}

/** A machine the program creates, with its data volume attached, firewall and stable address. */
export interface CreatedHostArgs extends CloudHostCommonArgs {
    /** Machine, access and SSH settings. */
    readonly host: CreatedHostSettings;
    /** The data volume, attached by this host. */
    readonly dataVolume: DataVolume;
    /** aws: the instance profile the machine runs with (its alerts publish to SNS). @default none */
    readonly instanceProfile?: pulumi.Input<string>;
}

/** A machine that already runs at `host.address`: only its Docker resources are managed. */
export interface ExistingHostArgs extends CloudHostCommonArgs {
    /** Address and SSH settings. */
    readonly host: ExistingHostSettings;
}

/** A machine the program created, with what its volume's lifecycle needs. */
interface CreatedMachine {
    readonly machineId: pulumi.Output<string>;
    /** The machine's own address (not the stable one that moves on a replacement). */
    readonly ownAddress: pulumi.Output<string>;
    readonly attachment: pulumi.CustomResource;
    readonly dataVolume: DataVolume;
}

function isCreated(args: CreatedHostArgs | ExistingHostArgs): args is CreatedHostArgs {
    return args.host.kind === "create";
}

/** The Docker provider's ssh:// URL; an IPv6 address goes in brackets, as in any URL. */
export function dockerSshEndpoint(user: string, address: string): string {
    return `ssh://${user}@${address.includes(":") ? `[${address}]` : address}`;
}

export class DockerHost extends pulumi.ComponentResource implements InstanceHost {
    public readonly dockerProvider: docker.Provider;
    public readonly machineId: pulumi.Input<string>;
    /**
     * The options of a host-level service: a component that serves every instance on this host
     * (the edge, for example). Created with them, it is the host's child and every Docker
     * resource in it runs on this host's engine, after the readiness gate.
     */
    public readonly serviceOptions: pulumi.ComponentResourceOptions;
    /** Where the engine is reached, e.g. unix:///var/run/docker.sock or ssh://root@203.0.113.10. */
    public readonly dockerEndpoint: pulumi.Output<string>;
    /** The host's public address (cloud modes). */
    public readonly address?: pulumi.Output<string>;
    /** The SSH host key every connection to the host pins, one OpenSSH line (cloud modes; stack output hostKey). */
    public readonly hostKey?: pulumi.Output<string>;
    /** The readiness gate: cloud-init done, data volume mounted, Docker answering (cloud modes). */
    public readonly ready?: command.remote.Command;
    /** The host's settings installed over SSH (cloud modes); re-run when any of their files changes. */
    public readonly settingsApplied?: command.remote.Command;
    private readonly connection?: command.types.input.remote.ConnectionArgs;
    /** local: what a host command needs to reach this host's engine (DOCKER_HOST), when it is not this machine's default one. */
    private readonly localEnvironment?: Readonly<Record<string, string>>;
    private readonly sudo: boolean;

    constructor(name: string, args: DockerHostArgs, opts?: pulumi.ComponentResourceOptions) {
        super("housing-portal:host:DockerHost", name, {}, opts);
        if (args.provider === "local") {
            const endpoint = args.dockerHost ?? LOCAL_DOCKER_HOST;
            // Another engine is another machine: what moves to it is made again there.
            this.machineId = endpoint === LOCAL_DOCKER_HOST ? "local" : `local:${endpoint}`;
            if (endpoint !== LOCAL_DOCKER_HOST) this.localEnvironment = { DOCKER_HOST: endpoint };
            this.dockerProvider = new docker.Provider(`${name}-docker`, { host: endpoint }, { parent: this });
            this.serviceOptions = { parent: this, providers: [this.dockerProvider] };
            this.dockerEndpoint = pulumi.output(endpoint);
            this.sudo = false;
            this.registerOutputs({ dockerEndpoint: this.dockerEndpoint });
            return;
        }

        const host = args.host;
        this.sudo = host.sshUser !== "root";
        let machineId: pulumi.Output<string> | undefined;
        // The gate runs once the volume is attached and the address leads to this machine.
        let readyAfter: pulumi.Resource[] = [];
        let created: CreatedMachine | undefined;
        if (isCreated(args)) {
            const volume = args.dataVolume;
            // A machine created before the program generated host keys keeps its own (host.hostKey)
            // and its first boot as it was; every other machine gets the generated key.
            const generated = host.hostKey === undefined ? this.generatedHostKey(name) : undefined;
            this.hostKey = generated?.publicKey ?? pulumi.output(host.hostKey!);
            const login = sshLoginFor(args.provider, args.host.sshUser);
            const userData = generated === undefined
                ? volume.devicePath.apply((devicePath) => renderCloudInit({ devicePath, dataRoot: args.dataRoot, login }))
                : pulumi.secret(pulumi.all([volume.devicePath, generated.pair]).apply(([devicePath, hostKey]) => renderCloudInit({
                    devicePath, dataRoot: args.dataRoot, login, hostKey,
                })));
            // Replacing a machine with its own key would give the new one a key nobody knows: refused
            // until host.hostKey is removed, which replaces it with one that gets the generated key.
            const protect = generated === undefined;
            const built = args.provider === "digitalocean"
                ? this.digitalOceanMachine(name, args, userData, volume, protect)
                : this.awsMachine(name, args, userData, volume, protect);
            this.address = built.address;
            machineId = built.machineId;
            readyAfter = [built.attachment, built.addressAssignment];
            created = { ...built, dataVolume: volume };
        } else {
            this.address = pulumi.output(args.host.address);
            this.hostKey = pulumi.output(args.host.hostKey!);
        }
        // An existing host is known by its address only.
        this.machineId = machineId ?? this.address;

        const hostKey = this.hostKey!;
        this.connection = { host: this.address, user: host.sshUser, privateKey: args.sshPrivateKey, hostKey };
        this.ready = new command.remote.Command(`${name}-ready`, {
            connection: this.connection,
            create: hostScriptCommandLine({ DATA_ROOT: args.dataRoot }, this.sudo),
            stdin: readHostFile("host-ready.sh"),
            // A new machine behind the same address must pass the gate again.
            triggers: machineId ? [machineId] : [],
        }, { parent: this, dependsOn: readyAfter });

        const settings = pulumi.output(args.settings ?? { files: [], enable: [] })
            .apply((s) => (created === undefined ? s : joinHostFileSets(s, CREATED_HOST_SETTINGS)));
        this.settingsApplied = this.applySettings(name, this.ready, settings);
        if (created !== undefined) this.volumeOnMachine(name, created, this.settingsApplied, args.dataRoot);

        this.dockerEndpoint = this.address.apply((address) => dockerSshEndpoint(host.sshUser, address));
        // Every Docker resource uses this provider, so every one waits for the gate.
        this.dockerProvider = new docker.Provider(`${name}-docker`, {
            host: this.dockerEndpoint,
            sshOpts: hostKey.apply(pinnedSshOptions),
        }, { parent: this, dependsOn: [this.ready] });
        this.serviceOptions = { parent: this, providers: [this.dockerProvider] };
        this.registerOutputs({ dockerEndpoint: this.dockerEndpoint, address: this.address, hostKey: this.hostKey });
    }

    /**
     * The host key a created machine gets, generated once: not replaced with the machine, so a
     * replacement keeps the key operators pinned (docs/security.md). The private half is secret.
     */
    private generatedHostKey(name: string): { publicKey: pulumi.Output<string>; pair: pulumi.Output<HostKeyPair> } {
        const key = new tls.PrivateKey(`${name}-host-key`, { algorithm: "ED25519" }, { parent: this });
        const publicKey = key.publicKeyOpenssh.apply(publicHostKeyLine);
        return { publicKey, pair: pulumi.all([pulumi.secret(key.privateKeyOpenssh), publicKey]).apply(([privateKey, pub]) => ({ privateKey, publicKey: pub })) };
    }

    /**
     * The host's settings, over SSH: the installer first, then the bundle on its standard input.
     * A changed file changes the bundle, which updates that command only. A new machine behind
     * the address gets them again (the gate's id is a trigger).
     */
    private applySettings(name: string, ready: command.remote.Command, settings: pulumi.Input<HostFileSet>): command.remote.Command {
        const tools = new command.remote.Command(`${name}-tools`, {
            connection: this.connection!,
            create: hostScriptCommandLine({}, this.sudo, `install -m 0755 /dev/stdin ${installedScriptPath(APPLY_SCRIPT)}`),
            stdin: readHostFile(APPLY_SCRIPT),
            triggers: [ready.id],
        }, { parent: this, dependsOn: [ready] });
        return new command.remote.Command(`${name}-settings`, {
            connection: this.connection!,
            create: hostScriptCommandLine({}, this.sudo, installedScriptPath(APPLY_SCRIPT)),
            stdin: pulumi.output(settings).apply(renderHostBundle),
            triggers: [ready.id],
        }, { parent: this, dependsOn: [tools] });
    }

    /** What a created machine does with its data volume besides mounting it: let go of it before a detach, grow it with the cloud volume. */
    private volumeOnMachine(name: string, machine: CreatedMachine, settings: pulumi.Resource, dataRoot: string): void {
        // Before the volume is detached from this machine (its replacement), the machine lets go
        // of it: its containers and Docker stopped, the file system unmounted. Reached at its own
        // address: by then the stable one may lead to the new machine. The attachment's id is an
        // input, so Pulumi deletes this (running the script) before it deletes the attachment it
        // replaces delete-first; a failure stops the update with the volume still attached where it was.
        new command.remote.Command(`${name}-release-volume`, {
            connection: { ...this.connection!, host: machine.ownAddress },
            delete: hostScriptCommandLine({ MOUNT_POINT: dataRoot }, this.sudo, installedScriptPath("release-data-volume.sh")),
            triggers: [machine.machineId, machine.attachment.id],
        }, { parent: this, dependsOn: [machine.attachment, settings] });

        // A larger volume.sizeGb resizes the cloud volume in place; this grows its file system,
        // online, in the same run (the command's line changes with the size).
        const volume = machine.dataVolume;
        new command.remote.Command(`${name}-grow-volume`, {
            connection: this.connection!,
            create: volume.devicePath.apply((device) => hostScriptCommandLine(
                { DEVICE: device, MOUNT_POINT: dataRoot, EXPECT_GB: String(volume.sizeGb) }, this.sudo, installedScriptPath("grow-data-volume.sh"))),
            triggers: [this.ready!.id],
        }, { parent: this, dependsOn: [settings, volume] });
    }

    runOnRemoval(name: string, script: string, env: Readonly<Record<string, string>>, opts: pulumi.CustomResourceOptions): pulumi.Resource | undefined {
        if (this.connection === undefined) return undefined;
        // No triggers: the delete runs when the config entry goes, never for a new machine at
        // the same address (which would undo what that machine just set up).
        return new command.remote.Command(name, {
            connection: this.connection,
            delete: hostScriptCommandLine(env, this.sudo, installedScriptPath(script)),
        }, { ...opts, dependsOn: [this.settingsApplied!, ...dependenciesOf(opts)] });
    }

    runScript(name: string, script: string, env: Readonly<Record<string, pulumi.Input<string>>>, opts: pulumi.CustomResourceOptions, triggers: pulumi.Input<unknown>[] = []): pulumi.Resource {
        const commandLine = (useSudo: boolean) => pulumi.output({ ...env }).apply((e) => hostScriptCommandLine(e, useSudo));
        if (this.connection === undefined) {
            return new command.local.Command(name, {
                create: commandLine(false),
                stdin: readHostFile(script),
                ...(this.localEnvironment ? { environment: this.localEnvironment } : {}),
                ...(triggers.length ? { triggers } : {}),
            }, opts);
        }
        return new command.remote.Command(name, {
            connection: this.connection,
            create: commandLine(this.sudo),
            stdin: readHostFile(script),
            triggers: [this.ready!.id, ...triggers],
        }, { ...opts, dependsOn: [this.ready!, ...dependenciesOf(opts)] });
    }

    /** Writes a secret to a root-only file on the host, through its standard input (cloud modes). */
    writeSecret(name: string, target: string, secret: pulumi.Output<string>, opts: pulumi.CustomResourceOptions): pulumi.Resource {
        if (this.connection === undefined || this.settingsApplied === undefined) throw new Error("DockerHost: secrets are written to cloud hosts only");
        return new command.remote.Command(name, {
            connection: this.connection,
            create: hostScriptCommandLine({ TARGET: target }, this.sudo, installedScriptPath("write-secret.sh")),
            stdin: secret,
            triggers: [this.ready!.id],
            // write-secret.sh arrives with the host's settings.
        }, { ...opts, dependsOn: [this.settingsApplied], additionalSecretOutputs: ["stdin", "stdout"] });
    }

    private digitalOceanMachine(name: string, args: CreatedHostArgs, userData: pulumi.Output<string>, volume: DataVolume, protect: boolean) {
        const host = args.host;
        // The firewall selects the machine by a tag that exists before the machine, and the
        // machine is created after the firewall: from its first boot (a replacement's too), SSH
        // is open only to host.sshAllowedCidrs.
        const tag = new digitalocean.Tag(`${name}-tag`, { name: args.names.machine }, { parent: this });
        const firewall = new digitalocean.Firewall(`${name}-firewall`, {
            name: args.names.machine,
            tags: [tag.name],
            inboundRules: [
                ...PUBLIC_WEB_PORTS.map((port) => ({ protocol: "tcp", portRange: String(port), sourceAddresses: WORLD })),
                { protocol: "tcp", portRange: "22", sourceAddresses: [...host.sshAllowedCidrs] },
            ],
            outboundRules: [
                { protocol: "tcp", portRange: "1-65535", destinationAddresses: WORLD },
                { protocol: "udp", portRange: "1-65535", destinationAddresses: WORLD },
                { protocol: "icmp", destinationAddresses: WORLD },
            ],
        }, { parent: this });
        const droplet = new digitalocean.Droplet(`${name}-droplet`, {
            name: args.names.machine,
            region: host.region,
            size: host.size,
            image: host.image,
            sshKeys: [...host.sshKeys],
            monitoring: true,
            tags: [...args.names.dropletTags],
            userData,
        }, { parent: this, dependsOn: [tag, firewall], protect });
        const dropletId = droplet.id.apply(Number);
        const attachment = volume.attachTo({ provider: "digitalocean", dropletId });
        // The reserved IP outlives the Droplet: a replaced host keeps its address.
        const ip = new digitalocean.ReservedIp(`${name}-ip`, { region: host.region }, { parent: this, protect: true });
        const assignment = new digitalocean.ReservedIpAssignment(`${name}-ip-assignment`, { ipAddress: ip.ipAddress, dropletId }, { parent: this, deleteBeforeReplace: true });
        return { address: ip.ipAddress, ownAddress: droplet.ipv4Address, machineId: droplet.id, attachment, addressAssignment: assignment };
    }

    private awsMachine(name: string, args: CreatedHostArgs, userData: pulumi.Output<string>, volume: DataVolume, protect: boolean) {
        const host = args.host;
        const tags = { Name: args.names.machine, ...args.names.awsTags };
        // Inbound rules are resources of their own, never inline: a rule changes without touching the group.
        const group = new aws.ec2.SecurityGroup(`${name}-security-group`, {
            description: `Housing Portal ${args.stack}: web from anywhere, SSH from the configured CIDRs`,
            egress: [{ protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"], ipv6CidrBlocks: ["::/0"] }],
            tags,
        }, { parent: this });
        const allow = (ruleName: string, port: number, cidrs: readonly string[]) => cidrs.forEach((cidr, i) => {
            new aws.vpc.SecurityGroupIngressRule(`${name}-${ruleName}-${i}`, {
                securityGroupId: group.id, ipProtocol: "tcp", fromPort: port, toPort: port,
                ...(cidr.includes(":") ? { cidrIpv6: cidr } : { cidrIpv4: cidr }),
                tags,
            }, { parent: this });
        });
        for (const port of PUBLIC_WEB_PORTS) allow(`ingress-${port}`, port, WORLD);
        allow("ingress-ssh", 22, host.sshAllowedCidrs);
        const keyPair = new aws.ec2.KeyPair(`${name}-key`, {
            keyName: args.names.machine,
            publicKey: host.sshKeys[0],
            tags,
        }, { parent: this, deleteBeforeReplace: true }); // the fixed name cannot exist twice
        const instance = new aws.ec2.Instance(`${name}-instance`, {
            ami: host.image,
            instanceType: host.size,
            availabilityZone: host.availabilityZone,
            keyName: keyPair.keyName,
            vpcSecurityGroupIds: [group.id],
            userData,
            // cloud-init runs user-data on a machine's first boot only: a change means a new machine.
            userDataReplaceOnChange: true,
            // Updated in place (the profile is associated with the running instance).
            iamInstanceProfile: args.instanceProfile,
            metadataOptions: { httpTokens: "required", httpEndpoint: "enabled", httpPutResponseHopLimit: 1 },
            rootBlockDevice: { encrypted: true, volumeType: "gp3", volumeSize: 20 },
            tags,
        }, { parent: this, protect });
        const attachment = volume.attachTo({ provider: "aws", instanceId: instance.id });
        // The Elastic IP outlives the instance: a replaced host keeps its address.
        const eip = new aws.ec2.Eip(`${name}-eip`, { domain: "vpc", tags }, { parent: this, protect: true });
        const association = new aws.ec2.EipAssociation(`${name}-eip-association`, { allocationId: eip.allocationId, instanceId: instance.id }, { parent: this });
        return { address: eip.publicIp, ownAddress: instance.publicIp, machineId: instance.id, attachment, addressAssignment: association };
    }
}
