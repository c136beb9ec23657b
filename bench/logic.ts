// Pure figures computed from offline plans (tools/planner.ts PlanDocument) and from measurements:
// the dependency graph's critical path, the blast radius of a config change, marginal costs, and
// the generated instance lists the benchmark plans. No I/O, no plan runs: unit-tested on tiny
// handmade plans in test/unit/bench-logic.test.ts.
import type { PlanDocument } from "../tools/planner";
import { instanceMemoryMb, smallestSizeFor } from "../components/capacity";
import { DEFAULT_RESOURCES, EDGE_RESOURCES } from "../components/config";
import { diffPlans } from "../tools/planDiff";
import { prerequisites, subtree } from "../tools/planGraph";

// The prerequisites of every resource (the edges of the critical path) live in tools/planGraph.ts,
// which the plan diff's cascade reads too.
export { prerequisites };

// ---------------------------------------------------------------------------------------------
// Critical path

export interface CriticalPath {
    /** The number of resources on the longest chain of prerequisites (0 for a plan without custom resources). */
    readonly length: number;
    /** The names of the resources on one longest chain, the first to be created first. */
    readonly chain: string[];
}

/** The longest chain of resources that must be created one after the other; throws on a cycle. */
export function criticalPath(plan: PlanDocument): CriticalPath {
    const edges = prerequisites(plan);
    const nameOf = new Map(plan.resources.map((r) => [r.urn, r.name]));
    // depth[u]: resources on the longest chain that ends at u; via[u]: the prerequisite it came from.
    const depth = new Map<string, number>();
    const via = new Map<string, string | undefined>();
    const visiting = new Set<string>();
    const visit = (u: string): number => {
        const known = depth.get(u);
        if (known !== undefined) return known;
        if (visiting.has(u)) throw new Error(`dependency cycle through ${nameOf.get(u) ?? u}`);
        visiting.add(u);
        let best = 0;
        let from: string | undefined;
        // Sorted edges and a strict comparison: the same plan always gives the same chain.
        for (const p of edges.get(u) ?? []) {
            const d = visit(p);
            if (d > best) { best = d; from = p; }
        }
        visiting.delete(u);
        depth.set(u, best + 1);
        via.set(u, from);
        return best + 1;
    };
    let end: string | undefined;
    for (const u of [...edges.keys()].sort()) {
        if (visit(u) > (end === undefined ? 0 : depth.get(end)!)) end = u;
    }
    const chain: string[] = [];
    for (let u = end; u !== undefined; u = via.get(u)) chain.unshift(nameOf.get(u) ?? u);
    return { length: chain.length, chain };
}

// ---------------------------------------------------------------------------------------------
// Blast radius

export interface ChangedExisting {
    readonly name: string;
    readonly type: string;
    /** Changed input keys, and changed options in parentheses (as tools/planDiff.ts reports them). */
    readonly fields: string[];
    /** Whether the provider would replace it rather than update it (tools/replacementRules.ts). */
    readonly replaced: boolean;
}

export interface BlastRadius {
    /** Resources only in the new plan. */
    readonly added: number;
    /** Resources only in the old plan. */
    readonly removed: number;
    /** Existing resources (same URN in both plans) that belong to the change itself. */
    readonly own: ChangedExisting[];
    /** Existing resources outside the change whose inputs or options change: the blast radius. */
    readonly outside: ChangedExisting[];
}

/**
 * Compares two plans by URN. An existing resource is one whose URN is in both plans; it changes
 * when one of its inputs or its protect/retainOnDelete/deleteBeforeReplace/import/parent options
 * differ (dependsOn alone does not make the engine touch a resource). `ownNames` name the
 * components (or resources) the change is about: what is below them counts as `own`, everything
 * else as `outside`, the blast radius proper.
 */
export function blastRadius(base: PlanDocument, head: PlanDocument, ownNames: readonly string[] = []): BlastRadius {
    const diff = diffPlans(base, head);
    const own = new Set<string>();
    for (const name of ownNames) for (const u of subtree(head, name)) own.add(u);
    const changed = diff.changed.map((c) => ({
        urn: c.resource.urn,
        entry: { name: c.resource.name, type: c.resource.type, fields: c.fields, replaced: c.replaced },
    }));
    return {
        added: diff.added.length,
        removed: diff.removed.length,
        own: changed.filter((c) => own.has(c.urn)).map((c) => c.entry),
        outside: changed.filter((c) => !own.has(c.urn)).map((c) => c.entry),
    };
}

// ---------------------------------------------------------------------------------------------
// Measurements

/** The cost of one more unit between two measurements: (y(b) - y(a)) / (b - a). */
export function marginal(a: number, ya: number, b: number, yb: number): number {
    if (b === a) throw new Error("marginal needs two different sizes");
    return (yb - ya) / (b - a);
}

/** The smallest and largest of some repeated measurements. */
export function spread(values: readonly number[]): { min: number; max: number } {
    if (values.length === 0) throw new Error("no measurements");
    return { min: Math.min(...values), max: Math.max(...values) };
}

// ---------------------------------------------------------------------------------------------
// Generated instances

export interface BenchInstance {
    name: string;
    domain: string;
    images?: { backend?: string; postgis?: string; nginx?: string };
    /** The host it is placed on, with several hosts. */
    host?: string;
}

/** The i-th generated instance (1-based): country-001, its domain under the staging zone (a cloud stack: no port, the edge serves it). */
export function benchInstance(i: number): BenchInstance {
    const name = `country-${String(i).padStart(3, "0")}`;
    return { name, domain: `${name}.staging.housing-portal.org` };
}

/** N generated instances. */
export function benchInstances(n: number): BenchInstance[] {
    return Array.from({ length: n }, (_, i) => benchInstance(i + 1));
}

/** The same instances with the i-th one (1-based) running another backend image. */
export function withBackendImage(instances: readonly BenchInstance[], i: number, image: string): BenchInstance[] {
    if (i < 1 || i > instances.length) throw new Error(`no instance ${i} among ${instances.length}`);
    return instances.map((inst, k) => (k === i - 1 ? { ...inst, images: { ...inst.images, backend: image } } : inst));
}

// ---------------------------------------------------------------------------------------------
// Generated hosts

/** The names of H generated hosts: h01, h02, … (lowercase DNS labels). */
export function benchHostNames(h: number): string[] {
    return Array.from({ length: h }, (_, i) => `h${String(i + 1).padStart(2, "0")}`);
}

/** H hosts × N instances each: country-001 … placed N by N, the first N on h01, the next on h02, … */
export function placedInstances(hosts: number, perHost: number): BenchInstance[] {
    const names = benchHostNames(hosts);
    return benchInstances(hosts * perHost).map((inst, i) => ({ ...inst, host: names[Math.floor(i / perHost)] }));
}

/**
 * The smallest DigitalOcean size of the capacity table that holds N default instances and the
 * edge (components/capacity.ts), so that a generated placement is one the config accepts.
 */
export function benchHostSize(perHost: number): string {
    const need = perHost * instanceMemoryMb({ resources: DEFAULT_RESOURCES }) + EDGE_RESOURCES.memoryMb;
    const size = smallestSizeFor("digitalocean", need);
    if (size === undefined) throw new Error(`no DigitalOcean size of the capacity table holds ${perHost} instances (${need} MiB)`);
    return size;
}
