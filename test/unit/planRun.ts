// Runs the offline plan in child processes for tests (the mock runtime is process-wide).
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import type { PlanDocument, PlannedResource } from "../../tools/planner";
import type { BatchResult, PlanJob } from "../../tools/planBatch";
import { PORTABLE_ROOT } from "../../tools/planArgs";
import { subtree } from "../../tools/planGraph";

export const PROJECT_DIR = path.resolve(__dirname, "..", "..");
const PLAN = path.join(PROJECT_DIR, "tools", "plan.ts");
const BATCH = path.join(PROJECT_DIR, "tools", "planBatch.ts");

export interface PlanRun {
    readonly code: number;
    readonly stdout: string;
    readonly stderr: string;
}

/** Runs `tools/plan.ts` with these arguments. */
export function runPlanCli(args: readonly string[]): Promise<PlanRun> {
    return new Promise((resolve) => {
        execFile(process.execPath, ["--import", "tsx", PLAN, ...args], { cwd: PROJECT_DIR, maxBuffer: 256 << 20 }, (err, stdout, stderr) => {
            resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr });
        });
    });
}

/** The JSON plan for these arguments; fails the test with stderr when the plan fails. */
export async function planJson(args: readonly string[]): Promise<PlanDocument> {
    const run = await runPlanCli([...args, "--json"]);
    if (run.code !== 0) throw new Error(`plan ${args.join(" ")} exited ${run.code}: ${run.stderr}`);
    return JSON.parse(run.stdout) as PlanDocument;
}

/**
 * Plans several argument lists (--stack NAME | --config-file FILE, --set key=value) one after the
 * other in one child process (tools/planBatch.ts): each result is the text `tools/plan.ts ... --json`
 * prints, or the problems it would print for bad config. One runtime load for the whole batch.
 */
export function planBatchRaw(argsList: readonly PlanJob[]): Promise<BatchResult[]> {
    return new Promise((resolve, reject) => {
        execFile(process.execPath, ["--import", "tsx", BATCH, JSON.stringify(argsList)], { cwd: PROJECT_DIR, maxBuffer: 256 << 20 }, (err, stdout, stderr) => {
            if (err) reject(new Error(`planBatch exited ${err.code}: ${stderr}`));
            else resolve(JSON.parse(stdout) as BatchResult[]);
        });
    });
}

/** The plan of one batch result; fails the test with the problems when the config was rejected. */
export function batchedPlan(result: BatchResult): PlanDocument {
    if (!result.ok) throw new Error(`the plan rejected the config:\n${result.problems.join("\n")}`);
    return JSON.parse(result.json) as PlanDocument;
}

/** The JSON plans for these argument lists, planned in one child process; fails on bad config. */
export async function planBatch(argsList: readonly (readonly string[])[]): Promise<PlanDocument[]> {
    return (await planBatchRaw(argsList)).map(batchedPlan);
}

/**
 * The committed golden plan of a stack (plans/<stack>.json), with this checkout's path put back
 * where --portable replaced it: the plan a fresh run of tools/goldenPlans.ts GOLDEN_STACKS args
 * gives. plan.test.ts checks that the committed files match a fresh run of the program.
 */
export function goldenPlan(stack: string): PlanDocument {
    const text = fs.readFileSync(path.join(PROJECT_DIR, "plans", `${stack}.json`), "utf8");
    return JSON.parse(text.split(PORTABLE_ROOT).join(PROJECT_DIR)) as PlanDocument;
}

let tempDir: string | undefined;
/** One temporary directory per test process, removed when it exits. */
function testTempDir(): string {
    if (tempDir === undefined) {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hp-plan-"));
        process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
        tempDir = dir;
    }
    return tempDir;
}

/** Writes a stack config file (`housing-portal:` keys added) to a temporary file. */
export function writeStackConfig(config: Record<string, unknown>, name = "test"): string {
    const dir = fs.mkdtempSync(path.join(testTempDir(), `${name}-`));
    const file = path.join(dir, `Pulumi.${name}.yaml`);
    const namespaced = Object.fromEntries(Object.entries(config).map(([k, v]) => [k.includes(":") ? k : `housing-portal:${k}`, v]));
    fs.writeFileSync(file, YAML.stringify({ config: namespaced }));
    return file;
}

/** Reads a committed stack file's housing-portal keys, without the namespace. */
export function readStackKeys(file: string): Record<string, unknown> {
    const doc = YAML.parse(fs.readFileSync(path.join(PROJECT_DIR, file), "utf8"));
    return Object.fromEntries(Object.entries(doc.config).map(([k, v]) => [k.replace(/^housing-portal:/, ""), v]));
}

export function ofType(plan: PlanDocument, type: string): PlannedResource[] {
    return plan.resources.filter((r) => r.type === type);
}

export function byName(plan: PlanDocument, name: string): PlannedResource {
    const r = plan.resources.find((x) => x.name === name);
    if (!r) throw new Error(`no resource named ${name} in the plan`);
    return r;
}

/** The resources owned (directly or below) by the component with this name. */
export function ownedBy(plan: PlanDocument, componentName: string): PlannedResource[] {
    const root = byName(plan, componentName).urn;
    const owned = subtree(plan, componentName);
    return plan.resources.filter((r) => owned.has(r.urn) && r.urn !== root);
}
