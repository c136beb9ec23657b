// The data-loss drills, on a real engine with real databases. Each drill writes known rows and
// files first and asserts afterwards that they, and everything written by the drills before
// it, are still there. They run in order on one stack, so a later drill also proves that the
// earlier ones left a working stack behind.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { FakeDoApi } from "../host/fake-do-api";
import { isFrozen, isImmutable, isMountPoint, run, runScript, scriptEnv } from "../host/helpers";
import { FakeS3, WebhookReceiver, loopbackCertificate, runAsUnit } from "../host/offsite-fixture";
import type { PlanDocument } from "../../tools/planner";
import {
    assertAsPredicted, checksumsIn, containerName, e2eKeys, predictedChanges, PROJECT_DIR, realisedChanges, docker, dockerTry, E2eStack, engine, IMAGES, LABEL_INSTANCE, loopDevicesOf, LoopVolume, passwordOf, psql, psqlTcp,
    removeContainers, removeLabelled, resource, seed, Seeded, verifySeeded, waitDatabase, WaitAborted, waitFor, type Keys,
} from "./harness";
import { RealiseError } from "./realise";

const stack = new E2eStack("drills");
const [A, B] = stack.instances();
/** Everything the drills wrote so far: every drill checks all of it. */
const seeded: Seeded[] = [];

async function seedAll(tag: string, instances = stack.instances()): Promise<void> {
    for (const instance of instances) seeded.push(await seed(stack, instance, tag));
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

/** The volume is really detached: no device link, no loop device on its image, nothing mounted. */
function assertDetached(volume: LoopVolume): void {
    assert.equal(fs.lstatSync(volume.link, { throwIfNoEntry: false }), undefined, `${volume.link} is still there`);
    assert.deepEqual(loopDevicesOf(volume.image), [], `${volume.image} is still attached`);
    assert.ok(!isMountPoint(volume.mountPoint), `${volume.mountPoint} is still mounted`);
}

const withoutInstance = (keys: Keys, name: string): Keys => ({ ...keys, instances: keys.instances.filter((i: { name: string }) => i.name !== name) });

before(() => stack.setup(), { timeout: 900_000 });
after(() => stack.teardown(), { timeout: 300_000 });

test("drill 1: containers removed and recreated keep every row and file", { timeout: 600_000 }, async () => {
    await seedAll("d1");
    await removeContainers(stack.plan!);
    const gone = await engine.request("GET", `/containers/json?all=true&filters=${encodeURIComponent(JSON.stringify({ label: [LABEL_INSTANCE] }))}`);
    assert.equal(gone.length, 0, "the containers were not removed");
    const actions = await stack.realisePlan(stack.plan!, stack.plan!);
    assert.equal(actions.filter((a) => a.type === "docker:index/container:Container" && a.action === "created").length, 3 * stack.instances().length);
    assert.ok(actions.filter((a) => a.type === "docker:index/volume:Volume").every((a) => a.action === "kept"));
    await stack.waitReady();
    await verifySeeded(stack, seeded);
});

test("drill 2: an instance removed from config keeps its database volume; re-added, it has the same rows", { timeout: 600_000 }, async () => {
    await seedAll("d2");
    // The retained database must not depend on the password it was initialised with (a new
    // instance entry gets a new generated password in a real stack): give it another one now.
    await psql(containerName(B, "postgis"), "ALTER ROLE portal PASSWORD 'set-before-the-instance-was-removed';");
    const full = stack.plan!;
    const without = await stack.planOf(withoutInstance(stack.keys, B));
    const removed = await stack.realisePlan(without, full);
    assertAsPredicted(removed, full, without);
    const mine = removed.filter((a) => a.name.startsWith(`${B}-`));
    assert.deepEqual(mine.filter((a) => a.action === "retained").map((a) => a.name), [`${B}-postgis-data`]);
    assert.ok(mine.some((a) => a.name === `${B}-postgis` && a.action === "deleted"));
    assert.ok(await engine.find(`/volumes/housing-portal-${B}-postgis-data`), "the removed instance's database volume is gone");
    assert.equal(await engine.find(`/containers/${containerName(B, "postgis")}/json`), undefined);
    assert.ok(fs.existsSync(path.join(stack.dataRoot, "postgis", B, "pgdata", "PG_VERSION")), "the removed instance's cluster is gone");
    // The other instance is untouched.
    assert.ok(removed.filter((a) => a.name.startsWith(`${A}-`) && a.type.startsWith("docker:")).every((a) => ["kept", "checked"].includes(a.action)));
    await verifySeeded(stack, seeded.filter((s) => s.instance === A));

    const readded = await stack.realisePlan(full, without);
    assertAsPredicted(readded, without, full);
    assert.ok(readded.some((a) => a.name === `${B}-postgis-data` && a.action === "adopted"), "the re-added instance did not get its old volume back");
    assert.ok(readded.some((a) => a.name === `${B}-db-login` && a.action === "ran"));
    await stack.waitReady();
    await verifySeeded(stack, seeded);
    // The backend logs in with the password the program declares for the re-added instance.
    const login = await psqlTcp(containerName(B, "backend"), "postgis", passwordOf(full, B), "SELECT count(*) FROM drill_rows;");
    assert.equal(login.code, 0, login.stderr);
});

test("drill 3: host replacement: released by the old host, detached, attached again, mounted without a format, realised on a bare engine", { timeout: 600_000 }, async () => {
    await seedAll("d3");
    // The old machine lets go of the volume as host-release-volume's delete does: the real script,
    // with the portal's containers running and writing. (Its systemctl is a no-op here: this
    // tier's dockerd is not systemd's, and the new "machine" is the same engine.)
    const released = await runScript("release-data-volume.sh", { MOUNT_POINT: stack.dataRoot, SYSTEMCTL: "true", DOCKER: "docker" });
    assert.equal(released.code, 0, released.stderr);
    assert.ok(!isMountPoint(stack.dataRoot), "the old host still has the volume mounted");
    for (const instance of stack.instances()) {
        for (const role of ["postgis", "backend", "nginx"] as const) {
            const state = await engine.find(`/containers/${containerName(instance, role)}/json`);
            assert.equal(state?.State?.Running, false, `${containerName(instance, role)} still runs on the old host`);
        }
    }
    await removeLabelled(); // the new host's engine knows nothing of the old one, database volumes included
    const oldDevice = stack.volume.device;
    await stack.volume.detach();
    assertDetached(stack.volume);
    await stack.volume.attach();
    const mounted = await stack.volume.mount();
    assert.doesNotMatch(mounted.stderr, /is blank: creating/, `the mount script formatted the volume:\n${mounted.stderr}`);
    assert.match(mounted.stderr, /holds an ext4 file system/);
    assert.match(mounted.stderr, /mounted /);
    assert.ok(isMountPoint(stack.dataRoot));
    assert.ok(oldDevice !== "" && stack.volume.device !== "");
    const onNewEngine = await stack.realisePlan(await stack.planOf(stack.keys));
    // What the new engine got is what the plan diff predicts a replaced machine gets, instance by
    // instance: staging's host image changed, planned as this stack (the instances are the same).
    const staging = e2eKeys(path.join(PROJECT_DIR, "Pulumi.staging.yaml"));
    const [oldMachine, newMachine] = await Promise.all([stack.planOf(staging), stack.planOf({ ...staging, host: { ...staging.host, image: "ubuntu-22-04-x64" } })]);
    const predicted = predictedChanges(oldMachine, newMachine);
    const names = (urns: Iterable<string>, instance: string) => [...urns].map((u) => u.split("::").pop()!).filter((n) => n.startsWith(`${instance}-`)).sort();
    const realised = [...realisedChanges(onNewEngine)].filter(([urn]) => !urn.includes("docker:index/volume:Volume")).map(([urn]) => urn);
    for (const instance of stack.instances()) {
        assert.deepEqual(names(realised, instance), names(predicted.keys(), instance), `${instance}: the new engine got other than a replaced machine gets`);
        // The database volume is not among them: the diff keeps it, and the new engine adopts its record.
        assert.ok(!names(predicted.keys(), instance).includes(`${instance}-postgis-data`));
        assert.ok(onNewEngine.some((a) => a.name === `${instance}-postgis-data` && a.action === "adopted"));
    }
    // Each database volume is back on the new engine, bound to the data volume: made by the
    // instance's -dirs step (host/prepare-instance-dirs.sh) before anything could mount it.
    for (const instance of stack.instances()) {
        const volume = await engine.find(`/volumes/${encodeURIComponent(`housing-portal-${instance}-postgis-data`)}`);
        assert.equal(volume?.Options?.device, path.join(stack.dataRoot, "postgis", instance));
    }
    await stack.waitReady();
    await verifySeeded(stack, seeded);
});

test("drill 4: a snapshot taken by host/snapshot-volume.sh under live writes restores to a database with every committed row", { timeout: 600_000 }, async () => {
    await seedAll("d4");
    const live = containerName(A, "postgis");
    await psql(live, "CREATE TABLE IF NOT EXISTS live_rows (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT now());");

    const api = new FakeDoApi();
    await api.start();
    const copy = path.join(stack.work, "snapshot-copy.img");
    const tokenFile = path.join(stack.work, "do-token");
    fs.writeFileSync(tokenFile, api.token, { mode: 0o600 });
    // Commits the writer has seen acknowledged; at the snapshot, a copy of them.
    const acked: number[] = [];
    let ackedAtSnapshot: number[] | undefined;
    let frozenAtSnapshot: boolean | undefined;
    api.onCreate = () => {
        // The snapshot request arrives while the file system is frozen: the copy taken now is
        // what the cloud would store. It runs synchronously, so nothing moves meanwhile.
        frozenAtSnapshot = isFrozen(stack.dataRoot);
        ackedAtSnapshot = [...acked];
        const cp = spawnSync("cp", ["--sparse=always", stack.volume.image, copy], { encoding: "utf8" });
        if (cp.status !== 0) throw new Error(`copying the volume image failed: ${cp.stderr}`);
    };

    let writing = true;
    let writerError: unknown;
    const writer = (async () => {
        for (let id = 1; writing; id++) {
            await psql(live, `INSERT INTO live_rows (id) VALUES (${id});`);
            acked.push(id);
        }
    })().catch((e: unknown) => {
        writerError = e;
    });
    /** Waits until the writer has `n` acknowledged commits (and stops at once when it failed). */
    const ackedAtLeast = (n: number) => waitFor(`${n} commits acknowledged to the live writer`, () => {
        if (writerError !== undefined) throw new WaitAborted(`the live writer failed: ${writerError}`);
        return acked.length >= n;
    }, { lastSeen: () => `${acked.length} acknowledged` });
    try {
        await ackedAtLeast(20);
        const r = await runScript("snapshot-volume.sh", {
            VOLUME_ID: "e2e-volume", TOKEN_FILE: tokenFile, API_URL: api.url, MOUNT_POINT: stack.dataRoot,
            RETAIN: "3", SNAPSHOT_PREFIX: "hp-e2e", STATUS_FILE: path.join(stack.work, "snapshot.last-success"),
            LOCK_FILE: path.join(stack.work, "snapshot.lock"), API_TIMEOUT_SECONDS: "120",
        }, 300_000);
        assert.equal(r.code, 0, r.stderr);
        const atSnapshot = acked.length;
        await ackedAtLeast(atSnapshot + 10); // the live database goes on after the thaw
    } finally {
        writing = false;
        await writer;
        await api.stop();
    }
    assert.equal(writerError, undefined, `the live writer failed: ${writerError}`);
    assert.equal(frozenAtSnapshot, true, "the file system was not frozen when the snapshot was requested");
    assert.ok(ackedAtSnapshot && ackedAtSnapshot.length >= 20);
    assert.equal(api.snapshots.length, 1);
    assert.match(api.snapshots[0].name, /^hp-e2e-/);
    assert.ok(!isFrozen(stack.dataRoot), "the live file system was left frozen");

    // Attach the copy as a new volume, mount it with the real script, start PostGIS on it.
    const restored = new LoopVolume(copy, `${stack.dataRoot}-restored`, stack.work, "drills-restored");
    stack.extra.push(restored);
    await restored.attach();
    const mounted = await restored.mount();
    assert.doesNotMatch(mounted.stderr, /is blank: creating/);
    assert.match(mounted.stderr, /holds an ext4 file system/);
    const restoredDb = "housing-portal-e2e-restored-postgis";
    const declared = resource(stack.plan!, `${A}-postgis`).inputs.envs as string[];
    await docker(["run", "-d", "--name", restoredDb, "--label", `${LABEL_INSTANCE}=e2e-restored`,
        ...declared.flatMap((e) => ["-e", e]), "--network", "none", "-v", `${restored.mountPoint}/postgis/${A}:/var/lib/postgresql`, IMAGES.postgis]);
    await waitDatabase(restoredDb);
    const logs = await dockerTry(["logs", restoredDb]);
    assert.match(logs.stderr + logs.stdout, /holds a cluster/, "the restored cluster was initialised anew instead of started");
    assert.deepEqual(await checksumsIn(restoredDb, seeded.filter((s) => s.instance === A)), seeded.filter((s) => s.instance === A).map((s) => s.checksum));
    const restoredIds = new Set((await psql(restoredDb, "SELECT id FROM live_rows ORDER BY id;")).split("\n").filter(Boolean).map(Number));
    const lost = ackedAtSnapshot!.filter((id) => !restoredIds.has(id));
    assert.deepEqual(lost, [], "committed rows are missing from the snapshot");
    // The writer is serial: the snapshot holds a gapless prefix of its rows.
    assert.equal(Math.max(...restoredIds), restoredIds.size);
    await docker(["rm", "-f", restoredDb]);
    restored.unmount();
    // The live stack is unharmed.
    await verifySeeded(stack, seeded);
});

test("drill 5: the volume missing at boot: the mount script fails and nothing lands on the root disk", { timeout: 600_000 }, async () => {
    await seedAll("d5");
    await removeLabelled();
    stack.volume.unmount();
    await stack.volume.detach();
    // The boot starts only once the volume is really gone (the condition, not a pause).
    assertDetached(stack.volume);

    const fstab = path.join(stack.work, "fstab");
    const fstabBefore = fs.readFileSync(fstab, "utf8");
    // WAIT_SECONDS=0: the device is known to be absent, so the verdict cannot depend on how long
    // the script waits for it (waiting for a device that comes late is the host tier's subject).
    const boot = await stack.volume.mountScript(0);
    assert.equal(boot.timedOut, false, `the mount script hung:\n${boot.stderr}`);
    assert.equal(boot.code, 1, `the mount script did not fail as it should without its device (exit ${boot.code}):\n${boot.stderr}`);
    assert.match(boot.stderr, new RegExp(`^mount-data-volume: error: ${escapeRe(stack.volume.link)} did not appear within \\d+s; ${escapeRe(stack.dataRoot)} stays unmounted and guarded$`, "m"));
    assert.doesNotMatch(boot.stderr, /is blank: creating|: mounted |^mount-data-volume: fstab:/m, `the mount script went on without its device:\n${boot.stderr}`);
    assert.equal(fs.readFileSync(fstab, "utf8"), fstabBefore, "the failed boot changed the fstab");
    assert.ok(!isMountPoint(stack.dataRoot));
    assert.ok(isImmutable(stack.dataRoot), "the bare mount point is not guarded");

    // A container that writes to its data path finds nowhere to write.
    const write = await dockerTry(["run", "--rm", "--label", `${LABEL_INSTANCE}=e2e-boot`, "--network", "none",
        "-v", `${stack.dataRoot}:/data`, IMAGES.postgis, "sh", "-c", `mkdir -p /data/postgis/${A} && echo lost > /data/postgis/${A}/file`]);
    assert.notEqual(write.code, 0, "a container wrote onto the bare mount point");
    assert.match(write.stderr, /Operation not permitted|Permission denied/);
    // The program itself refuses: the instance directories are not made on the root disk.
    const plan: PlanDocument = await stack.planOf(stack.keys);
    // The realiser fails only after everything it started has finished, with every cause: each
    // instance's directories command refused, and nothing else went wrong.
    const refused = await stack.realisePlan(plan).then(() => undefined, (e: unknown) => e);
    assert.ok(refused instanceof RealiseError, `the plan was realised without its volume: ${refused}`);
    const causes = refused.errors.map((e) => e.message);
    assert.deepEqual(causes.map((m) => /^realise: command:local:Command (\S+) failed/.exec(m)?.[1]).sort(), stack.instances().map((i) => `${i}-dirs`).sort(), causes.join("\n---\n"));
    for (const m of causes) assert.match(m, /is not a mount point: the data volume is not mounted; refusing to create anything on the root disk/);
    for (const instance of stack.instances()) {
        const state = await engine.find(`/containers/${containerName(instance, "postgis")}/json`);
        assert.ok(!state?.State?.Running, `${instance}'s PostGIS runs without its volume`);
    }
    // Not one container of the plan was even created (the realiser has finished all it started).
    for (const r of plan.resources.filter((x) => x.type === "docker:index/container:Container")) {
        assert.equal(await engine.find(`/containers/${encodeURIComponent(String(r.inputs.name))}/json`), undefined, `${r.inputs.name} was created without the volume`);
    }
    assert.deepEqual(fs.readdirSync(stack.dataRoot), [], "something was written to the root disk under the mount point");

    // The volume comes back: everything is there.
    await removeLabelled();
    await stack.volume.attach();
    await stack.volume.mount();
    stack.plan = await stack.realise(stack.keys);
    await stack.waitReady();
    await verifySeeded(stack, seeded);
});

test("drill 6: a stopped instance fails the dump by name; a dump from host/dump-databases.sh restored into a fresh instance has the same rows", { timeout: 600_000 }, async () => {
    await seedAll("d6");
    const backups = path.join(stack.dataRoot, "backups");
    // The registry the instances' -dirs steps wrote on the data volume: the dump must cover each.
    const registry = path.join(stack.dataRoot, ".housing-portal", "instances");
    assert.deepEqual(fs.readdirSync(registry).sort(), [...stack.instances()].sort());
    const statusFile = path.join(stack.work, "dump.last-success");
    const dumpSettings = { BACKUP_ROOT: backups, RETAIN: "3", INSTANCES_DIR: registry, STATUS_FILE: statusFile, LOCK_FILE: path.join(stack.work, "dump.lock") };

    await docker(["stop", containerName(B, "postgis")]);
    const gap = await runScript("dump-databases.sh", dumpSettings, 300_000);
    assert.equal(gap.code, 1, gap.stderr);
    assert.match(gap.stderr, new RegExp(`not dumped: .*\\b${B}\\b`), "the stopped instance is named");
    assert.ok(!fs.existsSync(statusFile), "a run with a gap records no success");
    await docker(["start", containerName(B, "postgis")]);
    await waitDatabase(containerName(B, "postgis"));

    const r = await runScript("dump-databases.sh", dumpSettings, 300_000);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(fs.existsSync(statusFile));
    // One from each run: the run with a gap still dumped what it could.
    const dumps = fs.readdirSync(path.join(backups, A)).filter((f) => f.endsWith(".dump")).sort().reverse();
    assert.equal(dumps.length, 2, `dumps of ${A}: ${dumps.join(", ")}`);

    const fresh = "chile";
    const keys = { ...stack.keys, instances: [...stack.keys.instances, { name: fresh, domain: `${fresh}.e2e.test`, port: 18089 }] };
    const before = stack.plan!;
    const plan = await stack.planOf(keys);
    await stack.realisePlan(plan, before);
    await waitDatabase(containerName(fresh, "postgis"));
    const dump = fs.readFileSync(path.join(backups, A, dumps[0]));
    // The restore command of docs/backups.md: as the superuser, keeping the dump's owners, so the
    // rows are the backend's role's again.
    const restore = await dockerTry(["exec", "-i", containerName(fresh, "postgis"), "sh", "-c",
        'pg_restore --clean --if-exists -U "$POSTGRES_USER" -d "$POSTGRES_DB"'], dump);
    assert.equal(restore.code, 0, restore.stderr);
    const fromA = seeded.filter((s) => s.instance === A);
    assert.deepEqual(await checksumsIn(containerName(fresh, "postgis"), fromA), fromA.map((s) => s.checksum));
    // Back to the committed stack; the fresh instance's volume is retained, like any removed one.
    await stack.realisePlan(before, plan);
    stack.plan = before;
    await verifySeeded(stack, seeded);
});

test("drill 7: a new backend image for one instance changes exactly what the plan diff predicts; every other container keeps its id and rows", { timeout: 600_000 }, async () => {
    await seedAll("d7");
    // A second tag of the stand-in image: a new reference, as a new release would be.
    const next = { repo: IMAGES.backend.split(":")[0], tag: "1-next" };
    await engine.request("POST", `/images/${encodeURIComponent(IMAGES.backend)}/tag?repo=${encodeURIComponent(next.repo)}&tag=${next.tag}`);
    // By resource: the container's Docker name (backend's changes with its image) and its id.
    const ids = async (plan: PlanDocument) => new Map(await Promise.all(plan.resources.filter((r) => r.type === "docker:index/container:Container")
        .map(async (r) => [r.name, { name: String(r.inputs.name), id: (await engine.find(`/containers/${encodeURIComponent(String(r.inputs.name))}/json`))?.Id as string }] as const)));
    const before = stack.plan!;
    const idsBefore = await ids(before);
    const keys = { ...stack.keys, instances: stack.keys.instances.map((i: { name: string }) => (i.name === A ? { ...i, images: { backend: `${next.repo}:${next.tag}` } } : i)) };
    const plan = await stack.planOf(keys);
    const updated = await stack.realisePlan(plan, before);
    assertAsPredicted(updated, before, plan);
    const idsAfter = await ids(plan);
    for (const [resource, was] of idsBefore) {
        const now = idsAfter.get(resource)!;
        if (resource === `${A}-backend`) {
            // Created next to the old one under a new name; the old one deleted last.
            assert.notEqual(now.name, was.name, `${resource} kept its name`);
            assert.ok(now.id && now.id !== was.id, `${resource} still runs the old image`);
            assert.equal(await engine.find(`/containers/${was.id}/json`), undefined, `the old ${was.name} is still there`);
        } else assert.deepEqual(now, was, `${was.name} was recreated, though only ${A}'s backend image changed`);
    }
    await stack.waitReady();
    await verifySeeded(stack, seeded);
    // And back to the committed image, again exactly as predicted.
    const back = await stack.realisePlan(before, plan);
    assertAsPredicted(back, plan, before);
    await stack.waitReady();
    await verifySeeded(stack, seeded);
    await engine.remove(`/images/${encodeURIComponent(`${next.repo}:${next.tag}`)}`);
});

test("drill 8: dumps copied off-site with restic; the instance and its data destroyed; restored from the off-site copy into a fresh instance, as docs/backups.md says; the weekly restore check passes on a good dump and fails, with one alert, on a truncated one", { timeout: 900_000 }, async () => {
    await seedAll("d8");
    const backups = path.join(stack.dataRoot, "backups");
    const registry = path.join(stack.dataRoot, ".housing-portal", "instances");
    const work = path.join(stack.work, "offsite");
    fs.mkdirSync(work, { recursive: true, mode: 0o700 });
    // The stack's instances (drill 6's fresh one left a marker in the registry: a local engine runs no removal commands).
    const INSTANCES = stack.instances().join(" ");
    const dump = await runScript("dump-databases.sh", { BACKUP_ROOT: backups, RETAIN: "3", INSTANCES, INSTANCES_DIR: registry, STATUS_FILE: path.join(work, "dump.last-success"), LOCK_FILE: path.join(work, "dump.lock") }, 300_000);
    assert.equal(dump.code, 0, dump.stderr);

    // The off-site storage (S3-compatible, TLS on loopback) and the webhook, both started here.
    const tls = loopbackCertificate(work);
    const s3 = new FakeS3(path.join(work, "s3"), tls, "portal-backups");
    const hook = new WebhookReceiver();
    await s3.start();
    await hook.start();
    try {
        fs.writeFileSync(path.join(work, "credentials"), "AWS_ACCESS_KEY_ID=S3RVER\nAWS_SECRET_ACCESS_KEY=e2e-secret\n", { mode: 0o600 });
        fs.writeFileSync(path.join(work, "password"), "e2e off-site password\n", { mode: 0o600 });
        fs.writeFileSync(path.join(work, "webhook"), `${hook.url}\n`, { mode: 0o600 });
        const edge = path.join(stack.dataRoot, "edge");
        fs.mkdirSync(path.join(edge, "caddy"), { recursive: true });
        fs.writeFileSync(path.join(edge, "caddy", "acme-account.json"), "{}\n");
        const hostTag = "housing-portal-e2e";
        const offsite = {
            REPOSITORY: s3.repository(hostTag), HOST_TAG: hostTag, CREDENTIALS_FILE: path.join(work, "credentials"), PASSWORD_FILE: path.join(work, "password"),
            BACKUP_ROOT: backups, EXTRA_PATHS: edge, CACERT: tls.cert, CACHE_DIR: path.join(work, "cache"), TIMEOUT_SECONDS: "300",
            STATUS_FILE: path.join(work, "offsite.last-success"), CHECK_STATUS_FILE: path.join(work, "offsite-check.last-success"), LOCK_FILE: path.join(work, "offsite.lock"),
        };
        const copied = await runScript("offsite-backup.sh", offsite, 600_000);
        assert.equal(copied.code, 0, copied.stderr);

        // The weekly restore check: the newest dumps restore into throwaway PostGIS containers and match their counts.
        const check = {
            BACKUP_ROOT: backups, INSTANCES, INSTANCES_DIR: registry, STATUS_FILE: path.join(work, "restore-check.last-success"), RESULT_DIR: work,
            LOCK_FILE: path.join(work, "restore-check.lock"), NETWORK: "housing-portal_restore-check", CONTAINER_PREFIX: "housing-portal_restore-check-",
        };
        // As the unit runs it: the check lists its results per instance, its ExecStopPost alerts per instance.
        const unit = async () => {
            const { run, alert } = await runAsUnit("restore-check.sh", "restore-check", check, {
                STACK: "e2e", HOST_NAME: "main", MACHINE: "e2e", WEBHOOK_URL_FILE: path.join(work, "webhook"), STATE_DIR: path.join(work, "alerts"),
            }, work, 600_000);
            assert.equal(alert.code, 0, alert.stderr);
            return run;
        };
        const good = await unit();
        assert.equal(good.code, 0, good.stderr);
        for (const i of stack.instances()) {
            assert.match(fs.readFileSync(path.join(work, `restore-check.${i}.result`), "utf8"), /^\S+ ok \d{8}T\d{6}Z\.dump restored; \d+ tables; PostGIS 3\.[0-9.]+; rows of \d+ tables as counted\n$/);
        }
        assert.ok(fs.existsSync(check.STATUS_FILE));
        assert.equal((await docker(["ps", "-aq", "--filter", "label=housing-portal.role=restore-check"])).trim(), "", "no throwaway container is left");
        assert.equal((await docker(["network", "inspect", "-f", "{{.Internal}}", check.NETWORK])).trim(), "true", "the throwaway server has no route out");
        assert.equal(hook.messages.length, 0);

        // A truncated newest dump of A (with the counts of a whole one) fails the check, by name, and alerts once, naming A.
        const newest = fs.readdirSync(path.join(backups, A)).filter((f) => f.endsWith(".dump")).sort().at(-1)!;
        const whole = fs.readFileSync(path.join(backups, A, newest));
        const truncated = "29991231T235959Z";
        fs.writeFileSync(path.join(backups, A, `${truncated}.dump`), whole.subarray(0, Math.floor(whole.length / 2)));
        fs.copyFileSync(path.join(backups, A, newest.replace(/\.dump$/, ".counts")), path.join(backups, A, `${truncated}.counts`));
        const bad = await unit();
        assert.equal(bad.code, 1, bad.stderr);
        assert.match(bad.stderr, new RegExp(`error: restore check failed: ${A} \\(pg_restore of ${truncated}\\.dump failed`));
        assert.doesNotMatch(bad.stderr.split("\n").at(-2) ?? "", new RegExp(`\\b${B}\\b.*FAILED`));
        assert.match(fs.readFileSync(path.join(work, `restore-check.${A}.result`), "utf8"), /^\S+ failed pg_restore of /);
        assert.match(fs.readFileSync(path.join(work, `restore-check.${B}.result`), "utf8"), /^\S+ ok /, "the other instance still passed");
        assert.equal((await unit()).code, 1);
        assert.equal(hook.messages.length, 1, "one message for the failure");
        assert.match(hook.messages[0].text, new RegExp(`^housing-portal e2e/main \\(e2e\\): restore-check FAILED for ${A} since \\S+ \\(last success: \\S+\\): pg_restore of ${truncated}\\.dump failed`));
        fs.rmSync(path.join(backups, A, `${truncated}.dump`));
        fs.rmSync(path.join(backups, A, `${truncated}.counts`));
        const again = await unit();
        assert.equal(again.code, 0, again.stderr);
        assert.equal(hook.messages.length, 2, "one message for the recovery");
        assert.match(hook.messages[1].text, new RegExp(`restore-check RECOVERED for ${A} at `));
        await docker(["network", "rm", check.NETWORK]);

        // A is destroyed: its containers, its database volume and cluster, its dumps on the volume.
        const before = stack.plan!;
        const without = await stack.planOf(withoutInstance(stack.keys, A));
        await stack.realisePlan(without, before);
        await docker(["volume", "rm", `housing-portal-${A}-postgis-data`]);
        fs.rmSync(path.join(stack.dataRoot, "postgis", A), { recursive: true, force: true });
        fs.rmSync(path.join(backups, A), { recursive: true, force: true });
        // ... and comes back empty, as on a new host.
        await stack.realisePlan(before, without);
        await stack.waitReady();
        assert.equal(await psql(containerName(A, "postgis"), "SELECT count(*) FROM pg_tables WHERE tablename = 'drill_rows';"), "0", `${A} starts empty`);

        // The runbook: restic restore of the latest copy of A's dumps, then pg_restore of the newest one.
        const target = path.join(work, "restore");
        const restored = await run("restic", ["restore", "latest", "--host", hostTag, "--include", path.join(backups, A), "--target", target, "--cacert", tls.cert], {
            env: scriptEnv({ RESTIC_REPOSITORY: offsite.REPOSITORY, RESTIC_PASSWORD_FILE: offsite.PASSWORD_FILE, AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "e2e-secret", RESTIC_CACHE_DIR: offsite.CACHE_DIR }),
            timeoutMs: 600_000,
        });
        assert.equal(restored.code, 0, restored.stderr);
        const dir = path.join(target, backups, A);
        const newestRestored = fs.readdirSync(dir).filter((f) => f.endsWith(".dump")).sort().at(-1)!;
        assert.equal(newestRestored, newest);
        const restore = await dockerTry(["exec", "-i", containerName(A, "postgis"), "sh", "-c",
            'pg_restore --clean --if-exists -U "$POSTGRES_USER" -d "$POSTGRES_DB"'], fs.readFileSync(path.join(dir, newestRestored)));
        assert.equal(restore.code, 0, restore.stderr);
        await verifySeeded(stack, seeded);
        // The edge's storage is in the copy too.
        const edgeRestore = await run("restic", ["restore", "latest", "--host", hostTag, "--include", edge, "--target", path.join(work, "edge-restore"), "--cacert", tls.cert], {
            env: scriptEnv({ RESTIC_REPOSITORY: offsite.REPOSITORY, RESTIC_PASSWORD_FILE: offsite.PASSWORD_FILE, AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "e2e-secret", RESTIC_CACHE_DIR: offsite.CACHE_DIR }),
            timeoutMs: 300_000,
        });
        assert.equal(edgeRestore.code, 0, edgeRestore.stderr);
        assert.equal(fs.readFileSync(path.join(work, "edge-restore", edge, "caddy", "acme-account.json"), "utf8"), "{}\n");
    } finally {
        s3.stop();
        hook.stop();
    }
});
