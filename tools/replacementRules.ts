// Which input changes make a provider replace a resource rather than update it, for every
// resource type the program registers, each with where that comes from. One table, read by the
// offline plan's mocks (a replaced resource gets new ids and outputs, so its dependents change
// too), by the plan diff (tools/planDiff.ts) and by the e2e realiser (test/e2e/realise.ts), so
// the three agree on what a change replaces. Pure.
//
// The authority is the provider's own schema: the upstream Terraform resource's ForceNew /
// RequiresReplace for the bridged providers (DigitalOcean, AWS, Docker, Random), the
// `replaceOnChanges` annotation for pulumi-command. Input names are the Pulumi SDK's (camelCase),
// checked against the SDK's *Args interfaces by test/unit/replacement-rules.test.ts, which also
// fails when a plan holds a type this table does not cover.

/** Every custom resource type the program registers. Add a type here and the compiler asks for its rule. */
export const RESOURCE_TYPES = [
    "pulumi:providers:docker",
    "docker:index/container:Container",
    "docker:index/network:Network",
    "docker:index/volume:Volume",
    "docker:index/remoteImage:RemoteImage",
    "command:remote:Command",
    "command:local:Command",
    "random:index/randomPassword:RandomPassword",
    "digitalocean:index/droplet:Droplet",
    "digitalocean:index/volume:Volume",
    "digitalocean:index/volumeAttachment:VolumeAttachment",
    "digitalocean:index/reservedIp:ReservedIp",
    "digitalocean:index/reservedIpAssignment:ReservedIpAssignment",
    "digitalocean:index/firewall:Firewall",
    "digitalocean:index/tag:Tag",
    "aws:ec2/instance:Instance",
    "aws:ebs/volume:Volume",
    "aws:ec2/volumeAttachment:VolumeAttachment",
    "aws:ec2/keyPair:KeyPair",
    "aws:ec2/eip:Eip",
    "aws:ec2/eipAssociation:EipAssociation",
    "aws:ec2/securityGroup:SecurityGroup",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    "aws:ec2/tag:Tag",
    "aws:iam/role:Role",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:dlm/lifecyclePolicy:LifecyclePolicy",
    "aws:sns/topic:Topic",
    "aws:cloudwatch/metricAlarm:MetricAlarm",
    "aws:iam/instanceProfile:InstanceProfile",
    "aws:sns/topicSubscription:TopicSubscription",
    "aws:s3/bucket:Bucket",
    "aws:s3/bucketVersioning:BucketVersioning",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "digitalocean:index/spacesBucket:SpacesBucket",
    "pulumi:providers:aws",
    "tls:index/privateKey:PrivateKey",
    "pulumi:providers:digitalocean",
    "digitalocean:index/dnsRecord:DnsRecord",
    "aws:route53/record:Record",
] as const;
export type ResourceType = (typeof RESOURCE_TYPES)[number];

export function isResourceType(type: string): type is ResourceType {
    return (RESOURCE_TYPES as readonly string[]).includes(type);
}

type Inputs = Readonly<Record<string, unknown>>;

/** One input whose change forces a replacement. */
export type ReplacingInput =
    /** A (possibly nested, dot-separated; arrays are walked) input path, e.g. "rootBlockDevice.encrypted". */
    | { readonly path: string; /** Only while this holds for the new inputs (a provider's CustomizeDiff). */ readonly when?: (inputs: Inputs) => boolean }
    /** A property the provider derives from several inputs, e.g. which kind of source a rule has. */
    | { readonly derived: string; readonly value: (inputs: Inputs) => unknown };

export type Replacement =
    /** These inputs replace; every other input updates in place. */
    | { readonly kind: "on-inputs"; readonly inputs: readonly ReplacingInput[] }
    /** Every input replaces except these (resources whose schema is ForceNew almost throughout). */
    | { readonly kind: "on-any-input-except"; readonly inPlace: readonly string[] };

export interface ReplacementRule {
    readonly replacement: Replacement;
    /** Where the rule comes from: the upstream file (repository, path, commit read) or the SDK file. */
    readonly source: string;
    /** What could not be checked, or where the read source may differ from the pinned provider. */
    readonly caveat?: string;
    /** In-place updates that still restart the resource, with why (the provider's update function). */
    readonly restartsOnUpdate?: { readonly inputs: readonly string[]; readonly why: string };
}

const on = (...paths: (string | ReplacingInput)[]): Replacement => ({
    kind: "on-inputs", inputs: paths.map((p) => (typeof p === "string" ? { path: p } : p)),
});

const TF_DO = "digitalocean/terraform-provider-digitalocean";
const TF_AWS = "hashicorp/terraform-provider-aws";
const TF_DOCKER = "kreuzwerker/terraform-provider-docker";

export const REPLACEMENT_RULES: Readonly<Record<ResourceType, ReplacementRule>> = {
    "pulumi:providers:docker": {
        replacement: on(),
        source: "pulumi/pulumi-terraform-bridge pull request #1683 (DiffConfig replaces a provider only for properties marked ForcesProviderReplace); pulumi/pulumi-docker provider/resources.go marks none (read at 038b9e9)",
        caveat: "resources.go was read at an older commit than @pulumi/docker 5.2.0 was built from",
    },
    "docker:index/container:Container": {
        replacement: {
            kind: "on-any-input-except",
            inPlace: ["attach", "containerReadRefreshTimeoutMilliseconds", "cpuPeriod", "cpuQuota", "cpuSet", "cpuShares", "destroyGraceSeconds",
                "healthcheck", "init", "logs", "maxRetryCount", "memory", "memorySwap", "mustRun", "removeVolumes", "restart", "rm", "start",
                "tmpfs", "wait", "waitTimeout"],
        },
        source: `${TF_DOCKER} internal/provider/resource_docker_container.go (schema: every other argument ForceNew; read at 042f771)`,
        caveat: "arguments the read schema lacks but @pulumi/docker 5.2.0 has (cgroupParent, device*, memoryReservation, platform) are taken as replacing",
    },
    "docker:index/network:Network": {
        replacement: { kind: "on-any-input-except", inPlace: [] },
        source: `${TF_DOCKER} internal/provider/resource_docker_network.go (no update function; every argument ForceNew; read at 05198ac)`,
    },
    "docker:index/volume:Volume": {
        replacement: { kind: "on-any-input-except", inPlace: [] },
        source: `${TF_DOCKER} internal/provider/resource_docker_volume.go (no update function; every argument ForceNew; read at 013b65e)`,
        caveat: "the read schema has no `cluster` argument (@pulumi/docker 5.2.0 has one): taken as replacing",
    },
    "docker:index/remoteImage:RemoteImage": {
        replacement: on("name", "pullTriggers", "triggers", "build", "platform"),
        source: `${TF_DOCKER} internal/provider/resource_docker_image.go (name, pull_triggers, triggers, build ForceNew; read at 051297a)`,
        caveat: "`platform` is not in the read schema; taken as replacing",
    },
    "command:remote:Command": {
        replacement: on("triggers"),
        source: "pulumi/pulumi-command provider/pkg/provider/common/inputs.go (Triggers `provider:\"replaceOnChanges\"`); node_modules/@pulumi/command/remote/command.js sets replaceOnChanges [\"triggers[*]\"]. Any other change is an update, which runs `create` again (commandController.go Update)",
    },
    "command:local:Command": {
        replacement: on("triggers"),
        source: "pulumi/pulumi-command provider/pkg/provider/common/inputs.go; node_modules/@pulumi/command/local/command.js sets replaceOnChanges [\"triggers[*]\"]",
    },
    "random:index/randomPassword:RandomPassword": {
        replacement: { kind: "on-any-input-except", inPlace: [] },
        source: "hashicorp/terraform-provider-random internal/provider/resource_password.go (passwordSchemaV3: RequiresReplace on every argument; read at 0117aa6)",
    },
    "digitalocean:index/droplet:Droplet": {
        replacement: on("image", "region", "sshKeys", "userData", "monitoring", "dropletAgent", "vpcUuid"),
        source: `${TF_DO} digitalocean/droplet/resource_droplet.go (ForceNew: image, region, ssh_keys, user_data, monitoring, droplet_agent, vpc_uuid; a new size powers off in resourceDigitalOceanDropletUpdate; read at 06e95bc)`,
        caveat: "ipv6 turned from true to false also replaces (CustomizeDiff); the program never sets ipv6",
        restartsOnUpdate: { inputs: ["size"], why: "DigitalOcean powers the Droplet off, resizes it and powers it on" },
    },
    "digitalocean:index/volume:Volume": {
        replacement: on("region", "name", "description", "snapshotId", "initialFilesystemType", "initialFilesystemLabel"),
        source: `${TF_DO} digitalocean/volume/resource_volume.go (ForceNew: region, name, description, snapshot_id, initial_filesystem_type, initial_filesystem_label; size only grows; read at 0882a65)`,
    },
    "digitalocean:index/volumeAttachment:VolumeAttachment": {
        replacement: on("dropletId", "volumeId"),
        source: `${TF_DO} digitalocean/volume/resource_volume_attachment.go (no update function; droplet_id, volume_id ForceNew; read at 048bf84)`,
    },
    "digitalocean:index/reservedIp:ReservedIp": {
        replacement: on("region"),
        source: `${TF_DO} digitalocean/reservedip/resource_reserved_ip.go (region ForceNew; read at 301cad9)`,
    },
    "digitalocean:index/reservedIpAssignment:ReservedIpAssignment": {
        replacement: on("ipAddress", "dropletId"),
        source: `${TF_DO} digitalocean/reservedip/resource_reserved_ip_assignment.go (no update function; ip_address, droplet_id ForceNew; read at 147e649)`,
    },
    "digitalocean:index/firewall:Firewall": {
        replacement: on(),
        source: `${TF_DO} digitalocean/firewall/firewalls.go (no ForceNew argument; updated in place by resourceDigitalOceanFirewallUpdate; read at 95da01c)`,
    },
    "digitalocean:index/tag:Tag": {
        replacement: on("name"),
        source: `${TF_DO} digitalocean/tag/resource_tag.go (name ForceNew; read at 95da01c)`,
    },
    "aws:ec2/instance:Instance": {
        replacement: on(
            "ami", "associatePublicIpAddress", "availabilityZone", "cpuOptions", "ebsBlockDevices",
            "ebsOptimized", "enclaveOptions", "ephemeralBlockDevices", "hibernation", "hostId", "ipv6AddressCount", "ipv6Addresses", "keyName",
            "launchTemplate", "networkInterfaces", "placementGroup", "placementPartitionNumber", "privateDnsNameOptions", "privateIp",
            "securityGroups", "subnetId", "tenancy", "rootBlockDevice.encrypted", "rootBlockDevice.kmsKeyId",
            { path: "userData", when: (i) => i.userDataReplaceOnChange === true },
            { path: "userDataBase64", when: (i) => i.userDataReplaceOnChange === true },
        ),
        source: `${TF_AWS} internal/service/ec2/ec2_instance.go (ForceNew arguments, root_block_device encrypted and kms_key_id, ForceNewIf user_data with user_data_replace_on_change; read at 0015dfc)`,
        restartsOnUpdate: { inputs: ["instanceType"], why: "the provider stops the instance, changes its type and starts it (EC2 changes the type of a stopped instance only)" },
        caveat: "the update function that stops the instance for a new type was not read here (the schema was); the read schema's deprecated cpu_core_count and cpu_threads_per_core are gone from @pulumi/aws 7.48.0",
    },
    "aws:ebs/volume:Volume": {
        replacement: on("availabilityZone", "encrypted", "kmsKeyId", "multiAttachEnabled", "outpostArn", "snapshotId"),
        source: `${TF_AWS} internal/service/ec2/ebs_volume.go (ForceNew: availability_zone, encrypted, kms_key_id, multi_attach_enabled, outpost_arn, snapshot_id; read at 0073593)`,
    },
    "aws:ec2/volumeAttachment:VolumeAttachment": {
        replacement: on("deviceName", "instanceId", "volumeId"),
        source: `${TF_AWS} internal/service/ec2/ebs_volume_attachment.go (device_name, instance_id, volume_id ForceNew; read at 0620f2a)`,
    },
    "aws:ec2/keyPair:KeyPair": {
        replacement: on("keyName", "keyNamePrefix", "publicKey"),
        source: `${TF_AWS} internal/service/ec2/ec2_key_pair.go (key_name, key_name_prefix, public_key ForceNew; read at 05bc954)`,
    },
    "aws:ec2/eip:Eip": {
        replacement: on("address", "domain", "ipamPoolId", "networkBorderGroup", "publicIpv4Pool"),
        source: `${TF_AWS} internal/service/ec2/ec2_eip.go (ForceNew: address, domain, ipam_pool_id, network_border_group, public_ipv4_pool; read at 0160692)`,
    },
    "aws:ec2/eipAssociation:EipAssociation": {
        replacement: on("allocationId", "allowReassociation", "instanceId", "networkInterfaceId", "privateIpAddress", "publicIp"),
        source: `${TF_AWS} internal/service/ec2/ec2_eip_association.go (no update function; every argument ForceNew; read at 01c0800)`,
    },
    "aws:ec2/securityGroup:SecurityGroup": {
        replacement: on("description", "name", "namePrefix", "vpcId"),
        source: `${TF_AWS} internal/service/ec2/vpc_security_group.go (ForceNew: description, name, name_prefix, vpc_id; read at 0160692)`,
    },
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": {
        replacement: on("securityGroupId", {
            derived: "source kind",
            value: (i) => ["cidrIpv4", "cidrIpv6", "prefixListId", "referencedSecurityGroupId"].find((k) => i[k] !== undefined) ?? null,
        }),
        source: `${TF_AWS} internal/service/ec2/vpc_security_group_ingress_rule.go (security_group_id RequiresReplace; ModifyPlan replaces when the source kind changes; read at 00a3220)`,
    },
    "aws:ec2/tag:Tag": {
        replacement: on("resourceId", "key", "value"),
        source: `${TF_AWS} aws/resource_aws_ec2_tag.go (no update function; resource_id, key, value ForceNew; read at 0132678)`,
        caveat: "read in the provider's old layout; later versions may update `value` in place",
    },
    "aws:iam/role:Role": {
        replacement: on("name", "namePrefix", "path"),
        source: `${TF_AWS} internal/service/iam/role.go (ForceNew: name, name_prefix, path; read at 0040ea6)`,
    },
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": {
        replacement: on("role", "policyArn"),
        source: `${TF_AWS} internal/service/iam/role_policy_attachment.go (no update function; role, policy_arn ForceNew; read at 04c7984)`,
    },
    "aws:iam/rolePolicy:RolePolicy": {
        replacement: on("name", "namePrefix", "role"),
        source: `${TF_AWS} internal/service/iam/role_policy.go (ForceNew: name, name_prefix, role; read at 02f97af)`,
    },
    "aws:dlm/lifecyclePolicy:LifecyclePolicy": {
        replacement: on("policyDetails.schedules.copyTags"),
        source: `${TF_AWS} internal/service/dlm/lifecycle_policy.go (schedule copy_tags ForceNew, the rest updated by UpdateLifecyclePolicy; read at 0148137)`,
        caveat: "read at an older commit; later schemas may mark more of policy_details",
    },
    "aws:sns/topic:Topic": {
        replacement: on("name", "namePrefix", "fifoTopic"),
        source: `${TF_AWS} internal/service/sns/topic.go (ForceNew: name, name_prefix, fifo_topic; read at 00a3530)`,
    },
    "aws:iam/instanceProfile:InstanceProfile": {
        replacement: on("name", "namePrefix", "path"),
        source: `${TF_AWS} internal/service/iam/instance_profile.go (ForceNew: name, name_prefix, path; role is removed and added by resourceInstanceProfileUpdate; IAM is global, so no region argument; read at 013f173)`,
    },
    // Terraform AWS 6 (which @pulumi/aws 7 bridges) adds a `region` argument to every regional
    // resource, and "changing the value of region will force resource replacement"
    // (website/docs/guides/enhanced-region-support.html.markdown, read at 0cb788c).
    "aws:sns/topicSubscription:TopicSubscription": {
        replacement: on("topic", "protocol", "endpoint", "region"),
        source: `${TF_AWS} internal/service/sns/topic_subscription.go (ForceNew: topic_arn, the SDK's \`topic\`, protocol, endpoint; the other attributes are set by SetSubscriptionAttributes in place; read at 7adaa6e); region from the enhanced-region guide (0cb788c)`,
        caveat: "the schema was read at a commit older than the one @pulumi/aws 7.48.0 bridges (before the move to aws-sdk-go-v2)",
    },
    "aws:s3/bucket:Bucket": {
        replacement: on("bucket", "bucketPrefix", "objectLockEnabled", "bucketNamespace", "region"),
        source: `${TF_AWS} internal/service/s3/bucket.go (ForceNew: bucket, bucket_prefix; read at 4c72bcc); region from the enhanced-region guide (0cb788c)`,
        caveat: "object_lock_enabled and bucket_namespace are not in the schema read (a 4.x commit); both fix what a bucket is at creation (S3 cannot turn Object Lock off or move a bucket to another namespace), so they are taken as replacing",
    },
    "aws:s3/bucketVersioning:BucketVersioning": {
        replacement: on("bucket", "expectedBucketOwner", "region"),
        source: `${TF_AWS} internal/service/s3/bucket_versioning.go (ForceNew: bucket, expected_bucket_owner; versioning_configuration and mfa are updated in place, and a change from Enabled back to Disabled is refused by CustomizeDiff; read at 0df2987); region from the enhanced-region guide (0cb788c)`,
        caveat: "the schema was read at a commit older than the one @pulumi/aws 7.48.0 bridges",
    },
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": {
        replacement: on("bucket", "expectedBucketOwner", "region"),
        source: `${TF_AWS} internal/service/s3/bucket_lifecycle_configuration.go (ForceNew: bucket, expected_bucket_owner; rule is updated in place; read at edd8342); region from the enhanced-region guide (0cb788c)`,
        caveat: "read as an SDKv2 resource at an older commit; later versions are Plugin Framework resources with RequiresReplace on the same two attributes (not re-read here)",
    },
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": {
        replacement: on("bucket", "region"),
        source: `${TF_AWS} internal/service/s3/bucket_public_access_block.go (ForceNew: bucket; the four block/ignore/restrict flags are updated in place by PutPublicAccessBlock; read at 30b8cc6); region from the enhanced-region guide (0cb788c)`,
        caveat: "the schema was read at a commit older than the one @pulumi/aws 7.48.0 bridges (skip_destroy is not in it; it only changes what a delete does)",
    },
    "digitalocean:index/spacesBucket:SpacesBucket": {
        replacement: on("region"),
        source: `${TF_DO} digitalocean/spaces/resource_spaces_bucket.go (ForceNew: region only; name is Required without ForceNew and resourceDigitalOceanBucketUpdate ignores it; read at 10cf444)`,
        caveat: "a new name is planned as an in-place update that the provider does not carry out (the id stays the old bucket's name): rename a bucket by creating another one (docs/backups.md)",
    },
    "pulumi:providers:digitalocean": {
        replacement: on(),
        source: "pulumi/pulumi-terraform-bridge configDiffer.forcesProviderReplace (DiffConfig replaces an explicit provider only for config properties marked ForcesProviderReplace); a new Spaces key or token is an update of the provider, and its bucket stays",
        caveat: "pulumi/pulumi-digitalocean provider/resources.go was not read for ForcesProviderReplace marks",
    },
    "tls:index/privateKey:PrivateKey": {
        replacement: { kind: "on-any-input-except", inPlace: [] },
        source: "hashicorp/terraform-provider-tls internal/provider/resource_private_key.go (algorithm, rsa_bits, ecdsa_curve: RequiresReplace; no update)",
        caveat: "not read at a commit for this table; @pulumi/tls 5.6.1 has exactly these three inputs (node_modules/@pulumi/tls/privateKey.d.ts)",
    },
    "pulumi:providers:aws": {
        replacement: on("region"),
        source: "pulumi/pulumi-terraform-bridge configDiffer.forcesProviderReplace (DiffConfig replaces an explicit provider for config properties marked ForcesProviderReplace; its tests use aws's region as the example); a provider in another region reaches other resources, so its resources are replaced with it (the bucket is protected)",
        caveat: "pulumi/pulumi-aws provider/resources.go was not read for the region's ForcesProviderReplace mark",
    },
    // A record keeps its id while its address changes: a moved instance's record is updated, never
    // deleted and created again (which would leave its name unanswered in between).
    "digitalocean:index/dnsRecord:DnsRecord": {
        replacement: on("domain", "type"),
        source: `${TF_DO} digitalocean/domain/resource_record.go (ForceNew: type, domain; name, value, ttl are updated in place by EditRecord in resourceDigitalOceanRecordUpdate; read at 95da01c)`,
    },
    "aws:route53/record:Record": {
        replacement: on("name", "zoneId"),
        source: `${TF_AWS} internal/service/route53/record.go (ForceNew: name, zone_id; records and ttl are an UPSERT, a new type or set_identifier a DELETE and CREATE in one change batch, in resourceRecordUpdate; read at 6f9f473)`,
        caveat: "read at a commit older than the one @pulumi/aws 7.48.0 bridges (aws-sdk-go v1); Route 53 is global, so there is no region argument",
    },
    "aws:cloudwatch/metricAlarm:MetricAlarm": {
        replacement: on("name"),
        source: `${TF_AWS} internal/service/cloudwatch/metric_alarm.go (alarm_name, the SDK's \`name\`, ForceNew)`,
    },
};

/** Resource types whose replacement is a new machine: its engine starts empty. */
export const MACHINE_TYPES = {
    "digitalocean:index/droplet:Droplet": "digitalocean",
    "aws:ec2/instance:Instance": "aws",
} as const satisfies Partial<Record<ResourceType, "digitalocean" | "aws">>;
export type MachineType = keyof typeof MACHINE_TYPES;

export function isMachineType(type: string): type is MachineType {
    return Object.prototype.hasOwnProperty.call(MACHINE_TYPES, type);
}

/** The values at a dot-separated path; arrays are walked, so "a.b" of {a: [{b: 1}, {b: 2}]} is [1, 2]. */
function valueAt(inputs: unknown, path: string): unknown {
    let v: unknown = inputs;
    for (const key of path.split(".")) {
        if (Array.isArray(v)) v = v.map((x) => (x !== null && typeof x === "object" ? (x as Record<string, unknown>)[key] : undefined));
        else v = v !== null && typeof v === "object" ? (v as Record<string, unknown>)[key] : undefined;
    }
    return v;
}

/** A JSON text with sorted keys: equal values give equal text. */
export function stableJson(v: unknown): string {
    if (v === undefined) return "null";
    if (v === null || typeof v !== "object") return JSON.stringify(v);
    if (Array.isArray(v)) return `[${v.map(stableJson).join(",")}]`;
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`).join(",")}}`;
}

/** The rule of a type; a type without one is taken as replaced by any change (and the unit tests refuse it). */
function ruleOf(type: string): Replacement {
    return isResourceType(type) ? REPLACEMENT_RULES[type].replacement : { kind: "on-any-input-except", inPlace: [] };
}

/**
 * The parts of a resource's inputs that its identity rests on, by name: the replacing inputs'
 * values. Two sets of inputs with the same parts are the same resource to the provider.
 */
export function identityParts(type: string, inputs: Inputs): Record<string, string> {
    const rule = ruleOf(type);
    const parts: Record<string, string> = {};
    if (rule.kind === "on-any-input-except") {
        for (const k of Object.keys(inputs).sort()) if (!rule.inPlace.includes(k)) parts[k] = stableJson(inputs[k]);
        return parts;
    }
    for (const input of rule.inputs) {
        if ("derived" in input) parts[input.derived] = stableJson(input.value(inputs));
        // A conditional input counts only while its condition holds (a simplification: a flip of
        // the condition alone counts as a change, which the program never makes).
        else parts[input.path] = input.when && !input.when(inputs) ? "(no effect)" : stableJson(valueAt(inputs, input.path));
    }
    return parts;
}

/** The replacing inputs that differ between two versions of a resource's inputs: empty when it is updated in place. */
export function replacingChanges(type: string, before: Inputs, after: Inputs): string[] {
    const a = identityParts(type, before);
    const b = identityParts(type, after);
    return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => a[k] !== b[k]).sort();
}

/** Changed inputs whose in-place update restarts the resource, with why; undefined when none do. */
export function restartingChanges(type: string, changedInputs: readonly string[]): { inputs: string[]; why: string } | undefined {
    const restarts = isResourceType(type) ? REPLACEMENT_RULES[type].restartsOnUpdate : undefined;
    const inputs = restarts ? changedInputs.filter((f) => restarts.inputs.includes(f)) : [];
    return restarts && inputs.length ? { inputs, why: restarts.why } : undefined;
}
