// The data-loss gate of the offline plan diff: a change that would delete or replace a resource
// holding data or identity fails, naming each such resource and why, unless the pull request
// acknowledges it by name in plans/data-loss-acknowledgements.yaml. A resource retained on delete
// (an instance's database volume when the instance leaves the config) passes, and is said to be
// retained. Pure, apart from reading the acknowledgements' YAML text.
import * as YAML from "yaml";
import { LABEL_ROLE } from "../components/naming";
import type { PlannedResource } from "./planner";
import type { ResourceType } from "./replacementRules";

/**
 * What kinds of resource hold data or identity. The edge's certificates and ACME account are a
 * directory on the data volume (`edgeDirs(dataRoot).storage`), not a resource of their own: the
 * block volume's entry covers them.
 */
export type DataHolderKind = "block-volume" | "database-volume" | "stable-address";

export interface DataHolder {
    /** What is lost with it, in a reviewer's words. */
    readonly holds: string;
    readonly types: readonly ResourceType[];
    /** Narrows a type several kinds of resource share (Docker volumes). @default every resource of the types */
    readonly matches?: (r: PlannedResource) => boolean;
}

const labelOf = (r: PlannedResource, label: string): string | undefined =>
    ((r.inputs.labels as { label: string; value: string }[] | undefined) ?? []).find((l) => l.label === label)?.value;

export const DATA_HOLDERS: Readonly<Record<DataHolderKind, DataHolder>> = {
    "block-volume": {
        holds: "the data volume: every portal's files and databases, the edge's certificates, and the source of every snapshot",
        types: ["digitalocean:index/volume:Volume", "aws:ebs/volume:Volume"],
    },
    "database-volume": {
        holds: "an instance's PostGIS database",
        types: ["docker:index/volume:Volume"],
        matches: (r) => labelOf(r, LABEL_ROLE) === "postgis",
    },
    "stable-address": {
        holds: "the reserved / elastic IP that DNS and SSH point at",
        types: ["digitalocean:index/reservedIp:ReservedIp", "aws:ec2/eip:Eip"],
    },
};

export function dataHolderKind(r: PlannedResource): DataHolderKind | undefined {
    return (Object.keys(DATA_HOLDERS) as DataHolderKind[]).find((kind) => {
        const holder = DATA_HOLDERS[kind];
        return (holder.types as readonly string[]).includes(r.type) && (holder.matches?.(r) ?? true);
    });
}

/** The file, in the head's plans/ directory, that acknowledges a change's data loss. */
export const ACKNOWLEDGEMENTS_FILE = "data-loss-acknowledgements.yaml";

/** One acknowledged deletion or replacement: the stack, the resource's name in the plan, and why it is fine. */
export interface Acknowledgement {
    readonly stack: string;
    readonly resource: string;
    readonly reason: string;
}

/** An acknowledgements file that cannot be read: one line saying where and what. */
export class AcknowledgementsError extends Error {}

/** The entries of an acknowledgements file: a YAML list of {stack, resource, reason}. */
export function parseAcknowledgements(text: string, file: string): Acknowledgement[] {
    let doc: unknown;
    try {
        doc = YAML.parse(text);
    } catch (e) {
        throw new AcknowledgementsError(`${file}: not YAML: ${(e as Error).message.split("\n")[0]}`);
    }
    if (doc === null || doc === undefined) return [];
    if (!Array.isArray(doc)) throw new AcknowledgementsError(`${file}: must be a list of {stack, resource, reason}`);
    return doc.map((entry, i) => {
        const e = entry as Record<string, unknown>;
        const ok = e !== null && typeof e === "object" && ["stack", "resource", "reason"].every((k) => typeof e[k] === "string" && (e[k] as string).trim() !== "")
            && Object.keys(e).every((k) => ["stack", "resource", "reason"].includes(k));
        if (!ok) throw new AcknowledgementsError(`${file}: entry ${i + 1} must have exactly stack, resource and reason, each a non-empty string`);
        return { stack: e.stack as string, resource: e.resource as string, reason: e.reason as string };
    });
}

/** The acknowledgements this change adds: those in the head's file that the base's does not hold. Only these count. */
export function newAcknowledgements(base: readonly Acknowledgement[], head: readonly Acknowledgement[]): Acknowledgement[] {
    const key = (a: Acknowledgement) => `${a.stack}\0${a.resource}`;
    const old = new Set(base.map(key));
    return head.filter((a) => !old.has(key(a)));
}

/** A data-holding resource that a change deletes or replaces. */
export interface DataLossFinding {
    readonly stack: string;
    readonly resource: PlannedResource;
    readonly kind: DataHolderKind;
    readonly change: { readonly kind: "deleted" } | { readonly kind: "replaced"; readonly reasons: readonly string[] };
    /** blocked: fails the gate; acknowledged: named in this change's acknowledgements; retained: kept where it is on delete. */
    readonly verdict: "blocked" | "acknowledged" | "retained";
    /** The acknowledgement's reason, for acknowledged findings. */
    readonly reason?: string;
}

export interface GateVerdict {
    readonly passed: boolean;
    readonly findings: DataLossFinding[];
    /** Acknowledgements of this change that name nothing it deletes or replaces: they fail the gate too, so none stays vague. */
    readonly unmatched: Acknowledgement[];
}

/** What the gate needs of a stack's diff (tools/planDiff.ts PlanDiff). */
export interface GateInput {
    readonly stack: string;
    readonly removed: readonly PlannedResource[];
    readonly replaced: readonly { readonly before: PlannedResource; readonly reasons: readonly string[] }[];
}

export function dataLossGate(stacks: readonly GateInput[], acknowledged: readonly Acknowledgement[]): GateVerdict {
    const findings: DataLossFinding[] = [];
    const used = new Set<Acknowledgement>();
    const judge = (stack: string, resource: PlannedResource, change: DataLossFinding["change"]) => {
        const kind = dataHolderKind(resource);
        if (kind === undefined) return;
        if (change.kind === "deleted" && resource.retainOnDelete) {
            findings.push({ stack, resource, kind, change, verdict: "retained" });
            return;
        }
        const ack = acknowledged.find((a) => a.stack === stack && a.resource === resource.name);
        if (ack) used.add(ack);
        findings.push({ stack, resource, kind, change, verdict: ack ? "acknowledged" : "blocked", reason: ack?.reason });
    };
    for (const s of stacks) {
        for (const r of s.removed) judge(s.stack, r, { kind: "deleted" });
        for (const c of s.replaced) judge(s.stack, c.before, { kind: "replaced", reasons: c.reasons });
    }
    const unmatched = acknowledged.filter((a) => !used.has(a));
    return { passed: unmatched.length === 0 && findings.every((f) => f.verdict !== "blocked"), findings, unmatched };
}

/** One finding as a sentence. */
export function describeFinding(f: DataLossFinding): string {
    const what = `${f.stack}: ${f.resource.name} (${DATA_HOLDERS[f.kind].holds})`;
    const change = f.change.kind === "deleted" ? "would be deleted"
        : `would be REPLACED (${f.change.reasons.join(", ")}): a new, empty one takes its place${f.resource.retainOnDelete ? "; the old one is retained where it was, with its data" : ""}`;
    if (f.verdict === "retained") return `${what} leaves the stack but is retained: its data stays where it is`;
    const refused = f.resource.protect ? "; it is protected, so pulumi up refuses until it is unprotected" : "";
    if (f.verdict === "acknowledged") return `${what} ${change}${refused}; acknowledged: ${f.reason}`;
    return `${what} ${change}${refused}`;
}
