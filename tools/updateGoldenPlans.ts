// npm run plan:update — rewrites plans/<stack>.json and plans/<stack>.md from the program.
import * as fs from "fs";
import * as path from "path";
import { PLANS_DIR, currentGoldenFiles } from "./goldenPlans";

async function main(): Promise<void> {
    fs.mkdirSync(PLANS_DIR, { recursive: true });
    for (const { file, text } of await currentGoldenFiles()) {
        const before = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : undefined;
        fs.writeFileSync(file, text);
        process.stdout.write(`${before === text ? "unchanged" : "written  "} ${path.relative(process.cwd(), file)}\n`);
    }
}

main().catch((err: unknown) => {
    process.stderr.write(`plan:update failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
});
