// The golden plans: the offline plan of every stack, committed under plans/, so that a pull
// request shows each infrastructure change as a diff. `npm run plan:update` rewrites them and
// `npm test` fails when the program's plan differs from them.
import { execFile } from "child_process";
import * as path from "path";
import { promisify } from "util";
import { renderReport } from "./planReport";
import { PROJECT_DIR } from "./planArgs";

const run = promisify(execFile);
export const PLANS_DIR = path.join(PROJECT_DIR, "plans");

/** The stacks with golden plans, and the arguments each is planned with. */
export const GOLDEN_STACKS: Readonly<Record<string, readonly string[]>> = {
    // The dev stack points at the operator's checkout; the golden plan uses the skeleton one.
    dev: ["--stack", "dev", "--set", "projectRoot=test/fixtures/housing_portal"],
    staging: ["--stack", "staging"],
    production: ["--stack", "production"],
    // The example of a stack on two hosts.
    latam: ["--stack", "latam"],
};

export interface GoldenFile {
    readonly file: string;
    readonly text: string;
}

/** Runs the offline plan in a child process (the mock runtime is process-wide). */
export async function planText(args: readonly string[]): Promise<string> {
    const { stdout } = await run(process.execPath, ["--import", "tsx", path.join(PROJECT_DIR, "tools", "plan.ts"), ...args], {
        cwd: PROJECT_DIR, maxBuffer: 256 * 1024 * 1024,
    });
    return stdout;
}

/** The golden files as the program produces them now: plans/<stack>.json and plans/<stack>.md. */
export async function currentGoldenFiles(): Promise<GoldenFile[]> {
    const files = await Promise.all(Object.entries(GOLDEN_STACKS).map(async ([stack, args]) => {
        const json = await planText([...args, "--json", "--portable"]);
        return [
            { file: path.join(PLANS_DIR, `${stack}.json`), text: json },
            // The report is a pure rendering of the plan: no second run needed.
            { file: path.join(PLANS_DIR, `${stack}.md`), text: renderReport(JSON.parse(json)) },
        ];
    }));
    return files.flat();
}
