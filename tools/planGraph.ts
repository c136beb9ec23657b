// Walks a plan's parent tree. Pure.
import type { PlanDocument } from "./planner";

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
