// One measurement in a fresh process, started by bench/run.ts (the mock runtime is process-wide):
//
//   node --expose-gc --import tsx bench/child.ts program <stack file> <plan out>
//       the offline plan (tools/planner.ts runPlan: the real index.ts under the plan's mocks);
//       writes the plan to <plan out> after the measurement.
//   node --expose-gc --import tsx bench/child.ts baseline-plain|baseline-sdk <plan file>
//       the bare mock runtime registering the resources of <plan file> (see registerBaseline).
//
// Both kinds load the same modules before the clock starts, so that module loading and
// compilation cost the same on both sides and stay out of the figures. Prints one JSON line.
import * as fs from "fs";
import * as v8 from "v8";
import * as pulumi from "@pulumi/pulumi";
import { PROJECT, PlanDocument, PlannedResource, runPlan, usePlanProcessSettings } from "../tools/planner";
import { planMocks } from "../tools/planMocks";
import { planConfig } from "../tools/stackFile";

/** What both kinds of child load before measuring: the runtime, the program's provider SDKs, YAML. */
const PRELOAD = ["@pulumi/aws", "@pulumi/digitalocean", "@pulumi/docker", "@pulumi/random", "@pulumi/command", "yaml"];

export interface Measurement {
    readonly kind: string;
    readonly resources: number;
    /** Wall-clock time of the measured section. */
    readonly wallMs: number;
    /** CPU time of the process (user + system, all threads, GC included) in the measured section. */
    readonly cpuMs: number;
    /** Resident set size when the clock started (modules loaded, after a full GC). */
    readonly rssStartMB: number;
    /** The process's peak resident set size (getrusage maxrss). */
    readonly peakRssMB: number;
    /** V8 heap used when the clock started (after a full GC). */
    readonly heapStartMB: number;
    /** The largest V8 heap used seen by a 5 ms sampler during the measured section, and at its end. */
    readonly peakHeapMB: number;
    /** V8 heap used after the measured section and a full GC: what the result keeps alive. */
    readonly retainedHeapMB: number;
}

const MB = 1024 * 1024;

function gc(): void {
    const collect = (globalThis as { gc?: () => void }).gc;
    if (collect === undefined) throw new Error("run with node --expose-gc");
    collect();
}

/** Runs `section` with the clock, CPU time and memory watched. */
async function measure<T>(kind: string, section: () => Promise<T>, count: (result: T) => number): Promise<{ m: Measurement; result: T }> {
    gc();
    const rssStart = process.memoryUsage.rss();
    const heapStart = v8.getHeapStatistics().used_heap_size;
    let peakHeap = heapStart;
    const sample = () => { peakHeap = Math.max(peakHeap, v8.getHeapStatistics().used_heap_size); };
    const sampler = setInterval(sample, 5);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const result = await section();
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    sample();
    clearInterval(sampler);
    const peakRss = process.resourceUsage().maxRSS * 1024;
    gc();
    const retained = v8.getHeapStatistics().used_heap_size;
    return {
        result,
        m: {
            kind,
            resources: count(result),
            wallMs,
            cpuMs: (cpu.user + cpu.system) / 1000,
            rssStartMB: rssStart / MB,
            peakRssMB: peakRss / MB,
            heapStartMB: heapStart / MB,
            peakHeapMB: peakHeap / MB,
            retainedHeapMB: retained / MB,
        },
    };
}

/** The provider SDK class for a type token, e.g. docker:index/container:Container → docker.Container. */
function sdkClass(type: string): (new (name: string, args: any, opts: any) => pulumi.Resource) {
    let cls: any;
    if (type.startsWith("pulumi:providers:")) {
        cls = require(`@pulumi/${type.slice("pulumi:providers:".length)}`).Provider;
    } else {
        const [pkg, mod, name] = type.split(":");
        const lib = require(`@pulumi/${pkg}`);
        const ns = mod.split("/")[0];
        cls = (ns === "index" ? lib : lib[ns])?.[name];
    }
    if (typeof cls !== "function") throw new Error(`no SDK class for ${type}`);
    return cls;
}

/** Parents, dependencies and providers before the resources that use them; otherwise plan order. */
function registrationOrder(plan: PlanDocument): PlannedResource[] {
    const byUrn = new Map(plan.resources.map((r) => [r.urn, r]));
    const order: PlannedResource[] = [];
    const seen = new Set<string>();
    const visit = (r: PlannedResource) => {
        if (seen.has(r.urn)) return;
        seen.add(r.urn);
        for (const u of [r.parent, r.provider, ...r.dependsOn]) {
            const d = u === null ? undefined : byUrn.get(u);
            if (d !== undefined) visit(d);
        }
        order.push(r);
    };
    plan.resources.forEach(visit);
    return order;
}

// Concrete subclasses: the SDK declares these classes abstract; nothing is added.
class PlainCustomResource extends pulumi.CustomResource {}
class PlainComponentResource extends pulumi.ComponentResource {}
class PlainProviderResource extends pulumi.ProviderResource {}

/**
 * The baseline: the bare mock runtime (setMocks, with the plan's own mocks) registering, inside a
 * root stack, one resource per resource of the plan: same type, name and parent, its provider,
 * its dependencies (explicit and implicit ones, all as explicit dependsOn), and its inputs as the
 * plan recorded them, plain values (secrets as the mask). Components are plain ComponentResources.
 * "plain": custom resources are plain CustomResources (providers: ProviderResources).
 * "sdk": custom resources are constructed through their provider SDK class (docker.Container, ...),
 * which also registers every output property the class declares, as any program using it does.
 * No Outputs, no apply, no program logic, no recording: it waits for every URN and id.
 */
function registerBaseline(order: PlannedResource[], variant: "plain" | "sdk", classes: Map<string, any>): Promise<unknown> {
    const made = new Map<string, pulumi.Resource>();
    const pending: Promise<unknown>[] = [];
    for (const r of order) {
        const opts: pulumi.CustomResourceOptions = {
            parent: r.parent === null ? undefined : made.get(r.parent),
            dependsOn: r.dependsOn.filter((u) => u !== r.provider).map((u) => made.get(u)!).filter((d) => d !== undefined),
            provider: r.provider === null ? undefined : made.get(r.provider) as pulumi.ProviderResource,
        };
        let res: pulumi.Resource;
        if (!r.custom) res = new PlainComponentResource(r.type, r.name, {}, opts);
        else if (variant === "sdk") res = new (classes.get(r.type))(r.name, r.inputs, opts);
        else if (r.type.startsWith("pulumi:providers:")) res = new PlainProviderResource(r.type.slice("pulumi:providers:".length), r.name, r.inputs, opts);
        else res = new PlainCustomResource(r.type, r.name, r.inputs, opts);
        made.set(r.urn, res);
        pending.push((res.urn as any).promise());
        if (pulumi.CustomResource.isInstance(res)) pending.push((res.id as any).promise());
    }
    return Promise.all(pending);
}

async function main(argv: string[]): Promise<void> {
    for (const m of PRELOAD) require(m);
    const [kind, file, out] = argv;
    let measured: Measurement;
    if (kind === "program") {
        // As tools/plan.ts does: required secrets the file lacks get the masked stand-in.
        const config = planConfig(file);
        const { m, result } = await measure(kind, () => runPlan({ stack: "staging", config }), (plan) => plan.resources.length);
        fs.writeFileSync(out, JSON.stringify(result));
        measured = m;
    } else if (kind === "baseline-plain" || kind === "baseline-sdk") {
        const variant = kind === "baseline-sdk" ? "sdk" : "plain";
        const plan: PlanDocument = JSON.parse(fs.readFileSync(file, "utf8"));
        const order = registrationOrder(plan);
        const classes = new Map(variant === "sdk" ? order.filter((r) => r.custom).map((r) => [r.type, sdkClass(r.type)]) : []);
        const { m } = await measure(kind, async () => {
            // The same process settings as runPlan (tools/planner.ts), the same mocks, a root stack.
            const restore = usePlanProcessSettings();
            try {
                await pulumi.runtime.setMocks(planMocks, PROJECT, "staging", false);
                await pulumi.runtime.runInPulumiStack(async () => {
                    await registerBaseline(order, variant, classes);
                    return {};
                });
            } finally {
                restore();
            }
            return order.length;
        }, (n) => n);
        measured = m;
    } else {
        throw new Error(`unknown kind ${kind}`);
    }
    process.stdout.write(`${JSON.stringify(measured)}\n`);
}

main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`bench child failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
});
