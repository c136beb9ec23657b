// The e2e tier's machinery: the e2e stack's plans (with their secrets: this tier only), a
// loop-device file system that plays the cloud block volume and is mounted by the REAL
// host/mount-data-volume.sh, the realiser, and small helpers to talk to the containers.
// Each test file builds its own stack (`E2eStack`) in `before` and removes all of it in `after`.
// A stack on an existing host (`host.address`) also gets its machine (machine.ts).
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import * as YAML from "yaml";
import type { PlanDocument, PlannedResource } from "../../tools/planner";
import { DEFAULT_DATA_ROOT } from "../../components/config";
import { LABEL_INSTANCE, LABEL_ROLE, LABEL_SERVICE } from "../../components/naming";
import { isMountPoint, run, runScript, sh, trySh, type RunResult } from "../host/helpers";
import { Machine, releaseClaims } from "./machine";
import { Engine, realise, type Action } from "./realise";
import { plannedActions } from "../../tools/planDiff";

export const PROJECT_DIR = path.resolve(__dirname, "..", "..");
export const STACK_FILE = path.join(__dirname, "Pulumi.e2e.yaml");
/** The label the program puts on everything an instance owns; clean-up finds things by it. */
export { LABEL_INSTANCE };
export const IMAGES = { postgis: "housing-portal-e2e/postgis:15", backend: "housing-portal-e2e/backend:1", nginx: "housing-portal-e2e/nginx:1" };
/** The stand-in images besides the instances' defaults: the edge's, and another backend build (an image change). */
export const MORE_IMAGES = { edge: "housing-portal-e2e/caddy:2", backend2: "housing-portal-e2e/backend:2", nginx2: "housing-portal-e2e/nginx:2" };
/** Where the tier keeps its scratch directories (cleanup.sh removes leftovers of killed runs). */
export const WORK_BASE = "/var/tmp";
export const WORK_PREFIX = "hp-e2e-";
/** Stable device links (like /dev/disk/by-id/...), pointing at the current loop device. */
export const DEVICE_LINK_DIR = "/run/housing-portal-e2e/devices";

export const engine = new Engine();

export type Keys = Record<string, any>;

// ---- preconditions --------------------------------------------------------------------------

/** Fails loudly, never skips, when this machine cannot run the tier. */
export async function requireE2eTier(): Promise<void> {
    const problems: string[] = [];
    if (process.getuid?.() !== 0) problems.push("the e2e tier must run as root");
    if (!fs.existsSync("/dev/loop-control")) problems.push("no loop devices (/dev/loop-control is missing)");
    try {
        await engine.request("GET", "/_ping");
        for (const image of [...Object.values(IMAGES), ...Object.values(MORE_IMAGES)]) {
            if (!(await engine.find(`/images/${encodeURIComponent(image)}/json`))) problems.push(`image ${image} is missing (test/e2e/setup.sh builds it)`);
        }
    } catch (e) {
        problems.push(`no Docker engine answers on /var/run/docker.sock (run test/e2e/run.sh, which starts one): ${e}`);
    }
    if (problems.length) throw new Error(`E2E TIER CANNOT RUN: ${problems.join("; ")}`);
}

// ---- plans ----------------------------------------------------------------------------------

/** A committed e2e stack's config keys, without the namespace. */
export function e2eKeys(stackFile = STACK_FILE): Keys {
    const doc = YAML.parse(fs.readFileSync(stackFile, "utf8"));
    return Object.fromEntries(Object.entries(doc.config).map(([k, v]) => [k.replace(/^housing-portal:/, ""), v]));
}

/** The offline plan of (a variant of) the e2e stack, secrets revealed, as stack "e2e". */
export async function e2ePlan(keys: Keys, dir: string): Promise<PlanDocument> {
    const sub = fs.mkdtempSync(path.join(dir, "plan-"));
    const file = path.join(sub, "Pulumi.e2e.yaml");
    const namespaced = Object.fromEntries(Object.entries(keys).map(([k, v]) => [`housing-portal:${k}`, v]));
    fs.writeFileSync(file, YAML.stringify({ config: namespaced }));
    const r = await run(process.execPath, ["--import", "tsx", path.join(PROJECT_DIR, "tools", "plan.ts"), "--config-file", file, "--json", "--reveal-secrets"], { cwd: PROJECT_DIR, timeoutMs: 180_000 });
    if (r.code !== 0) throw new Error(`plan of ${file} failed (exit ${r.code}):\n${r.stderr}`);
    fs.writeFileSync(path.join(sub, "plan.json"), r.stdout);
    return JSON.parse(r.stdout) as PlanDocument;
}

export function resource(plan: PlanDocument, name: string): PlannedResource {
    const r = plan.resources.find((x) => x.name === name);
    if (!r) throw new Error(`no resource ${name} in the plan`);
    return r;
}

/** The generated password of an instance, as the plan hands it to its PostGIS container. */
export function passwordOf(plan: PlanDocument, instance: string): string {
    const envs = resource(plan, `${instance}-postgis`).inputs.envs as string[];
    const e = envs.find((x) => x.startsWith("PORTAL_DB_PASSWORD="));
    if (!e) throw new Error(`${instance}-postgis declares no PORTAL_DB_PASSWORD (the backend's role)`);
    return e.slice("PORTAL_DB_PASSWORD=".length);
}

/**
 * The container of an instance's role (the running one, while a replacement has two). PostGIS
 * has a fixed name (and so has nginx with a host port); backend's and nginx's change with each
 * replacement (a digest after the stable name): found by their labels.
 */
export function containerName(instance: string, role: "postgis" | "backend" | "nginx", on: Engine = engine): string {
    if (role === "postgis") return `housing-portal-${instance}-${role}`;
    const found = execFileSync("docker", [...dockerHostArgs(on), "ps", "-a", "--format", "{{.Names}} {{.State}}", "--filter", `label=${LABEL_INSTANCE}=${instance}`, "--filter", `label=${LABEL_ROLE}=${role}`], { encoding: "utf8" })
        .split("\n").map((l) => l.split(" ")).filter(([n]) => n === `housing-portal-${instance}-${role}` || n.startsWith(`housing-portal-${instance}-${role}-`));
    const running = found.filter(([, state]) => state === "running");
    const names = (found.length === 1 ? found : running).map(([n]) => n);
    if (names.length !== 1) throw new Error(`expected one ${role} container of ${instance}, found ${found.map((f) => f.join(" ")).join(", ") || "none"}`);
    return names[0];
}

/** The resource types whose realised actions are compared with the plan diff's prediction (images are only checked, never pulled). */
const PREDICTED_TYPES = ["docker:index/container:Container", "docker:index/network:Network", "docker:index/volume:Volume", "command:local:Command", "command:remote:Command"];
const CHANGING = new Set<Action["action"]>(["created", "adopted", "replaced", "ran", "updated", "deleted", "retained"]);

const typeOfUrn = (urn: string) => urn.split("::")[2].split("$").pop()!;

/** What the plan diff predicts for `previous` → `plan`, by URN, for the types a realiser acts on (not "same"). */
export function predictedChanges(previous: PlanDocument, plan: PlanDocument): Map<string, string> {
    return new Map([...plannedActions(previous, plan)].filter(([urn, a]) => a !== "same" && PREDICTED_TYPES.includes(typeOfUrn(urn))));
}

/** What the realiser changed, by URN, for the same types. */
export function realisedChanges(actions: readonly Action[]): Map<string, string> {
    return new Map(actions.filter((a) => PREDICTED_TYPES.includes(a.type) && CHANGING.has(a.action)).map((a) => [a.urn, a.action]));
}

/**
 * Fails unless the realiser changed exactly what the plan diff predicts for `previous` → `plan`
 * (tools/planDiff.ts plannedActions, from the providers' replacement table), naming every difference.
 */
export function assertAsPredicted(actions: readonly Action[], previous: PlanDocument, plan: PlanDocument): void {
    const want = predictedChanges(previous, plan);
    const did = realisedChanges(actions);
    const lines = [
        ...[...want].filter(([urn]) => !did.has(urn)).map(([urn, a]) => `predicted ${a}, realiser kept: ${urn}`),
        ...[...did].filter(([urn]) => !want.has(urn)).map(([urn, a]) => `realiser ${a}, not predicted: ${urn}`),
    ];
    if (lines.length) throw new Error(`the realiser did other than the plan diff predicts:\n${lines.join("\n")}`);
}

// ---- commands -------------------------------------------------------------------------------

/** The docker CLI's arguments that select `on`: none for this machine's engine (the default socket). */
export function dockerHostArgs(on: Engine): string[] {
    return on === engine ? [] : ["-H", on.host];
}

/** `docker ARGS` (against the engine `on`, default this machine's), must succeed. */
export async function docker(args: string[], input?: string | Buffer, on: Engine = engine): Promise<string> {
    const r = await dockerTry(args, input, undefined, on);
    if (r.code !== 0) throw new Error(`docker ${args.join(" ")} failed (exit ${r.code}):\n${r.stderr}${r.stdout}`);
    return r.stdout;
}

/** `docker ARGS` (against the engine `on`), whatever it answers. */
export function dockerTry(args: string[], input?: string | Buffer, timeoutMs = 180_000, on: Engine = engine): Promise<RunResult> {
    return run("docker", [...dockerHostArgs(on), ...args], { timeoutMs, input });
}

/** SQL through psql on the container's local socket (trust, as the host scripts use it). */
export async function psql(container: string, sql: string, db = "portal", user = "portal", on: Engine = engine): Promise<string> {
    return (await docker(["exec", "-i", container, "psql", "-X", "-v", "ON_ERROR_STOP=1", "-U", user, "-d", db, "-tAq"], sql, on)).trim();
}

/**
 * SQL over TCP with a password, from inside `fromContainer` (scram-sha-256). `connectSeconds`
 * (PGCONNECT_TIMEOUT) only bounds a connection that never completes: generous, so that a busy
 * machine cannot turn a reachable database into an unreachable one.
 */
export function psqlTcp(fromContainer: string, host: string, password: string, sql: string, connectSeconds = 60): Promise<RunResult> {
    return dockerTry(["exec", "-i", "-e", `PGPASSWORD=${password}`, "-e", `PGCONNECT_TIMEOUT=${connectSeconds}`, fromContainer,
        "psql", "-X", "-v", "ON_ERROR_STOP=1", "-h", host, "-U", "portal", "-d", "portal", "-tAq"], sql);
}

// ---- waiting for conditions -----------------------------------------------------------------
//
// No test waits for time to pass: every wait below is for a condition, polled, and its deadline
// is only a failure bound (generous, so that a busy machine is slower, never failing).

/** The failure bound of a wait for a condition. */
export const WAIT_DEADLINE_MS = 300_000;
/** How often a condition is looked at again. */
const POLL_MS = 200;

export const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

/** Stops a wait at once: the condition can no longer become true (a container exited, ...). */
export class WaitAborted extends Error {}

/**
 * Polls `probe` until it answers something other than undefined or false, and answers that.
 * `probe` throws WaitAborted when the condition can never hold; `lastSeen` describes the state
 * for the failure message when the failure bound `deadlineMs` passes first.
 */
export async function waitFor<T>(
    what: string, probe: () => Promise<T | undefined | false> | T | undefined | false,
    opts: { deadlineMs?: number; lastSeen?: () => string | Promise<string> } = {},
): Promise<T> {
    const deadlineMs = opts.deadlineMs ?? WAIT_DEADLINE_MS;
    const until = Date.now() + deadlineMs;
    for (;;) {
        const v = await probe();
        if (v !== undefined && v !== false) return v;
        if (Date.now() >= until) {
            throw new Error(`${what}: still not so after the failure bound of ${deadlineMs / 1000} s${opts.lastSeen ? `; last seen: ${await opts.lastSeen()}` : ""}`);
        }
        await sleep(POLL_MS);
    }
}

/** The same, synchronously, for the synchronous loop-device steps (blocks this process only). */
export function waitForSync<T>(what: string, probe: () => T | undefined | false, lastSeen?: () => string, deadlineMs = WAIT_DEADLINE_MS): T {
    const until = Date.now() + deadlineMs;
    const pause = new Int32Array(new SharedArrayBuffer(4));
    for (;;) {
        const v = probe();
        if (v !== undefined && v !== false) return v;
        if (Date.now() >= until) throw new Error(`${what}: still not so after the failure bound of ${deadlineMs / 1000} s${lastSeen ? `; last seen: ${lastSeen()}` : ""}`);
        Atomics.wait(pause, 0, 0, POLL_MS);
    }
}

/** The container's state, or undefined when it does not exist. */
async function containerState(container: string, on: Engine): Promise<{ Status: string; Running: boolean; Restarting: boolean; ExitCode: number } | undefined> {
    return (await on.find(`/containers/${encodeURIComponent(container)}/json`))?.State;
}

/** Throws WaitAborted when `container` is gone or has stopped for good (not running, not restarting). */
async function requireAlive(container: string, on: Engine): Promise<void> {
    const state = await containerState(container, on);
    if (!state) throw new WaitAborted(`${container} does not exist`);
    if (!state.Running && !state.Restarting && state.Status !== "created") {
        throw new WaitAborted(`${container} stopped (${state.Status}, exit ${state.ExitCode})`);
    }
}

/** Over TCP with the container's own POSTGRES_* settings, as a client on the network connects. */
const SELECT_ONE_OVER_TCP = 'PGPASSWORD="$POSTGRES_PASSWORD" exec psql -X -h 127.0.0.1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -tAqc "select 1"';

/** Waits for `probe` to succeed in `container`, giving up at once when the container stops for good. */
async function waitInContainer(container: string, what: string, probe: () => Promise<RunResult>, ok: (r: RunResult) => boolean, deadlineMs: number, on: Engine): Promise<void> {
    let last: RunResult | undefined;
    try {
        await waitFor(`${container} ${what}`, async () => {
            last = await probe();
            if (ok(last)) return true;
            await requireAlive(container, on);
            return false;
        }, { deadlineMs, lastSeen: () => `exit ${last?.code}: ${last?.stderr.trim()}` });
    } catch (e) {
        const logs = await dockerTry(["logs", "--tail", "40", container], undefined, undefined, on);
        throw new Error(`${container} never ${what}: ${e instanceof Error ? e.message : e}\nlast answer: ${last?.stderr}\n--- logs ---\n${logs.stdout}${logs.stderr}`);
    }
}

/**
 * Waits until PostgreSQL in `container` accepts queries over TCP with its password (the socket
 * alone is not enough: during initialisation a temporary server answers on it). Fails at once
 * when the container stops for good; `deadlineMs` is only a failure bound.
 */
export async function waitDatabase(container: string, deadlineMs = WAIT_DEADLINE_MS, on: Engine = engine): Promise<void> {
    await waitInContainer(container, "accepted queries over TCP", () => dockerTry(["exec", container, "sh", "-c", SELECT_ONE_OVER_TCP], undefined, undefined, on),
        (r) => r.code === 0 && r.stdout.trim() === "1", deadlineMs, on);
}

/** Waits until the backend answers /api/health from inside its container (same rules). */
export async function waitBackend(container: string, deadlineMs = WAIT_DEADLINE_MS, on: Engine = engine): Promise<void> {
    const probe = "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/health', timeout=60).read()";
    await waitInContainer(container, "answered /api/health", () => dockerTry(["exec", container, "python3", "-c", probe], undefined, undefined, on), (r) => r.code === 0, deadlineMs, on);
}

export interface HttpAnswer {
    status: number;
    headers: http.IncomingHttpHeaders;
    body: string;
}

/** An HTTP request to 127.0.0.1:port with a Host header (`idleMs`: a failure bound for a hung answer). */
export function request(port: number, host: string, method: string, urlPath: string, body?: string, idleMs = 120_000): Promise<HttpAnswer> {
    return new Promise((resolve, reject) => {
        const req = http.request({ host: "127.0.0.1", port, method, path: urlPath, headers: { Host: host, Connection: "close" } }, (res) => {
            let text = "";
            res.setEncoding("utf8");
            res.on("data", (c: string) => (text += c));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
        });
        req.setTimeout(idleMs, () => req.destroy(new Error(`${method} ${urlPath} on :${port} timed out`)));
        req.on("error", reject);
        req.end(body);
    });
}

/**
 * Repeats a request until nginx answers it with something other than 502/504 (nginx not
 * listening yet, or its backend not yet): a wait for that condition, bounded by `deadlineMs`.
 */
export async function requestWhenUp(port: number, host: string, method: string, urlPath: string, body?: string, deadlineMs = WAIT_DEADLINE_MS): Promise<HttpAnswer> {
    let last: unknown;
    return waitFor(`nginx on :${port} answering ${method} ${urlPath}`, async () => {
        try {
            const a = await request(port, host, method, urlPath, body);
            if (a.status !== 502 && a.status !== 504) return a;
            last = `${a.status} ${a.body}`;
        } catch (e) {
            last = e;
        }
        return undefined;
    }, { deadlineMs, lastSeen: () => String(last) });
}

// ---- clean-up -------------------------------------------------------------------------------

/** Removes every container, network and volume labelled housing-portal.instance or housing-portal.service (the edge). */
export async function removeLabelled(on: Engine = engine): Promise<void> {
    const filters = [LABEL_INSTANCE, LABEL_SERVICE].map((label) => encodeURIComponent(JSON.stringify({ label: [label] })));
    for (const filter of filters) {
        const containers = await on.request("GET", `/containers/json?all=true&filters=${filter}`);
        await Promise.all(containers.map((c: { Id: string }) => on.remove(`/containers/${c.Id}?force=true&v=true`)));
    }
    for (const filter of filters) {
        for (const n of await on.request("GET", `/networks?filters=${filter}`)) await on.remove(`/networks/${n.Id}`);
        for (const v of (await on.request("GET", `/volumes?filters=${filter}`)).Volumes ?? []) await on.remove(`/volumes/${encodeURIComponent(v.Name)}`);
    }
}

/** Removes the containers (only) of the plan, as a crash or an operator would. */
export async function removeContainers(plan: PlanDocument): Promise<void> {
    const names = plan.resources.filter((r) => r.type === "docker:index/container:Container").map((r) => String(r.inputs.name));
    await Promise.all(names.map((n) => engine.remove(`/containers/${encodeURIComponent(n)}?force=true`)));
}

// ---- the loop-device data volume ------------------------------------------------------------

/** The loop devices backed by `image` (a device stays until its last user lets go of it). */
export function loopDevicesOf(image: string): string[] {
    const out: string[] = [];
    for (const line of sh("losetup", ["--list", "--noheadings", "--output", "NAME,BACK-FILE"]).split("\n")) {
        const m = /^(\/dev\/loop\d+)\s+(.*)$/.exec(line.trim());
        if (m && m[2].replace(/ \(deleted\)$/, "") === image) out.push(m[1]);
    }
    return out;
}

/** Where (pid: mount point) the file system on `device` is still mounted, in any mount namespace. */
function mountsOf(device: string): string[] {
    let majMin: string;
    try {
        const rdev = fs.statSync(device).rdev;
        majMin = `${Math.floor(rdev / 256) & 0xfff}:${(rdev & 0xff) | ((rdev >> 12) & 0xfff00)}`;
    } catch {
        return [];
    }
    const seen = new Set<string>();
    for (const pid of fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
        let info = "";
        try {
            info = fs.readFileSync(`/proc/${pid}/mountinfo`, "utf8");
        } catch {
            continue;
        }
        for (const line of info.split("\n")) {
            const f = line.split(" ");
            if (f[2] === majMin) seen.add(`pid ${pid}: ${f[4]}`);
        }
    }
    return [...seen];
}

/** Does a (dangling or not) symbolic link or file exist at `p`? */
const present = (p: string) => fs.lstatSync(p, { throwIfNoEntry: false }) !== undefined;

/**
 * A file-backed block device playing the cloud volume. It is reached through a stable link
 * (DEVICE_LINK_DIR/<name>, like /dev/disk/by-id/...) that follows the loop device when it is
 * detached and attached again; the link is absent while the volume is "detached".
 *
 * Detaching waits until the kernel has really let go of the image: `losetup -d` on a device
 * that something still holds (a mount left in another mount namespace, an open descriptor) only
 * marks it for auto-clear, and the old device, with the old file system on it, would live on
 * next to the one attached again. Attaching refuses an image that is still attached.
 */
export class LoopVolume {
    device = "";
    readonly link: string;

    /** `ownsMountPoint`: false when the mount point is not the tier's (destroy unmounts, and leaves the directory). */
    constructor(readonly image: string, readonly mountPoint: string, readonly work: string, readonly name: string, readonly ownsMountPoint = true) {
        this.link = path.join(DEVICE_LINK_DIR, name);
    }

    /** A new, all-zero (sparse) volume: like a brand-new cloud volume. */
    create(mib = 1024): this {
        fs.writeFileSync(this.image, "");
        fs.truncateSync(this.image, mib * 1024 * 1024);
        return this;
    }

    async attach(): Promise<this> {
        const stale = loopDevicesOf(this.image);
        if (stale.length) throw new Error(`${this.image} is still attached as ${stale.join(", ")}: the volume cannot be attached twice`);
        let last = "";
        // `losetup --find` can lose a free device to another attacher (the host tier may run meanwhile): try again then.
        this.device = await waitFor(`attaching ${this.image}`, () => {
            const r = spawnSync("losetup", ["--find", "--show", this.image], { encoding: "utf8" });
            if (r.status === 0 && r.stdout.trim().startsWith("/dev/loop")) return r.stdout.trim();
            last = r.stderr.trim();
            if (!/busy/i.test(last)) throw new WaitAborted(`losetup --find --show ${this.image} failed: ${last}`);
            return undefined;
        }, { lastSeen: () => last });
        fs.mkdirSync(DEVICE_LINK_DIR, { recursive: true });
        fs.rmSync(this.link, { force: true });
        fs.symlinkSync(this.device, this.link);
        if (!fs.statSync(this.link).isBlockDevice() || fs.realpathSync(this.link) !== this.device) {
            throw new Error(`${this.link} does not lead to the block device ${this.device}`);
        }
        return this;
    }

    /** The link is gone and no loop device is backed by the image any more: the volume is detached. */
    async detach(): Promise<void> {
        fs.rmSync(this.link, { force: true });
        const device = this.device;
        if (device) sh("losetup", ["-d", device]);
        this.device = "";
        await waitFor(`detaching ${this.image}`, () => !present(this.link) && loopDevicesOf(this.image).length === 0,
            { lastSeen: () => `still attached as ${loopDevicesOf(this.image).join(", ")}; mounted at ${mountsOf(device).join(", ") || "(nowhere)"}` });
    }

    /**
     * Runs the real host/mount-data-volume.sh for this volume (temp fstab, never /etc/fstab).
     * `waitSeconds` is the script's bound for the device to appear (a failure bound: every
     * caller attaches the volume first, or makes sure it is gone).
     */
    mountScript(waitSeconds = 120): Promise<RunResult> {
        return runScript("mount-data-volume.sh", {
            DEVICE: this.link,
            MOUNT_POINT: this.mountPoint,
            FSTAB: path.join(this.work, "fstab"),
            WAIT_SECONDS: String(waitSeconds),
            FS_LABEL: "hp-e2e",
            LOCK_FILE: path.join(this.work, "mount.lock"),
        }, (waitSeconds + 180) * 1000);
    }

    async mount(): Promise<RunResult> {
        const r = await this.mountScript();
        if (r.code !== 0) throw new Error(`host/mount-data-volume.sh failed (exit ${r.code}):\n${r.stderr}`);
        return r;
    }

    unmount(): void {
        if (isMountPoint(this.mountPoint)) {
            trySh("fsfreeze", ["-u", this.mountPoint]);
            sh("umount", [this.mountPoint]);
        }
    }

    /** Is the file system mounted at the mount point on one of this image's loop devices? */
    private mountedHere(): boolean {
        const dev = fs.statSync(this.mountPoint).dev;
        return loopDevicesOf(this.image).some((d) => fs.statSync(d).rdev === dev);
    }

    /** Undoes everything (best effort; errors are collected). A mount point that is not the tier's is unmounted only when this volume is mounted there. */
    async destroy(errors: string[]): Promise<void> {
        if (isMountPoint(this.mountPoint) && (this.ownsMountPoint || this.mountedHere())) {
            trySh("fsfreeze", ["-u", this.mountPoint]);
            if (trySh("umount", [this.mountPoint]) !== 0 && trySh("umount", ["-l", this.mountPoint]) !== 0) errors.push(`cannot unmount ${this.mountPoint}`);
        }
        if (this.ownsMountPoint) {
            trySh("chattr", ["-f", "-i", this.mountPoint]);
            try {
                if (fs.existsSync(this.mountPoint) && !isMountPoint(this.mountPoint)) fs.rmdirSync(this.mountPoint);
            } catch (e) {
                errors.push(`rmdir ${this.mountPoint}: ${e}`);
            }
        }
        fs.rmSync(this.link, { force: true });
        this.device = "";
        // Every loop device still backed by this image (also a copy attached by a drill, ...).
        for (const dev of loopDevicesOf(this.image)) if (trySh("losetup", ["-d", dev]) !== 0) errors.push(`cannot detach ${dev}`);
        try {
            await waitFor(`releasing the loop devices of ${this.image}`, () => loopDevicesOf(this.image).length === 0,
                { lastSeen: () => loopDevicesOf(this.image).join(", ") });
        } catch (e) {
            errors.push(String(e));
        }
    }
}

// ---- one stack per test file ----------------------------------------------------------------

export interface E2eStackOptions {
    /** The committed stack file (default test/e2e/Pulumi.e2e.yaml, a local stack). */
    stackFile?: string;
    /** The one machine the stack's existing host (`host.address`) may be: its address and SSH user. */
    machine?: { host: string; user: string };
}

/**
 * The e2e stack on this engine, for one test file: a fresh loop volume mounted at the stack's
 * dataRoot by the real mount script, the plan realised, every database answering. A cloud stack
 * on an existing host has its data root fixed at DEFAULT_DATA_ROOT, and its machine.
 */
export class E2eStack {
    readonly work: string;
    readonly keys: Keys;
    readonly dataRoot: string;
    readonly volume: LoopVolume;
    readonly machine: Machine | undefined;
    plan: PlanDocument | undefined;
    /** Extra volumes and mounts a drill made (restored copies, ...), undone by teardown. */
    readonly extra: LoopVolume[] = [];
    log: string[] = [];

    constructor(readonly label: string, opts: E2eStackOptions = {}) {
        fs.mkdirSync(WORK_BASE, { recursive: true });
        this.work = fs.mkdtempSync(path.join(WORK_BASE, `${WORK_PREFIX}${label}-`));
        this.keys = e2eKeys(opts.stackFile);
        const local = this.keys.provider === "local";
        this.dataRoot = local ? String(this.keys.dataRoot) : DEFAULT_DATA_ROOT;
        // The cloud data root is not the tier's directory: claimed, and given back as it was.
        this.volume = new LoopVolume(path.join(this.work, "data-volume.img"), this.dataRoot, this.work, `${label}-data`, local);
        this.machine = opts.machine && new Machine(opts.machine.host, opts.machine.user, this.work);
    }

    instances(keys: Keys = this.keys): string[] {
        return (keys.instances as { name: string }[]).map((i) => i.name);
    }

    /** Fresh volume, mounted; the plan of `keys` realised; every database answering. */
    async setup(keys: Keys = this.keys): Promise<void> {
        await this.prepareVolume();
        this.plan = await this.realise(keys);
        await this.waitReady(this.plan);
    }

    /** A clean engine and a fresh loop volume mounted at the data root by the real script (and the machine, if any). */
    async prepareVolume(): Promise<void> {
        await requireE2eTier();
        await removeLabelled();
        if (this.machine) this.machine.prepare(this.dataRoot);
        if (isMountPoint(this.dataRoot)) throw new Error(`${this.dataRoot} is already mounted: a previous run left it (run test/e2e/cleanup.sh)`);
        await this.volume.create().attach();
        await this.volume.mount();
    }

    async planOf(keys: Keys): Promise<PlanDocument> {
        return e2ePlan(keys, this.work);
    }

    /** Realises the plan of `keys`; `previous` is the plan realised before (deletions). */
    async realise(keys: Keys = this.keys, previous?: PlanDocument): Promise<PlanDocument> {
        const plan = await this.planOf(keys);
        await this.realisePlan(plan, previous);
        return plan;
    }

    async realisePlan(plan: PlanDocument, previous?: PlanDocument): Promise<Action[]> {
        const actions = await realise(plan, { previous, machine: this.machine, log: (l) => this.log.push(l) });
        this.plan = plan;
        return actions;
    }

    async waitReady(plan: PlanDocument = this.plan!): Promise<void> {
        const names = plan.resources.filter((r) => r.type === "housing-portal:portal:PortalInstance").map((r) => r.name);
        await Promise.all(names.map(async (n) => {
            await waitDatabase(containerName(n, "postgis"));
            await waitBackend(containerName(n, "backend"));
        }));
    }

    instancePort(name: string, keys: Keys = this.keys): number {
        return Number((keys.instances as { name: string; port: number }[]).find((i) => i.name === name)!.port);
    }

    instanceDomain(name: string, keys: Keys = this.keys): string {
        return String((keys.instances as { name: string; domain: string }[]).find((i) => i.name === name)!.domain);
    }

    /** Removes everything the stack made: containers, networks, volumes, mounts, loop devices. */
    async teardown(): Promise<void> {
        const errors: string[] = [];
        try {
            await removeLabelled();
        } catch (e) {
            errors.push(`removing labelled docker objects: ${e}`);
        }
        for (const v of this.extra.splice(0).reverse()) await v.destroy(errors);
        await this.volume.destroy(errors);
        // After the unmount: the data root and the machine's mount targets go back as they were.
        if (this.machine?.claimed) releaseClaims(errors);
        fs.rmSync(this.work, { recursive: true, force: true });
        if (errors.length) throw new Error(`e2e teardown was incomplete:\n${errors.join("\n")}`);
    }
}

// ---- known data, written before a drill and checked after it --------------------------------

/** What `seed` wrote for one tag in one instance: rows, an export and an image file. */
export interface Seeded {
    instance: string;
    tag: string;
    rows: number;
    /** sum of n over the rows, and the points' text, to compare more than a count */
    checksum: string;
    exportName: string;
    exportBody: string;
    imageName: string;
    imageBody: string;
}

export const SEED_ROWS = 200;

export const SEED_TABLE = `CREATE TABLE IF NOT EXISTS drill_rows (
    tag text NOT NULL, n int NOT NULL, geom geometry(Point, 4326) NOT NULL, PRIMARY KEY (tag, n));`;

/** The checksum of one tag's rows, as SQL computes it (and the stand-in backend's GET /api/rows/<tag>). */
export const checksumSql = (tag: string) =>
    `SELECT count(*) || ':' || coalesce(sum(n), 0) || ':' || md5(coalesce(string_agg(ST_AsText(geom), ',' ORDER BY n), '')) FROM drill_rows WHERE tag = '${tag}';`;

/**
 * Writes SEED_ROWS PostGIS rows tagged `tag` into the instance's database, an export through
 * the backend (POST via nginx) and an image file written by the backend container.
 */
export async function seed(stack: E2eStack, instance: string, tag: string): Promise<Seeded> {
    if (!/^[a-z0-9-]+$/.test(tag)) throw new Error(`bad seed tag ${tag}`);
    const postgis = containerName(instance, "postgis");
    await psql(postgis, `${SEED_TABLE}
        INSERT INTO drill_rows SELECT '${tag}', g, ST_SetSRID(ST_MakePoint(-75 + g / 1000.0, 4 + g / 1000.0), 4326)
        FROM generate_series(1, ${SEED_ROWS}) g;`);
    const checksum = await psql(postgis, checksumSql(tag));
    const exportName = `${tag}-${instance}.csv`;
    const exportBody = `tag,instance\n${tag},${instance},${Date.now()}\n`;
    const posted = await requestWhenUp(stack.instancePort(instance), stack.instanceDomain(instance), "POST", `/api/exports/${exportName}`, exportBody);
    if (posted.status !== 201) throw new Error(`POST /api/exports/${exportName} on ${instance}: ${posted.status} ${posted.body}`);
    const imageName = `${tag}.img`;
    const imageBody = `image ${tag} of ${instance}\n`;
    await docker(["exec", "-i", containerName(instance, "backend"), "sh", "-c", `cat > /images/${imageName}`], imageBody);
    return { instance, tag, rows: SEED_ROWS, checksum, exportName, exportBody, imageName, imageBody };
}

/** Fails unless every seeded row, export and image is there as written, read the way users do. */
export async function verifySeeded(stack: E2eStack, all: readonly Seeded[], dataRoot = stack.dataRoot): Promise<void> {
    for (const s of all) {
        const got = await psql(containerName(s.instance, "postgis"), checksumSql(s.tag));
        if (got !== s.checksum) throw new Error(`${s.instance}: rows of ${s.tag} are ${got}, expected ${s.checksum}`);
        const download = await requestWhenUp(stack.instancePort(s.instance), stack.instanceDomain(s.instance), "GET", `/api/download/${s.exportName}`);
        if (download.status !== 200 || download.body !== s.exportBody) {
            throw new Error(`${s.instance}: export ${s.exportName} answered ${download.status} ${JSON.stringify(download.body)}`);
        }
        const image = path.join(dataRoot, "images", s.instance, s.imageName);
        if (!fs.existsSync(image) || fs.readFileSync(image, "utf8") !== s.imageBody) throw new Error(`${s.instance}: ${image} is missing or changed`);
    }
}

/** The checksums of `seeded` rows as a restored database (any container) holds them. */
export async function checksumsIn(container: string, seeded: readonly Seeded[]): Promise<string[]> {
    const out: string[] = [];
    for (const s of seeded) out.push(await psql(container, checksumSql(s.tag)));
    return out;
}
