// The offline plan's command line and the stack config it names: one reading for `npm run plan`
// (tools/plan.ts) and for the unit tests' plan batch, which must plan exactly as the CLI does.
import * as fs from "fs";
import * as path from "path";
import { StackSettings, validateConfigMap } from "../components/config";
import { deployedHosts, deployedVolumeOf, plannedVolumes, volumeChangeProblems } from "../components/volumeRecord";
import { DEFAULT_HOST } from "../components/naming";
import { deployedHostKeyProblem } from "../components/hostKey";
import { StackConfig, StackFileError, planConfig, stackNameOf } from "./stackFile";

export const PROJECT_DIR = path.resolve(__dirname, "..");
/** What --portable writes instead of this checkout's absolute path, so golden files match any clone. */
export const PORTABLE_ROOT = "/housing-portal-infra";
export const PLAN_USAGE = "usage: npm run plan -- [--stack NAME | --config-file FILE] [--deployed OUTPUTS.json] [--json] [--set key=value] [--portable]";

/** A command line the plan cannot run: the message comes before the usage line, exit status 2. */
export class PlanUsageError extends Error {}

export interface PlanArgs {
    /** --stack NAME: plans Pulumi.NAME.yaml of this project. */
    readonly stack?: string;
    /** --config-file FILE: plans that stack file instead. */
    readonly configFile?: string;
    /** --json: the plan as one JSON document. @default false: the readable report */
    readonly json: boolean;
    /** --portable: this checkout's path written as PORTABLE_ROOT. @default false */
    readonly portable: boolean;
    /** --reveal-secrets: secret values instead of the mask (the e2e realiser only). @default false */
    readonly revealSecrets: boolean;
    /** --set key=value (key without the namespace), over the file's values. @default [] */
    readonly sets: readonly string[];
    /**
     * --deployed FILE: the deployed stack's outputs (`pulumi stack output --json`); a change its
     * data volume cannot take in place is refused before planning. @default no comparison
     */
    readonly deployed?: string;
}

export function parsePlanArgs(argv: readonly string[]): PlanArgs {
    let stack: string | undefined;
    let configFile: string | undefined;
    let deployed: string | undefined;
    let json = false, portable = false, revealSecrets = false;
    const sets: string[] = [];
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const next = () => {
            const v = argv[++i];
            if (v === undefined) throw new PlanUsageError(`${a} needs a value`);
            return v;
        };
        if (a === "--stack") stack = next();
        else if (a === "--config-file") configFile = next();
        else if (a === "--deployed") deployed = next();
        else if (a === "--json") json = true;
        else if (a === "--portable") portable = true;
        else if (a === "--reveal-secrets") revealSecrets = true;
        else if (a === "--set") {
            const set = next();
            if (set.indexOf("=") <= 0) throw new PlanUsageError(`--set takes key=value (key without the namespace), got ${JSON.stringify(set)}`);
            sets.push(set);
        }
        else throw new PlanUsageError(`unknown argument ${a}`);
    }
    if (!stack && !configFile) throw new PlanUsageError("name a stack (--stack dev) or a config file (--config-file FILE)");
    return { stack, configFile, json, portable, revealSecrets, sets, deployed };
}

/** The stack the arguments name, with its config read, or every problem with that config. */
export type LoadedPlanConfig =
    | { readonly ok: true; readonly stack: string; readonly config: StackConfig }
    | { readonly ok: false; readonly problems: readonly string[] };

/**
 * Reads and validates the named stack file, as the program will, and refuses what only the file
 * shows (a broken YAML file, a secret in plain text); a PlanUsageError when there is none.
 */
export function loadPlanConfig(args: PlanArgs): LoadedPlanConfig {
    const file = args.configFile ? path.resolve(args.configFile) : path.join(PROJECT_DIR, `Pulumi.${args.stack}.yaml`);
    if (!fs.existsSync(file)) throw new PlanUsageError(`no stack config at ${file}`);
    const stack = args.stack ?? stackNameOf(file);
    let config: StackConfig;
    try {
        config = planConfig(file, args.sets);
    } catch (err) {
        if (err instanceof StackFileError) return { ok: false, problems: err.problems };
        throw err;
    }
    const result = validateConfigMap(config.values, { stack, projectDir: PROJECT_DIR });
    const problems = [...config.problems, ...(result.ok ? [] : result.problems)];
    if (result.ok && args.deployed !== undefined) problems.push(...deployedProblems(args.deployed, result.settings));
    return problems.length === 0 ? { ok: true, stack, config } : { ok: false, problems };
}

/**
 * What the deployed stack (its outputs in `file`) makes impossible, host by host: volume changes
 * the cloud cannot apply in place, and a machine created before host keys without its key.
 */
function deployedProblems(file: string, settings: StackSettings): string[] {
    let outputs: unknown;
    try {
        outputs = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch (err) {
        const why = err instanceof SyntaxError ? "is not JSON" : "cannot be read";
        return [`--deployed: ${file} ${why}; write it with \`pulumi stack output --json > ${file}\``];
    }
    const deployed = deployedHosts(outputs);
    if (typeof deployed === "string") return [`--deployed: ${file}: ${deployed}`];
    if (settings.provider === "local") return [];
    const planned = plannedVolumes(settings);
    const problems: string[] = [];
    for (const [name, outputsOfHost] of deployed) {
        // The stack's one host keeps its stack-wide key paths; another host's are under hosts.<name>.
        const at = (path: string) => (name === DEFAULT_HOST && settings.hosts.length === 1 ? path : `hosts.${name}.${path}`);
        const volume = deployedVolumeOf(outputsOfHost);
        if (typeof volume === "string") {
            problems.push(`--deployed: ${file}: host ${name}: ${volume}`);
            continue;
        }
        if (volume !== undefined) problems.push(...volumeChangeProblems(volume, planned.get(name)).map((p) => `${at(p.path)}: ${p.message}`));
        const host = settings.hosts.find((h) => h.name === name);
        const hostKey = host && deployedHostKeyProblem(outputsOfHost, host.host);
        if (hostKey !== undefined) problems.push(at(hostKey));
    }
    return problems;
}
