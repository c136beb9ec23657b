// Snapshots of the data volume that really run. AWS: a DLM lifecycle policy that targets the tag
// the DataVolume carries. DigitalOcean, which has no scheduled volume snapshots: a systemd timer on
// the host (installed over SSH with the host's settings, see backupSchedule.ts) with a snapshot-scoped API token that
// this component delivers over SSH. Database dumps run before each snapshot on both.
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { SnapshotSettings } from "./config";
import { DataVolume } from "./dataVolume";
import { DockerHost } from "./dockerHost";
import { CloudNames, DLM_SNAPSHOT_TAG, SNAPSHOT_TOKEN_FILE } from "./naming";

/** The AWS-managed policy that lets DLM create and delete EBS snapshots. */
export const DLM_SERVICE_ROLE_POLICY = "arn:aws:iam::aws:policy/service-role/AWSDataLifecycleManagerServiceRole";

interface SnapshotPolicyCommonArgs {
    /** Schedule and retention. */
    readonly snapshots: SnapshotSettings;
    /** The volume to snapshot. */
    readonly dataVolume: DataVolume;
}

/** AWS: a DLM policy selects the volume by its snapshot target tag. */
export interface AwsSnapshotPolicyArgs extends SnapshotPolicyCommonArgs {
    readonly provider: "aws";
    /** The stack, for descriptions and tags. */
    readonly stack: string;
    /** The host's names: the volume's snapshot target tag, the tags. */
    readonly names: CloudNames;
}

/** DigitalOcean: the host's timer takes the snapshots with a scoped API token. */
export interface DigitalOceanSnapshotPolicyArgs extends SnapshotPolicyCommonArgs {
    readonly provider: "digitalocean";
    /** The host whose timer takes the snapshots. */
    readonly host: DockerHost;
    /** The snapshot-scoped API token (secret). */
    readonly apiToken: pulumi.Output<string>;
}

export type SnapshotPolicyArgs = AwsSnapshotPolicyArgs | DigitalOceanSnapshotPolicyArgs;

/** How many days `count` copies made every `everyHours` hours cover (DLM retains copies by age). */
export function copyRetentionDays(count: number, everyHours: number): number {
    return Math.max(1, Math.ceil((count * everyHours) / 24));
}

export class SnapshotPolicy extends pulumi.ComponentResource {
    /** The DLM policy (AWS). */
    public readonly lifecyclePolicy?: aws.dlm.LifecyclePolicy;

    constructor(name: string, args: SnapshotPolicyArgs, opts?: pulumi.ComponentResourceOptions) {
        super("housing-portal:backup:SnapshotPolicy", name, {}, opts);
        const s = args.snapshots;
        if (args.provider === "aws") {
            const tags = { ...args.names.awsTags };
            const role = new aws.iam.Role(`${name}-dlm-role`, {
                description: "Lets Data Lifecycle Manager snapshot the Housing Portal data volume",
                assumeRolePolicy: JSON.stringify({
                    Version: "2012-10-17",
                    Statement: [{ Effect: "Allow", Principal: { Service: "dlm.amazonaws.com" }, Action: "sts:AssumeRole" }],
                }),
                tags,
            }, { parent: this });
            const rolePolicy = new aws.iam.RolePolicyAttachment(`${name}-dlm-role-policy`, {
                role: role.name,
                policyArn: DLM_SERVICE_ROLE_POLICY,
            }, { parent: this });
            const target = args.names.snapshotTargetTag;
            this.lifecyclePolicy = new aws.dlm.LifecyclePolicy(`${name}-policy`, {
                description: `Housing Portal ${args.stack}: data volume every ${s.everyHours}h from ${s.at} UTC, keep ${s.retain}`,
                executionRoleArn: role.arn,
                state: "ENABLED",
                policyDetails: {
                    resourceTypes: ["VOLUME"],
                    // The same tag the DataVolume carries: a tag on no volume would snapshot nothing, silently.
                    targetTags: { [target.key]: target.value },
                    schedules: [{
                        name: `every-${s.everyHours}h`,
                        createRule: { interval: s.everyHours, intervalUnit: "HOURS", times: s.at },
                        retainRule: { count: s.retain },
                        copyTags: true,
                        tagsToAdd: { [DLM_SNAPSHOT_TAG.key]: DLM_SNAPSHOT_TAG.value },
                        crossRegionCopyRules: s.copyToRegion === undefined ? undefined : [{
                            target: s.copyToRegion,
                            encrypted: true,
                            copyTags: true,
                            retainRule: { interval: copyRetentionDays(s.copyRetain ?? s.retain, s.everyHours), intervalUnit: "DAYS" },
                        }],
                    }],
                },
                tags,
            }, { parent: this, dependsOn: [rolePolicy] });
        } else {
            // The timer itself comes with the host's settings; the token never goes into user data or a bundle.
            args.host.writeSecret(`${name}-api-token`, SNAPSHOT_TOKEN_FILE, args.apiToken, { parent: this });
        }
        this.registerOutputs({ lifecyclePolicyId: this.lifecyclePolicy?.id });
    }
}
