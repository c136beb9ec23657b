// Whether a real preview replaces the host's machine: reads the document `pulumi preview --json`
// prints and names each replaced machine (a Droplet, an EC2 instance) with its cloud. The deploy
// workflow runs it before `pulumi up` and, when it says so, makes sure the backups are fresh first.
//
//   tsx tools/hostReplacement.ts PREVIEW.json
//
// Prints GitHub step outputs: `host-replaced=true|false`, and when true `cloud=digitalocean|aws`,
// `machines=<names>` and `hosts=<the stack's hosts whose machine is replaced>`. A file that is
// not such a document: one line, exit 2.
import * as fs from "fs";
import { MACHINE_TYPES, isMachineType } from "./replacementRules";
import { hostOfComponent } from "../components/naming";

/** The step operations of a preview that replace a resource (`pulumi preview --json` steps[].op). */
const REPLACING_OPS = new Set(["replace", "create-replacement", "delete-replacement"]);

export interface MachineReplacement {
    readonly name: string;
    /** The stack's host the machine is (`main`, or a key of hosts). */
    readonly host: string;
    readonly type: string;
    readonly cloud: "digitalocean" | "aws";
    /** The properties the provider replaces it for (steps[].replaceReasons), when the preview says. */
    readonly reasons: string[];
}

/** A preview document that cannot be read: the message says why. */
export class PreviewError extends Error {}

/** The type and name a URN carries: urn:pulumi:<stack>::<project>::<parent types $ type>::<name>. */
export function urnParts(urn: string): { type: string; name: string } {
    const parts = urn.split("::");
    if (!urn.startsWith("urn:pulumi:") || parts.length < 4) throw new PreviewError(`not a resource URN: ${JSON.stringify(urn)}`);
    return { type: parts[2].split("$").pop()!, name: parts.slice(3).join("::") };
}

/** The machines a preview replaces, once each, in the order of its steps. */
export function machineReplacements(preview: unknown): MachineReplacement[] {
    if (preview === null || typeof preview !== "object" || !Array.isArray((preview as { steps?: unknown }).steps)) {
        // A preview with nothing to do has no steps at all.
        if (preview !== null && typeof preview === "object" && "changeSummary" in preview && !("steps" in preview)) return [];
        throw new PreviewError("not the output of `pulumi preview --json`: no steps");
    }
    const found = new Map<string, MachineReplacement>();
    for (const step of (preview as { steps: unknown[] }).steps) {
        const s = step as { op?: unknown; urn?: unknown; replaceReasons?: unknown };
        if (typeof s.op !== "string" || typeof s.urn !== "string") throw new PreviewError("a step without op or urn");
        if (!REPLACING_OPS.has(s.op)) continue;
        const { type, name } = urnParts(s.urn);
        if (!isMachineType(type)) continue;
        const known = found.get(s.urn);
        const reasons = Array.isArray(s.replaceReasons) ? s.replaceReasons.map(String) : [];
        // The machine is its DockerHost's child, named from it: host-droplet, host-b-instance.
        const host = hostOfComponent(name.replace(/-[a-z]+$/, ""), "host");
        if (host === undefined) throw new PreviewError(`${name}: a machine whose name is not its host's (host-<type> or host-<host>-<type>)`);
        found.set(s.urn, { name, host, type, cloud: MACHINE_TYPES[type], reasons: [...new Set([...(known?.reasons ?? []), ...reasons])] });
    }
    return [...found.values()];
}

/** The step outputs for the workflow. */
export function stepOutputs(replaced: readonly MachineReplacement[]): string {
    if (replaced.length === 0) return "host-replaced=false\n";
    const clouds = [...new Set(replaced.map((m) => m.cloud))];
    if (clouds.length > 1) throw new PreviewError(`machines of two clouds in one stack: ${clouds.join(", ")}`);
    return `host-replaced=true\ncloud=${clouds[0]}\nmachines=${replaced.map((m) => m.name).join(",")}\nhosts=${replaced.map((m) => m.host).join(",")}\n`;
}

/** The command: the step outputs for a preview file; a PreviewError for anything else. */
export function runHostReplacement(argv: readonly string[], log: (line: string) => void = () => undefined): string {
    const file = argv[0];
    if (!file || argv.length > 1) throw new PreviewError("usage: tsx tools/hostReplacement.ts PREVIEW.json (the output of pulumi preview --json)");
    let doc: unknown;
    try {
        doc = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch (e) {
        throw new PreviewError(`${file}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : "not JSON"}`);
    }
    const replaced = machineReplacements(doc);
    for (const m of replaced) log(`the preview replaces ${m.name} (${m.type})${m.reasons.length ? ` for ${m.reasons.join(", ")}` : ""}`);
    return stepOutputs(replaced);
}

if (require.main === module) {
    try {
        process.stdout.write(runHostReplacement(process.argv.slice(2), (line) => process.stderr.write(`${line}\n`)));
    } catch (err) {
        if (!(err instanceof PreviewError)) throw err;
        process.stderr.write(`hostReplacement: ${err.message}\n`);
        process.exit(2);
    }
}
