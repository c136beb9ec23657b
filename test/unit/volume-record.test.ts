// Changes a data volume cannot take in place are refused before any plan: the deployed stack's
// outputs (`pulumi stack output --json`, here the golden plans' outputs) against the new config,
// through `npm run plan -- --deployed FILE`, with one line per change naming its key.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { AwsVolumeRecord, DigitalOceanVolumeRecord, deployedVolumeOf, volumeChangeProblems } from "../../components/volumeRecord";
import { goldenPlan, planBatchRaw, readStackKeys, runPlanCli, writeStackConfig } from "./planRun";

const DO: DigitalOceanVolumeRecord = { provider: "digitalocean", name: "housing-portal-staging-data", region: "fra1", sizeGb: 100, fromSnapshot: null, adoptId: null };
const AWS: AwsVolumeRecord = { provider: "aws", name: "housing-portal-production-data", availabilityZone: "eu-central-1a", sizeGb: 200, fromSnapshot: null, adoptId: null, kmsKeyId: null };
const KMS_KEY = "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const paths = (deployed: DigitalOceanVolumeRecord | AwsVolumeRecord, planned: DigitalOceanVolumeRecord | AwsVolumeRecord | undefined, volumeId?: string) =>
    volumeChangeProblems({ record: deployed, volumeId }, planned).map((p) => p.path);

test("DigitalOcean: a new name, region or source snapshot, or a smaller size, is refused at its key", () => {
    assert.deepEqual(paths(DO, { ...DO, name: "portal-data" }), ["volume.name"]);
    assert.deepEqual(paths(DO, { ...DO, region: "ams3" }), ["host.region"]);
    assert.deepEqual(paths(DO, { ...DO, sizeGb: 50 }), ["volume.sizeGb"]);
    assert.deepEqual(paths(DO, { ...DO, fromSnapshot: "12345678" }), ["volume.fromSnapshot"]);
    // The snapshot a volume came from stays part of it: dropping fromSnapshot later replaces it too.
    assert.deepEqual(paths({ ...DO, fromSnapshot: "12345678" }, DO), ["volume.fromSnapshot"]);
    assert.deepEqual(paths(DO, { ...DO, name: "portal-data", region: "ams3", sizeGb: 10 }), ["volume.name", "host.region", "volume.sizeGb"]);
    const [line] = volumeChangeProblems({ record: DO }, { ...DO, region: "ams3" });
    assert.match(line.message, /^the deployed volume's region is "fra1"; DigitalOcean cannot change it to "ams3" without replacing the volume, and a replaced volume is a new disk without the portal's data: keep "fra1"; to move the data, restore a snapshot into a new stack \(docs\/restore\.md\)$/);
});

test("AWS: a new zone, encryption key or source snapshot, or a smaller size, is refused; the Name tag changes in place", () => {
    assert.deepEqual(paths(AWS, { ...AWS, availabilityZone: "eu-central-1b" }), ["host.availabilityZone"]);
    assert.deepEqual(paths(AWS, { ...AWS, kmsKeyId: KMS_KEY }), ["volume.kmsKeyId"]);
    assert.deepEqual(paths({ ...AWS, kmsKeyId: KMS_KEY }, AWS), ["volume.kmsKeyId"]);
    assert.deepEqual(paths(AWS, { ...AWS, fromSnapshot: "snap-0123456789abcdef0" }), ["volume.fromSnapshot"]);
    assert.deepEqual(paths(AWS, { ...AWS, sizeGb: 199 }), ["volume.sizeGb"]);
    assert.match(volumeChangeProblems({ record: AWS }, { ...AWS, sizeGb: 199 })[0].message, /^is 199, smaller than the deployed volume's 200 GiB; AWS volumes only grow: keep at least 200/);
    assert.deepEqual(paths(AWS, { ...AWS, name: "renamed" }), []);
});

test("what the clouds do in place passes: the same volume, a bigger one, a first adoption's id", () => {
    assert.deepEqual(paths(DO, DO), []);
    assert.deepEqual(paths(DO, { ...DO, sizeGb: 200 }), []);
    assert.deepEqual(paths(AWS, { ...AWS, sizeGb: 1000 }), []);
    assert.deepEqual(paths(DO, { ...DO, adoptId: "506f78a4-e098-11e5-ad9f-000f53306ae1" }, "506f78a4-e098-11e5-ad9f-000f53306ae1"), []);
    assert.deepEqual(paths({ ...DO, adoptId: "506f78a4-e098-11e5-ad9f-000f53306ae1" }, DO, "506f78a4-e098-11e5-ad9f-000f53306ae1"), [], "adoptId may go after the import");
});

test("another volume to adopt, another cloud, or no volume at all is refused", () => {
    assert.deepEqual(paths(DO, { ...DO, adoptId: "11111111-e098-11e5-ad9f-000f53306ae1" }, "506f78a4-e098-11e5-ad9f-000f53306ae1"), ["volume.adoptId"]);
    assert.deepEqual(paths(DO, AWS), ["provider"]);
    assert.deepEqual(paths(DO, undefined), ["volume"]);
});

test("deployed outputs: the program's record is read; none is no comparison; anything else is named", () => {
    for (const stack of ["staging", "production"]) {
        const deployed = deployedVolumeOf(goldenPlan(stack).outputs);
        assert.ok(typeof deployed === "object", `${stack}: ${String(deployed)}`);
        assert.equal(deployed.record.provider, stack === "staging" ? "digitalocean" : "aws");
        assert.equal(typeof deployed.volumeId, "string");
    }
    assert.equal(deployedVolumeOf(goldenPlan("dev").outputs), undefined, "a local stack has no data volume");
    assert.equal(deployedVolumeOf({}), undefined);
    assert.match(String(deployedVolumeOf([])), /expected the JSON object `pulumi stack output --json` prints/);
    assert.match(String(deployedVolumeOf({ dataVolume: { provider: "digitalocean", name: "x" } })), /^dataVolume is not a volume record of this program/);
    assert.match(String(deployedVolumeOf({ dataVolume: { ...AWS, kmsKeyId: 7 } })), /^dataVolume is not a volume record/);
});

// The golden plans' outputs are what `pulumi stack output --json` gives after deploying them.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hp-deployed-"));
process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
const deployedFile = (stack: string) => {
    const file = path.join(dir, `${stack}.json`);
    fs.writeFileSync(file, JSON.stringify(goldenPlan(stack).outputs));
    return file;
};
const staging = readStackKeys("Pulumi.staging.yaml");
const production = readStackKeys("Pulumi.production.yaml");
const stagingWith = (volume: object, host: object = {}) =>
    writeStackConfig({ ...staging, volume: { ...(staging.volume as object), ...volume }, host: { ...(staging.host as object), ...host } }, "staging");

test("npm run plan -- --deployed: the config's volume against the deployed one, before anything is planned", async () => {
    const [same, bigger, renamed, moved, smaller, zone, key] = await planBatchRaw([
        ["--stack", "staging", "--deployed", deployedFile("staging")],
        ["--config-file", stagingWith({ sizeGb: 200 }), "--deployed", deployedFile("staging")],
        ["--config-file", stagingWith({ name: "portal-data" }), "--deployed", deployedFile("staging")],
        ["--config-file", stagingWith({}, { region: "ams3" }), "--deployed", deployedFile("staging")],
        ["--config-file", stagingWith({ sizeGb: 50 }), "--deployed", deployedFile("staging")],
        ["--config-file", writeStackConfig({ ...production, host: { ...(production.host as object), availabilityZone: "eu-central-1b" } }, "production"), "--deployed", deployedFile("production")],
        ["--config-file", writeStackConfig({ ...production, volume: { ...(production.volume as object), kmsKeyId: KMS_KEY } }, "production"), "--deployed", deployedFile("production")],
    ]);
    assert.ok(same.ok && bigger.ok, "an unchanged or grown volume plans");
    const keys = (r: typeof renamed) => (r.ok ? [] : r.problems.map((l) => l.slice(0, l.indexOf(": "))));
    assert.deepEqual(keys(renamed), ["volume.name"]);
    assert.deepEqual(keys(moved), ["host.region"]);
    assert.deepEqual(keys(smaller), ["volume.sizeGb"]);
    assert.deepEqual(keys(zone), ["host.availabilityZone"]);
    assert.deepEqual(keys(key), ["volume.kmsKeyId"]);
});

test("npm run plan -- --deployed: exit 2, nothing planned, no stack trace; a bad outputs file is named", async () => {
    const refused = await runPlanCli(["--config-file", stagingWith({ name: "portal-data" }), "--deployed", deployedFile("staging")]);
    assert.equal(refused.code, 2, refused.stderr);
    assert.equal(refused.stdout, "", "nothing planned");
    assert.match(refused.stderr, /^volume\.name: the deployed volume's name is "housing-portal-staging-data"; DigitalOcean cannot change it to "portal-data"/m);
    assert.doesNotMatch(refused.stderr, /\s+at .+\(.+:\d+:\d+\)/);
    const notJson = path.join(dir, "not.json");
    fs.writeFileSync(notJson, "Current stack outputs (2):\n");
    const [bad] = await planBatchRaw([["--stack", "staging", "--deployed", notJson]]);
    assert.deepEqual(bad.ok ? [] : bad.problems, [`--deployed: ${notJson} is not JSON; write it with \`pulumi stack output --json > ${notJson}\``]);
});
