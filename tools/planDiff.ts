// The offline plan's diff between two versions of the golden plans: what a merge would add,
// change, replace and remove, with protected or retained resources at risk called out first.
// Usage: npm run plan:diff -- --base DIR --head DIR [--stacks staging,production]
// (DIR holds <stack>.json files, e.g. the base branch's plans/ and this branch's plans/).
import * as fs from "fs";
import * as path from "path";
import type { PlanDocument, PlannedResource } from "./planner";

/** Marks the pull-request comment, so the workflow updates it instead of adding another. */
export const COMMENT_MARKER = "<!-- housing-portal-offline-plan-diff -->";

/**
 * Inputs whose change makes the provider replace the resource rather than update it. "*" means
 * any input change replaces (Docker containers, networks and volumes are recreated on change).
 * Types not listed are updated in place. This list is a reviewer's aid, not the provider's schema.
 */
export const REPLACING_INPUTS: Readonly<Record<string, readonly string[] | "*">> = {
    "docker:index/container:Container": "*",
    "docker:index/network:Network": "*",
    "docker:index/volume:Volume": "*",
    "docker:index/remoteImage:RemoteImage": ["name"],
    "digitalocean:index/volume:Volume": ["region", "name", "snapshotId", "initialFilesystemType", "filesystemType"],
    "digitalocean:index/droplet:Droplet": ["image", "region", "userData", "sshKeys"],
    "digitalocean:index/volumeAttachment:VolumeAttachment": ["dropletId", "volumeId"],
    "digitalocean:index/reservedIp:ReservedIp": ["region"],
    "aws:ebs/volume:Volume": ["availabilityZone", "snapshotId", "encrypted", "kmsKeyId"],
    "aws:ec2/instance:Instance": ["ami", "availabilityZone", "userData", "keyName", "subnetId"],
    "aws:ec2/volumeAttachment:VolumeAttachment": ["deviceName", "instanceId", "volumeId"],
    "aws:ec2/keyPair:KeyPair": ["keyName", "publicKey"],
    "random:index/randomPassword:RandomPassword": "*",
};

export interface ChangedResource {
    readonly resource: PlannedResource;
    readonly fields: string[];
    readonly replaced: boolean;
}

export interface PlanDiff {
    readonly added: PlannedResource[];
    readonly removed: PlannedResource[];
    readonly changed: ChangedResource[];
    /** Protected or retained resources that would be replaced or removed, as sentences. */
    readonly warnings: string[];
}

function changedFields(before: PlannedResource, after: PlannedResource): string[] {
    const keys = new Set([...Object.keys(before.inputs), ...Object.keys(after.inputs)]);
    const fields = [...keys].filter((k) => JSON.stringify(before.inputs[k]) !== JSON.stringify(after.inputs[k]));
    for (const opt of ["protect", "retainOnDelete", "deleteBeforeReplace", "ignoreChanges", "import", "parent"] as const) {
        if (JSON.stringify(before[opt]) !== JSON.stringify(after[opt])) fields.push(`(${opt})`);
    }
    return fields.sort();
}

function replaces(type: string, fields: readonly string[]): boolean {
    const rule = REPLACING_INPUTS[type];
    const inputs = fields.filter((f) => !f.startsWith("("));
    if (rule === undefined || inputs.length === 0) return false;
    return rule === "*" || inputs.some((f) => rule.includes(f));
}

/** Compares two plans of one stack by URN. */
export function diffPlans(base: PlanDocument, head: PlanDocument): PlanDiff {
    const before = new Map(base.resources.map((r) => [r.urn, r]));
    const after = new Map(head.resources.map((r) => [r.urn, r]));
    const added = head.resources.filter((r) => !before.has(r.urn));
    const removed = base.resources.filter((r) => !after.has(r.urn));
    const changed: ChangedResource[] = [];
    for (const r of head.resources) {
        const old = before.get(r.urn);
        if (old === undefined) continue;
        const fields = changedFields(old, r);
        if (fields.length) changed.push({ resource: r, fields, replaced: replaces(r.type, fields) });
    }
    const warnings: string[] = [];
    for (const r of removed) {
        if (r.protect) warnings.push(`${r.name} (${r.type}) is protected and would be removed: pulumi up will refuse until it is unprotected`);
        else if (r.retainOnDelete) warnings.push(`${r.name} (${r.type}) leaves the stack but is retained: its data stays where it is`);
    }
    for (const c of changed.filter((x) => x.replaced)) {
        const r = before.get(c.resource.urn)!;
        if (r.protect) warnings.push(`${r.name} (${r.type}) is protected and would be REPLACED (${c.fields.join(", ")}): pulumi up will refuse`);
        else if (r.retainOnDelete) warnings.push(`${r.name} (${r.type}) is retained and would be REPLACED (${c.fields.join(", ")})`);
    }
    return { added, removed, changed, warnings };
}

/** The pull-request comment for several stacks. */
export function renderDiffComment(diffs: ReadonlyArray<{ stack: string; diff: PlanDiff }>): string {
    const out = [COMMENT_MARKER, "## Offline plan diff", ""];
    const warnings = diffs.flatMap(({ stack, diff }) => diff.warnings.map((w) => `- **${stack}**: ${w}`));
    if (warnings.length) out.push("> [!WARNING]", "> Protected or retained resources are affected:", ...warnings.map((w) => `> ${w}`), "");
    for (const { stack, diff } of diffs) {
        const replaced = diff.changed.filter((c) => c.replaced);
        out.push(`### ${stack}: ${diff.added.length} to add, ${diff.changed.length - replaced.length} to change, ${replaced.length} to replace, ${diff.removed.length} to remove`, "");
        if (!diff.added.length && !diff.changed.length && !diff.removed.length) {
            out.push("No changes.", "");
            continue;
        }
        for (const r of diff.added) out.push(`- \`+\` ${r.name} (${r.type})`);
        for (const c of diff.changed) out.push(`- \`${c.replaced ? "+-" : "~"}\` ${c.resource.name} (${c.resource.type}): ${c.fields.join(", ")}`);
        for (const r of diff.removed) out.push(`- \`-\` ${r.name} (${r.type})${r.retainOnDelete ? " (retained)" : ""}`);
        out.push("");
    }
    out.push("_From the golden plans (`plans/*.json`), which `npm test` keeps in step with the program. No cloud was asked._", "");
    return out.join("\n");
}

function readPlan(dir: string, stack: string): PlanDocument {
    const file = path.join(dir, `${stack}.json`);
    // A stack that is new on this branch has no base plan: everything in it is added.
    if (!fs.existsSync(file)) return { project: "housing-portal", stack, resources: [], outputs: {} };
    return JSON.parse(fs.readFileSync(file, "utf8")) as PlanDocument;
}

function main(argv: string[]): void {
    const arg = (name: string) => {
        const i = argv.indexOf(name);
        return i >= 0 ? argv[i + 1] : undefined;
    };
    const base = arg("--base");
    const head = arg("--head");
    if (!base || !head) {
        process.stderr.write("usage: npm run plan:diff -- --base DIR --head DIR [--stacks staging,production]\n");
        process.exit(2);
    }
    const stacks = (arg("--stacks") ?? "staging,production").split(",");
    process.stdout.write(renderDiffComment(stacks.map((stack) => ({ stack, diff: diffPlans(readPlan(base, stack), readPlan(head, stack)) }))));
}

if (require.main === module) main(process.argv.slice(2));
