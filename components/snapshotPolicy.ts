// Snapshots of the data volume that really run. AWS: a DLM lifecycle policy that targets the tag
// the DataVolume carries. DigitalOcean, which has no scheduled volume snapshots: a systemd timer on
// the host (installed over SSH with the host's settings, see backupSchedule.ts) with a snapshot-scoped API token that
// this component delivers over SSH. Database dumps run before each snapshot on both.
// On AWS it also watches DLM: CloudWatch alarms on the policy's failure metrics notify an SNS topic
// the stack creates, and with a customer KMS key the DLM role may use that key.
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
    /** The host's names: the volume's snapshot target tag, the alerts topic, the alarms, the tags. */
    readonly names: CloudNames;
    /** The ARN of the customer KMS key that encrypts the volume (the host's `dataVolume.kmsKeyId`). @default the account's EBS key: the role gets no KMS permissions */
    readonly kmsKeyId?: string;
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

/**
 * The CloudWatch metrics DLM publishes for a snapshot policy: namespace `AWS/EBS`, dimension
 * `DLMPolicyId` (the policy's id), statistic Sum, unit Count. `SnapshotsCreateFailed` counts
 * snapshots not created (after retries within 60 minutes), `SnapshotsCopiedRegionFailed` cross-region
 * copies not created (after retries within 24 hours).
 * https://docs.aws.amazon.com/ebs/latest/userguide/monitor-dlm-cw-metrics.html
 */
export const DLM_METRICS = {
    namespace: "AWS/EBS",
    dimension: "DLMPolicyId",
    createFailed: "SnapshotsCreateFailed",
    copyFailed: "SnapshotsCopiedRegionFailed",
} as const;

/** The period a failure alarm sums its metric over, in seconds (as in the AWS examples). */
export const DLM_ALARM_PERIOD_SECONDS = 3600;

/**
 * The KMS actions DLM's role needs on a customer key to snapshot a volume encrypted with it and to
 * copy those snapshots to another region: grants only for AWS resources (EBS), and the key's use.
 * As documented for a DLM role with customer managed keys ("Allow IAM role to use the required KMS keys"):
 * https://docs.aws.amazon.com/ebs/latest/userguide/event-policy.html and
 * https://docs.aws.amazon.com/ebs/latest/userguide/dlm-access-cmk.html
 */
export const DLM_KMS_GRANT_ACTIONS = ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"] as const;
export const DLM_KMS_USE_ACTIONS = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"] as const;

/** The DLM role's inline policy for one customer key: the documented actions on that key's ARN only. Pure. */
export function dlmKmsPolicy(keyArn: string) {
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "GrantsForEbsOnly",
                Effect: "Allow",
                Action: [...DLM_KMS_GRANT_ACTIONS],
                Resource: keyArn,
                Condition: { Bool: { "kms:GrantIsForAWSResource": "true" } },
            },
            {
                Sid: "UseTheVolumeKey",
                Effect: "Allow",
                Action: [...DLM_KMS_USE_ACTIONS],
                Resource: keyArn,
            },
        ],
    };
}

export class SnapshotPolicy extends pulumi.ComponentResource {
    /** The DLM policy (AWS). */
    public readonly lifecyclePolicy?: aws.dlm.LifecyclePolicy;
    /** The topic the DLM failure alarms notify (AWS); operators subscribe to it. */
    public readonly alertsTopic?: aws.sns.Topic;
    /** The host's instance profile (AWS): its role may publish to the alerts topic, and nothing else. */
    public readonly hostInstanceProfile?: aws.iam.InstanceProfile;

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
            // A customer key: DLM creates the snapshots (and decrypts them for the copies) with it.
            // Without this DLM's snapshots and copies of the volume fail; with no kmsKeyId, nothing.
            const kmsPolicy = args.kmsKeyId === undefined ? undefined : new aws.iam.RolePolicy(`${name}-dlm-kms`, {
                role: role.name,
                policy: JSON.stringify(dlmKmsPolicy(args.kmsKeyId)),
            }, { parent: this });
            const target = args.names.snapshotTargetTag;
            const policy = new aws.dlm.LifecyclePolicy(`${name}-policy`, {
                description: `Housing Portal ${args.names.label}: data volume every ${s.everyHours}h from ${s.at} UTC, keep ${s.retain}`,
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
                            // No cmkArn: copies are encrypted with the target region's default EBS key
                            // (a customer key there would be a config key of its own; docs/backups.md).
                            encrypted: true,
                            copyTags: true,
                            retainRule: { interval: copyRetentionDays(s.copyRetain ?? s.retain, s.everyHours), intervalUnit: "DAYS" },
                        }],
                    }],
                },
                tags,
            }, { parent: this, dependsOn: kmsPolicy === undefined ? [rolePolicy] : [rolePolicy, kmsPolicy] });
            this.lifecyclePolicy = policy;

            // Nothing else notices when DLM stops: an alarm per failure metric, to a topic of the stack's.
            const topic = new aws.sns.Topic(`${name}-alerts`, {
                name: args.names.alertsTopic,
                displayName: `Housing Portal ${args.stack} backups`,
                tags,
            }, { parent: this });
            this.alertsTopic = topic;
            // The host's own failures (dumps, off-site copies, restore checks) go to the same topic:
            // host/alert.sh signs the Publish with this role's credentials from the metadata service.
            const hostRole = new aws.iam.Role(`${name}-host-role`, {
                name: args.names.hostRole,
                description: "Lets the Housing Portal host publish its backup alerts",
                assumeRolePolicy: JSON.stringify({
                    Version: "2012-10-17",
                    Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
                }),
                tags,
            }, { parent: this });
            new aws.iam.RolePolicy(`${name}-host-publish`, {
                role: hostRole.name,
                policy: topic.arn.apply((arn) => JSON.stringify({
                    Version: "2012-10-17",
                    Statement: [{ Effect: "Allow", Action: "sns:Publish", Resource: arn }],
                })),
            }, { parent: this });
            this.hostInstanceProfile = new aws.iam.InstanceProfile(`${name}-host-profile`, { name: args.names.hostRole, role: hostRole.name, tags }, { parent: this });
            const alarm = (suffix: string, alarmName: string, metricName: string, what: string) => new aws.cloudwatch.MetricAlarm(`${name}-${suffix}`, {
                name: alarmName,
                alarmDescription: `Housing Portal ${args.stack}: ${what} (DLM ${metricName}); see docs/backups.md`,
                namespace: DLM_METRICS.namespace,
                metricName,
                dimensions: { [DLM_METRICS.dimension]: policy.id },
                statistic: "Sum",
                period: DLM_ALARM_PERIOD_SECONDS,
                evaluationPeriods: 1,
                threshold: 1,
                comparisonOperator: "GreaterThanOrEqualToThreshold",
                // DLM publishes only when it runs: an hour without data is an hour without failures.
                treatMissingData: "notBreaching",
                alarmActions: [topic.arn],
                okActions: [topic.arn],
                tags,
            }, { parent: this });
            alarm("create-failed", args.names.snapshotAlarms.createFailed, DLM_METRICS.createFailed, "a snapshot of the data volume was not created");
            if (s.copyToRegion !== undefined) {
                alarm("copy-failed", args.names.snapshotAlarms.copyFailed, DLM_METRICS.copyFailed, `a snapshot was not copied to ${s.copyToRegion}`);
            }
        } else {
            // The timer itself comes with the host's settings; the token never goes into user data or a bundle.
            args.host.writeSecret(`${name}-api-token`, SNAPSHOT_TOKEN_FILE, args.apiToken, { parent: this });
        }
        this.registerOutputs({ lifecyclePolicyId: this.lifecyclePolicy?.id, alertsTopicArn: this.alertsTopic?.arn });
    }
}
