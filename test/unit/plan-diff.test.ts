// The offline plan diff: additions, updates, replacements and removals, each replacement under
// its cause, protected and retained resources called out, and the data-loss gate with its
// acknowledgements, from the library and from the command line.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { COMMENT_MARKER, PlanDiffUsageError, diffPlans, renderDiffComment, runPlanDiff } from "../../tools/planDiff";
import { cascadeForest, keptOnNewEngines, nodesOf } from "../../tools/planCascade";
import { ACKNOWLEDGEMENTS_FILE, AcknowledgementsError, dataLossGate, newAcknowledgements, parseAcknowledgements } from "../../tools/dataLossGate";
import type { PlanDocument, PlannedResource } from "../../tools/planner";
import { PROJECT_DIR } from "./planRun";

const staging: PlanDocument = JSON.parse(fs.readFileSync("plans/staging.json", "utf8"));
const clone = (): PlanDocument => JSON.parse(JSON.stringify(staging));
const byName = (plan: PlanDocument, name: string) => plan.resources.find((r) => r.name === name)!;
const gateOf = (diff: ReturnType<typeof diffPlans>, acks: Parameters<typeof dataLossGate>[1] = []) =>
    dataLossGate([{ stack: "staging", removed: diff.removed, replaced: diff.changed.filter((c) => c.replaced) }], acks);
const withoutPeru = () => {
    const head = clone();
    head.resources = head.resources.filter((r) => !(r.name === "peru" || r.name.startsWith("peru-") || r.name === "host-port-peru"));
    return head;
};

test("identical plans have no changes, and the gate passes", () => {
    const diff = diffPlans(staging, clone());
    assert.deepEqual([diff.added, diff.removed, diff.changed, diff.warnings, diff.cascades], [[], [], [], [], []]);
    const gate = gateOf(diff);
    assert.deepEqual([gate.passed, gate.findings], [true, []]);
    assert.match(renderDiffComment([{ stack: "staging", diff }], gate), /\*\*Data-loss gate: passed\.\*\* Nothing that holds data or identity is deleted or replaced\.\n\n### staging: 0 to add, 0 to change, 0 to replace, 0 to remove\n\nNo changes\./);
});

test("a replaced data volume fails the gate, named with its replacing input, and is flagged as protected", () => {
    const head = clone();
    byName(head, "data-volume").inputs.snapshotId = "fbe805e8-866b-11e6-96bf-000f53315a41";
    const diff = diffPlans(staging, head);
    assert.deepEqual(diff.changed.map((c) => [c.resource.name, c.fields, c.replaced, c.reasons]), [["data-volume", ["snapshotId"], true, ["snapshotId"]]]);
    assert.match(diff.warnings[0], /^data-volume \(digitalocean:index\/volume:Volume\) is protected and would be REPLACED \(snapshotId\)/);
    const gate = gateOf(diff);
    assert.equal(gate.passed, false);
    assert.deepEqual(gate.findings.map((f) => [f.resource.name, f.kind, f.verdict]), [["data-volume", "block-volume", "blocked"]]);
    const comment = renderDiffComment([{ stack: "staging", diff, plan: head }], gate);
    assert.ok(comment.startsWith(`${COMMENT_MARKER}\n## Offline plan diff\n\n> [!CAUTION]\n> **Data-loss gate: failed.**`));
    assert.match(comment, /> - staging: data-volume \(the data volume: every portal's files and databases, the edge's certificates, and the source of every snapshot\) would be REPLACED \(snapshotId\): a new, empty one takes its place; it is protected/);
    assert.match(comment, new RegExp(`name each of them in \`plans/${ACKNOWLEDGEMENTS_FILE}\``));
    assert.match(comment, /- `\+-` data-volume/);
});

test("a changed description replaces a DigitalOcean volume (it is ForceNew), a larger size updates it in place", () => {
    const renamed = clone();
    byName(renamed, "data-volume").inputs.description = "another description";
    assert.deepEqual(diffPlans(staging, renamed).changed.map((c) => [c.resource.name, c.replaced]), [["data-volume", true]]);
    const grown = clone();
    byName(grown, "data-volume").inputs.size = 200;
    const diff = diffPlans(staging, grown);
    assert.deepEqual(diff.changed.map((c) => [c.resource.name, c.replaced]), [["data-volume", false]]);
    assert.deepEqual([diff.warnings, gateOf(diff).passed], [[], true]);
});

test("a replaced reserved IP fails the gate: the address DNS points at would change", () => {
    const head = clone();
    byName(head, "host-ip").inputs.region = "ams3";
    const gate = gateOf(diffPlans(staging, head));
    assert.deepEqual(gate.findings.map((f) => [f.resource.name, f.kind, f.verdict, f.change]), [["host-ip", "stable-address", "blocked", { kind: "replaced", reasons: ["region"] }]]);
});

test("removing an instance passes the gate and says its database volume is retained; pulumi up still refuses while it is protected", () => {
    const diff = diffPlans(staging, withoutPeru());
    assert.ok(diff.removed.length > 5);
    assert.ok(diff.warnings.some((w) => /^peru-postgis-data \(docker:index\/volume:Volume\) is protected and would be removed/.test(w)));
    const gate = gateOf(diff);
    assert.equal(gate.passed, true);
    assert.deepEqual(gate.findings.map((f) => [f.resource.name, f.kind, f.verdict]), [["peru-postgis-data", "database-volume", "retained"]]);
    assert.match(renderDiffComment([{ stack: "staging", diff }], gate), /\*\*Data-loss gate: passed\.\*\*\n- staging: peru-postgis-data \(an instance's PostGIS database\) leaves the stack but is retained: its data stays where it is/);
});

test("a database volume that is not retained fails the gate when it is deleted", () => {
    const base = clone();
    byName(base, "peru-postgis-data").retainOnDelete = false;
    const gate = gateOf(diffPlans(base, withoutPeru()));
    assert.deepEqual(gate.findings.map((f) => [f.resource.name, f.verdict, f.change.kind]), [["peru-postgis-data", "blocked", "deleted"]]);
});

test("adding an instance shows only additions", () => {
    const head = clone();
    const extra = staging.resources.filter((r) => r.name.startsWith("peru")).map((r) => ({ ...r, urn: r.urn.replace(/peru/g, "chile"), name: r.name.replace("peru", "chile") }));
    head.resources.push(...extra);
    const diff = diffPlans(staging, head);
    assert.equal(diff.added.length, extra.length);
    assert.deepEqual([diff.changed, diff.removed, diff.warnings], [[], [], []]);
});

test("acknowledgements: only those the change adds count, each must name what it deletes or replaces", () => {
    const head = clone();
    byName(head, "data-volume").inputs.snapshotId = "fbe805e8-866b-11e6-96bf-000f53315a41";
    const diff = diffPlans(staging, head);
    const ack = { stack: "staging", resource: "data-volume", reason: "restoring staging from last night's snapshot" };
    const passed = gateOf(diff, newAcknowledgements([], [ack]));
    assert.deepEqual([passed.passed, passed.findings.map((f) => [f.verdict, f.reason])], [true, [["acknowledged", ack.reason]]]);
    assert.match(renderDiffComment([{ stack: "staging", diff }], passed), /data-volume .* would be REPLACED \(snapshotId\).*; acknowledged: restoring staging/);
    // An entry already on the base branch acknowledges nothing new.
    assert.equal(gateOf(diff, newAcknowledgements([ack], [ack])).passed, false);
    // An entry for a resource the change leaves alone fails, so no acknowledgement stays behind unread.
    const stale = gateOf(diffPlans(staging, clone()), [{ stack: "staging", resource: "host-ip", reason: "x" }]);
    assert.deepEqual([stale.passed, stale.unmatched.map((a) => a.resource)], [false, ["host-ip"]]);
    assert.match(renderDiffComment([{ stack: "staging", diff: diffPlans(staging, clone()) }], stale), /acknowledges staging: host-ip, which this change neither deletes nor replaces: remove the entry/);
});

test("the acknowledgements file is a list of {stack, resource, reason}; anything else is one line naming the file", () => {
    assert.deepEqual(parseAcknowledgements("- stack: staging\n  resource: host-ip\n  reason: moving region\n", "f.yaml"), [{ stack: "staging", resource: "host-ip", reason: "moving region" }]);
    assert.deepEqual(parseAcknowledgements("# nothing acknowledged\n", "f.yaml"), []);
    for (const [text, message] of [
        ["stack: staging\n", /^f\.yaml: must be a list/],
        ["- stack: staging\n  resource: host-ip\n", /^f\.yaml: entry 1 must have exactly stack, resource and reason/],
        ["- {stack: staging, resource: host-ip, reason: x, extra: 1}\n", /^f\.yaml: entry 1/],
        ["- [unclosed\n", /^f\.yaml: not YAML: /],
    ] as const) {
        assert.throws(() => parseAcknowledgements(text, "f.yaml"), (e: unknown) => e instanceof AcknowledgementsError && message.test(e.message) && !e.message.includes("\n"));
    }
});

// ---- the cascade on a small plan ----------------------------------------------------------------

const urn = (name: string) => `urn:pulumi:s::p::t::${name}`;
function res(name: string, type: string, spec: { deps?: string[]; provider?: string; parent?: string; custom?: boolean; inputs?: Record<string, unknown> } = {}): PlannedResource {
    return {
        urn: urn(name), type, name, parent: spec.parent ? urn(spec.parent) : null, custom: spec.custom ?? true, provider: spec.provider ? urn(spec.provider) : null,
        inputs: spec.inputs ?? {}, protect: false, retainOnDelete: false, deleteBeforeReplace: false, ignoreChanges: [], import: null,
        dependsOn: [...(spec.deps ?? []), ...(spec.provider ? [spec.provider] : [])].map(urn),
    };
}
/** A machine, its attachment, the gate, the engine's provider and two instances' containers, the machine's id in the containers' labels. */
function hostPlan(machineId: string, labelled = true): PlanDocument {
    const CONTAINER = "docker:index/container:Container";
    return {
        project: "p", stack: "s", outputs: {},
        resources: [
            res("machine", "digitalocean:index/droplet:Droplet", { inputs: { image: machineId } }),
            res("attachment", "digitalocean:index/volumeAttachment:VolumeAttachment", { deps: ["machine"], inputs: { dropletId: machineId } }),
            res("gate", "command:remote:Command", { deps: ["machine", "attachment"], inputs: { triggers: [machineId] } }),
            res("docker", "pulumi:providers:docker", { deps: ["gate"], inputs: { host: "ssh://root@203.0.113.1" } }),
            res("a", "housing-portal:portal:PortalInstance", { custom: false }),
            res("b", "housing-portal:portal:PortalInstance", { custom: false }),
            res("a-db", CONTAINER, { parent: "a", provider: "docker", inputs: { labels: [machineId] } }),
            res("a-web", CONTAINER, { parent: "a", provider: "docker", deps: ["a-db"], inputs: { labels: [machineId] } }),
            res("b-db", CONTAINER, { parent: "b", provider: "docker", inputs: { labels: [machineId] } }),
            res("b-data", "docker:index/volume:Volume", { parent: "b", provider: "docker", inputs: { name: "b-data" } }),
            res("stray", CONTAINER, { provider: "docker", inputs: { labels: labelled ? [machineId] : [] } }),
        ],
    };
}

test("a cascade is a tree from its cause: each change under its latest changed prerequisite, through unchanged ones", () => {
    const head = hostPlan("2");
    const diff = diffPlans(hostPlan("1"), head);
    assert.deepEqual(diff.cascades.map((r) => r.change.resource.name), ["machine"], "one cause");
    const tree = (n: (typeof diff.cascades)[number]): unknown => [n.change.resource.name, ...n.children.map(tree)];
    // The containers follow the gate through the unchanged provider; a-web follows a-db.
    assert.deepEqual(tree(diff.cascades[0]), ["machine", ["attachment", ["gate", ["a-db", ["a-web"]], ["b-db"], ["stray"]]]]);
    assert.equal(nodesOf(diff.cascades[0]).length, 7);
    assert.deepEqual(cascadeForest(head, []), []);
    const comment = renderDiffComment([{ stack: "s", diff, plan: head }]);
    assert.match(comment, /\n- machine replaced \(image\) → attachment replaced → gate runs again → stray recreated → portal instance a: 2 containers recreated; portal instance b: 1 container recreated\n/);
});

test("what a replaced machine's engine keeps is listed with what makes it again; an engine object nothing makes again is a warning", () => {
    const diff = diffPlans(hostPlan("1"), hostPlan("2"));
    assert.deepEqual(diff.machines.map((m) => [m.machine.name, m.kept.map((k) => [k.resource.name, k.madeAgainBy !== undefined])]), [["machine", [["b-data", true]]]]);
    assert.deepEqual(diff.warnings, []);
    // A container without the machine's id in its inputs would stay behind on the old machine's record.
    const unlabelled = diffPlans(hostPlan("1", false), hostPlan("2", false));
    assert.deepEqual(unlabelled.warnings, ["stray (docker:index/container:Container) runs on machine's engine, which is replaced, but nothing makes it again on the new one"]);
    assert.deepEqual(keptOnNewEngines(hostPlan("2"), []), [], "no machine replaced, nothing to say");
});

// ---- the command line --------------------------------------------------------------------------

function planDiffCli(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
        execFile(process.execPath, ["--import", "tsx", path.join(PROJECT_DIR, "tools", "planDiff.ts"), ...args], { cwd: PROJECT_DIR, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
            resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr });
        });
    });
}

function planDirs(head: PlanDocument, acks?: { base?: string; head?: string }): { base: string; head: string } {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "hp-diff-"));
    const dirs = { base: path.join(root, "base"), head: path.join(root, "head") };
    for (const [dir, plan, ack] of [[dirs.base, staging, acks?.base], [dirs.head, head, acks?.head]] as const) {
        fs.mkdirSync(dir);
        fs.writeFileSync(path.join(dir, "staging.json"), JSON.stringify(plan));
        if (ack !== undefined) fs.writeFileSync(path.join(dir, ACKNOWLEDGEMENTS_FILE), ack);
    }
    return dirs;
}

test("npm run plan:diff exits 0 when the gate passes, 1 when it fails, 2 with one line for bad arguments", async () => {
    const replaced = clone();
    byName(replaced, "host-ip").inputs.region = "ams3";
    const same = planDirs(clone());
    const changed = planDirs(replaced);
    const [ok, failed, noArgs] = await Promise.all([
        planDiffCli(["--base", same.base, "--head", same.head, "--stacks", "staging"]),
        planDiffCli(["--base", changed.base, "--head", changed.head, "--stacks", "staging"]),
        planDiffCli([]),
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /Data-loss gate: passed/);
    assert.equal(failed.code, 1, failed.stderr);
    assert.match(failed.stdout, /Data-loss gate: failed.*\n> - staging: host-ip \(the reserved \/ elastic IP that DNS and SSH point at\) would be REPLACED \(region\)/);
    assert.equal(noArgs.code, 2);
    assert.match(noArgs.stderr, /^plan:diff: name both plan directories, --base and --head\nusage: npm run plan:diff -- /);
    assert.doesNotMatch(noArgs.stderr, /\n\s+at /, "no stack trace");
});

test("plan:diff reads the head's acknowledgements against the base's, and refuses bad arguments and files by name", () => {
    const replaced = clone();
    byName(replaced, "host-ip").inputs.region = "ams3";
    const ack = "- stack: staging\n  resource: host-ip\n  reason: moving region\n";
    const acknowledged = planDirs(replaced, { head: ack });
    const run = runPlanDiff(["--base", acknowledged.base, "--head", acknowledged.head, "--stacks", "staging"]);
    assert.equal(run.status, 0);
    assert.match(run.text, /acknowledged: moving region/);
    const inheritedAck = planDirs(replaced, { base: ack, head: ack });
    assert.equal(runPlanDiff(["--base", inheritedAck.base, "--head", inheritedAck.head, "--stacks", "staging"]).status, 1, "the base's entry counts for nothing");
    const badAck = planDirs(replaced, { head: "- stack: staging\n" });
    for (const [args, message] of [
        [["--base", "/nonexistent-plans", "--head", "plans"], /^\/nonexistent-plans is not a directory$/],
        [["--base", badAck.base, "--head", badAck.head, "--stacks", "staging"], /data-loss-acknowledgements\.yaml: entry 1 must have/],
        [["--base", "plans", "--head", "plans", "--frobnicate"], /^unknown argument --frobnicate$/],
        [["--base", "plans", "--head", acknowledged.base, "--stacks", "production"], /^no plan at .*production\.json$/],
    ] as const) {
        assert.throws(() => runPlanDiff(args), (e: unknown) => (e instanceof PlanDiffUsageError || e instanceof AcknowledgementsError) && message.test(e.message));
    }
});

test("the committed acknowledgements file reads, and says how to write an entry", () => {
    const text = fs.readFileSync(path.join(PROJECT_DIR, "plans", ACKNOWLEDGEMENTS_FILE), "utf8");
    assert.ok(Array.isArray(parseAcknowledgements(text, ACKNOWLEDGEMENTS_FILE)));
    assert.match(text, /# - stack: staging\n# {3}resource: host-ip\n# {3}reason: /);
});

test("a secret input is compared by its digest: a changed user data replaces the Droplet although both plans print [secret]", () => {
    const head = clone();
    const droplet = byName(head, "host-droplet");
    assert.equal(droplet.inputs.userData, "[secret]");
    assert.match(String(droplet.secretDigests?.userData), /^[0-9a-f]{16}$/);
    droplet.secretDigests = { ...droplet.secretDigests, userData: "0123456789abcdef" };
    const change = diffPlans(staging, head).changed.find((c) => c.resource.name === "host-droplet")!;
    assert.deepEqual([change.replaced, change.reasons], [true, ["userData"]]);
    // A plan from before the digests compares by the mask, as it always did: no change from the format alone.
    const before = clone();
    delete byName(before, "host-droplet").secretDigests;
    assert.equal(diffPlans(before, staging).changed.find((c) => c.resource.name === "host-droplet"), undefined);
});
