// The offline plan's contract: deterministic JSON, masked secrets, a readable report, exit 2 on
// bad config with one line per problem, and golden files that match the program.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { GOLDEN_STACKS, currentGoldenFiles } from "../../tools/goldenPlans";
import { SECRET_PLACEHOLDER } from "../../tools/stackFile";
import { PORTABLE_ROOT } from "../../tools/planArgs";
import { PROJECT_DIR, planBatchRaw, readStackKeys, runPlanCli, writeStackConfig } from "./planRun";

const keys = readStackKeys("Pulumi.staging.yaml");
const BAD_CONFIG: [Record<string, unknown>, string[]][] = [
    [{ ...keys, provider: "gcp" }, ["provider"]],
    [{ ...keys, instances: [] }, ["instances"]],
    [{ ...keys, instances: [{ name: "Peru_1", domain: "peru.example.org", port: 1 }] }, ["instances[0].name"]],
    [{ ...keys, volume: { sizeGb: 0, fromSnapshot: "a", adoptId: "b" } }, ["volume.sizeGb", "volume"]],
    [{ ...keys, snapshots: { everyHours: 5, at: "7pm", retain: 0 } }, ["snapshots.everyHours", "snapshots.at", "snapshots.retain"]],
    [{ ...keys, dataRoot: "data" }, ["dataRoot"]],
];
const BATCH_ORDER = ["production", "dev", "staging"];

/** Starts now, so that every run of this file goes in parallel; a test awaits the one it checks. */
function early<T>(p: Promise<T>): Promise<T> {
    p.catch(() => undefined); // reported by the test that awaits it, not as an unhandled rejection
    return p;
}

// Every child process this file needs, started together.
const runs = {
    json: early(Promise.all([runPlanCli([...GOLDEN_STACKS.staging, "--json"]), runPlanCli([...GOLDEN_STACKS.staging, "--json"])])),
    encryptedToken: early(runPlanCli(["--config-file", writeStackConfig({ ...keys, snapshotApiToken: { secure: "v1:AAAAencryptedAAAA" } }, "staging"), "--json"])),
    readable: early(runPlanCli(GOLDEN_STACKS.dev)),
    badConfig: early(Promise.all(BAD_CONFIG.map(([config]) => runPlanCli(["--config-file", writeStackConfig(config, "staging"), "--json"])))),
    noCheckout: early(runPlanCli(["--stack", "dev"])),
    usage: early(Promise.all([runPlanCli(["--stack", "nope"]), runPlanCli(["--stack", "dev", "--frobnicate"])])),
    golden: early(currentGoldenFiles()),
    batch: early(planBatchRaw(BATCH_ORDER.map((stack) => GOLDEN_STACKS[stack]))),
};

// The golden test below compares a fresh run with one committed earlier: that is the
// determinism check for every stack. This one also runs a stack twice side by side.
test("--json prints one JSON document in the contract's shape, byte-identical on repeated runs", async () => {
    const [a, b] = await runs.json;
    assert.equal(a.code, 0, a.stderr);
    const doc = JSON.parse(a.stdout);
    assert.equal(doc.project, "housing-portal");
    assert.equal(doc.stack, "staging");
    assert.ok(Array.isArray(doc.resources) && doc.resources.length > 0);
    for (const r of doc.resources) {
        for (const key of ["urn", "type", "name", "parent", "custom", "inputs", "protect", "retainOnDelete", "deleteBeforeReplace", "ignoreChanges", "dependsOn"]) {
            assert.ok(key in r, `${r.name} lacks ${key}`);
        }
    }
    assert.equal(b.stdout, a.stdout, "not deterministic");
});

test("secret config values never appear; the plan says it used a stand-in", async () => {
    const run = await runs.encryptedToken;
    assert.equal(run.code, 0, run.stderr);
    assert.ok(!run.stdout.includes(SECRET_PLACEHOLDER), "the stand-in for the encrypted token is masked");
    assert.ok(!run.stdout.includes("v1:AAAAencryptedAAAA"));
    assert.match(run.stderr, /housing-portal:snapshotApiToken is a secret the offline plan cannot read/);
});

test("the readable plan has the resource tree, a mount table per instance and a Mermaid diagram", async () => {
    const run = await runs.readable;
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /## Resource tree\n\n- host \(housing-portal:host:DockerHost\)/);
    assert.match(run.stdout, /  - colombia-postgis-data \(docker:index\/volume:Volume\) \[retainOnDelete\]/);
    assert.match(run.stdout, /### colombia\n\n\| container \| path in container \| type \| host source \| mode \|/);
    assert.match(run.stdout, /\| housing-portal-peru-nginx \| \/exports \| volume \| housing-portal-peru-exports \| ro \|/);
    assert.match(run.stdout, /```mermaid\ngraph LR\n/);
});

test("bad config exits 2 with one line per problem naming its key, and no stack trace", async () => {
    const results = await runs.badConfig;
    results.forEach((run, i) => {
        assert.equal(run.code, 2, `case ${i}: ${run.stderr}`);
        assert.equal(run.stdout, "", "nothing half-printed");
        const lines = run.stderr.trim().split("\n");
        assert.deepEqual(lines.map((l) => l.slice(0, l.indexOf(": "))).sort(), [...BAD_CONFIG[i][1]].sort(), `case ${i}`);
        assert.doesNotMatch(run.stderr, /\s+at .+\(.+:\d+:\d+\)/, "no stack trace");
    });
});

test("a dev stack without its portal checkout exits 2 and says so", async () => {
    const run = await runs.noCheckout;
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^projectRoot: the portal checkout "\.\.\/housing_portal" \(.+\) does not exist/m);
});

test("unknown arguments and missing stacks are usage errors", async () => {
    const [noStack, unknown] = await runs.usage;
    assert.equal(noStack.code, 2);
    assert.match(noStack.stderr, /no stack config at .*Pulumi\.nope\.yaml/);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown argument --frobnicate/);
});

test("the committed golden plans match the program (run `npm run plan:update` after a change)", async () => {
    for (const { file, text } of await runs.golden) {
        const rel = path.relative(PROJECT_DIR, file);
        assert.ok(fs.existsSync(file), `${rel} is missing: run npm run plan:update`);
        assert.ok(!text.includes(PROJECT_DIR), `${rel} depends on where the repo is cloned`);
        assert.equal(fs.readFileSync(file, "utf8"), text, `${rel} differs from the program's plan: run npm run plan:update and review the diff`);
    }
});

// Other test files plan their variant configs in one process with planBatch (test/unit/planBatch.ts),
// which runs the program under mocks several times in a row, and read the golden plans for the
// stacks themselves. Here: a batch prints exactly what the CLI prints (the fresh golden runs
// above), whatever ran before it in that process (another provider, another layout).
test("plans batched in one process are byte-identical to the CLI's, whatever ran before", async () => {
    const [results, golden] = await Promise.all([runs.batch, runs.golden]);
    assert.equal(results.length, BATCH_ORDER.length);
    BATCH_ORDER.forEach((stack, i) => {
        const r = results[i];
        assert.ok(r.ok, `${stack}: ${r.ok ? "" : r.problems.join("; ")}`);
        const cli = golden.find((g) => g.file === path.join(PROJECT_DIR, "plans", `${stack}.json`));
        assert.ok(cli, `no golden run for ${stack}`);
        // The golden runs are --portable: this checkout's path written as in the committed files.
        assert.equal(r.json.split(PROJECT_DIR).join(PORTABLE_ROOT), cli.text, `${stack} differs when batched`);
    });
});
