// Off-site copies, alerts and the weekly restore check in the plans of both cloud stacks: the
// units with the configured settings, the secrets only over SSH (never in user data, a command
// line or the settings bundle), the bucket, the email subscriptions; and their validation.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { PlanDocument } from "../../tools/planner";
import { validateConfig } from "../../components/config";
import { weeklyCalendar } from "../../components/backupSchedule";
import { offsiteCredentials, s3Region, spacesRegion } from "../../components/backupTargets";
import { batchedPlan, byName, goldenPlan, ofType, planBatchRaw, readStackKeys, runPlanCli, writeStackConfig } from "./planRun";

const stagingKeys = readStackKeys("Pulumi.staging.yaml");
const productionKeys = readStackKeys("Pulumi.production.yaml");
const SECRETS = {
    offsiteAccessKeyId: "DO00EXAMPLEACCESSKEY",
    offsiteSecretAccessKey: "do-not-print-this-secret-access-key",
    offsitePassword: "do-not-print-this-restic-password",
};
/** The stack's Spaces key (staging creates its Spaces bucket): only the bucket's provider gets it. */
const SPACES = { spacesAccessKeyId: "DO00EXAMPLESPACESKEYID", spacesSecretAccessKey: "do-not-print-this-spaces-secret" };
const WEBHOOK = "https://hooks.slack.com/services/T000/B000/do-not-print-this-webhook";
const setsOf = (secrets: Record<string, string>) => [...Object.entries(secrets).map(([k, v]) => `${k}=${v}`), `alerts=${JSON.stringify({ webhookUrl: WEBHOOK })}`].flatMap((s) => ["--set", s]);
const sets = setsOf(SECRETS);

const plans = (async () => {
    const [stagingSet, productionSet] = await planBatchRaw([
        ["--config-file", writeStackConfig(stagingKeys, "staging"), ...setsOf({ ...SECRETS, ...SPACES })],
        ["--config-file", writeStackConfig(productionKeys, "production"), ...sets],
    ]);
    return { staging: goldenPlan("staging"), production: goldenPlan("production"), stagingSet, productionSet };
})();

function settingsBundle(plan: PlanDocument): Map<string, string> {
    const bundle = JSON.parse(byName(plan, "host-settings").inputs.stdin as string);
    return new Map(bundle.files.map((f: { path: string; content: string }) => [f.path, Buffer.from(f.content, "base64").toString("utf8")]));
}

test("staging (DigitalOcean): the off-site copy to Spaces with the configured retention, a restore check every week, alerts from every backup unit", async () => {
    const { staging } = await plans;
    const files = settingsBundle(staging);
    const bundle = JSON.parse(byName(staging, "host-settings").inputs.stdin as string);
    assert.deepEqual(bundle.enable.sort(), [
        "housing-portal-backup-status.timer", "housing-portal-block-container-metadata.service", "housing-portal-dump.timer", "housing-portal-offsite.timer",
        "housing-portal-restore-check.timer", "housing-portal-snapshot.timer",
    ]);
    assert.equal(files.get("/etc/housing-portal/offsite.env"), [
        "REPOSITORY=s3:https://ams3.digitaloceanspaces.com/housing-portal-staging-backups/housing-portal-staging",
        "HOST_TAG=housing-portal-staging", "BACKUP_ROOT=/mnt/data/backups", "EXTRA_PATHS=/mnt/data/edge",
        "KEEP_DAILY=7", "KEEP_WEEKLY=4", "KEEP_MONTHLY=3",
        "CREDENTIALS_FILE=/etc/housing-portal/offsite-credentials", "PASSWORD_FILE=/etc/housing-portal/offsite-password", "",
    ].join("\n"));
    // After the 02:30 snapshot (the dump at 02:15); the restore check on Sundays after that copy.
    assert.match(files.get("/etc/systemd/system/housing-portal-offsite.timer")!, /^OnCalendar=\*-\*-\* 03:00:00 UTC$/m);
    assert.match(files.get("/etc/systemd/system/housing-portal-restore-check.timer")!, /^OnCalendar=Sun \*-\*-\* 04:00:00 UTC$/m);
    assert.match(files.get("/etc/housing-portal/restore-check.env")!, /^NETWORK=housing-portal_restore-check$/m);
    assert.match(files.get("/etc/housing-portal/backup-status.env")!, /^CHECKS=snapshot dump offsite restore-check$/m);
    // The dumps stay compressed: uncompressed ones deduplicate no better (bench:offsite) and take twice the space.
    assert.doesNotMatch(files.get("/etc/housing-portal/dump.env")!, /COMPRESS/);
    assert.equal(files.get("/etc/housing-portal/alerts.env"), "STACK=staging\nHOST_NAME=main\nWEBHOOK_URL_FILE=/etc/housing-portal/alert-webhook-url\n");
    for (const script of ["offsite-backup", "alert", "restore-check"]) assert.ok(files.has(`/usr/local/sbin/housing-portal-${script}`), script);

    // The secrets: each through write-secret.sh on standard input, masked.
    for (const [name, target] of [["backups-offsite-credentials", "offsite-credentials"], ["backups-offsite-password", "offsite-password"], ["backups-alert-webhook", "alert-webhook-url"]]) {
        const c = byName(staging, name);
        // DigitalOcean's deploy user is not root: every host command runs with sudo.
        assert.equal(c.inputs.create, `sudo env TARGET=/etc/housing-portal/${target} /usr/local/sbin/housing-portal-write-secret`, name);
        assert.equal(c.inputs.stdin, "[secret]", name);
        assert.ok(c.dependsOn.includes(byName(staging, "host-settings").urn), `${name} after write-secret.sh is installed`);
    }
    assert.equal(byName(staging, "backups-packages").inputs.create, "sudo env PACKAGES=restic bash -s");
    const bucket = byName(staging, "backups-bucket");
    assert.equal(bucket.type, "digitalocean:index/spacesBucket:SpacesBucket");
    assert.deepEqual(bucket.inputs, { name: "housing-portal-staging-backups", region: "ams3", acl: "private" });
    assert.equal(bucket.protect, true, "the only copy outside the region is protected");
});

test("production (AWS): an S3 bucket in the endpoint's region with versioning and public access blocked, email subscriptions, host alerts to the SNS topic", async () => {
    const { production } = await plans;
    const files = settingsBundle(production);
    assert.match(files.get("/etc/housing-portal/offsite.env")!, /^REPOSITORY=s3:https:\/\/s3\.eu-west-1\.amazonaws\.com\/housing-portal-production-backups\/housing-portal-production$/m);
    assert.match(files.get("/etc/housing-portal/offsite.env")!, /^KEEP_DAILY=14\nKEEP_WEEKLY=8\nKEEP_MONTHLY=12$/m);
    // Every 12 hours from 03:00: copies at 03:30 and 15:30.
    assert.match(files.get("/etc/systemd/system/housing-portal-offsite.timer")!, /^OnCalendar=\*-\*-\* 03,15:30:00 UTC$/m);
    const topic = byName(production, "snapshots-alerts");
    assert.match(files.get("/etc/housing-portal/alerts.env")!, new RegExp(`^SNS_TOPIC_ARN=arn:aws:sns:eu-central-1:123456789012:${topic.inputs.name}$`, "m"));
    const subs = ofType(production, "aws:sns/topicSubscription:TopicSubscription");
    assert.deepEqual(subs.map((s) => [s.inputs.protocol, s.inputs.endpoint]), [["email", "ops@housing-portal.org"]]);
    const bucket = byName(production, "backups-bucket");
    assert.equal(bucket.type, "aws:s3/bucket:Bucket");
    assert.equal(bucket.protect, true);
    const region = byName(production, "backups-bucket-region");
    assert.equal(region.inputs.region, "eu-west-1");
    for (const part of ["backups-bucket", "backups-bucket-versioning", "backups-bucket-public-access", "backups-bucket-lifecycle"]) {
        assert.equal(byName(production, part).provider?.split("::")[3], "backups-bucket-region", `${part} in the copy's region`);
    }
    assert.deepEqual(byName(production, "backups-bucket-versioning").inputs.versioningConfiguration, { status: "Enabled" });
    const block = byName(production, "backups-bucket-public-access").inputs;
    for (const k of ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"]) assert.equal(block[k], true, k);
    assert.match(files.get("/etc/housing-portal/backup-status.env")!, /^CHECKS=dump offsite restore-check$/m);
    // The host publishes its alerts with its own role, which may do that and nothing else.
    const profile = byName(production, "snapshots-host-profile");
    assert.equal(profile.inputs.name, "housing-portal-production-host");
    assert.equal(byName(production, "host-instance").inputs.iamInstanceProfile, "housing-portal-production-host");
    const publish = JSON.parse(byName(production, "snapshots-host-publish").inputs.policy as string);
    assert.deepEqual(publish.Statement, [{ Effect: "Allow", Action: "sns:Publish", Resource: `arn:aws:sns:eu-central-1:123456789012:${topic.inputs.name}` }]);
    assert.equal(byName(production, "snapshots-host-role").inputs.assumeRolePolicy, JSON.stringify({
        Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
    }));
});

test("no secret of the off-site copy or the webhook appears anywhere in a plan, user data included", async () => {
    const { stagingSet, productionSet } = await plans;
    for (const run of [stagingSet, productionSet]) {
        assert.ok(run.ok, run.ok ? "" : run.problems.join("\n"));
        for (const secret of [...Object.values(SECRETS), ...Object.values(SPACES), WEBHOOK, "do-not-print"]) assert.ok(!run.json.includes(secret), `${secret} is in the plan`);
        const plan = batchedPlan(run);
        const machine = plan.resources.find((r) => r.name === "host-droplet" || r.name === "host-instance")!;
        assert.doesNotMatch(String(machine.inputs.userData), /offsite|restic|webhook|alert/i, "nothing of it in the user data");
        assert.equal(byName(plan, "backups-offsite-credentials").inputs.stdin, "[secret]");
        assert.equal(byName(plan, "backups-alert-webhook").inputs.stdin, "[secret]");
    }
    assert.equal(offsiteCredentials("id", "key"), "AWS_ACCESS_KEY_ID=id\nAWS_SECRET_ACCESS_KEY=key\n");
});

test("staging creates its Spaces bucket through an explicit DigitalOcean provider holding the stack's Spaces key, which never reaches the host", async () => {
    const { staging, stagingSet: run } = await plans;
    assert.ok(run.ok, run.ok ? "" : run.problems.join("\n"));
    const stagingSet = batchedPlan(run);
    for (const plan of [staging, stagingSet]) {
        const [provider] = ofType(plan, "pulumi:providers:digitalocean");
        assert.ok(provider, "an explicit provider for the bucket");
        assert.equal(provider.inputs.spacesAccessId, "[secret]");
        assert.equal(provider.inputs.spacesSecretKey, "[secret]");
        const [bucket] = ofType(plan, "digitalocean:index/spacesBucket:SpacesBucket");
        assert.equal(bucket.provider?.split("::")[3], provider.name, "the bucket is created with that provider");
        assert.equal(bucket.protect, true);
        // Nothing else uses it: the Droplet and the volume keep the default provider.
        const others = plan.resources.filter((r) => r.custom && r.provider === bucket.provider && r.urn !== bucket.urn);
        assert.deepEqual(others, []);
    }
    assert.ok(!JSON.stringify([...settingsBundle(stagingSet).values()]).includes(SPACES.spacesAccessKeyId), "nor on the host");
    // production (aws) has no Spaces key and no DigitalOcean provider.
    assert.deepEqual(ofType((await plans).production, "pulumi:providers:digitalocean"), []);
});

test("a plain-text webhook URL in the stack file is refused with the command that sets it, without repeating it", async () => {
    const file = writeStackConfig({ ...stagingKeys, alerts: { webhookUrl: WEBHOOK } }, "staging");
    const r = await runPlanCli(["--config-file", file]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim(), "alerts.webhookUrl: is plain text in Pulumi.staging.yaml; a secret is kept encrypted: `pulumi config set --secret --path 'housing-portal:alerts.webhookUrl' <value>` (and replace this one if the file was ever committed or shared)");
    assert.ok(!r.stderr.includes(WEBHOOK));
});

test("validation of offsite and alerts: one line per problem, naming the key", () => {
    const base = { ...stagingKeys, ...SECRETS, ...SPACES, snapshotApiToken: "t" };
    const problems = (extra: Record<string, unknown>, stack: Record<string, unknown> = base) => {
        const r = validateConfig({ ...stack, ...extra }, { stack: "staging", projectDir: "/nonexistent" });
        return r.ok ? [] : [...r.problems];
    };
    assert.deepEqual(problems({ alerts: { webhookUrl: "https://x" } }), []);
    const hostKeyOnly = { ...stagingKeys, ...SECRETS, snapshotApiToken: "t" }; // no bucket to create: no Spaces key
    assert.deepEqual(problems({ offsite: { endpoint: "http://minio.example:9000", bucket: "b-1" }, alerts: { webhookUrl: "https://x" } }, hostKeyOnly), [
        `offsite.endpoint: must use https (restic's uploads to S3-compatible storage need TLS), got "http://minio.example:9000"`,
    ]);
    assert.deepEqual(problems({ offsite: { endpoint: "https://x.example/path", bucket: "B", retain: { daily: 0, weekly: 0, monthly: 0, yearly: 1 }, create: "yes" }, alerts: { webhookUrl: "https://x" } }, hostKeyOnly), [
        `offsite.endpoint: must be an https endpoint such as "https://fra1.digitaloceanspaces.com" (no path), got "https://x.example/path"`,
        `offsite.bucket: must be a bucket name: 3 to 63 lowercase letters, digits, '.' or '-', got "B"`,
        "offsite.retain.yearly: unknown key; expected one of daily, weekly, monthly",
        "offsite.retain: keeps no copy at all: set daily, weekly or monthly above 0",
        "offsite.create: must be true or false, got \"yes\"",
    ]);
    assert.deepEqual(problems({ offsite: { endpoint: "https://s3.eu-west-1.amazonaws.com", bucket: "b-1", create: true }, alerts: { webhookUrl: "https://x" } }), [
        `offsite.create: creates a Spaces bucket, whose region comes from a Spaces endpoint such as "https://fra1.digitaloceanspaces.com"; got "https://s3.eu-west-1.amazonaws.com" (create the bucket yourself, or drop create)`,
    ]);
    const { offsiteAccessKeyId: _a, offsitePassword: _p, ...noSecrets } = base;
    assert.deepEqual(problems({ alerts: { webhookUrl: "https://x" } }, noSecrets).map((l) => l.split(":")[0]), ["offsiteAccessKeyId", "offsitePassword"]);
    assert.deepEqual(problems({ alerts: {} }), [
        "alerts.webhookUrl: is required on digitalocean (the only channel there): set it with `pulumi config set --secret --path 'housing-portal:alerts.webhookUrl' <url>`",
    ]);
    assert.deepEqual(problems({ alerts: { webhookUrl: "https://x", email: ["ops@example.org"] } }), [
        "alerts.email: is only used on aws (email through the stack's SNS topic); on digitalocean use alerts.webhookUrl",
    ]);
    const { "aws:region": _region, ...awsKeys } = productionKeys;
    const aws = { ...awsKeys, ...SECRETS };
    // The Spaces key: required where the stack creates a Spaces bucket, refused where nothing uses it.
    const { spacesAccessKeyId: _s, ...noSpacesId } = base;
    assert.deepEqual(problems({ alerts: { webhookUrl: "https://x" } }, noSpacesId), [
        "spacesAccessKeyId: is required on digitalocean for creating the off-site Spaces bucket (offsite.create on digitalocean): set it with `pulumi config set --secret housing-portal:spacesAccessKeyId <value>` (the access key id of a Spaces key with which the stack creates the bucket (API → Spaces Keys; not the host's bucket-scoped key))",
    ]);
    const notCreated = { ...(stagingKeys["offsite"] as Record<string, unknown>), create: false };
    assert.deepEqual(problems({ offsite: notCreated, alerts: { webhookUrl: "https://x" } }).map((l) => l.split(": ")[0]), ["spacesAccessKeyId", "spacesSecretAccessKey"]);
    assert.match(problems({ offsite: notCreated, alerts: { webhookUrl: "https://x" } })[0], /is only used by creating the off-site Spaces bucket .*; remove it$/);
    assert.deepEqual(problems({ ...SPACES, alerts: { email: ["ops@example.org"] } }, aws).map((l) => l.split(": ")[0]), ["spacesAccessKeyId", "spacesSecretAccessKey"]);
    assert.deepEqual(problems({ alerts: { email: ["ops@example.org", "not-an-address", "ops@example.org"] } }, aws), [
        "alerts.email[1]: must be an email address, got \"not-an-address\"",
        "alerts.email[2]: \"ops@example.org\" is listed twice",
    ]);
    assert.deepEqual(problems({ alerts: { email: [] } }, aws), [
        "alerts.webhookUrl: or alerts.email is required: set the webhook with `pulumi config set --secret --path 'housing-portal:alerts.webhookUrl' <url>`, or list addresses in alerts.email",
    ]);
    const local = validateConfig({ provider: "local", projectRoot: ".", instances: [], offsite: {}, offsitePassword: "x" }, { stack: "dev", projectDir: "/", pathExists: () => true });
    assert.ok(!local.ok && local.problems.some((l) => l.startsWith("offsite: is not used with provider local")), JSON.stringify(local));
});

test("the endpoints' regions and the weekly calendar", () => {
    assert.equal(spacesRegion("https://ams3.digitaloceanspaces.com"), "ams3");
    assert.equal(spacesRegion("https://s3.eu-west-1.amazonaws.com"), undefined);
    assert.equal(s3Region("https://s3.eu-west-1.amazonaws.com"), "eu-west-1");
    assert.equal(weeklyCalendar("02:30", 90), "Sun *-*-* 04:00:00 UTC");
    assert.equal(weeklyCalendar("23:00", 90), "Mon *-*-* 00:30:00 UTC");
});
