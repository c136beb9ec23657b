// Child process for program-config.test.ts: runs index.ts under mocks with the config given as
// JSON in argv[2] and prints what happened as JSON: the error's class and message, and how many
// resources were registered before it.
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";

async function main(): Promise<void> {
    const config: Record<string, string> = JSON.parse(process.argv[2]);
    let registered = 0;
    pulumi.runtime.setAllConfig(config);
    await pulumi.runtime.setMocks({
        newResource: (args) => { registered++; return { id: `${args.name}-id`, state: args.inputs }; },
        call: () => ({}),
    }, "housing-portal", "staging", true);
    try {
        await pulumi.runtime.runInPulumiStack(async () => require(path.resolve(__dirname, "..", "..", "index.ts")));
        process.stdout.write(JSON.stringify({ error: null, registered }));
    } catch (err) {
        process.stdout.write(JSON.stringify({
            error: err instanceof pulumi.RunError ? "RunError" : (err as Error).constructor.name,
            message: (err as Error).message,
            registered,
        }));
    }
}

void main();
