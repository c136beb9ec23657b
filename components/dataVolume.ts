// The cloud block volume that holds all portal data at /mnt/data. It is protected: Pulumi never
// deletes or replaces it. It can be created from a snapshot or adopted as it stands.
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import * as digitalocean from "@pulumi/digitalocean";
import { CloudProvider, DataVolumeSettings, DEFAULT_DATA_ROOT } from "./config";
import { CloudNames } from "./naming";
import { VolumeRecord, volumeRecord } from "./volumeRecord";

/** DigitalOcean exposes an attached volume under its name. */
export function digitalOceanDevicePath(volumeName: string): string {
    return `/dev/disk/by-id/scsi-0DO_Volume_${volumeName}`;
}

/** AWS Nitro instances expose an EBS volume as NVMe, named by its id without the hyphen. */
export function awsDevicePath(volumeId: string): string {
    return `/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${volumeId.replace("-", "")}`;
}

/** The device name the EC2 API wants; Nitro instances ignore it (we mount by id, never by this). */
const EC2_DEVICE_NAME = "/dev/sdf";

export interface DataVolumeArgs {
    /** Name, size, placement, and a snapshot to start from or an existing volume to adopt. */
    readonly volume: DataVolumeSettings;
    /** The host's names and tags; the DLM policy finds the volume by its snapshot target tag. */
    readonly names: CloudNames;
    /** The stack, for the AWS tags. */
    readonly stack: string;
}

/** The machine a DataVolume is attached to. */
export type AttachTarget =
    | { readonly provider: "digitalocean"; readonly dropletId: pulumi.Input<number> }
    | { readonly provider: "aws"; readonly instanceId: pulumi.Input<string> };

export class DataVolume extends pulumi.ComponentResource {
    /** The cloud's id of the volume. */
    public readonly volumeId: pulumi.Output<string>;
    /** The stable by-id path under which the host sees the volume. */
    public readonly devicePath: pulumi.Output<string>;
    /** The configured size: the host grows its file system to it. */
    public readonly sizeGb: number;
    /** What the volume is, in the facts the cloud cannot change in place (the stack output `dataVolume`). */
    public readonly record: VolumeRecord;
    private readonly name: string;
    private readonly provider: CloudProvider;

    constructor(name: string, args: DataVolumeArgs, opts?: pulumi.ComponentResourceOptions) {
        super("housing-portal:storage:DataVolume", name, {}, opts);
        this.name = name;
        const v = args.volume;
        this.provider = v.placement.provider;
        this.sizeGb = v.sizeGb;
        this.record = volumeRecord(v);
        // Never deleted or replaced by Pulumi; adoption imports the volume instead of creating one.
        const volumeOpts: pulumi.CustomResourceOptions = { parent: this, protect: true, import: v.adoptId };
        const adopted = v.adoptId !== undefined;
        const tag = args.names.snapshotTargetTag;
        if (v.placement.provider === "digitalocean") {
            const volume = new digitalocean.Volume(`${name}-volume`, {
                name: v.name,
                region: v.placement.region,
                size: v.sizeGb,
                snapshotId: v.fromSnapshot,
                description: `Housing Portal data (${args.stack}), mounted at ${DEFAULT_DATA_ROOT}`,
                tags: [...args.names.volumeTags],
                // No initialFilesystemType: the host formats only a blank device, never a restored one.
            }, {
                ...volumeOpts,
                // An import must match the volume as it is, and a changed description replaces a
                // DigitalOcean volume: an adopted volume keeps the description and tags it has.
                ...(adopted ? { ignoreChanges: ["description", "tags"] } : {}),
            });
            this.volumeId = volume.id;
            this.devicePath = pulumi.output(digitalOceanDevicePath(v.name));
        } else {
            const volume = new aws.ebs.Volume(`${name}-volume`, {
                availabilityZone: v.placement.availabilityZone,
                size: v.sizeGb,
                type: "gp3",
                encrypted: true,
                kmsKeyId: v.kmsKeyId,
                snapshotId: v.fromSnapshot,
                // If the volume is ever deleted outside the protection, AWS keeps a last snapshot.
                finalSnapshot: true,
                tags: { Name: v.name, ...args.names.awsTags, [tag.key]: tag.value },
            }, {
                ...volumeOpts,
                // An import must match the volume as it is: an adopted volume keeps its tags...
                ...(adopted ? { ignoreChanges: ["tags"] } : {}),
            });
            if (adopted) {
                // ...and gets the one the DLM policy selects it by as a tag of its own.
                new aws.ec2.Tag(`${name}-snapshot-target-tag`, { resourceId: volume.id, key: tag.key, value: tag.value }, { parent: this });
            }
            this.volumeId = volume.id;
            this.devicePath = volume.id.apply(awsDevicePath);
        }
        this.registerOutputs({ volumeId: this.volumeId, devicePath: this.devicePath, record: this.record });
    }

    /** Attaches the volume to the host. Called by DockerHost once the machine exists. */
    attachTo(target: AttachTarget): pulumi.CustomResource {
        if (target.provider !== this.provider) throw new Error(`a ${this.provider} volume cannot attach to a ${target.provider} host`);
        if (target.provider === "digitalocean") {
            // The attachment alone attaches the volume: the Droplet's volumeIds stays unset.
            // A volume attaches to one Droplet at a time: the old attachment goes first.
            return new digitalocean.VolumeAttachment(`${this.name}-attachment`, {
                dropletId: target.dropletId,
                volumeId: this.volumeId,
            }, { parent: this, deleteBeforeReplace: true });
        }
        return new aws.ec2.VolumeAttachment(`${this.name}-attachment`, {
            deviceName: EC2_DEVICE_NAME,
            instanceId: target.instanceId,
            volumeId: this.volumeId,
            // Detach only from a stopped instance: the file system is cleanly unmounted first.
            stopInstanceBeforeDetaching: true,
        }, { parent: this, deleteBeforeReplace: true });
    }
}
