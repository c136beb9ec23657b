// npm run plan -- [--stack NAME | --config-file FILE] [--json] [--set key=value] [--portable]
// The real program under Pulumi's runtime mocks: no cloud, no credentials, no Pulumi CLI.
// Exit 2 with one line per problem on bad config; never a stack trace.
import { PLAN_USAGE, PORTABLE_ROOT, PROJECT_DIR, PlanUsageError, loadPlanConfig, parsePlanArgs } from "./planArgs";

async function main(): Promise<void> {
    const args = parsePlanArgs(process.argv.slice(2));
    const loaded = loadPlanConfig(args);
    if (!loaded.ok) {
        for (const line of loaded.problems) process.stderr.write(`${line}\n`);
        process.exit(2);
    }
    const { stack, config } = loaded;
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
    if (err instanceof PlanUsageError) {
        process.stderr.write(`${err.message}\n${PLAN_USAGE}\n`);
        process.exit(2);
    }
    process.stderr.write(`plan failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
});
