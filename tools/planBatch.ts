// Child process that plans several configs one after the other in ONE process, as
// `tools/plan.ts ... --json` would print each, so that the Pulumi runtime (about 2 s to load) is
// loaded once per batch instead of once per config. Used by the unit tests (test/unit/planRun.ts)
// and by the generator of docs/changes.md (tools/changesDoc.ts).
//
// The mock runtime is process-wide, so between runs this drops what a run leaves behind:
// setMocks() replaces the monitor and the stack resource, setAllConfig() replaces the whole
// config, and every module of this project (index.ts, components/, tools/) is dropped from the
// require cache, so that each run loads and runs the program afresh, with fresh mocks. Only the
// libraries under node_modules stay loaded. plan.test.ts checks that a batch prints the committed
// golden plans byte for byte, each after a run of another stack.
//
// A job may also give host files their content of a new program version (hostFiles: path under
// host/ → text): the program reads exactly those for that plan, as if host/ held them.
//
// argv[2]: JSON array of jobs: an argument list (--stack NAME | --config-file FILE, --set
// key=value), or { args, hostFiles }.
// stdout: JSON array, per job: { ok: true, json } (the CLI's --json text) or { ok: false, problems }.
import * as fs from "fs";
import * as path from "path";

const PROJECT_DIR = path.resolve(__dirname, "..");
const HOST_DIR = path.join(PROJECT_DIR, "host");
const LIBRARIES = path.join(PROJECT_DIR, "node_modules") + path.sep;

export type BatchResult = { ok: true; json: string } | { ok: false; problems: string[] };

/** One plan of a batch: the CLI's arguments, and host files as a new program version would have them. */
export type PlanJob = readonly string[] | { readonly args: readonly string[]; readonly hostFiles?: Readonly<Record<string, string>> };

/** Forgets this project's modules (not the libraries): the next require loads them afresh. */
function forgetProject(): void {
    for (const id of Object.keys(require.cache)) {
        if (id.startsWith(PROJECT_DIR + path.sep) && !id.startsWith(LIBRARIES) && id !== __filename) delete require.cache[id];
    }
}

/** Reads host/<path> as `hostFiles` has it, while `run` runs; every other file as it is. */
async function withHostFiles<T>(hostFiles: Readonly<Record<string, string>>, run: () => Promise<T>): Promise<T> {
    if (Object.keys(hostFiles).length === 0) return run();
    // The module object itself (an import binds a read-only view of it): components/hostFiles.ts reads through it.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const realFs = require("fs") as { readFileSync: (...args: unknown[]) => unknown };
    const read = realFs.readFileSync;
    const edited = new Map(Object.entries(hostFiles).map(([rel, text]) => [path.join(HOST_DIR, rel), text]));
    realFs.readFileSync = (file: unknown, ...rest: unknown[]) =>
        typeof file === "string" && edited.has(path.resolve(file)) ? edited.get(path.resolve(file)) : read(file, ...rest);
    try {
        return await run();
    } finally {
        realFs.readFileSync = read;
    }
}

/** The same steps as tools/plan.ts main() for `--json`, without its process exits. */
async function planOne(job: PlanJob): Promise<BatchResult> {
    const argv = Array.isArray(job) ? job as readonly string[] : (job as { args: readonly string[] }).args;
    const hostFiles = Array.isArray(job) ? {} : (job as { hostFiles?: Record<string, string> }).hostFiles ?? {};
    for (const rel of Object.keys(hostFiles)) if (!fs.existsSync(path.join(HOST_DIR, rel))) throw new Error(`planBatch: no host file ${rel} to edit`);
    forgetProject();
    /* eslint-disable @typescript-eslint/no-require-imports */
    const { loadPlanConfig, parsePlanArgs } = require("./planArgs") as typeof import("./planArgs");
    const { runPlan } = require("./planner") as typeof import("./planner");
    /* eslint-enable @typescript-eslint/no-require-imports */

    const args = parsePlanArgs(argv);
    const loaded = loadPlanConfig(args);
    if (!loaded.ok) return { ok: false, problems: [...loaded.problems] };
    const plan = await withHostFiles(hostFiles, () => runPlan({ stack: loaded.stack, config: loaded.config, revealSecrets: args.revealSecrets }));
    return { ok: true, json: `${JSON.stringify(plan, null, 2)}\n` };
}

async function main(): Promise<void> {
    const jobs: PlanJob[] = JSON.parse(process.argv[2]);
    const results: BatchResult[] = [];
    for (const argv of jobs) results.push(await planOne(argv));
    process.stdout.write(JSON.stringify(results));
}

if (require.main === module) {
    main().catch((err: unknown) => {
        process.stderr.write(`planBatch failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
        process.exit(1);
    });
}
