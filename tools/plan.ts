// npm run plan -- [--stack NAME | --config-file FILE] [--json] [--set key=value] [--portable]
// The real program under Pulumi's runtime mocks: no cloud, no credentials, no Pulumi CLI.
// Exit 2 with one line per problem on bad config; never a stack trace.
import * as fs from "fs";
import * as path from "path";
import { parseConfigMap, validateConfig } from "../components/config";
import { planConfig, stackNameOf } from "./stackFile";

export const PROJECT_DIR = path.resolve(__dirname, "..");
/** What --portable writes instead of this checkout's absolute path, so golden files match any clone. */
export const PORTABLE_ROOT = "/housing-portal-infra";

interface Args {
    stack?: string;
    configFile?: string;
    json: boolean;
    portable: boolean;
    revealSecrets: boolean;
    sets: string[];
}

function usage(message: string): never {
    process.stderr.write(`${message}\nusage: npm run plan -- [--stack NAME | --config-file FILE] [--json] [--set key=value] [--portable]\n`);
    process.exit(2);
}

function parseArgs(argv: string[]): Args {
    const args: Args = { json: false, portable: false, revealSecrets: false, sets: [] };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const next = () => argv[++i] ?? usage(`${a} needs a value`);
        if (a === "--stack") args.stack = next();
        else if (a === "--config-file") args.configFile = next();
        else if (a === "--json") args.json = true;
        else if (a === "--portable") args.portable = true;
        else if (a === "--reveal-secrets") args.revealSecrets = true;
        else if (a === "--set") args.sets.push(next());
        else usage(`unknown argument ${a}`);
    }
    if (!args.stack && !args.configFile) usage("name a stack (--stack dev) or a config file (--config-file FILE)");
    return args;
}

async function main(): Promise<void> {
    const args = parseArgs(process.argv.slice(2));
    const file = args.configFile ? path.resolve(args.configFile) : path.join(PROJECT_DIR, `Pulumi.${args.stack}.yaml`);
    if (!fs.existsSync(file)) usage(`no stack config at ${file}`);
    const stack = args.stack ?? stackNameOf(file);

    const config = planConfig(file, args.sets);
    const result = validateConfig(parseConfigMap(config.values), { stack, projectDir: PROJECT_DIR });
    if (!result.ok) {
        for (const line of result.problems) process.stderr.write(`${line}\n`);
        process.exit(2);
    }
    for (const key of config.placeholders) {
        process.stderr.write(`note: ${key} is a secret the offline plan cannot read; planned with a masked stand-in\n`);
    }
    if (args.revealSecrets) process.stderr.write("warning: --reveal-secrets prints secret values; use it for tests only\n");

    // Loaded only for a valid config: bad config answers fast, before the Pulumi runtime loads.
    const { runPlan } = await import("./planner");
    const { renderReport } = await import("./planReport");
    const plan = await runPlan({ stack, config, revealSecrets: args.revealSecrets });
    let text = args.json ? `${JSON.stringify(plan, null, 2)}\n` : renderReport(plan);
    if (args.portable) text = text.split(PROJECT_DIR).join(PORTABLE_ROOT);
    process.stdout.write(text);
}

main().catch((err: unknown) => {
    process.stderr.write(`plan failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
});
