// Two hosts on two real Docker engines (test/e2e/Pulumi.e2e-hosts.yaml): host a is this machine's
// engine, host b a second dockerd in a network namespace of its own (test/e2e/engine-b.sh), each
// with its own loop-device data volume mounted by the real host/mount-data-volume.sh and its own
// edge with certificates from the local ACME CA. The plan is realised on both from its declared
// inputs (each Docker resource on its provider's engine, each local command on its DOCKER_HOST).
// Shown here: each instance runs on its host, its files on that host's volume only; each edge
// serves its own host's domains and refuses the other's; host a replaced as drill 3 replaces a
// host while every request to b's portals is answered; and an instance moved from a to b by
// docs/instances.md's runbook, served with the same rows at the same domain from b, its old
// database volume retained on a.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as tls from "node:tls";
import { after, before, test } from "node:test";
import type { PlanDocument, PlannedResource } from "../../tools/planner";
import { LABEL_INSTANCE } from "../../components/naming";
import { isMountPoint, run, runScript } from "../host/helpers";
import {
    assertAsPredicted, checksumSql, containerName, predictedChanges, docker, dockerTry, e2eKeys, e2ePlan, engine, LoopVolume, psql, removeLabelled, requireE2eTier, SEED_ROWS, SEED_TABLE,
    waitBackend, waitDatabase, WORK_BASE, WORK_PREFIX, type Keys,
} from "./harness";
import { Pebble } from "./pebble";
import { edgeRequest, loopRequests, waitServed, type LoopCount, type TlsAnswer } from "./edgeClient";
import { Engine, realise, type Action } from "./realise";

const STACK_FILE = path.join(__dirname, "Pulumi.e2e-hosts.yaml");
const ENGINE_B_SCRIPT = path.join(__dirname, "engine-b.sh");
const stackKeys = e2eKeys(STACK_FILE);
fs.mkdirSync(WORK_BASE, { recursive: true });
const work = fs.mkdtempSync(path.join(WORK_BASE, `${WORK_PREFIX}hosts-`));
const pebble = new Pebble(path.join(work, "pebble"));
const realiseLog: string[] = [];

type Role = "postgis" | "backend" | "nginx";
const ROLES: Role[] = ["postgis", "backend", "nginx"];
const DOCKER_TYPES = ["docker:index/container:Container", "docker:index/network:Network", "docker:index/volume:Volume", "docker:index/remoteImage:RemoteImage"];

/** One host of the stack as the test sees it: its engine, where its edge listens, its data volume. */
interface Host {
    readonly name: string;
    readonly engine: Engine;
    /** Where this machine reaches the host's published ports (its edge's 80 and 443, nginx's ports). */
    readonly address: string;
    readonly dataRoot: string;
    readonly volume: LoopVolume;
}
let A: Host;
let B: Host;
let keys: Keys;
let plan: PlanDocument;

interface InstanceEntry { name: string; domain: string; host: string; port: number }
const entries = (k: Keys = keys): InstanceEntry[] => k.instances as InstanceEntry[];
const instancesOn = (h: Host, k: Keys = keys) => entries(k).filter((i) => i.host === h.name).map((i) => i.name);
const domainOf = (instance: string) => entries(stackKeys).find((i) => i.name === instance)!.domain;
const other = (h: Host) => (h === A ? B : A);

/** The stack's instances with `instance` placed on `host`, or left out (host undefined). */
function placed(k: Keys, instance: string, host: string | undefined): Keys {
    const list = entries(k).filter((i) => i.name !== instance);
    const entry = entries(stackKeys).find((i) => i.name === instance)!;
    return { ...k, instances: host === undefined ? list : [...list, { ...entry, host }] };
}

const realiseOn = (p: PlanDocument, previous?: PlanDocument): Promise<Action[]> => realise(p, { previous, log: (l) => realiseLog.push(l) });

/** The URN of the docker provider of host `h` in `p`: the one on h's engine. */
function providerOf(p: PlanDocument, h: Host): string {
    const found = p.resources.filter((r) => r.type === "pulumi:providers:docker" && r.inputs.host === h.engine.host);
    assert.equal(found.length, 1, `one docker provider on ${h.engine.host}: ${found.map((r) => r.urn).join(", ")}`);
    return found[0].urn;
}

/** The host a planned resource belongs to: a Docker resource by its provider, a local command by its DOCKER_HOST. */
function hostOf(p: PlanDocument, r: PlannedResource): Host | undefined {
    if (DOCKER_TYPES.includes(r.type)) return [A, B].find((h) => providerOf(p, h) === r.provider);
    if (r.type === "command:local:Command") {
        const dockerHost = (r.inputs.environment as Record<string, string> | undefined)?.DOCKER_HOST ?? A.engine.host;
        return [A, B].find((h) => h.engine.host === dockerHost);
    }
    return undefined;
}

const via = (h: Host, name: string, method: string, urlPath: string, body?: string): Promise<TlsAnswer> => edgeRequest(pebble.root, name, method, urlPath, body, h.address);
const served = (h: Host, name: string) => waitServed(pebble.root, name, h.address, h.engine);

/** A TLS handshake with `h`'s edge for `name`: the error it fails with, or undefined when it completes. */
function handshake(h: Host, name: string): Promise<Error | undefined> {
    return new Promise((resolve) => {
        const s = tls.connect({ host: h.address, port: 443, servername: name, ca: pebble.root }, () => {
            s.end();
            resolve(undefined);
        });
        s.setTimeout(60_000, () => s.destroy(new Error(`handshake with ${h.address} for ${name} timed out`)));
        s.on("error", resolve);
    });
}

async function ready(h: Host, instance: string): Promise<void> {
    await waitDatabase(containerName(instance, "postgis", h.engine), undefined, h.engine);
    await waitBackend(containerName(instance, "backend", h.engine), undefined, h.engine);
}

/** Writes SEED_ROWS rows tagged `tag` into the instance's database on `h`; answers their checksum. */
async function seedRows(h: Host, instance: string, tag: string): Promise<string> {
    const postgis = containerName(instance, "postgis", h.engine);
    await psql(postgis, `${SEED_TABLE}
        INSERT INTO drill_rows SELECT '${tag}', g, ST_SetSRID(ST_MakePoint(-60 + g / 1000.0, -30 + g / 1000.0), 4326)
        FROM generate_series(1, ${SEED_ROWS}) g;`, undefined, undefined, h.engine);
    return psql(postgis, checksumSql(tag), undefined, undefined, h.engine);
}

/** The rows of `tag` as the portal at `instance`'s domain serves them from `h` (its backend reads its database). */
async function rowsServed(h: Host, instance: string, tag: string): Promise<string> {
    const a = await via(h, domainOf(instance), "GET", `/api/rows/${tag}`);
    assert.equal(a.status, 200, `${instance} on host ${h.name}: /api/rows/${tag} answered ${a.status} ${a.body}`);
    return a.body.trim();
}

/** The containers labelled as `instance`'s on an engine. */
async function containersOf(on: Engine, instance: string): Promise<{ Id: string; Names: string[]; State: string }[]> {
    return on.request("GET", `/containers/json?all=true&filters=${encodeURIComponent(JSON.stringify({ label: [`${LABEL_INSTANCE}=${instance}`] }))}`);
}

/** Every container on an engine, by name: its id and when it started (what a change would alter). */
async function containerStarts(on: Engine): Promise<Map<string, string>> {
    const list: { Id: string; Names: string[] }[] = await on.request("GET", "/containers/json?all=true");
    const out = new Map<string, string>();
    for (const c of list) out.set(c.Names[0], `${c.Id} ${(await on.request("GET", `/containers/${c.Id}/json`)).State.StartedAt}`);
    return out;
}

/** Every certificate file the edge of `h` stored for `name` on its data volume. */
function storedCertificates(h: Host, name: string): string[] {
    const root = path.join(h.dataRoot, "edge", "storage", "certificates");
    if (!fs.existsSync(root)) return [];
    return fs.readdirSync(root).map((issuer) => path.join(root, issuer, name, `${name}.crt`)).filter((f) => fs.existsSync(f));
}

/** Prints what a request loop counted and fails on any failed request, naming each. */
function noneFailed(what: string, counted: LoopCount): void {
    process.stdout.write(`# hosts: ${what}: ${counted.ok} answered 200, ${counted.failed.length} failed\n`);
    assert.ok(counted.ok > 0, `no request was answered: ${what}`);
    assert.deepEqual(counted.failed, [], `requests failed: ${what}`);
}

before(async () => {
    await requireE2eTier();
    await removeLabelled();
    const started = await run("bash", [ENGINE_B_SCRIPT, "start"], { timeoutMs: 900_000 });
    if (started.code !== 0) throw new Error(`test/e2e/engine-b.sh start failed (exit ${started.code}):\n${started.stderr}`);
    const said = Object.fromEntries(started.stdout.trim().split("\n").map((l) => l.split("=", 2) as [string, string]));
    const hostSettings = stackKeys.hosts as Record<string, { dataRoot: string; dockerHost?: string }>;
    const engineB = new Engine(said.ENGINE_B_SOCKET);
    assert.equal(hostSettings.b.dockerHost, engineB.host, "the stack file's host b is the engine engine-b.sh starts");
    assert.equal(hostSettings.a.dockerHost, undefined, "host a is this machine's engine");
    const host = (name: string, on: Engine, address: string): Host => {
        const dir = path.join(work, name);
        fs.mkdirSync(dir);
        const dataRoot = hostSettings[name].dataRoot;
        return { name, engine: on, address, dataRoot, volume: new LoopVolume(path.join(dir, "data-volume.img"), dataRoot, dir, `hosts-${name}-data`) };
    };
    A = host("a", engine, "127.0.0.1");
    B = host("b", engineB, said.ENGINE_B_ADDRESS);
    await removeLabelled(B.engine);
    for (const h of [A, B]) {
        if (isMountPoint(h.dataRoot)) throw new Error(`${h.dataRoot} is already mounted: a previous run left it (run test/e2e/cleanup.sh)`);
        await h.volume.create().attach();
        await h.volume.mount();
    }
    await pebble.start();
    // B's domains resolve to B's address (every other name to 127.0.0.1, host a): Pebble validates there.
    for (const i of instancesOn(B, stackKeys)) await pebble.resolve(domainOf(i), B.address);
    keys = { ...stackKeys, edge: pebble.edgeSettings() };
    plan = await e2ePlan(keys, work);
    await realiseOn(plan);
    await Promise.all([A, B].flatMap((h) => instancesOn(h).map((i) => ready(h, i))));
    for (const h of [A, B]) for (const i of instancesOn(h)) await served(h, domainOf(i));
}, { timeout: 900_000 });

after(async () => {
    const errors: string[] = [];
    for (const h of [A, B].filter(Boolean)) {
        try {
            await removeLabelled(h.engine);
        } catch (e) {
            errors.push(`removing host ${h.name}'s labelled docker objects: ${e}`);
        }
        await h.volume.destroy(errors);
    }
    const stopped = await run("bash", [ENGINE_B_SCRIPT, "stop"], { timeoutMs: 600_000 });
    process.stdout.write(stopped.stderr.split("\n").filter(Boolean).map((l) => `# ${l}\n`).join(""));
    if (stopped.code !== 0) errors.push(`test/e2e/engine-b.sh stop failed (exit ${stopped.code})`);
    await pebble.stop();
    fs.rmSync(work, { recursive: true, force: true });
    if (errors.length) throw new Error(`teardown was incomplete:\n${errors.join("\n")}`);
}, { timeout: 600_000 });

test("the realiser refuses, before anything is touched, a command on an engine none of the plan's providers has, a Docker resource on a provider not in the plan, two providers on one engine, and a resource kept while its provider's engine changes", async () => {
    const startsA = await containerStarts(A.engine);
    const startsB = await containerStarts(B.engine);
    const variant = (change: (p: PlanDocument) => void): PlanDocument => {
        const p = JSON.parse(JSON.stringify(plan)) as PlanDocument;
        change(p);
        return p;
    };
    const named = (p: PlanDocument, name: string) => p.resources.find((r) => r.name === name)!;
    const [b1] = instancesOn(B);
    const elsewhere = "unix:///run/housing-portal-e2e/nowhere/docker.sock";
    const strayCommand = variant((p) => { (named(p, `${b1}-dirs`).inputs.environment as Record<string, string>).DOCKER_HOST = elsewhere; });
    await assert.rejects(realiseOn(strayCommand, plan), new RegExp(`${b1}-dirs: environment\\.DOCKER_HOST=${elsewhere} is none of the plan's docker providers' engines`));
    const strayResource = variant((p) => { named(p, `${b1}-network`).provider = "urn:pulumi:e2e::housing-portal::pulumi:providers:docker::nowhere"; });
    await assert.rejects(realiseOn(strayResource, plan), new RegExp(`${b1}-network: its provider "urn:pulumi:e2e::housing-portal::pulumi:providers:docker::nowhere" is none of the plan's docker providers`));
    const shared = variant((p) => { p.resources.find((r) => r.urn === providerOf(plan, B))!.inputs.host = A.engine.host; });
    await assert.rejects(realiseOn(shared, plan), /two docker providers of the plan lead to the same engine \(\/var\/run\/docker\.sock\)/);
    // Host b's engine given in place to its provider (the same URN): the plan diff keeps b's
    // resources, which pulumi up would then not make on the new engine.
    const before = variant((p) => { p.resources.find((r) => r.urn === providerOf(plan, B))!.inputs.host = elsewhere; });
    await assert.rejects(realiseOn(plan, before), new RegExp(`: moves from the engine at ${elsewhere} to ${B.engine.host}, but the plan diff (keeps|updates) it`));
    assert.deepEqual(await containerStarts(A.engine), startsA, "a refused plan changed host a");
    assert.deepEqual(await containerStarts(B.engine), startsB, "a refused plan changed host b");
});

test("each instance runs on its host's engine, with its files on that host's volume and none on the other's", async () => {
    for (const h of [A, B]) {
        const o = other(h);
        assert.notEqual(fs.statSync(h.dataRoot).dev, fs.statSync(o.dataRoot).dev, "the two data roots are one file system");
        assert.ok(instancesOn(h).length >= 2, `host ${h.name} has ${instancesOn(h).join(", ")}`);
        for (const instance of instancesOn(h)) {
            // The plan puts every Docker resource of the instance on its host's provider, every command on its engine.
            const owned = plan.resources.filter((r) => r.name.startsWith(`${instance}-`) && (DOCKER_TYPES.includes(r.type) || r.type === "command:local:Command"));
            assert.ok(owned.length > 5, `${instance} owns ${owned.map((r) => r.name).join(", ")}`);
            for (const r of owned) assert.equal(hostOf(plan, r), h, `${r.name} (${r.type}) is not on host ${h.name}`);
            // Its containers run on its host's engine, none on the other's.
            for (const role of ROLES) {
                const c = await h.engine.request("GET", `/containers/${encodeURIComponent(containerName(instance, role, h.engine))}/json`);
                assert.equal(c.State.Running, true, `${instance}'s ${role} on host ${h.name}`);
            }
            assert.deepEqual(await containersOf(o.engine, instance), [], `${instance} has containers on host ${o.name}`);
            // Its database volume is on its engine, bound to its host's data root; its cluster's files are on that volume.
            const volume = `/volumes/${encodeURIComponent(`housing-portal-${instance}-postgis-data`)}`;
            assert.equal((await h.engine.request("GET", volume)).Options.device, path.join(h.dataRoot, "postgis", instance));
            assert.equal(await o.engine.find(volume), undefined, `${instance}'s database volume is on host ${o.name}'s engine`);
            const cluster = path.join(h.dataRoot, "postgis", instance, "pgdata", "PG_VERSION");
            assert.equal(fs.statSync(cluster).dev, fs.statSync(h.dataRoot).dev, `${cluster} is not on host ${h.name}'s volume`);
            // An export written through its domain lands on its host's volume.
            const name = `placed-${instance}.csv`;
            const body = `instance,host\n${instance},${h.name}\n`;
            const posted = await via(h, domainOf(instance), "POST", `/api/exports/${name}`, body);
            assert.equal(posted.status, 201, posted.body);
            const file = path.join(h.dataRoot, "exports", instance, name);
            assert.equal(fs.readFileSync(file, "utf8"), body);
            assert.equal(fs.statSync(file).dev, fs.statSync(h.dataRoot).dev);
            for (const kind of ["postgis", "exports", "images"]) {
                assert.ok(!fs.existsSync(path.join(o.dataRoot, kind, instance)), `${instance} has ${kind} on host ${o.name}'s volume`);
            }
        }
    }
});

test("each host's edge serves only its own domains, with certificates on its own volume; the other host's names fail the TLS handshake", async () => {
    for (const h of [A, B]) {
        const o = other(h);
        for (const instance of instancesOn(h)) {
            const domain = domainOf(instance);
            const page = await via(h, domain, "GET", "/api/health");
            assert.equal(page.status, 200, page.body);
            assert.equal(page.cert.subjectaltname, `DNS:${domain}`);
            assert.equal(storedCertificates(h, domain).length, 1, `host ${h.name} stored no certificate for ${domain}`);
            assert.deepEqual(storedCertificates(o, domain), [], `host ${o.name}'s edge holds a certificate for ${domain}`);
        }
        for (const instance of instancesOn(o)) {
            const refused = await handshake(h, domainOf(instance));
            assert.ok(refused instanceof Error, `host ${h.name}'s edge completed a TLS handshake for ${domainOf(instance)}, a name of host ${o.name}`);
            assert.match(refused.message, /alert|certificate|socket hang up|ECONNRESET/i);
        }
    }
});

test("host a replaced as drill 3 replaces a host (volume released, engine emptied, detached, attached, mounted, realised): every request to host b's portals is answered meanwhile, and nothing on b changes", { timeout: 600_000 }, async () => {
    const tag = "replace-a";
    const seeded = new Map<string, string>();
    for (const h of [A, B]) for (const i of instancesOn(h)) seeded.set(i, await seedRows(h, i, tag));
    const onB = await containerStarts(B.engine);
    const loops = instancesOn(B).map((i) => ({ instance: i, loop: loopRequests(pebble.root, domainOf(i), B.address) }));
    let counted: { instance: string; count: LoopCount }[];
    let actions: Action[];
    try {
        const released = await runScript("release-data-volume.sh", { MOUNT_POINT: A.dataRoot, SYSTEMCTL: "true", DOCKER: "docker" });
        assert.equal(released.code, 0, released.stderr);
        assert.ok(!isMountPoint(A.dataRoot), "host a still has its volume mounted");
        await removeLabelled(A.engine); // the new machine's engine knows nothing
        await A.volume.detach();
        await A.volume.attach();
        const mounted = await A.volume.mount();
        assert.doesNotMatch(mounted.stderr, /is blank: creating/, `the mount script formatted the volume:\n${mounted.stderr}`);
        // The same plan again: what host a's new engine lacks is made again; b's are kept.
        actions = await realiseOn(plan, plan);
        await Promise.all(instancesOn(A).map((i) => ready(A, i)));
        for (const i of instancesOn(A)) await served(A, domainOf(i));
    } finally {
        counted = await Promise.all(loops.map(async ({ instance, loop }) => ({ instance, count: await loop.stop() })));
    }
    for (const { instance, count } of counted) noneFailed(`requests to ${instance} on host b while host a was replaced`, count);
    const byUrn = new Map(plan.resources.map((r) => [r.urn, r]));
    const changedOnB = actions.filter((a) => hostOf(plan, byUrn.get(a.urn)!) === B && !["kept", "checked", "skipped"].includes(a.action));
    assert.deepEqual(changedOnB.map((a) => `${a.action} ${a.name}`), [], "the realiser changed host b");
    assert.ok(actions.some((a) => a.name === `${instancesOn(A)[0]}-postgis` && a.action === "created"), "host a's engine did not get its containers again");
    assert.deepEqual(await containerStarts(B.engine), onB, "a container on host b was recreated or restarted");
    for (const h of [A, B]) for (const i of instancesOn(h)) assert.equal(await rowsServed(h, i, tag), seeded.get(i), `${i}'s rows on host ${h.name}`);
});

test("an instance moved from host a to host b by docs/instances.md's runbook: the same rows and files served at the same domain from host b; its old database volume retained on host a", { timeout: 600_000 }, async () => {
    const M = "uruguay";
    const domain = domainOf(M);
    assert.deepEqual(entries().find((i) => i.name === M)?.host, A.name);
    const tag = "moved";
    const rows = await seedRows(A, M, tag);
    const exportName = `before-the-move.csv`;
    const exportBody = `instance,host\n${M},a\n`;
    assert.equal((await via(A, domain, "POST", `/api/exports/${exportName}`, exportBody)).status, 201);
    await docker(["exec", "-i", containerName(M, "backend"), "sh", "-c", "cat > /images/moved.img"], `image of ${M}\n`);

    // 1. On host a: stop the instance's writers, dump its database (host/dump-databases.sh).
    await docker(["stop", containerName(M, "backend"), containerName(M, "nginx")]);
    const dumped = await runScript("dump-databases.sh", {
        BACKUP_ROOT: path.join(A.dataRoot, "backups"), RETAIN: "3", INSTANCES: M,
        STATUS_FILE: path.join(work, "dump.last-success"), LOCK_FILE: path.join(work, "dump.lock"),
    }, 300_000);
    assert.equal(dumped.code, 0, dumped.stderr);
    const dumps = fs.readdirSync(path.join(A.dataRoot, "backups", M)).filter((f) => f.endsWith(".dump"));
    assert.equal(dumps.length, 1, dumps.join(", "));

    // 2. Switch DNS: the domain's record points at host b (whose edge orders its certificate as soon as it serves the name).
    await pebble.resolve(domain, B.address);

    // 3. The entry's host changed to b, one deploy: the plan diff replaces every Docker resource of
    // the instance (another provider), and the realiser does exactly that: made on b, gone from a,
    // the database volume retained there.
    const movedKeys = placed(keys, M, B.name);
    const moved = await e2ePlan(movedKeys, work);
    const predicted = predictedChanges(plan, moved);
    for (const r of moved.resources.filter((x) => x.name.startsWith(`${M}-`) && DOCKER_TYPES.includes(x.type) && x.type !== "docker:index/remoteImage:RemoteImage")) {
        assert.equal(hostOf(moved, r), B, `${r.name} is not on host b`);
        assert.equal(predicted.get(r.urn), "replace", `${r.name}: the plan diff predicts ${predicted.get(r.urn)}`);
    }
    const actions = await realiseOn(moved, plan);
    assertAsPredicted(actions, plan, moved);
    assert.deepEqual(await containersOf(A.engine, M), [], `${M}'s containers are still on host a`);
    assert.ok(realiseLog.some((l) => l.startsWith(`retained docker:index/volume:Volume ${M}-postgis-data`)), "the old database volume was not retained");
    await ready(B, M);

    // 4. The newest dump and the instance's directories copied from a to b, as the runbook's tar
    // pipeline does (over SSH there), then the dump restored on b with its backend stopped (docs/restore.md, drill 6).
    const copied = await run("bash", ["-c", 'tar -C "$OLD" -cf - "backups/$I/$DUMP" imports/$I exports/$I images/$I drone/$I tiles/$I media/$I staticfiles/$I docs/$I drone-viewer/$I | tar -C "$NEW" -xpf -'],
        { env: { ...process.env, OLD: A.dataRoot, NEW: B.dataRoot, I: M, DUMP: dumps[0] }, timeoutMs: 300_000 });
    assert.equal(copied.code, 0, copied.stderr);
    const backend = containerName(M, "backend", B.engine);
    await docker(["stop", backend], undefined, B.engine);
    const restored = await dockerTry(["exec", "-i", containerName(M, "postgis", B.engine), "sh", "-c", 'pg_restore --clean --if-exists -U "$POSTGRES_USER" -d "$POSTGRES_DB"'],
        fs.readFileSync(path.join(B.dataRoot, "backups", M, dumps[0])), undefined, B.engine);
    assert.equal(restored.code, 0, restored.stderr);
    await docker(["start", backend], undefined, B.engine);
    await ready(B, M);

    // 5. Served at the same domain from host b: the same rows, the same files; host a no longer serves it.
    const answer = await served(B, domain);
    assert.equal(answer.cert.subjectaltname, `DNS:${domain}`);
    assert.equal(await rowsServed(B, M, tag), rows);
    const download = await via(B, domain, "GET", `/api/download/${exportName}`);
    assert.equal(download.status, 200);
    assert.equal(download.body, exportBody);
    assert.equal(fs.readFileSync(path.join(B.dataRoot, "images", M, "moved.img"), "utf8"), `image of ${M}\n`);
    assert.ok(await handshake(A, domain) instanceof Error, `host a's edge still serves ${domain}`);
    // The old database volume is retained on host a, its cluster with it.
    const oldVolume = await A.engine.find(`/volumes/${encodeURIComponent(`housing-portal-${M}-postgis-data`)}`);
    assert.equal(oldVolume?.Options?.device, path.join(A.dataRoot, "postgis", M), "the old database volume is gone from host a");
    assert.ok(fs.existsSync(path.join(A.dataRoot, "postgis", M, "pgdata", "PG_VERSION")), "the old cluster is gone from host a's volume");
    // The other instances kept answering at their hosts.
    for (const h of [A, B]) for (const i of instancesOn(h, movedKeys).filter((x) => x !== M)) assert.equal((await via(h, domainOf(i), "GET", "/api/health")).status, 200);
    keys = movedKeys;
    plan = moved;
});
