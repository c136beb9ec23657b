// A stack on an EXISTING host (host.address), realised on this machine standing in for the host
// (machine.ts): the host's settings are installed by the real host/apply-host-files.sh, and a
// retention change applied to the running stack changes the timers and leaves every container
// untouched (same container ids).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { before, test } from "node:test";
import { diffPlans } from "../../tools/planDiff";
import type { PlanDocument } from "../../tools/planner";
import { HOST_DIR } from "../../components/hostFiles";
import { LABEL_SERVICE } from "../../components/naming";
import { E2eStack, engine, LABEL_INSTANCE, MORE_IMAGES, resource, type Keys } from "./harness";
import { changeImageUnderLoad, edgeRequest, waitServed } from "./edgeClient";
import { afterStackAndPebble, Pebble } from "./pebble";
import { MACHINE_DIRS } from "./machine";
import type { Action } from "./realise";

/** The one machine the stack's connections may lead to (the stack file's host). */
const MACHINE = { host: "127.0.0.1", user: "root" };
const stack = new E2eStack("existing", { stackFile: path.join(__dirname, "Pulumi.e2e-existing.yaml"), machine: MACHINE });
const machine = stack.machine!;
/** The ACME CA the stack's edge orders its certificates from. */
const pebble = new Pebble(path.join(stack.work, "pebble"));
let keysA: Keys;
/** Plan B: only the retention and the schedule differ from plan A. */
let keysB: Keys;

let planA: PlanDocument;
let actionsA: Action[];
/** The real host directories' entries before anything ran on the machine. */
let realBefore: string[][];
const realEntries = () => MACHINE_DIRS.map((dir) => fs.readdirSync(dir).sort());

interface BundleFile {
    path: string;
    mode: string;
    content: Buffer;
}

/** The files and units host-settings hands to apply-host-files.sh in `plan`. */
function bundleOf(plan: PlanDocument): { files: BundleFile[]; enable: string[] } {
    const bundle = JSON.parse(String(resource(plan, "host-settings").inputs.stdin));
    return {
        files: bundle.files.map((f: { path: string; mode: string; content: string }) => ({ path: f.path, mode: f.mode, content: Buffer.from(f.content, "base64") })),
        enable: bundle.enable,
    };
}

const onMachine = (hostPath: string) => fs.readFileSync(machine.scratch(hostPath), "utf8");
const modeOf = (file: string) => `0${(fs.statSync(file).mode & 0o777).toString(8)}`;

/** Every file of the plan's bundle is on the machine as declared, and the manifest lists exactly the bundle. */
function assertInstalled(plan: PlanDocument): void {
    const bundle = bundleOf(plan);
    for (const f of bundle.files) {
        const file = machine.scratch(f.path);
        assert.ok(fs.existsSync(file), `${f.path} was not installed`);
        assert.ok(fs.readFileSync(file).equals(f.content), `${f.path} differs from the bundle`);
        assert.equal(modeOf(file), f.mode, `${f.path}: mode`);
    }
    const manifest = onMachine("/var/lib/housing-portal/host-files.manifest").split("\n").filter(Boolean);
    assert.deepEqual(manifest, [...bundle.files.map((f) => `file ${f.path}`), ...bundle.enable.map((u) => `unit ${u}`)]);
}

/** What apply-host-files.sh reported at the end of its run (its last line). */
function appliedLine(): string {
    const lines = stack.log.filter((l) => l.startsWith("host-settings: "));
    const m = /apply-host-files: applied .*$/.exec(lines[lines.length - 1] ?? "");
    assert.ok(m, `no report of apply-host-files.sh in the realiser's log:\n${lines.join("\n")}`);
    return m[0];
}

/** Each labelled container on the engine (an instance's, the edge's): its id, when it last started, whether it runs. */
async function containers(): Promise<Map<string, { id: string; startedAt: string; restarts: number; running: boolean }>> {
    const list: { Id: string }[] = [];
    for (const label of [LABEL_INSTANCE, LABEL_SERVICE]) {
        const filter = encodeURIComponent(JSON.stringify({ label: [label] }));
        list.push(...await engine.request("GET", `/containers/json?all=true&filters=${filter}`));
    }
    const out = new Map<string, { id: string; startedAt: string; restarts: number; running: boolean }>();
    for (const c of list) {
        const i = await engine.request("GET", `/containers/${c.Id}/json`);
        out.set(String(i.Name).replace(/^\//, ""), { id: i.Id, startedAt: i.State.StartedAt, restarts: i.RestartCount, running: i.State.Running === true });
    }
    return out;
}

const declaredContainers = (plan: PlanDocument) =>
    plan.resources.filter((r) => r.type === "docker:index/container:Container").map((r) => String(r.inputs.name)).sort();

/** Every database and backend answers, and every portal answers through the edge on 443. */
async function portalsReady(plan: PlanDocument): Promise<void> {
    await stack.waitReady(plan);
    for (const instance of stack.instances()) {
        await waitServed(pebble.root, stack.instanceDomain(instance));
        const health = await edgeRequest(pebble.root, stack.instanceDomain(instance), "GET", "/api/health");
        assert.equal(health.status, 200, `${instance}: /api/health answered ${health.status} ${health.body}`);
    }
}

before(async () => {
    await pebble.start();
    keysA = { ...stack.keys, edge: pebble.edgeSettings() };
    keysB = { ...keysA, snapshots: { ...keysA.snapshots, everyHours: 12, at: "03:30", retain: 9 } };
    await stack.prepareVolume();
    realBefore = realEntries();
    planA = await stack.planOf(keysA);
    actionsA = await stack.realisePlan(planA);
    await portalsReady(planA);
}, { timeout: 900_000 });
afterStackAndPebble(stack, pebble);

test("the existing host's settings are installed by the real host/apply-host-files.sh on the machine, and nothing in the real system directories", () => {
    // Every remote command ran on the machine; the registration only has a delete.
    const remote = planA.resources.filter((r) => r.type === "command:remote:Command");
    assert.deepEqual(
        actionsA.filter((a) => a.type === "command:remote:Command").map((a) => `${a.name}: ${a.action}`).sort(),
        remote.map((r) => `${r.name}: ${r.inputs.create === undefined ? "created" : "ran"}`).sort(),
    );
    // host-tools installed the installer, host-settings ran it with the bundle.
    const installer = machine.scratch("/usr/local/sbin/housing-portal-apply-host-files");
    assert.equal(fs.readFileSync(installer, "utf8"), fs.readFileSync(path.join(HOST_DIR, "apply-host-files.sh"), "utf8"));
    assert.equal(modeOf(installer), "0755");
    assertInstalled(planA);
    const files = bundleOf(planA).files.length;
    assert.equal(appliedLine(), `apply-host-files: applied ${files} file(s), ${files} changed; ${bundleOf(planA).enable.length} unit(s) enabled`);
    // The schedule and retention of plan A: dumps 15 minutes before each 6-hourly window from 02:00 UTC, 7 kept.
    assert.match(onMachine("/etc/systemd/system/housing-portal-dump.timer"), /^OnCalendar=\*-\*-\* 01,07,13,19:45:00 UTC$/m);
    assert.match(onMachine("/etc/housing-portal/dump.env"), /^RETAIN=7$/m);
    assert.match(onMachine("/etc/housing-portal/backup-status.env"), /^DUMP_INTERVAL_HOURS=6$/m);
    // Every unit file is new: systemd reloaded, then each timer enabled and (re)started.
    const calls = machine.systemctlCalls();
    assert.equal(calls[0], "daemon-reload", calls.join("\n"));
    for (const unit of bundleOf(planA).enable) {
        assert.ok(calls.includes(`enable ${unit}`) && calls.includes(`restart ${unit}`), `${unit} was not enabled and restarted:\n${calls.join("\n")}`);
    }
    // The instances' -dirs steps registered them on the data volume.
    assert.deepEqual(fs.readdirSync(path.join(stack.dataRoot, ".housing-portal", "instances")).sort(), [...stack.instances()].sort());
    // The real directories got nothing: the bind mounts were the commands' namespace's only.
    assert.deepEqual(realEntries(), realBefore, `the real ${MACHINE_DIRS.join(", ")} changed`);
});

test("a retention change applied to the running stack changes the timers and leaves every container untouched (same container ids)", { timeout: 600_000 }, async () => {
    const running = await containers();
    assert.deepEqual([...running.keys()].sort(), declaredContainers(planA), "the engine's containers are not the plan's");
    const callsBefore = machine.systemctlCalls().length;

    const planB = await stack.planOf(keysB);
    const diff = diffPlans(planA, planB);
    const actions = await stack.realisePlan(planB, planA);

    // Every container is the same one, never restarted, and runs.
    const now = await containers();
    assert.deepEqual([...now.keys()].sort(), [...running.keys()].sort());
    for (const [name, was] of running) {
        const is = now.get(name)!;
        assert.equal(is.id, was.id, `${name} was replaced`);
        assert.equal(is.startedAt, was.startedAt, `${name} was restarted`);
        assert.equal(is.restarts, was.restarts, `${name} was restarted`);
        assert.ok(is.running, `${name} does not run`);
    }
    await portalsReady(planB);

    // The realiser did exactly what the plan diff predicts: what changes ran (none is replaced), all else was kept.
    assert.deepEqual(diff.added.map((r) => r.name), []);
    assert.deepEqual(diff.removed.map((r) => r.name), []);
    const did = actions.filter((a) => !["kept", "checked", "skipped"].includes(a.action)).map((a) => `${a.name}: ${a.action}`).sort();
    assert.deepEqual(did, diff.changed.map((c) => `${c.resource.name}: ${c.replaced ? "replaced" : "ran"}`).sort(), "the realiser did other than the plan diff predicts");
    // ... and what changes is the host's settings alone.
    assert.deepEqual(diff.changed.map((c) => `${c.resource.name}: ${c.fields.join(", ")}`), ["host-settings: stdin"]);

    // The new values are installed: dumps at 03:15 and 15:15 UTC (before each 12-hourly window from 03:30), 9 kept.
    assertInstalled(planB);
    assert.match(onMachine("/etc/systemd/system/housing-portal-dump.timer"), /^OnCalendar=\*-\*-\* 03,15:15:00 UTC$/m);
    assert.match(onMachine("/etc/housing-portal/dump.env"), /^RETAIN=9$/m);
    assert.match(onMachine("/etc/housing-portal/backup-status.env"), /^SNAPSHOT_INTERVAL_HOURS=12$/m);
    assert.match(onMachine("/etc/housing-portal/backup-status.env"), /^DUMP_INTERVAL_HOURS=12$/m);
    // apply-host-files.sh wrote the four files that changed (the weekly restore check follows snapshots.at) and left the others alone.
    const changed = bundleOf(planB).files.filter((f) => !bundleOf(planA).files.some((o) => o.path === f.path && o.content.equals(f.content)));
    assert.deepEqual(changed.map((f) => f.path).sort(), [
        "/etc/housing-portal/backup-status.env", "/etc/housing-portal/dump.env", "/etc/systemd/system/housing-portal-dump.timer",
        "/etc/systemd/system/housing-portal-restore-check.timer",
    ]);
    assert.equal(appliedLine(), `apply-host-files: applied ${bundleOf(planB).files.length} file(s), ${changed.length} changed; ${bundleOf(planB).enable.length} unit(s) enabled`);

    // systemd was reloaded, then the changed timer restarted (it recomputes its calendar); the unchanged one was not.
    const calls = machine.systemctlCalls().slice(callsBefore);
    const reload = calls.indexOf("daemon-reload");
    const restart = calls.indexOf("restart housing-portal-dump.timer");
    assert.ok(reload >= 0 && restart > reload, `expected daemon-reload, then restart housing-portal-dump.timer:\n${calls.join("\n")}`);
    assert.ok(!calls.includes("restart housing-portal-backup-status.timer"), `the unchanged timer was restarted:\n${calls.join("\n")}`);
    assert.deepEqual(realEntries(), realBefore, `the real ${MACHINE_DIRS.join(", ")} changed`);
    stack.plan = planB;
});

test("as on every cloud stack, backend and nginx image changes are start-before-stop: the new container is healthy before the old one is sent its graceful stop; no request through the edge fails", { timeout: 900_000 }, async () => {
    const [instance] = stack.instances();
    for (const [role, image, signal] of [["nginx", MORE_IMAGES.nginx2, 3], ["backend", MORE_IMAGES.backend2, 15]] as const) {
        const change = await changeImageUnderLoad(stack, keysB, pebble.root, instance, role, image);
        process.stdout.write(`# existing host: requests to ${instance} while its ${role} image changed: ${change.counted.ok} answered 200, ${change.counted.failed.length} failed\n`);
        assert.ok(change.counted.ok > 0);
        assert.deepEqual(change.counted.failed, [], `requests failed while ${instance}'s ${role} image changed`);
        assert.notEqual(change.after.Name, change.before.Name, `${role}: a new name for the new container`);
        assert.equal(change.after.Config.Image, image);
        assert.ok(change.startedFirst, `${role} events:\n${change.events.join("\n")}`);
        assert.equal(change.stopSignals[0], signal, `the old ${role} was sent ${change.stopSignals.join(", ")} first`);
        assert.equal(await engine.find(`/containers/${change.before.Id}/json`), undefined, `the old ${role} is still there`);
    }
});

test("a plan whose SSH connection or docker host leads anywhere but the declared machine is refused before anything is touched", async () => {
    const before = await containers();
    const elsewhere = (edit: (r: PlanDocument["resources"][number]) => void): PlanDocument => {
        const plan: PlanDocument = JSON.parse(JSON.stringify(stack.plan));
        plan.resources.forEach(edit);
        return plan;
    };
    // 192.0.2.10 (TEST-NET-1) is never dialled: the realiser refuses while reading the plan.
    const otherCommandHost = elsewhere((r) => {
        if (r.name === "host-settings") (r.inputs.connection as { host: string }).host = "192.0.2.10";
    });
    await assert.rejects(stack.realisePlan(otherCommandHost, stack.plan), /host-settings: connects to root@192\.0\.2\.10:22, not the declared machine root@127\.0\.0\.1:22/);
    const otherDockerHost = elsewhere((r) => {
        if (r.type === "pulumi:providers:docker") r.inputs.host = "ssh://root@192.0.2.10";
    });
    await assert.rejects(stack.realisePlan(otherDockerHost, stack.plan), /the docker provider says host="ssh:\/\/root@192\.0\.2\.10"/);
    assert.deepEqual(await containers(), before);
});
