// Walks a plan's graphs: the parent tree, and the prerequisites of each resource. Pure.
import type { PlanDocument, PlannedResource } from "./planner";

/** The URNs of the named component (or resource) and of everything below it in the parent tree. */
export function subtree(plan: PlanDocument, name: string): Set<string> {
    const roots = plan.resources.filter((r) => r.name === name);
    if (roots.length === 0) throw new Error(`no resource named ${name} in the plan`);
    const owned = new Set(roots.map((r) => r.urn));
    let grew = true;
    while (grew) {
        grew = false;
        for (const r of plan.resources) {
            if (r.parent !== null && owned.has(r.parent) && !owned.has(r.urn)) { owned.add(r.urn); grew = true; }
        }
    }
    return owned;
}

/**
 * The prerequisites of every resource that is created (custom resources, providers included):
 * `urn → urns of custom resources that must exist before it`. The edges that count:
 *
 * - every URN in the resource's `dependsOn`. The planner records there the explicit `dependsOn`,
 *   the resources behind the Outputs among its inputs, and its provider;
 * - its parent, when the parent is a custom resource;
 * - a dependency on a component resource stands for every custom resource below that component
 *   (Pulumi waits for a component's children), so it is expanded to them.
 *
 * Components are not nodes: they have no create step of their own. A component parent is not an
 * edge either: it only groups. URNs that are not in the plan (the root stack) are ignored.
 */
export function prerequisites(plan: PlanDocument): Map<string, string[]> {
    const byUrn = new Map(plan.resources.map((r) => [r.urn, r]));
    const children = new Map<string, PlannedResource[]>();
    for (const r of plan.resources) {
        if (r.parent !== null && byUrn.has(r.parent)) children.set(r.parent, [...(children.get(r.parent) ?? []), r]);
    }
    const customsBelow = (urn: string): string[] => {
        const out: string[] = [];
        const walk = (u: string) => {
            for (const c of children.get(u) ?? []) {
                if (c.custom) out.push(c.urn);
                walk(c.urn);
            }
        };
        walk(urn);
        return out;
    };
    const expand = (urn: string): string[] => {
        const r = byUrn.get(urn);
        if (r === undefined) return [];
        return r.custom ? [urn] : customsBelow(urn);
    };
    const edges = new Map<string, string[]>();
    for (const r of plan.resources) {
        if (!r.custom) continue;
        const pre = new Set<string>();
        for (const d of r.dependsOn) for (const u of expand(d)) pre.add(u);
        if (r.parent !== null && byUrn.get(r.parent)?.custom) pre.add(r.parent);
        pre.delete(r.urn);
        edges.set(r.urn, [...pre].sort());
    }
    return edges;
}
