// The offline plan's diff between two versions of the golden plans: what a merge would add,
// update, replace and remove, each replacement as a tree from its cause, and the data-loss gate.
// Usage: npm run plan:diff -- --base DIR --head DIR [--stacks staging,production]
// (DIR holds <stack>.json files and optionally data-loss-acknowledgements.yaml, e.g. the base
// branch's plans/ and this branch's plans/). Exit 0: the gate passed; 1: the gate failed;
// 2: bad arguments or files.
import * as fs from "fs";
import * as path from "path";
import type { PlanDocument, PlannedResource } from "./planner";
import { CascadeNode, MachineCascade, cascadeForest, keptOnNewEngines, nodesOf } from "./planCascade";
import {
    ACKNOWLEDGEMENTS_FILE, Acknowledgement, AcknowledgementsError, GateVerdict, dataLossGate, describeFinding, newAcknowledgements, parseAcknowledgements,
} from "./dataLossGate";
import { isResourceType, replacingChanges, restartingChanges } from "./replacementRules";

/** Marks the pull-request comment, so the workflow updates it instead of adding another. */
export const COMMENT_MARKER = "<!-- housing-portal-offline-plan-diff -->";

export interface ChangedResource {
    /** The resource as the head plan has it. */
    readonly resource: PlannedResource;
    /** The resource as the base plan has it. */
    readonly before: PlannedResource;
    /** Changed input keys, and changed options in parentheses. */
    readonly fields: string[];
    /** Whether the provider replaces it rather than updating it (tools/replacementRules.ts). */
    readonly replaced: boolean;
    /** The replacing inputs that changed: why it is replaced (empty when it is updated). */
    readonly reasons: string[];
    /** An in-place update that still restarts the resource, with why. */
    readonly restart?: { readonly inputs: string[]; readonly why: string };
}

export interface PlanDiff {
    readonly added: PlannedResource[];
    readonly removed: PlannedResource[];
    readonly changed: ChangedResource[];
    /** Every change under the change it follows from; each root is a cause. */
    readonly cascades: CascadeNode[];
    /** For each replaced machine, what its new engine keeps without Pulumi making it again. */
    readonly machines: MachineCascade[];
    /** Protected or retained resources at risk, and findings a reviewer must read, as sentences. */
    readonly warnings: string[];
}

/**
 * Two versions of a resource's inputs as a diff compares them: a masked secret input by its digest
 * (planner.ts), so its change shows; only where both plans have one (a plan from before digests
 * compares by the mask, as it always did).
 */
export function comparableInputs(before: PlannedResource, after: PlannedResource): [Record<string, unknown>, Record<string, unknown>] {
    const keys = Object.keys(after.secretDigests ?? {}).filter((k) => before.secretDigests?.[k] !== undefined);
    if (keys.length === 0) return [before.inputs, after.inputs];
    const withDigests = (r: PlannedResource) => ({ ...r.inputs, ...Object.fromEntries(keys.map((k) => [k, `[secret ${r.secretDigests![k]}]`])) });
    return [withDigests(before), withDigests(after)];
}

function changedFields(before: PlannedResource, after: PlannedResource): string[] {
    const [a, b] = comparableInputs(before, after);
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    const fields = [...keys].filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
    for (const opt of ["protect", "retainOnDelete", "deleteBeforeReplace", "ignoreChanges", "import", "parent", "provider"] as const) {
        if (JSON.stringify(before[opt]) !== JSON.stringify(after[opt])) fields.push(`(${opt})`);
    }
    return fields.sort();
}

/** Compares two plans of one stack by URN. */
export function diffPlans(base: PlanDocument, head: PlanDocument): PlanDiff {
    const before = new Map(base.resources.map((r) => [r.urn, r]));
    // A resource is the one of the base plan at its URN, or, renamed or moved, at one of its aliases.
    const previous = (r: PlannedResource) => before.get(r.urn) ?? (r.aliases ?? []).map((a) => before.get(a)).find((x) => x !== undefined);
    const matched = new Set(head.resources.flatMap((r) => { const old = previous(r); return old ? [old.urn] : []; }));
    const added = head.resources.filter((r) => previous(r) === undefined);
    const removed = base.resources.filter((r) => !matched.has(r.urn));
    const changed: ChangedResource[] = [];
    for (const r of head.resources) {
        const old = previous(r);
        if (old === undefined) continue;
        // Under an alias, its new URN (and parent) is the change the alias makes without one.
        const fields = changedFields(old, r).filter((f) => old.urn === r.urn || f !== "(parent)");
        if (!fields.length) continue;
        // Another provider is another engine or account: Pulumi replaces the resource (an instance moved to another host).
        const reasons = [...replacingChanges(r.type, ...comparableInputs(old, r)), ...(old.provider !== r.provider ? ["(provider)"] : [])];
        const restart = reasons.length ? undefined : restartingChanges(r.type, fields);
        changed.push({ resource: r, before: old, fields, replaced: reasons.length > 0, reasons, ...(restart ? { restart } : {}) });
    }
    const machines = keptOnNewEngines(head, changed);
    const warnings: string[] = [];
    for (const r of removed) {
        if (r.protect) warnings.push(`${r.name} (${r.type}) is protected and would be removed: pulumi up will refuse until it is unprotected`);
        else if (r.retainOnDelete) warnings.push(`${r.name} (${r.type}) leaves the stack but is retained: its data stays where it is`);
    }
    for (const c of changed.filter((x) => x.replaced)) {
        // Pulumi refuses only while the program keeps it protected: unprotecting and replacing may be one run.
        if (c.before.protect && c.resource.protect) warnings.push(`${c.before.name} (${c.before.type}) is protected and would be REPLACED (${c.reasons.join(", ")}): pulumi up will refuse`);
        else if (c.before.retainOnDelete) warnings.push(`${c.before.name} (${c.before.type}) is retained and would be REPLACED (${c.reasons.join(", ")})`);
    }
    for (const { machine, kept } of machines) {
        for (const k of kept.filter((x) => x.madeAgainBy === undefined)) {
            warnings.push(`${k.resource.name} (${k.resource.type}) runs on ${machine.name}'s engine, which is replaced, but nothing makes it again on the new one`);
        }
    }
    for (const c of changed.filter((x) => !isResourceType(x.resource.type))) {
        warnings.push(`${c.resource.name} (${c.resource.type}) has no entry in tools/replacementRules.ts: taken as replaced by any change`);
    }
    return { added, removed, changed, cascades: cascadeForest(head, changed), machines, warnings };
}

/** What the e2e realiser (or anything that applies a plan) must do with each resource, as the diff predicts it. */
export type PlannedAction = "create" | "replace" | "update" | "delete" | "same";

/** The action for every URN of either plan: exactly what diffPlans reports. */
export function plannedActions(previous: PlanDocument, plan: PlanDocument): Map<string, PlannedAction> {
    const diff = diffPlans(previous, plan);
    const actions = new Map<string, PlannedAction>(plan.resources.map((r) => [r.urn, "same"]));
    for (const r of diff.added) actions.set(r.urn, "create");
    for (const r of diff.removed) actions.set(r.urn, "delete");
    for (const c of diff.changed) actions.set(c.resource.urn, c.replaced ? "replace" : "update");
    return actions;
}

// ---- wording -----------------------------------------------------------------------------------

/** The noun for a resource of this type, singular and plural. */
function noun(type: string): [string, string] {
    const nouns: Record<string, [string, string]> = {
        "docker:index/container:Container": ["container", "containers"],
        "docker:index/remoteImage:RemoteImage": ["image", "images"],
        "docker:index/network:Network": ["network", "networks"],
        "docker:index/volume:Volume": ["volume", "volumes"],
        "command:remote:Command": ["command", "commands"],
        "command:local:Command": ["command", "commands"],
    };
    const last = type.split(":").pop()!.replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase();
    return nouns[type] ?? [last, `${last}s`];
}

/** What happens to a changed resource, for one (singular) or several. */
export function verbOf(c: { readonly resource: PlannedResource; readonly replaced: boolean; readonly restart?: unknown }, plural = false): string {
    const command = c.resource.type.startsWith("command:");
    if (!c.replaced) {
        if (command) return plural ? "run again in place" : "runs again in place";
        return c.restart ? "updated in place, restarting" : "updated in place";
    }
    if (command) return plural ? "run again" : "runs again";
    if (c.resource.type === "docker:index/remoteImage:RemoteImage") return "pulled again";
    if (c.resource.type.startsWith("docker:")) return "recreated";
    return "replaced";
}

function because(c: ChangedResource | CascadeNode["change"]): string {
    if (c.replaced) return c.reasons.join(", ");
    return c.restart ? `${c.fields.join(", ")}: ${c.restart.why}` : c.fields.join(", ");
}

/** The component a resource belongs to, when several components of its type exist (the portal instances). */
function repeatedUnit(plan: PlanDocument, r: PlannedResource): PlannedResource | undefined {
    const parent = plan.resources.find((p) => p.urn === r.parent && !p.custom);
    if (!parent) return undefined;
    return plan.resources.filter((p) => !p.custom && p.type === parent.type).length > 1 ? parent : undefined;
}

/** A cascade in one line, e.g. `host-droplet replaced (image) → data-attachment, host-ip-assignment replaced → …`. */
export function cascadeLine(plan: PlanDocument, root: CascadeNode): string {
    const [first, ...rest] = nodesOf(root).map((n) => n.change);
    const steps = [`${first.resource.name} ${verbOf(first)} (${because(first)})`];
    const units = new Map<string, { unit: PlannedResource; changes: CascadeNode["change"][] }>();
    let group: { verb: string; plural: string; names: string[] } | undefined;
    const flush = () => {
        if (group) steps.push(`${group.names.join(", ")} ${group.names.length > 1 ? group.plural : group.verb}`);
        group = undefined;
    };
    // In the order pulumi up reaches them: by depth in the tree, then by name.
    const ordered = [...rest].sort((a, b) => depthIn(root, a) - depthIn(root, b) || (a.resource.name < b.resource.name ? -1 : 1));
    for (const c of ordered) {
        const unit = repeatedUnit(plan, c.resource);
        if (unit) {
            const u = units.get(unit.urn) ?? { unit, changes: [] };
            u.changes.push(c);
            units.set(unit.urn, u);
            continue;
        }
        const verb = verbOf(c);
        if (group && group.verb === verb) group.names.push(c.resource.name);
        else {
            flush();
            group = { verb, plural: verbOf(c, true), names: [c.resource.name] };
        }
    }
    flush();
    // Units of one component type with the same changes are told once: "per portal instance (a, b): …".
    const summary = (changes: CascadeNode["change"][]) => {
        const counts = new Map<string, { n: number; sample: CascadeNode["change"] }>();
        for (const c of changes) {
            const key = `${c.resource.type}\0${verbOf(c)}`;
            counts.set(key, { n: (counts.get(key)?.n ?? 0) + 1, sample: c });
        }
        return [...counts.values()].map(({ n, sample }) => {
            const [one, many] = noun(sample.resource.type);
            return n === 1 ? `1 ${one} ${verbOf(sample)}` : `${n} ${many} ${verbOf(sample, true)}`;
        }).join(", ");
    };
    const byType = new Map<string, { names: string[]; text: string }[]>();
    for (const { unit, changes } of units.values()) {
        const list = byType.get(unit.type) ?? [];
        list.push({ names: [unit.name], text: summary(changes) });
        byType.set(unit.type, list);
    }
    for (const [type, list] of byType) {
        const kind = noun(type)[0];
        const texts = new Set(list.map((l) => l.text));
        if (texts.size === 1 && list.length > 1) steps.push(`per ${kind} (${list.map((l) => l.names[0]).join(", ")}): ${list[0].text}`);
        else steps.push(list.map((l) => `${kind} ${l.names[0]}: ${l.text}`).join("; "));
    }
    return steps.join(" → ");
}

function depthIn(root: CascadeNode, change: CascadeNode["change"]): number {
    const walk = (n: CascadeNode, d: number): number => {
        if (n.change === change) return d;
        for (const c of n.children) {
            const found = walk(c, d + 1);
            if (found >= 0) return found;
        }
        return -1;
    };
    return walk(root, 0);
}

function treeLines(node: CascadeNode, depth: number): string[] {
    const c = node.change;
    const line = `${"  ".repeat(depth)}- \`${c.replaced ? "+-" : "~"}\` ${c.resource.name} ${verbOf(c)} (${because(c)})`;
    return [line, ...node.children.flatMap((n) => treeLines(n, depth + 1))];
}

function gateLines(gate: GateVerdict): string[] {
    const blocked = gate.findings.filter((f) => f.verdict === "blocked");
    const lines: string[] = [];
    if (!gate.passed) {
        lines.push("> [!CAUTION]", "> **Data-loss gate: failed.** This change deletes or replaces what holds data or identity:");
        for (const f of blocked) lines.push(`> - ${describeFinding(f)}`);
        for (const a of gate.unmatched) lines.push(`> - ${ACKNOWLEDGEMENTS_FILE} acknowledges ${a.stack}: ${a.resource}, which this change neither deletes nor replaces: remove the entry`);
        if (blocked.length) lines.push(`>`, `> If that is intended, name each of them in \`plans/${ACKNOWLEDGEMENTS_FILE}\` in this pull request (docs/changes.md, "Acknowledging data loss").`);
        lines.push("");
    } else {
        lines.push("**Data-loss gate: passed.**" + (gate.findings.length ? "" : " Nothing that holds data or identity is deleted or replaced."));
        for (const f of gate.findings) lines.push(`- ${describeFinding(f)}`);
        lines.push("");
    }
    return lines;
}

/** The pull-request comment for several stacks, with the gate's verdict when one is given. */
export function renderDiffComment(diffs: ReadonlyArray<{ stack: string; diff: PlanDiff; plan?: PlanDocument }>, gate?: GateVerdict): string {
    const out = [COMMENT_MARKER, "## Offline plan diff", ""];
    if (gate) out.push(...gateLines(gate));
    const warnings = diffs.flatMap(({ stack, diff }) => diff.warnings.map((w) => `- **${stack}**: ${w}`));
    if (warnings.length) out.push("> [!WARNING]", "> Read before merging:", ...warnings.map((w) => `> ${w}`), "");
    for (const { stack, diff, plan } of diffs) {
        const replaced = diff.changed.filter((c) => c.replaced);
        out.push(`### ${stack}: ${diff.added.length} to add, ${diff.changed.length - replaced.length} to change, ${replaced.length} to replace, ${diff.removed.length} to remove`, "");
        if (!diff.added.length && !diff.changed.length && !diff.removed.length) {
            out.push("No changes.", "");
            continue;
        }
        if (plan && diff.cascades.length) {
            out.push("What follows from each change:", "");
            for (const root of diff.cascades) out.push(`- ${cascadeLine(plan, root)}`);
            for (const { machine, kept } of diff.machines) {
                const byWhy = new Map<string, string[]>();
                for (const k of kept) byWhy.set(k.madeAgainBy ?? "nothing makes it again", [...(byWhy.get(k.madeAgainBy ?? "nothing makes it again") ?? []), k.resource.name]);
                for (const [why, names] of byWhy) out.push(`- on ${machine.name}'s new engine, kept as ${names.length > 1 ? "they are" : "it is"}: ${names.join(", ")} (${why})`);
            }
            out.push("");
            for (const root of diff.cascades.filter((r) => r.children.length)) {
                out.push(`<details><summary>The cascade from ${root.change.resource.name} (${nodesOf(root).length} resources)</summary>`, "", ...treeLines(root, 0), "", "</details>", "");
            }
        }
        for (const r of diff.added) out.push(`- \`+\` ${r.name} (${r.type})`);
        for (const c of diff.changed) {
            const why = c.replaced && c.reasons.join(", ") !== c.fields.join(", ") ? ` (replaced for ${c.reasons.join(", ")})` : "";
            out.push(`- \`${c.replaced ? "+-" : "~"}\` ${c.resource.name} (${c.resource.type}): ${c.fields.join(", ")}${why}`);
        }
        for (const r of diff.removed) out.push(`- \`-\` ${r.name} (${r.type})${r.retainOnDelete ? " (retained)" : ""}`);
        out.push("");
    }
    out.push("_From the golden plans (`plans/*.json`), which `npm test` keeps in step with the program. No cloud was asked._", "");
    return out.join("\n");
}

// ---- command line ------------------------------------------------------------------------------

/** Bad arguments or files: one line, exit status 2. */
export class PlanDiffUsageError extends Error {}

const USAGE = "usage: npm run plan:diff -- --base DIR --head DIR [--stacks staging,production]";

function readPlan(dir: string, stack: string, required: boolean): PlanDocument {
    const file = path.join(dir, `${stack}.json`);
    if (!fs.existsSync(file)) {
        if (required) throw new PlanDiffUsageError(`no plan at ${file}`);
        // A stack that is new on this branch has no base plan: everything in it is added.
        return { project: "housing-portal", stack, resources: [], outputs: {} };
    }
    try {
        return JSON.parse(fs.readFileSync(file, "utf8")) as PlanDocument;
    } catch {
        throw new PlanDiffUsageError(`${file} is not a plan (JSON from npm run plan -- --json)`);
    }
}

function readAcknowledgements(dir: string): Acknowledgement[] {
    const file = path.join(dir, ACKNOWLEDGEMENTS_FILE);
    return fs.existsSync(file) ? parseAcknowledgements(fs.readFileSync(file, "utf8"), file) : [];
}

/** Runs the diff for a command line: the comment's text and the exit status. */
export function runPlanDiff(argv: readonly string[]): { text: string; status: 0 | 1 } {
    const arg = (name: string) => {
        const i = argv.indexOf(name);
        if (i < 0) return undefined;
        const v = argv[i + 1];
        if (v === undefined || v.startsWith("--")) throw new PlanDiffUsageError(`${name} needs a value`);
        return v;
    };
    const unknown = argv.filter((a, i) => a.startsWith("--") && !["--base", "--head", "--stacks"].includes(a) && !["--base", "--head", "--stacks"].includes(argv[i - 1]));
    if (unknown.length) throw new PlanDiffUsageError(`unknown argument ${unknown[0]}`);
    const base = arg("--base");
    const head = arg("--head");
    if (!base || !head) throw new PlanDiffUsageError("name both plan directories, --base and --head");
    for (const dir of [base, head]) if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new PlanDiffUsageError(`${dir} is not a directory`);
    const stacks = (arg("--stacks") ?? "staging,production").split(",");
    const diffs = stacks.map((stack) => {
        const plan = readPlan(head, stack, true);
        return { stack, plan, diff: diffPlans(readPlan(base, stack, false), plan) };
    });
    const acknowledged = newAcknowledgements(readAcknowledgements(base), readAcknowledgements(head));
    const gate = dataLossGate(diffs.map(({ stack, diff }) => ({ stack, removed: diff.removed, replaced: diff.changed.filter((c) => c.replaced) })), acknowledged);
    return { text: renderDiffComment(diffs, gate), status: gate.passed ? 0 : 1 };
}

if (require.main === module) {
    try {
        const { text, status } = runPlanDiff(process.argv.slice(2));
        process.stdout.write(text);
        process.exit(status);
    } catch (err) {
        if (err instanceof PlanDiffUsageError || err instanceof AcknowledgementsError) {
            process.stderr.write(`plan:diff: ${err.message}\n${err instanceof PlanDiffUsageError ? `${USAGE}\n` : ""}`);
            process.exit(2);
        }
        throw err;
    }
}
