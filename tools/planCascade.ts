// What follows from a change: each changed resource placed under the change it follows from, as
// `pulumi up` would reach them, and what a replaced machine's new engine keeps without Pulumi
// making it again. Pure: reads the head plan's dependency graph and the diff's changes.
//
// Which resources change is not decided here: the plans say it. The mocks derive every fake id
// and output from the inputs that replace a resource (tools/planMocks.ts), so a replaced
// resource's dependents show changed inputs of their own in the head plan. This module only
// arranges them: a changed resource's cause is the nearest changed resource among its
// prerequisites (through unchanged ones, such as the Docker provider waiting for the readiness
// gate), the one reached last when there are several.
import type { PlanDocument, PlannedResource } from "./planner";
import { prerequisites } from "./planGraph";
import { ResourceType, isMachineType } from "./replacementRules";

/** A changed resource as the diff sees it (tools/planDiff.ts ChangedResource). */
export interface CascadeChange {
    readonly resource: PlannedResource;
    /** Changed input keys, options in parentheses. */
    readonly fields: readonly string[];
    readonly replaced: boolean;
    /** The inputs that make the provider replace it (empty when it is updated in place). */
    readonly reasons: readonly string[];
    /** An in-place update that still restarts the resource. */
    readonly restart?: { readonly inputs: readonly string[]; readonly why: string };
}

export interface CascadeNode {
    readonly change: CascadeChange;
    /** The changes that follow from this one, in the order `pulumi up` reaches them. */
    readonly children: CascadeNode[];
}

/** Engine objects that are not made again by Pulumi on a new machine, and what makes them instead. */
const MADE_AGAIN_ON_A_NEW_ENGINE: Partial<Record<ResourceType, string>> = {
    "docker:index/volume:Volume": "a record of a directory on the data volume: the instance's -dirs step (host/prepare-instance-dirs.sh) makes it again on the new engine",
};

/** A resource on a replaced machine's engine that Pulumi keeps as it is. */
export interface KeptOnNewEngine {
    readonly resource: PlannedResource;
    /** What makes it exist on the new engine; undefined: nothing does, a finding. */
    readonly madeAgainBy?: string;
}

export interface MachineCascade {
    readonly machine: PlannedResource;
    readonly kept: KeptOnNewEngine[];
}

/**
 * The changes arranged as trees from their causes. A change with no changed prerequisite is a
 * cause (a root); every other one sits under its latest-reached changed prerequisite.
 */
export function cascadeForest(head: PlanDocument, changes: readonly CascadeChange[]): CascadeNode[] {
    const edges = prerequisites(head);
    const changed = new Map(changes.map((c) => [c.resource.urn, c]));
    // The nearest changed prerequisites of each resource, looking through unchanged ones.
    const nearest = new Map<string, Set<string>>();
    const nearestOf = (urn: string, visiting: Set<string> = new Set()): Set<string> => {
        const known = nearest.get(urn);
        if (known) return known;
        const out = new Set<string>();
        if (!visiting.has(urn)) {
            visiting.add(urn);
            for (const p of edges.get(urn) ?? []) {
                if (changed.has(p)) out.add(p);
                else for (const q of nearestOf(p, visiting)) out.add(q);
            }
            visiting.delete(urn);
        }
        nearest.set(urn, out);
        return out;
    };
    const depth = new Map<string, number>();
    const depthOf = (urn: string): number => {
        const known = depth.get(urn);
        if (known !== undefined) return known;
        depth.set(urn, 0); // a cycle, which Pulumi would refuse, ends here
        const d = Math.max(-1, ...[...nearestOf(urn)].map(depthOf)) + 1;
        depth.set(urn, d);
        return d;
    };
    const nameOf = (urn: string) => changed.get(urn)!.resource.name;
    const order = (a: string, b: string) => depthOf(a) - depthOf(b) || (nameOf(a) < nameOf(b) ? -1 : nameOf(a) > nameOf(b) ? 1 : 0);
    const nodes = new Map(changes.map((c) => [c.resource.urn, { change: c, children: [] as CascadeNode[] }]));
    const roots: CascadeNode[] = [];
    for (const urn of [...changed.keys()].sort(order)) {
        const causes = [...nearestOf(urn)].sort(order);
        const cause = causes[causes.length - 1];
        if (cause === undefined) roots.push(nodes.get(urn)!);
        else nodes.get(cause)!.children.push(nodes.get(urn)!);
    }
    return roots;
}

/** Every node below (and including) a node, depth first. */
export function nodesOf(node: CascadeNode): CascadeNode[] {
    return [node, ...node.children.flatMap(nodesOf)];
}

/**
 * For each replaced machine, the resources on its engine (their provider waits for it) that the
 * plan keeps as they are. The new machine's engine starts empty: each needs something else to make it.
 */
export function keptOnNewEngines(head: PlanDocument, changes: readonly CascadeChange[]): MachineCascade[] {
    const edges = prerequisites(head);
    const changed = new Set(changes.map((c) => c.resource.urn));
    const reaches = (from: string, target: string): boolean => {
        const seen = new Set<string>();
        const stack = [from];
        while (stack.length) {
            const u = stack.pop()!;
            if (u === target) return true;
            if (seen.has(u)) continue;
            seen.add(u);
            stack.push(...(edges.get(u) ?? []));
        }
        return false;
    };
    return changes.filter((c) => c.replaced && isMachineType(c.resource.type)).map((c) => {
        const machine = c.resource;
        const onItsEngine = head.resources.filter((r) => r.custom && r.provider !== null && !r.type.startsWith("pulumi:providers:")
            && reaches(r.provider, machine.urn));
        const kept = onItsEngine.filter((r) => !changed.has(r.urn))
            .map((r) => ({ resource: r, madeAgainBy: MADE_AGAIN_ON_A_NEW_ENGINE[r.type as ResourceType] }));
        return { machine, kept };
    });
}

