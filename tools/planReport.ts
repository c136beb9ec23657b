// The human-readable side of the offline plan: resource tree, mounts per instance, topology.
import type { HostCapacity } from "../components/capacity";
import { PlanDocument, PlannedResource } from "./planner";

const CONTAINER = "docker:index/container:Container";
const INSTANCE_TYPE = "housing-portal:portal:PortalInstance";

function flags(r: PlannedResource): string {
    const f = [r.protect && "protect", r.retainOnDelete && "retainOnDelete", r.deleteBeforeReplace && "deleteBeforeReplace",
        r.ignoreChanges.length > 0 && `ignoreChanges ${r.ignoreChanges.join(" ")}`, r.import && `import ${r.import}`]
        .filter(Boolean);
    return f.length ? ` [${f.join(", ")}]` : "";
}

function tree(plan: PlanDocument): string[] {
    const children = new Map<string | null, PlannedResource[]>();
    for (const r of plan.resources) {
        const key = r.parent && plan.resources.some((p) => p.urn === r.parent) ? r.parent : null;
        children.set(key, [...(children.get(key) ?? []), r]);
    }
    const lines: string[] = [];
    const walk = (parent: string | null, depth: number) => {
        for (const r of children.get(parent) ?? []) {
            lines.push(`${"  ".repeat(depth)}- ${r.name} (${r.type})${flags(r)}`);
            walk(r.urn, depth + 1);
        }
    };
    walk(null, 0);
    return lines;
}

/** The mounts of every container, grouped by the PortalInstance that owns it. */
export function mountRows(plan: PlanDocument): Map<string, string[][]> {
    const byInstance = new Map<string, string[][]>();
    for (const inst of plan.resources.filter((r) => r.type === INSTANCE_TYPE)) {
        const rows: string[][] = [];
        for (const c of plan.resources.filter((r) => r.type === CONTAINER && r.parent === inst.urn)) {
            const name = String(c.inputs.name);
            for (const m of (c.inputs.mounts as any[]) ?? []) {
                rows.push([name, m.target, m.type, m.source, m.readOnly ? "ro" : "rw"]);
            }
            for (const u of (c.inputs.uploads as any[]) ?? []) {
                rows.push([name, u.file, "upload", "rendered by the program", "ro"]);
            }
        }
        byInstance.set(inst.name, rows);
    }
    return byInstance;
}

/** The way in: the world to each container that publishes host ports, and the edge to each nginx it routes to. */
function edgeLines(plan: PlanDocument, id: (urn: string) => string): string[] {
    const containers = plan.resources.filter((r) => r.type === "docker:index/container:Container");
    const publishing = containers.filter((c) => ((c.inputs.ports as any[]) ?? []).length > 0);
    if (publishing.length === 0) return [];
    const lines = ['  world(("internet"))'];
    for (const c of publishing) {
        const ports = (c.inputs.ports as { external?: number }[]).map((p) => `:${p.external}`).join(" ");
        lines.push(`  world == "${ports}" ==> ${id(c.urn)}`);
    }
    // The edge's routes command names the instance networks it joins; nginx is on one of them.
    for (const cmd of plan.resources.filter((r) => /^command:/.test(r.type) && /\bEDGE_CONTAINER=/.test(String(r.inputs.create ?? "")) && r.name.endsWith("-routes"))) {
        const edge = containers.find((c) => cmd.dependsOn.includes(c.urn));
        const networks = /\bNETWORKS=('([^']*)'|(\S*))/.exec(String(cmd.inputs.create));
        const names = (networks?.[2] ?? networks?.[3] ?? "").split(" ").filter(Boolean);
        for (const nginx of containers.filter((c) => /-nginx$/.test(c.name))) {
            const on = ((nginx.inputs.networksAdvanced as { name: string }[]) ?? []).some((n) => names.includes(n.name));
            if (edge && on) lines.push(`  ${id(edge.urn)} -. "https" .-> ${id(nginx.urn)}`);
        }
    }
    return lines;
}

function mermaid(plan: PlanDocument): string[] {
    const id = (urn: string) => `r${plan.resources.findIndex((r) => r.urn === urn)}`;
    const lines = ["```mermaid", "graph LR"];
    const top = plan.resources.filter((r) => r.parent === null || !plan.resources.some((p) => p.urn === r.parent));
    for (const r of plan.resources.filter((x) => !x.custom)) {
        const members = plan.resources.filter((x) => x.parent === r.urn && x.custom);
        if (members.length === 0) continue;
        lines.push(`  subgraph ${id(r.urn)}["${r.name}"]`);
        for (const m of members) lines.push(`    ${id(m.urn)}["${m.name}"]`);
        lines.push("  end");
    }
    for (const r of top.filter((x) => x.custom)) lines.push(`  ${id(r.urn)}["${r.name}"]`);
    const custom = new Set(plan.resources.filter((r) => r.custom).map((r) => r.urn));
    for (const r of plan.resources.filter((x) => x.custom)) {
        for (const d of r.dependsOn.filter((u) => custom.has(u))) lines.push(`  ${id(r.urn)} --> ${id(d)}`);
    }
    lines.push(...edgeLines(plan, id));
    lines.push("```");
    return lines;
}

/** Each host's instances and memory limits against its machine (the `hosts` output's capacity), as a table. */
function hostsTable(plan: PlanDocument): string[] {
    const hosts = (plan.outputs.hosts ?? {}) as Record<string, { capacity?: HostCapacity }>;
    const rows = Object.entries(hosts).filter(([, h]) => h.capacity !== undefined);
    if (rows.length === 0) return [];
    const mib = (n: number | undefined) => (n === undefined ? "unknown" : `${n} MiB`);
    return [
        "## Hosts", "",
        "| host | instances | memory limits (instances + edge) | machine | fits |", "|---|---|---|---|---|",
        ...rows.map(([name, { capacity: c }]) => `| ${name} | ${c!.instances.join(", ") || "none"} | ${c!.instancesMemoryMb} + ${c!.edgeMemoryMb} = ${c!.memoryLimitsMb} MiB | ${c!.size ?? "not chosen here"}: ${mib(c!.machineMemoryMb)} | ${c!.fits === undefined ? "not checked" : c!.fits ? "yes" : "no"} |`),
        "",
    ];
}

/** The plan as Markdown: what a reviewer reads. */
export function renderReport(plan: PlanDocument): string {
    const custom = plan.resources.filter((r) => r.custom).length;
    const out = [
        `# Offline plan: ${plan.project} / ${plan.stack}`,
        "",
        `${plan.resources.length} resources, ${custom} of them cloud or engine resources.`,
        "",
        "## Resource tree",
        "",
        ...tree(plan),
        "",
        ...hostsTable(plan),
        "## Mounts per instance",
    ];
    for (const [instance, rows] of mountRows(plan)) {
        out.push("", `### ${instance}`, "", "| container | path in container | type | host source | mode |", "|---|---|---|---|---|");
        for (const row of rows) out.push(`| ${row.join(" | ")} |`);
    }
    out.push("", "## Topology", "", ...mermaid(plan), "", "## Outputs", "", "```json", JSON.stringify(plan.outputs, null, 2), "```", "");
    return out.join("\n");
}
