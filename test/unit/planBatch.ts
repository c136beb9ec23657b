// Child process for planRun.ts's planBatch(): plans several configs one after the other in ONE
// process, as `tools/plan.ts ... --json` would print each, so that the Pulumi runtime (about 2 s
// to load) is loaded once per batch instead of once per config.
//
// The mock runtime is process-wide, so between runs this drops what a run leaves behind:
// setMocks() replaces the monitor and the stack resource, setAllConfig() replaces the whole
// config, and every module of this project (index.ts, components/, tools/) is dropped from the
// require cache, so that each run loads and runs the program afresh, with fresh mocks. Only the
// libraries under node_modules stay loaded. plan.test.ts checks that a batch prints the committed
// golden plans byte for byte, each after a run of another stack.
//
// argv[2]: JSON array of argument lists (--stack NAME | --config-file FILE, --set key=value).
// stdout: JSON array, per list: { ok: true, json } (the CLI's --json text) or { ok: false, problems }.
import * as path from "path";

const PROJECT_DIR = path.resolve(__dirname, "..", "..");
const LIBRARIES = path.join(PROJECT_DIR, "node_modules") + path.sep;

export type BatchResult = { ok: true; json: string } | { ok: false; problems: string[] };

/** Forgets this project's modules (not the libraries): the next require loads them afresh. */
function forgetProject(): void {
    for (const id of Object.keys(require.cache)) {
        if (id.startsWith(PROJECT_DIR + path.sep) && !id.startsWith(LIBRARIES) && id !== __filename) delete require.cache[id];
    }
}

/** The same steps as tools/plan.ts main() for `--json`, without its process exits. */
async function planOne(argv: readonly string[]): Promise<BatchResult> {
    forgetProject();
    /* eslint-disable @typescript-eslint/no-require-imports */
    const { loadPlanConfig, parsePlanArgs } = require("../../tools/planArgs") as typeof import("../../tools/planArgs");
    const { runPlan } = require("../../tools/planner") as typeof import("../../tools/planner");
    /* eslint-enable @typescript-eslint/no-require-imports */

    const args = parsePlanArgs(argv);
    const loaded = loadPlanConfig(args);
    if (!loaded.ok) return { ok: false, problems: [...loaded.problems] };
    const plan = await runPlan({ stack: loaded.stack, config: loaded.config, revealSecrets: args.revealSecrets });
    return { ok: true, json: `${JSON.stringify(plan, null, 2)}\n` };
}

async function main(): Promise<void> {
    const jobs: string[][] = JSON.parse(process.argv[2]);
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
