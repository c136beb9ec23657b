// What the data volume is, in the facts a cloud cannot change in place, and the changes to those
// facts that must be refused before any plan. The stack exports the record of its volume
// (output `dataVolume`); `npm run plan -- --deployed FILE` (the deploy workflow runs it before
// `pulumi up`) and the plan diff compare it with the record the new config gives. Pure.
//
// Pulumi would refuse these changes too (the volume is protected), but only as "cannot replace a
// protected resource", after planning everything else; the message here names the key, says why
// the cloud cannot do it, and what to do instead.
import { DataVolumeSettings, Problem, Problems, StackSettings } from "./config";
import { DEFAULT_HOST } from "./naming";

/** The replace-forcing facts of a DigitalOcean volume (terraform-provider-digitalocean: region, name, snapshot_id are ForceNew). */
export interface DigitalOceanVolumeRecord {
    readonly provider: "digitalocean";
    readonly name: string;
    readonly region: string;
    readonly sizeGb: number;
    /** The snapshot the volume was created from. @default null: a blank volume */
    readonly fromSnapshot: string | null;
    /** The volume adopted into the stack. @default null: created by the stack */
    readonly adoptId: string | null;
}

/** The replace-forcing facts of an EBS volume (terraform-provider-aws: availability_zone, kms_key_id, snapshot_id are ForceNew; the Name tag is not). */
export interface AwsVolumeRecord {
    readonly provider: "aws";
    readonly name: string;
    readonly availabilityZone: string;
    readonly sizeGb: number;
    readonly fromSnapshot: string | null;
    readonly adoptId: string | null;
    /** The customer key. @default null: the account's EBS key */
    readonly kmsKeyId: string | null;
}

export type VolumeRecord = DigitalOceanVolumeRecord | AwsVolumeRecord;

/** The record the stack exports for a data volume with these settings. */
export function volumeRecord(v: DataVolumeSettings): VolumeRecord {
    const common = { name: v.name, sizeGb: v.sizeGb, fromSnapshot: v.fromSnapshot ?? null, adoptId: v.adoptId ?? null };
    return v.placement.provider === "digitalocean"
        ? { provider: "digitalocean", ...common, region: v.placement.region }
        : { provider: "aws", ...common, availabilityZone: v.placement.availabilityZone, kmsKeyId: v.kmsKeyId ?? null };
}

/** The record of the volume each host of a stack with these settings manages, by host (undefined: none). */
export function plannedVolumes(settings: StackSettings): ReadonlyMap<string, VolumeRecord | undefined> {
    if (settings.provider === "local") return new Map();
    return new Map(settings.hosts.map((h) => [h.name, h.host.dataVolume && volumeRecord(h.host.dataVolume)]));
}

const REPLACED = "and a replaced volume is a new disk without the portal's data";
const MOVE_DATA = "to move the data, restore a snapshot into a new stack (docs/restore.md)";

const show = (v: string | null) => (v === null ? "none" : JSON.stringify(v));

/** The deployed stack's volume: its record and the cloud's id of it (outputs `dataVolume`, `volumeId`). */
export interface DeployedVolume {
    readonly record: VolumeRecord;
    readonly volumeId?: string;
}

/**
 * The changes from the deployed volume to the planned one that no cloud applies in place, each
 * at the config key that makes it. `planned` undefined: the config no longer has a managed volume.
 */
export function volumeChangeProblems(deployedVolume: DeployedVolume, planned: VolumeRecord | undefined): Problem[] {
    const deployed = deployedVolume.record;
    if (planned === undefined) {
        return [{ path: "volume", message: `the deployed stack manages the data volume ${JSON.stringify(deployed.name)}; a config without it would remove the volume from the stack (refused: it holds all portal data); keep the volume settings` }];
    }
    if (planned.provider !== deployed.provider) {
        return [{ path: "provider", message: `the deployed data volume is on ${deployed.provider}; a volume cannot move to ${planned.provider}; ${MOVE_DATA}` }];
    }
    const problems = new Problems();
    const cloud = deployed.provider === "digitalocean" ? "DigitalOcean" : "AWS";
    const fixed = (path: string, what: string, before: string | null, after: string | null) => {
        if (before !== after) {
            problems.add(path, `the deployed volume's ${what} is ${show(before)}; ${cloud} cannot change it to ${show(after)} without replacing the volume, ${REPLACED}: keep ${show(before)}; ${MOVE_DATA}`);
        }
    };
    if (deployed.provider === "digitalocean" && planned.provider === "digitalocean") {
        fixed("volume.name", "name", deployed.name, planned.name);
        fixed("host.region", "region", deployed.region, planned.region);
    }
    if (deployed.provider === "aws" && planned.provider === "aws") {
        fixed("host.availabilityZone", "availability zone", deployed.availabilityZone, planned.availabilityZone);
        fixed("volume.kmsKeyId", "encryption key", deployed.kmsKeyId, planned.kmsKeyId);
    }
    // The snapshot a volume came from stays part of it: removing fromSnapshot later replaces it too.
    fixed("volume.fromSnapshot", "source snapshot", deployed.fromSnapshot, planned.fromSnapshot);
    // Importing is for the first run; another id names another volume than the stack's.
    const id = deployedVolume.volumeId;
    if (planned.adoptId !== null && id !== undefined && planned.adoptId !== id) {
        problems.add("volume.adoptId", `is ${JSON.stringify(planned.adoptId)}, but the stack's volume is ${JSON.stringify(id)}; adopting another volume would drop this one from the stack: remove volume.adoptId or set it to ${JSON.stringify(id)}`);
    }
    if (planned.sizeGb < deployed.sizeGb) {
        problems.add("volume.sizeGb", `is ${planned.sizeGb}, smaller than the deployed volume's ${deployed.sizeGb} GiB; ${cloud} volumes only grow: keep at least ${deployed.sizeGb} (a smaller disk means restoring a snapshot into a new, smaller volume: docs/restore.md)`);
    }
    return problems.all;
}

/**
 * Each deployed host's outputs by host name (`address`, `hostKey`, `dataVolume`, `volumeId`):
 * the `hosts` output, or for a stack deployed before hosts existed, its top-level outputs as
 * DEFAULT_HOST's. A string says what is wrong when the outputs are not the program's.
 */
export function deployedHosts(outputs: unknown): ReadonlyMap<string, Readonly<Record<string, unknown>>> | string {
    if (typeof outputs !== "object" || outputs === null || Array.isArray(outputs)) return "expected the JSON object `pulumi stack output --json` prints";
    const o = outputs as Record<string, unknown>;
    if (o.hosts === undefined) {
        const legacy = { address: o.hostAddress, hostKey: o.hostKey, dataVolume: o.dataVolume, volumeId: o.volumeId };
        return new Map(Object.values(legacy).some((v) => v !== undefined) ? [[DEFAULT_HOST, legacy]] : []);
    }
    if (typeof o.hosts !== "object" || o.hosts === null || Array.isArray(o.hosts)) return `hosts is not the program's map of hosts: ${JSON.stringify(o.hosts)}`;
    return new Map(Object.entries(o.hosts as Record<string, unknown>).map(([name, h]) => [name, (typeof h === "object" && h !== null ? h : {}) as Record<string, unknown>]));
}

/**
 * The deployed volume from a stack's outputs (`pulumi stack output --json`), undefined when the
 * stack has none (a new stack, a local one, or one deployed before the output existed); a string
 * saying what is wrong when the outputs are not the program's.
 */
export function deployedVolumeOf(outputs: unknown): DeployedVolume | undefined | string {
    if (typeof outputs !== "object" || outputs === null || Array.isArray(outputs)) return "expected the JSON object `pulumi stack output --json` prints";
    const { dataVolume: r, volumeId } = outputs as Record<string, unknown>;
    if (r === undefined) return undefined;
    const o = (typeof r === "object" && r !== null ? r : {}) as Record<string, unknown>;
    const text = (k: string) => typeof o[k] === "string";
    const textOrNull = (k: string) => o[k] === null || text(k);
    const common = text("name") && typeof o.sizeGb === "number" && textOrNull("fromSnapshot") && textOrNull("adoptId");
    const shaped = common && ((o.provider === "digitalocean" && text("region"))
        || (o.provider === "aws" && text("availabilityZone") && textOrNull("kmsKeyId")));
    if (!shaped) return `dataVolume is not a volume record of this program: ${JSON.stringify(r)}`;
    if (volumeId !== undefined && typeof volumeId !== "string") return `volumeId must be a string, got ${JSON.stringify(volumeId)}`;
    return { record: r as VolumeRecord, volumeId };
}
