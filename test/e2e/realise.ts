// The e2e tier's realiser: a small stand-in for `pulumi up` against this machine's Docker Engine.
// It reads the offline plan (`npm run plan -- --json --reveal-secrets`) and creates the plan's
// Docker networks, volumes and containers, checks its images and runs its local commands, from
// EXACTLY the inputs the program declared, each resource as soon as everything it depends on
// exists (independent ones in parallel, as the engine of `pulumi up` does). Any input, or type,
// it does not understand fails loudly instead of being dropped. Pulumi providers, random
// passwords (their value is already in the plan) and components have nothing to create.
//
// A plan for an existing host (`host.address`) reaches its machine over SSH: its remote
// commands, and a docker provider on `ssh://<user>@<address>`. Those run only on the one
// machine the caller declares (`machine`, test/e2e/machine.ts: this machine, in a private mount
// namespace); a connection to any other host fails before anything is touched.
//
// Given the plan realised before (`previous`), it also does what `pulumi up` does for a config
// change, resource by resource exactly as the plan diff predicts it (`plannedActions`, from the
// providers' replacement table): "same" ones are kept; "update" updates a container in place (its limits, restart
// policy) and runs a command's `create` again; "replace" follows the plan's `deleteBeforeReplace`
// as Pulumi does: removes the old one and then creates, or (the default) creates the new one
// first, next to the old (waiting for it to be healthy when it declares `wait`), goes on with
// what depends on it, and deletes the old one last, with the deletes. A container is deleted as
// the docker provider does it: stopped first only when it declares `destroyGraceSeconds`. Like
// `up --refresh`, a resource that is missing or not running on the engine although the plan keeps
// it is created again, and the commands that depend on it run again. Last, as Pulumi does
// (deletes after creates and updates), resources that left the plan are deleted, dependents
// first (containers, networks; a volume only when it is not retainOnDelete; a remote command runs
// its `delete`): a command that detaches something from a network (the edge's routes) has run.
//
// A plan with several hosts has a docker provider per host: each Docker resource is realised on
// the engine of its own `provider`, and each local command on the engine its `environment`'s
// DOCKER_HOST names (one of the plan's providers' hosts; anything else fails before anything is
// touched). A resource replaced from one provider onto another is created on the new engine and
// its old self deleted (or retained) on the old one, with the deletes. A Docker resource that the
// plan diff keeps or updates while its provider leads to another engine (the same provider given
// another host) is refused: `pulumi up` would not make it again on the new engine (since
// pulumi/pulumi#18509 the engine asks the provider's DiffConfig, and the docker provider marks no
// config key ForcesProviderReplace, pulumi/pulumi-docker provider/resources.go), so such a plan
// cannot be realised as it stands. (The plan diff replaces a resource whose provider changes.)
//
// Test code, not a second deployment path: it knows only what the program declares today.
//
//   tsx test/e2e/realise.ts PLAN.json [--previous PREVIOUS.json]
import * as fs from "node:fs";
import * as http from "node:http";
import type { PlanDocument, PlannedResource } from "../../tools/planner";
import { type PlannedAction, plannedActions } from "../../tools/planDiff";
import { run, type RunResult } from "../host/helpers";

type Inputs = Record<string, any>;
/** The Docker resource types, each realised on the engine of its `provider`. */
const DOCKER_TYPES = new Set(["docker:index/network:Network", "docker:index/volume:Volume", "docker:index/remoteImage:RemoteImage", "docker:index/container:Container"]);
/** What a local command's `environment` may set: the engine its docker commands talk to. */
const COMMAND_ENVIRONMENT = ["DOCKER_HOST"];

/** An upper bound for a host command (the database login waits up to 180 s for a first start). */
const COMMAND_TIMEOUT_MS = 600_000;

/** What the realiser did with one resource. */
export interface Action {
    urn: string;
    type: string;
    name: string;
    /** "updated": a command without a `create` whose inputs changed (nothing runs). */
    /** "adopted": new to the stack, but the engine already has it (a retained database volume, re-added). */
    action: "created" | "adopted" | "kept" | "replaced" | "updated" | "deleted" | "retained" | "skipped" | "checked" | "ran";
}

/** The one machine a plan's SSH connections may lead to, and how a command line runs on it. */
export interface RemoteMachine {
    readonly host: string;
    readonly port: number;
    readonly user: string;
    /** Runs `commandLine` as an SSH session of `user` would, `stdin` on its standard input. */
    run(commandLine: string, stdin: string | undefined, timeoutMs: number): Promise<RunResult>;
}

export interface RealiseOptions {
    /** The plan realised before on this engine: resources that left the plan are deleted. */
    previous?: PlanDocument;
    /** Where remote commands run and what an ssh:// docker host is; without it, a plan with either fails. */
    machine?: RemoteMachine;
    /** Progress lines (default: none). */
    log?: (line: string) => void;
}

// ---- the Engine API -------------------------------------------------------------------------

/** A Docker Engine API client over a unix socket. Rejects on any non-2xx answer. */
export class Engine {
    constructor(readonly socketPath = "/var/run/docker.sock") {}

    /** The `host` a docker provider (or DOCKER_HOST) names this engine by. */
    get host(): string {
        return `unix://${this.socketPath}`;
    }

    /**
     * The engine a docker provider's host names: a unix socket, or `ssh://<user>@<address>` of the
     * declared machine, whose engine is this one (Docker over SSH dials the remote's default socket).
     */
    static fromHost(host: unknown, machine?: RemoteMachine): Engine {
        const unix = typeof host === "string" ? /^unix:\/\/(\/.+)$/.exec(host) : null;
        if (unix) return new Engine(unix[1]);
        // The program writes no port: the docker client's SSH connection goes to port 22.
        const ssh = typeof host === "string" ? /^ssh:\/\/([^@/]+)@([^/]+)$/.exec(host) : null;
        if (ssh && machine && ssh[1] === machine.user && ssh[2] === machine.host && machine.port === 22) return new Engine();
        const declared = machine ? `ssh://${machine.user}@${machine.host} (port ${machine.port})` : "no machine";
        throw new Error(`realise: the e2e tier drives this machine's engine, through its unix socket or as the declared machine's (${declared}); the docker provider says host=${JSON.stringify(host)}`);
    }

    request(method: string, apiPath: string, body?: unknown, contentType = "application/json"): Promise<any> {
        const data = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
        return new Promise((resolve, reject) => {
            const req = http.request({
                socketPath: this.socketPath, path: apiPath, method,
                headers: data ? { "Content-Type": contentType, "Content-Length": data.length } : {},
            }, (res) => {
                const chunks: Buffer[] = [];
                res.on("data", (c: Buffer) => chunks.push(c));
                res.on("end", () => {
                    const text = Buffer.concat(chunks).toString("utf8");
                    const status = res.statusCode ?? 500;
                    if (status >= 300 && status !== 304) {
                        const err = new Error(`docker engine: ${method} ${apiPath} -> ${status} ${text.trim()}`) as Error & { status: number };
                        err.status = status;
                        reject(err);
                    } else {
                        try {
                            resolve(text && /json/.test(res.headers["content-type"] ?? "") ? JSON.parse(text) : text);
                        } catch (e) {
                            reject(e);
                        }
                    }
                });
            });
            req.setTimeout(300_000, () => req.destroy(new Error(`docker engine: ${method} ${apiPath} timed out`)));
            req.on("error", reject);
            req.end(data);
        });
    }

    /** Like request, but a 404 answers undefined. */
    async find(apiPath: string): Promise<any> {
        try {
            return await this.request("GET", apiPath);
        } catch (e) {
            if ((e as { status?: number }).status === 404) return undefined;
            throw e;
        }
    }

    async remove(apiPath: string): Promise<void> {
        try {
            await this.request("DELETE", apiPath);
        } catch (e) {
            if ((e as { status?: number }).status !== 404) throw e;
        }
    }
}

// ---- input checks ---------------------------------------------------------------------------

function fail(r: PlannedResource, what: string): never {
    throw new Error(`realise: ${r.type} ${r.name}: ${what}`);
}

/** Every key of `obj` must be one this realiser understands. */
function known(r: PlannedResource, where: string, obj: Inputs | undefined, keys: readonly string[]): void {
    if (obj === undefined || obj === null) return;
    if (typeof obj !== "object" || Array.isArray(obj)) fail(r, `${where} is not an object: ${JSON.stringify(obj)}`);
    const unknown = Object.keys(obj).filter((k) => !keys.includes(k));
    if (unknown.length) fail(r, `${where} has inputs this realiser does not understand: ${unknown.join(", ")}`);
}

function noSecretsMasked(r: PlannedResource): void {
    if (JSON.stringify(r.inputs).includes('"[secret]"')) {
        fail(r, "the plan masks its secrets; realise a plan made with --reveal-secrets");
    }
}

function labelMap(r: PlannedResource, list: unknown): Record<string, string> {
    if (list === undefined) return {};
    if (!Array.isArray(list)) fail(r, "labels is not a list");
    const out: Record<string, string> = {};
    for (const l of list) {
        known(r, "labels[]", l, ["label", "value"]);
        out[String(l.label)] = String(l.value);
    }
    // In key order, as the engine reports labels, so the two compare as text.
    return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Go durations as the provider takes them ("30s", "1m30s", "500ms") in nanoseconds. */
export function nanoseconds(r: PlannedResource, d: unknown): number {
    if (d === undefined) return 0;
    if (typeof d !== "string" || !/^(\d+(ns|us|ms|s|m|h))+$/.test(d)) fail(r, `cannot read the duration ${JSON.stringify(d)}`);
    const unit: Record<string, number> = { ns: 1, us: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
    let total = 0;
    for (const m of d.matchAll(/(\d+)(ns|us|ms|s|m|h)/g)) total += Number(m[1]) * unit[m[2]];
    return total;
}

const CONTAINER_INPUTS = [
    "name", "image", "envs", "labels", "mounts", "ports", "networksAdvanced", "healthcheck", "restart",
    "logDriver", "logOpts", "uploads", "stopTimeout", "stopSignal", "command", "entrypoints", "user",
    "workingDir", "hostname", "start", "mustRun", "wait", "waitTimeout",
    "securityOpts", "memory", "memorySwap", "cpus", "shmSize", "capabilities", "readOnly", "tmpfs",
    "destroyGraceSeconds", "sysctls",
] as const;
const MB = 1024 * 1024;

/** The Engine API's container create body for the declared inputs. */
export function containerSpec(r: PlannedResource): { body: Inputs; networks: { name: string; aliases: string[] }[] } {
    const i = r.inputs as Inputs;
    known(r, "inputs", i, CONTAINER_INPUTS);
    if (typeof i.name !== "string" || i.name.length < 2) fail(r, "name must be a string of at least 2 characters");
    if (typeof i.image !== "string" || !i.image) fail(r, "image must be a string");
    const mounts = (i.mounts ?? []).map((m: Inputs) => {
        known(r, "mounts[]", m, ["type", "source", "target", "readOnly"]);
        if (!["bind", "volume"].includes(m.type)) fail(r, `mount type ${JSON.stringify(m.type)} is not bind or volume`);
        return { Type: m.type, Source: m.source, Target: m.target, ReadOnly: m.readOnly === true };
    });
    const ports = (i.ports ?? []).map((p: Inputs) => {
        known(r, "ports[]", p, ["internal", "external", "ip", "protocol"]);
        return { key: `${p.internal}/${p.protocol ?? "tcp"}`, HostIp: p.ip ?? "0.0.0.0", HostPort: p.external === undefined ? "" : String(p.external) };
    });
    const networks = (i.networksAdvanced ?? []).map((n: Inputs) => {
        known(r, "networksAdvanced[]", n, ["name", "aliases"]);
        return { name: String(n.name), aliases: (n.aliases ?? []).map(String) };
    });
    const hc = i.healthcheck;
    known(r, "healthcheck", hc, ["tests", "interval", "timeout", "startPeriod", "retries"]);
    if (i.capabilities !== undefined) known(r, "capabilities", i.capabilities, ["adds", "drops"]);
    if (i.tmpfs !== undefined && (typeof i.tmpfs !== "object" || Object.values(i.tmpfs).some((v) => typeof v !== "string"))) fail(r, "tmpfs is not a map of path to options");
    if (i.sysctls !== undefined && (typeof i.sysctls !== "object" || Object.values(i.sysctls).some((v) => typeof v !== "string"))) fail(r, "sysctls is not a map of name to value");
    if (i.destroyGraceSeconds !== undefined && !(Number.isInteger(i.destroyGraceSeconds) && i.destroyGraceSeconds >= 0)) fail(r, `destroyGraceSeconds ${JSON.stringify(i.destroyGraceSeconds)} is not a whole number of seconds`);
    if (i.wait === true && hc === undefined) fail(r, "wait needs a healthcheck (the provider refuses it too)");
    if (i.restart !== undefined && !["no", "on-failure", "always", "unless-stopped"].includes(i.restart)) fail(r, `restart ${JSON.stringify(i.restart)}`);
    for (const u of i.uploads ?? []) known(r, "uploads[]", u, ["file", "content", "contentBase64", "executable"]);
    if (i.start === false) fail(r, "start: false is not supported by this realiser");
    const body: Inputs = {
        Image: i.image,
        Env: i.envs ?? [],
        Labels: labelMap(r, i.labels),
        Cmd: i.command,
        Entrypoint: i.entrypoints,
        User: i.user,
        WorkingDir: i.workingDir,
        Hostname: i.hostname,
        StopTimeout: i.stopTimeout,
        StopSignal: i.stopSignal,
        Healthcheck: hc && {
            Test: hc.tests,
            Interval: nanoseconds(r, hc.interval),
            Timeout: nanoseconds(r, hc.timeout),
            StartPeriod: nanoseconds(r, hc.startPeriod),
            Retries: hc.retries ?? 0,
        },
        ExposedPorts: Object.fromEntries(ports.map((p: Inputs) => [p.key, {}])),
        HostConfig: {
            Mounts: mounts,
            PortBindings: Object.fromEntries(ports.map((p: Inputs) => [p.key, [{ HostIp: p.HostIp, HostPort: p.HostPort }]])),
            RestartPolicy: { Name: i.restart ?? "no" },
            LogConfig: { Type: i.logDriver ?? "json-file", Config: i.logOpts ?? {} },
            NetworkMode: networks[0]?.name ?? "bridge",
            SecurityOpt: i.securityOpts,
            CapDrop: i.capabilities?.drops,
            CapAdd: i.capabilities?.adds,
            // The provider's memory, swap and shm sizes are MB; the Engine API's are bytes.
            Memory: i.memory === undefined ? undefined : i.memory * MB,
            MemorySwap: i.memorySwap === undefined ? undefined : i.memorySwap * MB,
            NanoCpus: i.cpus === undefined ? undefined : Math.round(Number(i.cpus) * 1e9),
            ShmSize: i.shmSize === undefined ? undefined : i.shmSize * MB,
            ReadonlyRootfs: i.readOnly === true ? true : undefined,
            Tmpfs: i.tmpfs,
            Sysctls: i.sysctls,
        },
        NetworkingConfig: networks.length ? { EndpointsConfig: { [networks[0].name]: { Aliases: networks[0].aliases } } } : undefined,
    };
    for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
    return { body, networks };
}

// ---- a minimal tar writer (uploads go into the container before it starts) -------------------

function tarHeader(name: string, size: number, mode: number): Buffer {
    const h = Buffer.alloc(512, 0);
    const put = (off: number, len: number, s: string) => h.write(s, off, Math.min(len, Buffer.byteLength(s)), "utf8");
    const oct = (off: number, len: number, n: number) => put(off, len, n.toString(8).padStart(len - 1, "0") + "\0");
    if (Buffer.byteLength(name) > 100) throw new Error(`realise: upload name too long for tar: ${name}`);
    put(0, 100, name);
    oct(100, 8, mode);
    oct(108, 8, 0);
    oct(116, 8, 0);
    oct(124, 12, size);
    oct(136, 12, Math.floor(Date.now() / 1000));
    put(148, 8, "        ");
    put(156, 1, "0");
    put(257, 6, "ustar\0");
    put(263, 2, "00");
    let sum = 0;
    for (const b of h) sum += b;
    put(148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
    return h;
}

export function tarOf(files: { name: string; content: Buffer; mode: number }[]): Buffer {
    const parts: Buffer[] = [];
    for (const f of files) {
        parts.push(tarHeader(f.name, f.content.length, f.mode), f.content, Buffer.alloc((512 - (f.content.length % 512)) % 512));
    }
    parts.push(Buffer.alloc(1024));
    return Buffer.concat(parts);
}

// ---- the resources --------------------------------------------------------------------------

/** A realise that failed, after everything it had started had finished; `errors`: each distinct cause. */
export class RealiseError extends Error {
    constructor(readonly errors: Error[]) {
        super(errors.map((e) => e.message).join("\n--- and ---\n"));
    }
}

/**
 * Like Promise.all, but it settles only when every promise has: a failure never leaves work
 * running on the engine behind the caller's back (a network still being created, a container
 * still being started while the next step already looks). Rejects with every distinct error.
 */
async function allSettled(promises: Promise<unknown>[]): Promise<void> {
    const results = await Promise.allSettled(promises);
    // A dependent fails with its dependency's error: each cause is reported once.
    const reasons = results.flatMap((r) => (r.status === "rejected" ? (r.reason instanceof RealiseError ? r.reason.errors : [r.reason]) : []));
    const errors = [...new Set(reasons)];
    if (errors.length) throw new RealiseError(errors.map((e) => (e instanceof Error ? e : new Error(String(e)))));
}

const SKIPPED = new Set(["pulumi:providers:docker", "random:index/randomPassword:RandomPassword"]);
const HANDLED = new Set([
    "docker:index/network:Network", "docker:index/volume:Volume", "docker:index/remoteImage:RemoteImage",
    "docker:index/container:Container", "command:local:Command", "command:remote:Command",
]);
const REMOTE = "command:remote:Command";
const LOCAL = "command:local:Command";

/** Container inputs the Engine API updates on a running container (POST /containers/{id}/update). */
const CONTAINER_UPDATABLE = ["memory", "memorySwap", "restart"];
/** Container inputs that only the provider reads (at create and at delete): an update changes nothing on the engine. */
const CONTAINER_STATE_ONLY = ["destroyGraceSeconds", "wait", "waitTimeout"];

/**
 * Removes a container as the docker provider's delete does: with `destroyGraceSeconds`, a stop
 * first (its stop signal, then SIGKILL after that many seconds), then a forced removal; without
 * it, the forced removal alone, which kills it at once.
 */
async function removeContainer(engine: Engine, inputs: Inputs): Promise<void> {
    const name = encodeURIComponent(String(inputs.name));
    if (inputs.destroyGraceSeconds !== undefined) {
        try {
            await engine.request("POST", `/containers/${name}/stop?t=${Number(inputs.destroyGraceSeconds)}`);
        } catch (e) {
            if ((e as { status?: number }).status !== 404) throw e;
        }
    }
    await engine.remove(`/containers/${name}?force=true&v=true`);
}

/** A local command's inputs are understood, and the engine its `environment` names is one of the plan's. */
function checkLocal(r: PlannedResource, engines: ReadonlyMap<string, Engine>): void {
    const i = r.inputs as Inputs;
    known(r, "inputs", i, ["create", "stdin", "environment", "dir", "interpreter", "triggers"]);
    known(r, "environment", i.environment, COMMAND_ENVIRONMENT);
    const dockerHost = i.environment?.DOCKER_HOST;
    if (dockerHost === undefined) return;
    if (typeof dockerHost !== "string") fail(r, `environment.DOCKER_HOST must be a string, got ${JSON.stringify(dockerHost)}`);
    const hosts = [...new Set([...engines.values()].map((e) => e.host))];
    if (!hosts.includes(dockerHost)) fail(r, `environment.DOCKER_HOST=${dockerHost} is none of the plan's docker providers' engines (${hosts.join(", ")})`);
}

async function runCommand(r: PlannedResource, log: (l: string) => void): Promise<void> {
    const i = r.inputs as Inputs;
    if (typeof i.create !== "string") fail(r, "create must be a string");
    const interpreter: string[] = i.interpreter ?? ["/bin/sh", "-c"];
    const done = await run(interpreter[0], [...interpreter.slice(1), i.create], {
        cwd: i.dir, env: { ...process.env, ...(i.environment ?? {}) }, input: i.stdin ?? "", timeoutMs: COMMAND_TIMEOUT_MS,
    });
    const out = `${done.stdout}${done.stderr}`;
    if (done.code !== 0) throw new Error(`realise: command:local:Command ${r.name} failed (exit ${done.code}${done.timedOut ? ", timed out" : ""}):\n${out}`);
    log(`${r.name}: ${out.trim()}`);
}

/** A remote command's inputs are understood and its connection leads to the declared machine. */
function checkRemote(r: PlannedResource, machine: RemoteMachine | undefined): void {
    const i = r.inputs as Inputs;
    known(r, "inputs", i, ["connection", "create", "delete", "stdin", "triggers"]);
    // Dialling (retries, timeouts), authentication and the pinned host key have nothing to do on
    // the declared machine, which is reached without SSH (the host tier tests the pin against a real sshd).
    known(r, "connection", i.connection, ["host", "port", "user", "dialErrorLimit", "perDialTimeout", "privateKey", "hostKey"]);
    for (const k of ["create", "delete", "stdin"] as const) if (i[k] !== undefined && typeof i[k] !== "string") fail(r, `${k} must be a string`);
    const c = i.connection ?? {};
    if (!machine) fail(r, `runs on ${c.user}@${c.host}, but no machine was declared to run it on`);
    if (c.host !== machine.host || (c.port ?? 22) !== machine.port || c.user !== machine.user) {
        fail(r, `connects to ${c.user}@${c.host}:${c.port ?? 22}, not the declared machine ${machine.user}@${machine.host}:${machine.port}`);
    }
}

async function runRemote(r: PlannedResource, machine: RemoteMachine, commandLine: string, log: (l: string) => void): Promise<void> {
    const done = await machine.run(commandLine, (r.inputs as Inputs).stdin, COMMAND_TIMEOUT_MS);
    const out = `${done.stdout}${done.stderr}`;
    if (done.code !== 0) throw new Error(`realise: ${REMOTE} ${r.name} failed on ${machine.user}@${machine.host} (exit ${done.code}${done.timedOut ? ", timed out" : ""}):\n${out}`);
    log(`${r.name}: ${out.trim()}`);
}

/**
 * Realises `plan` on the engine its docker provider names. Returns what it did, per resource.
 */
export async function realise(plan: PlanDocument, opts: RealiseOptions = {}): Promise<Action[]> {
    const log = opts.log ?? (() => undefined);
    const actions: Action[] = [];
    // Without a previous plan everything is new: what the engine already has is replaced.
    const predicted = opts.previous === undefined ? undefined : plannedActions(opts.previous, plan);
    const planned = (r: PlannedResource): PlannedAction => predicted?.get(r.urn) ?? "create";
    // Kept by the plan but missing on the engine, and so created again (a refresh's finding).
    const restored = new Set<string>();
    const act = (r: PlannedResource, action: Action["action"]) => {
        if (planned(r) === "same" && (action === "created" || action === "replaced")) restored.add(r.urn);
        actions.push({ urn: r.urn, type: r.type, name: r.name, action });
        log(`${action.padEnd(8)} ${r.type} ${r.name}`);
    };

    // Everything is understood before anything is touched.
    const engines = enginesOf(plan, opts.machine);
    const previousEngines = opts.previous ? enginesOf(opts.previous, opts.machine) : new Map<string, Engine>();
    const custom = plan.resources.filter((r) => r.custom);
    for (const r of custom) {
        if (!HANDLED.has(r.type) && !SKIPPED.has(r.type)) fail(r, "no handler for this resource type");
        if (r.import) fail(r, "import is not supported by this realiser");
        if (HANDLED.has(r.type)) noSecretsMasked(r);
        if (r.type === REMOTE) checkRemote(r, opts.machine);
        if (r.type === LOCAL) checkLocal(r, engines);
        if (DOCKER_TYPES.has(r.type)) engineOf(r, engines);
    }
    const byUrn = new Map(plan.resources.map((r) => [r.urn, r]));
    for (const r of custom) {
        for (const d of r.dependsOn) if (!byUrn.has(d)) fail(r, `depends on ${d}, which is not in the plan`);
    }
    const before = new Map((opts.previous?.resources ?? []).map((r) => [r.urn, r]));
    /** The engine a resource of the previous plan is on. */
    const previousEngine = (r: PlannedResource) => engineOf(r, previousEngines);
    /** Was it on another engine in the previous plan (an instance moved to another host)? */
    const moved = (r: PlannedResource) => {
        const prev = before.get(r.urn);
        return prev !== undefined && DOCKER_TYPES.has(r.type) && previousEngine(prev).socketPath !== engineOf(r, engines).socketPath;
    };
    for (const r of custom.filter(moved)) {
        if (planned(r) !== "replace") {
            fail(r, `moves from the engine at ${previousEngine(before.get(r.urn)!).host} to ${engineOf(r, engines).host}, but the plan diff ${planned(r) === "same" ? "keeps" : "updates"} it: ` +
                "pulumi up would not make it again on the new engine");
        }
    }

    // What left the plan goes last (below), each after everything that depends on it (a container
    // before its network and volume; a command's delete before what it depends on).
    const gone = [...before.values()].filter((r) => r.custom && !byUrn.has(r.urn));
    for (const r of gone.filter((x) => x.protect)) fail(r, "is protected and cannot be deleted (pulumi up would refuse too)");
    for (const r of gone.filter((x) => x.type === REMOTE)) checkRemote(r, opts.machine);
    for (const r of gone.filter((x) => DOCKER_TYPES.has(x.type))) previousEngine(r);
    const deleting = new Map<string, Promise<void>>();
    const deleteOne = (r: PlannedResource): Promise<void> => {
        let p = deleting.get(r.urn);
        if (!p) {
            p = (async () => {
                await allSettled(gone.filter((x) => x.dependsOn.includes(r.urn)).map(deleteOne));
                await destroy(r);
            })();
            deleting.set(r.urn, p);
        }
        return p;
    };
    const destroy = async (r: PlannedResource): Promise<void> => {
        // A local command has nothing to undo (the program declares no `delete` for one): it leaves the state.
        const deletable = ["docker:index/container:Container", "docker:index/network:Network", "docker:index/volume:Volume", REMOTE, "command:local:Command"];
        if (!deletable.includes(r.type)) return;
        if (r.retainOnDelete) return act(r, "retained");
        const i = r.inputs as Inputs;
        const name = encodeURIComponent(String(i.name));
        const engine = DOCKER_TYPES.has(r.type) ? previousEngine(r) : undefined!;
        if (r.type === "docker:index/container:Container") await removeContainer(engine, i);
        if (r.type === "docker:index/network:Network") await engine.remove(`/networks/${name}`);
        if (r.type === "docker:index/volume:Volume") await engine.remove(`/volumes/${name}`);
        if (r.type === REMOTE && i.delete !== undefined) await runRemote(r, opts.machine!, i.delete, log);
        act(r, "deleted");
    };

    // The old containers of create-before-delete replacements, and the old networks and volumes
    // of resources replaced onto another engine: deleted with the deletes, containers first.
    const replacedLast: PlannedResource[] = [];

    // 1. Everything in the plan, each as soon as its dependencies are done.
    const done = new Map<string, Promise<void>>();
    const realiseOne = (r: PlannedResource): Promise<void> => {
        let p = done.get(r.urn);
        if (!p) {
            p = (async () => {
                await allSettled(r.dependsOn.map((d) => realiseOne(byUrn.get(d)!)));
                if (r.parent && byUrn.has(r.parent)) await realiseOne(byUrn.get(r.parent)!);
                if (!r.custom || SKIPPED.has(r.type)) return act(r, "skipped");
                await create(r);
            })();
            done.set(r.urn, p);
        }
        return p;
    };

    // A command the plan keeps runs again only when something it depends on had to be restored.
    const keepCommand = (r: PlannedResource) => planned(r) === "same" && !r.dependsOn.some((d) => restored.has(d));
    const create = async (r: PlannedResource): Promise<void> => {
        const prev = before.get(r.urn);
        const i = r.inputs as Inputs;
        const engine = DOCKER_TYPES.has(r.type) ? engineOf(r, engines) : undefined!;
        // Replaced from another engine: the old one goes from there, with the deletes.
        if (moved(r) && r.type !== "docker:index/container:Container" && r.type !== "docker:index/remoteImage:RemoteImage") replacedLast.push(prev!);
        switch (r.type) {
            case LOCAL:
                if (keepCommand(r)) return act(r, "kept");
                await runCommand(r, log);
                return act(r, "ran");
            case REMOTE:
                // A command with only a `delete` runs nothing now.
                if (keepCommand(r)) return act(r, "kept");
                if (i.create === undefined) return act(r, planned(r) === "create" ? "created" : planned(r) === "same" ? "kept" : "updated");
                await runRemote(r, opts.machine!, i.create, log);
                return act(r, "ran");
            case "docker:index/remoteImage:RemoteImage": {
                // triggers (the machine's id) re-pull onto a new engine; here nothing is pulled.
                known(r, "inputs", i, ["name", "keepLocally", "triggers"]);
                // Never pulled: the tier's images are built locally (no registry is reachable).
                const img = await engine.find(`/images/${encodeURIComponent(String(i.name))}/json`);
                if (!img) fail(r, `image ${i.name} is not on the engine (the e2e setup builds it; nothing is pulled)`);
                return act(r, "checked");
            }
            case "docker:index/network:Network": {
                known(r, "inputs", i, ["name", "driver", "labels", "internal", "attachable"]);
                const want = { Name: i.name, Driver: i.driver ?? "bridge", Labels: labelMap(r, i.labels), Internal: i.internal === true, Attachable: i.attachable === true, CheckDuplicate: true };
                const found = await engine.find(`/networks/${encodeURIComponent(i.name)}`);
                if (found && found.Name === i.name) {
                    const same = found.Driver === want.Driver && JSON.stringify(found.Labels ?? {}) === JSON.stringify(want.Labels);
                    if (same && planned(r) !== "replace") return act(r, "kept");
                    await engine.remove(`/networks/${encodeURIComponent(i.name)}`);
                    await engine.request("POST", "/networks/create", want);
                    return act(r, "replaced");
                }
                await engine.request("POST", "/networks/create", want);
                return act(r, moved(r) ? "replaced" : "created");
            }
            case "docker:index/volume:Volume": {
                known(r, "inputs", i, ["name", "driver", "driverOpts", "labels"]);
                const want = { Name: i.name, Driver: i.driver ?? "local", DriverOpts: i.driverOpts ?? {}, Labels: labelMap(r, i.labels) };
                const found = await engine.find(`/volumes/${encodeURIComponent(i.name)}`);
                if (found) {
                    // A retained volume comes back as it is, but only if it is the declared one.
                    if (found.Driver !== want.Driver || JSON.stringify(found.Options ?? {}) !== JSON.stringify(want.DriverOpts)) {
                        fail(r, `volume ${i.name} exists with driver ${found.Driver} and options ${JSON.stringify(found.Options)}, not the declared ${want.Driver} ${JSON.stringify(want.DriverOpts)}`);
                    }
                    // Docker's create hands back an existing volume of that name, as pulumi up would get it
                    // (on a host it moved to, the instance's -dirs step made it, as on a new machine).
                    return act(r, moved(r) ? "replaced" : planned(r) === "create" ? "adopted" : "kept");
                }
                await engine.request("POST", "/volumes/create", want);
                return act(r, moved(r) ? "replaced" : "created");
            }
            case "docker:index/container:Container": {
                const { body, networks } = containerSpec(r);
                const name = encodeURIComponent(i.name);
                const found = await engine.find(`/containers/${name}/json`);
                const running = found?.State?.Running === true;
                if (running && planned(r) === "same") return act(r, "kept");
                if (running && planned(r) === "update") {
                    const changed = Object.keys({ ...prev!.inputs, ...i }).filter((k) => JSON.stringify(prev!.inputs[k]) !== JSON.stringify(i[k]));
                    const notInPlace = changed.filter((k) => !CONTAINER_UPDATABLE.includes(k) && !CONTAINER_STATE_ONLY.includes(k));
                    if (notInPlace.length) fail(r, `the diff updates it in place, but ${notInPlace.join(", ")} cannot change on a running container`);
                    await engine.request("POST", `/containers/${name}/update`, {
                        Memory: body.HostConfig.Memory, MemorySwap: body.HostConfig.MemorySwap, RestartPolicy: body.HostConfig.RestartPolicy,
                    });
                    return act(r, "updated");
                }
                // A replacement as Pulumi does it: deleteBeforeReplace removes the old container
                // first; otherwise the new one is created next to it (under a name of its own: the
                // same name is Docker's 409 conflict, as under pulumi up), and the old one is
                // deleted last, with the deletes, once everything that follows it is done.
                const old = planned(r) === "replace" && prev !== undefined ? String(prev.inputs.name) : undefined;
                if (old !== undefined && r.deleteBeforeReplace) await removeContainer(previousEngine(prev!), prev!.inputs);
                else if (old !== undefined && (old !== i.name || moved(r))) replacedLast.push(prev!);
                if (found && (old === undefined || r.deleteBeforeReplace)) await removeContainer(engine, i);
                await engine.request("POST", `/containers/create?name=${name}`, body);
                for (const n of networks.slice(1)) {
                    await engine.request("POST", `/networks/${encodeURIComponent(n.name)}/connect`, { Container: i.name, EndpointConfig: { Aliases: n.aliases } });
                }
                // Uploads are written into the container before it starts, one archive per file.
                for (const u of i.uploads ?? []) {
                    const file = String(u.file);
                    const slash = file.lastIndexOf("/");
                    if (slash < 0) fail(r, `upload file ${file} is not absolute`);
                    const content = u.contentBase64 !== undefined ? Buffer.from(String(u.contentBase64), "base64") : Buffer.from(String(u.content ?? ""), "utf8");
                    const tar = tarOf([{ name: file.slice(slash + 1), content, mode: u.executable ? 0o755 : 0o644 }]);
                    await engine.request("PUT", `/containers/${name}/archive?path=${encodeURIComponent(file.slice(0, slash) || "/")}`, tar, "application/x-tar");
                }
                await engine.request("POST", `/containers/${name}/start`);
                if (i.wait === true) await waitHealthy(engine, i.name, (i.waitTimeout ?? 60) * 1000);
                return act(r, found || old !== undefined ? "replaced" : "created");
            }
        }
        fail(r, "no handler");
    };

    await allSettled(plan.resources.map(realiseOne));

    // 2. What left the plan goes, after everything else as in `pulumi up`; and so do the old
    // containers that new ones replaced (Pulumi's delete-replaced steps).
    const deleteReplaced = async (r: PlannedResource) => {
        const engine = previousEngine(r);
        const name = encodeURIComponent(String(r.inputs.name));
        if (r.retainOnDelete) return log(`retained ${r.type} ${r.name} (replaced: ${String(r.inputs.name)} on ${engine.host})`);
        if (r.type === "docker:index/container:Container") await removeContainer(engine, r.inputs as Inputs);
        if (r.type === "docker:index/network:Network") await engine.remove(`/networks/${name}`);
        if (r.type === "docker:index/volume:Volume") await engine.remove(`/volumes/${name}`);
        log(`deleted  ${r.type} ${r.name} (replaced: ${String(r.inputs.name)} on ${engine.host})`);
    };
    const isContainer = (r: PlannedResource) => r.type === "docker:index/container:Container";
    await allSettled([
        ...gone.map(deleteOne),
        (async () => {
            await allSettled(replacedLast.filter(isContainer).map(deleteReplaced));
            await allSettled(replacedLast.filter((r) => !isContainer(r)).map(deleteReplaced));
        })(),
    ]);
    return actions;
}

/** The engine of each docker provider of `plan`, by the provider's URN. */
function enginesOf(plan: PlanDocument, machine: RemoteMachine | undefined): Map<string, Engine> {
    const providers = plan.resources.filter((r) => r.type === "pulumi:providers:docker");
    if (providers.length === 0) throw new Error("realise: the plan has no docker provider");
    const engines = new Map<string, Engine>();
    for (const p of providers) {
        // sshOpts are the docker client's options for its SSH connection: nothing to do on the declared machine.
        known(p, "inputs", p.inputs, ["host", "sshOpts"]);
        engines.set(p.urn, Engine.fromHost(p.inputs.host, machine));
    }
    const sockets = [...engines.values()].map((e) => e.socketPath);
    const shared = sockets.filter((s, i) => sockets.indexOf(s) !== i);
    if (shared.length) throw new Error(`realise: two docker providers of the plan lead to the same engine (${[...new Set(shared)].join(", ")}): two hosts cannot share one`);
    return engines;
}

/** The engine of a Docker resource: the one its `provider` names, which must be a docker provider of the plan. */
function engineOf(r: PlannedResource, engines: ReadonlyMap<string, Engine>): Engine {
    const provider = r.provider ? engines.get(r.provider) : undefined;
    if (!provider) fail(r, `its provider ${JSON.stringify(r.provider ?? null)} is none of the plan's docker providers (${[...engines.keys()].join(", ")})`);
    return provider;
}

async function waitHealthy(engine: Engine, name: string, ms: number): Promise<void> {
    const until = Date.now() + ms;
    for (;;) {
        const c = await engine.find(`/containers/${encodeURIComponent(name)}/json`);
        if (c?.State?.Health?.Status === "healthy") return;
        if (Date.now() > until) throw new Error(`realise: ${name} was not healthy within ${ms} ms`);
        await new Promise((res) => setTimeout(res, 500));
    }
}

if (require.main === module) {
    const args = process.argv.slice(2);
    const file = args[0];
    const prevIdx = args.indexOf("--previous");
    if (!file) {
        process.stderr.write("usage: tsx test/e2e/realise.ts PLAN.json [--previous PREVIOUS.json]\n");
        process.exit(2);
    }
    const read = (f: string) => JSON.parse(fs.readFileSync(f, "utf8")) as PlanDocument;
    realise(read(file), { previous: prevIdx > 0 ? read(args[prevIdx + 1]) : undefined, log: (l) => process.stderr.write(`${l}\n`) })
        .then(() => process.exit(0))
        .catch((e: unknown) => {
            process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
            process.exit(1);
        });
}
