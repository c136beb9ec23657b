// The replacement table (tools/replacementRules.ts): it covers every resource type the plans
// hold, names only inputs the providers' SDKs have, cites a source for each entry, and decides
// replacements as the providers' schemas do; the mocks give a replaced resource new ids.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import {
    MACHINE_TYPES, REPLACEMENT_RULES, RESOURCE_TYPES, ReplacingInput, ResourceType, identityParts, isResourceType, replacingChanges, restartingChanges,
} from "../../tools/replacementRules";
import { planMocks, resourceIdentity, setConfigSecrets } from "../../tools/planMocks";
import type { PlanDocument } from "../../tools/planner";
import { PROJECT_DIR, batchedPlan, goldenPlan, planBatchRaw, readStackKeys, writeStackConfig } from "./planRun";

const production = readStackKeys("Pulumi.production.yaml");
const staging = readStackKeys("Pulumi.staging.yaml");
// The golden plans, and the variants that bring types of their own (an adopted EBS volume's tag,
// a customer key's role policy, the DNS records of each cloud).
const plans = (async () => {
    const [adopted, customerKey, doDns, route53] = await planBatchRaw([
        ["--config-file", writeStackConfig({ ...production, volume: { sizeGb: 200, adoptId: "vol-0123456789abcdef0" } }, "production")],
        ["--config-file", writeStackConfig({ ...production, volume: { sizeGb: 200, kmsKeyId: "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab" } }, "production")],
        ["--config-file", writeStackConfig({ ...staging, dns: { zone: "housing-portal.org" } }, "staging")],
        ["--config-file", writeStackConfig({ ...production, dns: { zone: "housing-portal.org" } }, "production")],
    ]);
    return [goldenPlan("dev"), goldenPlan("staging"), goldenPlan("production"), batchedPlan(adopted), batchedPlan(customerKey), batchedPlan(doDns), batchedPlan(route53)];
})();

/** The custom resource types of these plans that the table does not cover. */
function uncoveredTypes(all: readonly PlanDocument[]): string[] {
    return [...new Set(all.flatMap((p) => p.resources.filter((r) => r.custom).map((r) => r.type)))].filter((t) => !isResourceType(t)).sort();
}

test("every resource type the program registers has a rule; a type without one is found", async () => {
    const all = await plans;
    assert.deepEqual(uncoveredTypes(all), []);
    const withNewType: PlanDocument = { ...all[1], resources: [...all[1].resources, { ...all[1].resources[0], urn: "urn:x", type: "digitalocean:index/cdn:Cdn" }] };
    assert.deepEqual(uncoveredTypes([withNewType]), ["digitalocean:index/cdn:Cdn"]);
    // No stale entry either: every type in the table is one the plans use.
    const used = new Set(all.flatMap((p) => p.resources.map((r) => r.type)));
    assert.deepEqual(RESOURCE_TYPES.filter((t) => !used.has(t)), []);
});

/** The property names of the SDK's `<Class>Args` interface for a type token, read from node_modules/@pulumi. */
function sdkArgs(type: ResourceType): Set<string> {
    const [pkg, mod, cls] = type.split(":");
    // docker:index/container:Container → docker/container.d.ts; aws:ec2/instance:Instance → aws/ec2/instance.d.ts;
    // command:remote:Command → command/remote/command.d.ts; pulumi:providers:docker → docker/provider.d.ts.
    const module = pkg === "pulumi" ? "provider" : mod.includes("/") ? mod.replace(/^index\//, "") : `${mod}/${cls[0].toLowerCase()}${cls.slice(1)}`;
    const file = path.join(PROJECT_DIR, "node_modules", "@pulumi", pkg === "pulumi" ? cls : pkg, `${module}.d.ts`);
    const text = fs.readFileSync(file, "utf8");
    const name = pkg === "pulumi" ? "ProviderArgs" : `${cls}Args`;
    const body = text.slice(text.indexOf(`export interface ${name} {`));
    const block = body.slice(0, body.indexOf("\n}"));
    return new Set([...block.matchAll(/^ {4}([A-Za-z0-9]+)\??:/gm)].map((m) => m[1]));
}

test("every input a rule names is an input of the provider's SDK, and every rule cites its source", () => {
    for (const type of RESOURCE_TYPES) {
        const rule = REPLACEMENT_RULES[type];
        const args = sdkArgs(type);
        assert.ok(args.size > 0, `${type}: no Args interface found`);
        const named = rule.replacement.kind === "on-inputs"
            ? rule.replacement.inputs.filter((i): i is Extract<ReplacingInput, { path: string }> => "path" in i).map((i) => i.path.split(".")[0])
            : rule.replacement.inPlace;
        for (const input of [...named, ...(rule.restartsOnUpdate?.inputs ?? [])]) assert.ok(args.has(input), `${type}: the SDK has no input ${input}`);
        assert.match(rule.source, /\S{10,}/, `${type}: no source`);
    }
    for (const type of Object.keys(MACHINE_TYPES)) assert.ok(isResourceType(type));
});

test("replacing inputs decide a replacement; others update in place", () => {
    const droplet = { image: "ubuntu-24-04-x64", size: "s-2vcpu-4gb", region: "fra1", userData: "a" };
    assert.deepEqual(replacingChanges("digitalocean:index/droplet:Droplet", droplet, { ...droplet, size: "s-4vcpu-8gb" }), []);
    assert.deepEqual(restartingChanges("digitalocean:index/droplet:Droplet", ["size"])?.inputs, ["size"]);
    assert.deepEqual(replacingChanges("digitalocean:index/droplet:Droplet", droplet, { ...droplet, image: "x", userData: "b" }), ["image", "userData"]);
    // A nested path: the root disk's encryption replaces an EC2 instance, its size does not.
    const instance = { ami: "ami-1", rootBlockDevice: { encrypted: true, volumeSize: 20 }, userData: "a", userDataReplaceOnChange: true };
    assert.deepEqual(replacingChanges("aws:ec2/instance:Instance", instance, { ...instance, rootBlockDevice: { encrypted: true, volumeSize: 40 } }), []);
    assert.deepEqual(replacingChanges("aws:ec2/instance:Instance", instance, { ...instance, rootBlockDevice: { encrypted: false, volumeSize: 20 } }), ["rootBlockDevice.encrypted"]);
    // A conditional input: user data replaces the instance only with userDataReplaceOnChange.
    assert.deepEqual(replacingChanges("aws:ec2/instance:Instance", instance, { ...instance, userData: "b" }), ["userData"]);
    const updatable = { ...instance, userDataReplaceOnChange: false };
    assert.deepEqual(replacingChanges("aws:ec2/instance:Instance", updatable, { ...updatable, userData: "b" }), []);
    // A derived property: a rule that changes from an IPv4 to an IPv6 source is replaced, a new IPv4 CIDR is not.
    const rule = { securityGroupId: "sg-1", cidrIpv4: "192.0.2.0/24", fromPort: 22, toPort: 22 };
    assert.deepEqual(replacingChanges("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", rule, { ...rule, cidrIpv4: "198.51.100.0/24" }), []);
    const { cidrIpv4: _v4, ...noV4 } = rule;
    assert.deepEqual(replacingChanges("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", rule, { ...noV4, cidrIpv6: "::/0" }), ["source kind"]);
    // Almost everything of a container replaces it; its memory does not.
    const container = { name: "c", image: "i", memory: 128, cpus: "1.0", restart: "unless-stopped" };
    assert.deepEqual(replacingChanges("docker:index/container:Container", container, { ...container, memory: 256, restart: "always" }), []);
    assert.deepEqual(replacingChanges("docker:index/container:Container", container, { ...container, cpus: "2" }), ["cpus"]);
    // A command runs again in place for a new command line; a trigger replaces it.
    assert.deepEqual(replacingChanges("command:remote:Command", { create: "a", triggers: ["x"] }, { create: "b", triggers: ["x"] }), []);
    assert.deepEqual(replacingChanges("command:remote:Command", { create: "a", triggers: ["x"] }, { create: "a", triggers: ["y"] }), ["triggers"]);
    // The off-site bucket (issue 16's entries, checked against the providers' schemas): a Spaces
    // bucket is replaced only by a new region (its name has no ForceNew: a rename is an update);
    // every regional AWS resource by a new region (Terraform AWS 6); the public access flags,
    // the versioning status and the lifecycle rules update in place.
    const spaces = { name: "hp-backups", region: "ams3", acl: "private" };
    assert.deepEqual(replacingChanges("digitalocean:index/spacesBucket:SpacesBucket", spaces, { ...spaces, name: "hp-backups-2" }), []);
    assert.deepEqual(replacingChanges("digitalocean:index/spacesBucket:SpacesBucket", spaces, { ...spaces, region: "fra1" }), ["region"]);
    const bucket = { bucket: "hp-backups", tags: { a: "1" } };
    assert.deepEqual(replacingChanges("aws:s3/bucket:Bucket", bucket, { ...bucket, tags: { a: "2" } }), []);
    assert.deepEqual(replacingChanges("aws:s3/bucket:Bucket", bucket, { ...bucket, region: "eu-west-1", objectLockEnabled: true }), ["objectLockEnabled", "region"]);
    const block = { bucket: "b", blockPublicAcls: true, blockPublicPolicy: true };
    assert.deepEqual(replacingChanges("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", block, { ...block, blockPublicPolicy: false }), []);
    assert.deepEqual(replacingChanges("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", block, { ...block, region: "eu-west-1" }), ["region"]);
    const versioning = { bucket: "b", versioningConfiguration: { status: "Enabled" } };
    assert.deepEqual(replacingChanges("aws:s3/bucketVersioning:BucketVersioning", versioning, { ...versioning, versioningConfiguration: { status: "Suspended" } }), []);
    assert.deepEqual(replacingChanges("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", { bucket: "b", rules: [1] }, { bucket: "b", rules: [2], region: "x" }), ["region"]);
    const subscription = { topic: "arn:t", protocol: "email", endpoint: "ops@example.org" };
    assert.deepEqual(replacingChanges("aws:sns/topicSubscription:TopicSubscription", subscription, { ...subscription, endpoint: "sre@example.org", rawMessageDelivery: true }), ["endpoint"]);
    const profile = { name: "p", role: "r1" };
    assert.deepEqual(replacingChanges("aws:iam/instanceProfile:InstanceProfile", profile, { ...profile, role: "r2" }), []);
    assert.deepEqual(replacingChanges("aws:iam/instanceProfile:InstanceProfile", profile, { ...profile, path: "/hp/" }), ["path"]);
    // A DNS record follows a new address in place (a moved instance, another host); another name or zone is another record.
    const doRecord = { domain: "housing-portal.org", name: "peru", type: "A", value: "203.0.113.10", ttl: 300 };
    assert.deepEqual(replacingChanges("digitalocean:index/dnsRecord:DnsRecord", doRecord, { ...doRecord, value: "203.0.113.20", name: "lima" }), []);
    assert.deepEqual(replacingChanges("digitalocean:index/dnsRecord:DnsRecord", doRecord, { ...doRecord, type: "AAAA" }), ["type"]);
    const r53Record = { zoneId: "Z1", name: "peru.housing-portal.org", type: "A", records: ["198.51.100.10"], ttl: 300 };
    assert.deepEqual(replacingChanges("aws:route53/record:Record", r53Record, { ...r53Record, records: ["198.51.100.20"], type: "AAAA" }), []);
    assert.deepEqual(replacingChanges("aws:route53/record:Record", r53Record, { ...r53Record, name: "lima.housing-portal.org" }), ["name"]);
    // A type the table does not know is taken as replaced by any change.
    assert.deepEqual(replacingChanges("example:index/thing:Thing", { a: 1 }, { a: 2 }), ["a"]);
    assert.deepEqual(Object.keys(identityParts("digitalocean:index/firewall:Firewall", { inboundRules: [] })), []);
});

test("the mocks give a replaced resource a new id and new outputs, an updated one the same; no config secret enters an identity", () => {
    const register = (inputs: Record<string, unknown>) => planMocks.newResource({ type: "digitalocean:index/droplet:Droplet", name: "host-droplet", inputs, provider: "", custom: true, id: "" }) as { id: string; state: Record<string, unknown> };
    const base = { image: "ubuntu-24-04-x64", size: "s-2vcpu-4gb", region: "fra1", userData: "first boot" };
    const a = register(base);
    const resized = register({ ...base, size: "s-4vcpu-8gb" });
    const reimaged = register({ ...base, image: "ubuntu-24-10-x64" });
    assert.equal(resized.id, a.id);
    assert.equal(resized.state.ipv4Address, a.state.ipv4Address);
    assert.notEqual(reimaged.id, a.id);
    assert.match(reimaged.id, /^\d{9}$/, "a Droplet id's shape");
    // A secret value in a replacing input is masked before it is digested: two values, one identity.
    setConfigSecrets(["s3cr3t-one", "s3cr3t-two"]);
    try {
        const type = "docker:index/container:Container";
        assert.equal(resourceIdentity(type, "c", { envs: ["TOKEN=s3cr3t-one"] }), resourceIdentity(type, "c", { envs: ["TOKEN=s3cr3t-two"] }));
        assert.notEqual(resourceIdentity(type, "c", { envs: ["A=1"] }), resourceIdentity(type, "c", { envs: ["A=2"] }));
    } finally {
        setConfigSecrets([]);
    }
});
