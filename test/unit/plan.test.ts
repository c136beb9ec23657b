// The offline plan's contract: deterministic JSON, masked secrets, a readable report, exit 2 on
// bad config with one line per problem, and golden files that match the program.
import { resourceIdentity } from "../../tools/planMocks";
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
    [{ ...keys, instances: [{ name: "Peru_1", domain: "peru.example.org" }] }, ["instances[0].name"]],
    [{ ...keys, volume: { sizeGb: 0, fromSnapshot: "a", adoptId: "b" } }, ["volume.sizeGb", "volume.fromSnapshot", "volume.adoptId", "volume"]],
    [{ ...keys, snapshots: { everyHours: 5, at: "7pm", retain: 0 } }, ["snapshots.everyHours", "snapshots.at", "snapshots.retain"]],
    [{ ...keys, dataRoot: "data" }, ["dataRoot"]],
];
const BATCH_ORDER = ["production", "dev", "staging"];
const PLAIN_TOKEN = "dop_v1_plain-text-token";
const PLAIN_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU\n-----END OPENSSH PRIVATE KEY-----";

/** A stack file with this text, broken YAML included. */
function writeStackText(text: string): string {
    const file = writeStackConfig({}, "staging");
    fs.writeFileSync(file, text);
    return file;
}
const BROKEN_YAML = [
    // Line 3, column 3: the second provider key.
    ["config:\n  housing-portal:provider: aws\n  housing-portal:provider: local\n", /^(.+):3:3: YAML syntax error: Map keys must be unique$/],
    ["config:\n  housing-portal:provider: local\n  housing-portal:host: {region: fra1\n  housing-portal:instances: []\n", /^(.+):4:3: YAML syntax error: Flow map .* end with a \}$/],
] as const;

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
    usage: early(Promise.all([runPlanCli(["--stack", "nope"]), runPlanCli(["--stack", "dev", "--frobnicate"]), runPlanCli(["--stack", "dev", "--set", "projectRoot"])])),
    golden: early(currentGoldenFiles()),
    stackFile: early(Promise.all([
        runPlanCli(["--config-file", writeStackConfig({ ...keys, "housingportal:images": keys.images, "gcp:project": "p", instance: [] }, "staging"), "--json"]),
        runPlanCli(["--config-file", writeStackConfig({ ...keys, snapshotApiToken: PLAIN_TOKEN, sshPrivateKey: PLAIN_KEY }, "staging"), "--json"]),
        ...BROKEN_YAML.map(([text]) => runPlanCli(["--config-file", writeStackText(text), "--json"])),
    ])),
    setSecret: early(runPlanCli(["--config-file", writeStackConfig(keys, "staging"), "--set", `snapshotApiToken=${PLAIN_TOKEN}`, "--json"])),
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
    // A local engine has no address, key or volume: those outputs are left out, not exported undefined (Pulumi warns of each).
    assert.doesNotMatch(run.stderr, /Undefined value/);
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

test("the stack file: unknown namespaces and near-miss keys are named, with a \"did you mean\"", async () => {
    const [run] = await runs.stackFile;
    assert.equal(run.code, 2, run.stderr);
    assert.equal(run.stdout, "");
    assert.deepEqual(run.stderr.trim().split("\n").sort(), [
        "gcp:project: unknown namespace \"gcp\"; expected housing-portal:, aws:, digitalocean:, docker:, command:, random:, pulumi:",
        "housingportal:images: unknown namespace; did you mean housing-portal:images?",
        "instance: unknown key; did you mean instances?",
    ]);
});

test("the stack file: a secret in plain text is refused, without repeating it; one given with --set is planned as a secret", async () => {
    const [, plain] = await runs.stackFile;
    assert.equal(plain.code, 2, plain.stderr);
    const lines = plain.stderr.trim().split("\n");
    assert.deepEqual(lines.map((l) => l.slice(0, l.indexOf(": "))).sort(), ["snapshotApiToken", "sshPrivateKey"]);
    for (const key of ["snapshotApiToken", "sshPrivateKey"]) {
        assert.ok(lines.includes(`${key}: is plain text in Pulumi.staging.yaml; a secret is kept encrypted: \`pulumi config set --secret housing-portal:${key} <value>\` (and replace this one if the file was ever committed or shared)`), lines.join("\n"));
    }
    assert.ok(!plain.stderr.includes(PLAIN_TOKEN) && !plain.stderr.includes("b3BlbnNzaC1rZXktdjEAAAAABG5vbmU"), "no secret in the report");
    // --set never lands in a file: tests pass a plaintext secret that way, and it stays masked.
    const set = await runs.setSecret;
    assert.equal(set.code, 0, set.stderr);
    assert.ok(!set.stdout.includes(PLAIN_TOKEN), "the --set token appears nowhere in the plan");
    assert.doesNotMatch(set.stderr, /snapshotApiToken is a secret the offline plan cannot read/, "the given token is used, not a stand-in");
});

test("the stack file: a YAML syntax error exits 2 with the file, line and column", async () => {
    const [, , ...broken] = await runs.stackFile;
    broken.forEach((run, i) => {
        assert.equal(run.code, 2, run.stderr);
        assert.equal(run.stdout, "");
        const lines = run.stderr.trim().split("\n");
        assert.equal(lines.length, 1, run.stderr);
        const m = lines[0].match(BROKEN_YAML[i][1]);
        assert.ok(m, lines[0]);
        assert.match(m[1], /Pulumi\.staging\.yaml$/, "names the file");
        assert.doesNotMatch(run.stderr, /plan failed|\s+at .+\(.+:\d+:\d+\)/);
    });
});

test("a dev stack without its portal checkout exits 2 and says so", async () => {
    const run = await runs.noCheckout;
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^projectRoot: the portal checkout "\.\.\/housing_portal" \(.+\) does not exist/m);
});

test("unknown arguments and missing stacks are usage errors", async () => {
    const [noStack, unknown, badSet] = await runs.usage;
    assert.equal(noStack.code, 2);
    assert.match(noStack.stderr, /no stack config at .*Pulumi\.nope\.yaml/);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown argument --frobnicate/);
    assert.equal(badSet.code, 2, badSet.stderr);
    assert.match(badSet.stderr, /^--set takes key=value \(key without the namespace\), got "projectRoot"$/m);
});

test("the committed golden plans match the program (run `npm run plan:update` after a change)", async () => {
    for (const { file, text } of await runs.golden) {
        const rel = path.relative(PROJECT_DIR, file);
        assert.ok(fs.existsSync(file), `${rel} is missing: run npm run plan:update`);
        assert.ok(!text.includes(PROJECT_DIR), `${rel} depends on where the repo is cloned`);
        assert.equal(fs.readFileSync(file, "utf8"), text, `${rel} differs from the program's plan: run npm run plan:update and review the diff`);
    }
});

// Other test files plan their variant configs in one process with planBatch (tools/planBatch.ts),
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

test("the mocks' ids do not depend on where the checkout lies (the golden plans are the same in every clone)", () => {
    const at = (root: string) => resourceIdentity("docker:index/container:Container", "peru-backend", { mounts: [{ type: "bind", source: `${root}/test/fixtures/imports/peru`, target: "/imports" }] });
    assert.equal(at(PROJECT_DIR), at(PORTABLE_ROOT));
    assert.notEqual(at(PROJECT_DIR), at("/elsewhere"), "a different path is a different resource");
});
