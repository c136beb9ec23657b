// Runs the real program (index.ts) under Pulumi's runtime mocks and records every resource it
// registers: type, name, parent, resolved inputs (secrets masked), options and dependencies.
// Call runPlan once per process: the runtime's mocks and stack are process-wide.
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { GENERATED_SECRETS, planMocks, secretInputDigest, setConfigSecrets } from "./planMocks";
import { StackConfig } from "./stackFile";

export const MASK = "[secret]";

export interface PlannedResource {
    urn: string;
    type: string;
    name: string;
    parent: string | null;
    custom: boolean;
    provider: string | null;
    inputs: Record<string, unknown>;
    protect: boolean;
    retainOnDelete: boolean;
    deleteBeforeReplace: boolean;
    /** Inputs whose changes Pulumi ignores (an adopted volume's description and tags). */
    ignoreChanges: string[];
    /** Top-level inputs that hold a secret, by name: a digest of the value, so a diff sees a change the mask hides. Absent when none. */
    secretDigests?: Record<string, string>;
    import: string | null;
    dependsOn: string[];
    /** The URNs the resource was known by before (its `aliases`, resolved): the diff and the gate take it as that resource. Absent when none. */
    aliases?: string[];
}

export interface PlanDocument {
    project: string;
    stack: string;
    resources: PlannedResource[];
    outputs: Record<string, unknown>;
}

export interface PlanOptions {
    readonly stack: string;
    readonly config: StackConfig;
    /** Show secret values instead of the mask: for the e2e realiser only, never for review. @default false */
    readonly revealSecrets?: boolean;
    /** The program's entry module. @default this project's index.ts */
    readonly program?: string;
}

export const PROJECT = "housing-portal";

interface Registration {
    resource: pulumi.Resource;
    type: string;
    name: string;
    props: pulumi.Inputs;
    opts: pulumi.ResourceOptions;
}

/** Resolves Inputs to plain values, collecting secrets and the resources they come from. */
class Resolver {
    readonly secrets = new Set<string>();

    constructor(private readonly reveal: boolean) {}

    async value(v: unknown, deps: Set<pulumi.Resource>): Promise<unknown> {
        // Most of a plan's inputs are plain data: copied in one synchronous pass, without a promise per value.
        if (isPlain(v)) return plainCopy(v);
        if (pulumi.Output.isInstance(v)) {
            const impl = v as any;
            for (const r of await impl.allResources()) deps.add(r);
            const inner = await impl.promise(true);
            const resolved = await this.value(inner, deps);
            if (await impl.isSecret) return this.reveal ? resolved : MASK;
            return resolved;
        }
        if (v instanceof Promise) return this.value(await v, deps);
        if (pulumi.Resource.isInstance(v)) {
            deps.add(v);
            return await urnOf(v);
        }
        if (Array.isArray(v)) return Promise.all(v.map((x) => this.value(x, deps)));
        if (v !== null && typeof v === "object") {
            const out: Record<string, unknown> = {};
            for (const k of Object.keys(v as object).sort()) {
                const x = await this.value((v as any)[k], deps);
                if (x !== undefined) out[k] = x;
            }
            return out;
        }
        return v;
    }

    /** Masks every string that contains a secret value (config secrets, generated passwords), wherever it surfaced unmarked. */
    maskByValue(v: unknown): unknown {
        if (this.reveal) return v;
        const secrets = [...this.secrets];
        const mask = (x: unknown): unknown => {
            if (typeof x === "string") return secrets.some((s) => s.length <= x.length && x.includes(s)) ? MASK : x;
            if (Array.isArray(x)) return x.map(mask);
            if (x !== null && typeof x === "object") return Object.fromEntries(Object.entries(x).map(([k, y]) => [k, mask(y)]));
            return x;
        };
        return mask(v);
    }
}

/** Whether a value holds no Output, Promise or Resource anywhere inside. */
function isPlain(v: unknown): boolean {
    if (v === null || typeof v !== "object") return true;
    if (pulumi.Output.isInstance(v) || v instanceof Promise || pulumi.Resource.isInstance(v)) return false;
    if (Array.isArray(v)) return v.every(isPlain);
    return Object.values(v).every(isPlain);
}

/** What Resolver.value gives for a plain value: a copy with sorted keys and without undefined members. */
function plainCopy(v: unknown): unknown {
    if (v === null || typeof v !== "object") return v;
    if (Array.isArray(v)) return v.map(plainCopy);
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
        const x = plainCopy((v as Record<string, unknown>)[k]);
        if (x !== undefined) out[k] = x;
    }
    return out;
}

async function urnOf(r: pulumi.Resource): Promise<string> {
    return (r.urn as any).promise();
}

/**
 * Process settings for the time of a plan; returns the function that restores the previous ones.
 *
 * The Pulumi runtime records a stack trace for every promise it tracks (`debuggablePromise`, for
 * its leak report): about four per output property of every resource, and the provider classes
 * declare many (a docker.Container about 80), so a plan of 100 instances records over 130 000.
 * tsx turns on source-mapped stack traces, which makes each of them a source-map lookup per
 * frame. Capturing and formatting them was about 60 % of a plan's CPU time; without them the
 * plan of 100 instances takes 2 to 3 s instead of about 10 s (docs/performance.md). A plan never
 * shows those traces: its errors are reported by message. So while it runs, no stack is
 * captured and traces are not source-mapped. `Resource.callsites` raises the limit itself for
 * the source position it reads, so resources are registered exactly as before, and the plan is
 * byte-identical. `npm run bench` runs its bare-runtime baseline with the same settings.
 */
export function usePlanProcessSettings(): () => void {
    const sourceMaps = process.sourceMapsEnabled;
    const stackTraceLimit = Error.stackTraceLimit;
    process.setSourceMapsEnabled(false);
    Error.stackTraceLimit = 0;
    return () => {
        process.setSourceMapsEnabled(sourceMaps);
        Error.stackTraceLimit = stackTraceLimit;
    };
}

/** The secret strings a config value holds: the value, or each string of a map of secrets (backendSecrets). */
function secretLeaves(value: string): string[] {
    let parsed: unknown;
    try {
        parsed = JSON.parse(value);
    } catch {
        return [value];
    }
    const leaves: string[] = [];
    const walk = (v: unknown) => {
        if (typeof v === "string") leaves.push(v);
        else if (v !== null && typeof v === "object") Object.values(v).forEach(walk);
    };
    walk(parsed);
    return parsed !== null && typeof parsed === "object" ? leaves : [value];
}

/** Runs the program under mocks with the stack's config and returns the plan. */
export async function runPlan(options: PlanOptions): Promise<PlanDocument> {
    const restore = usePlanProcessSettings();
    try {
        return await evaluatePlan(options);
    } finally {
        restore();
    }
}

async function evaluatePlan(options: PlanOptions): Promise<PlanDocument> {
    pulumi.runtime.setAllConfig(options.config.values, options.config.secretKeys);
    setConfigSecrets(options.config.secretKeys.flatMap((key) => secretLeaves(options.config.values[key])));
    // Not a preview: ids and computed outputs resolve to the mocks' deterministic values.
    await pulumi.runtime.setMocks(planMocks, PROJECT, options.stack, false);
    const registrations: Registration[] = [];
    const program = options.program ?? path.resolve(__dirname, "..", "index.ts");
    const resolver = new Resolver(options.revealSecrets === true);
    const revealing = new Resolver(true);
    for (const key of options.config.secretKeys) resolver.secrets.add(options.config.values[key]);

    // The module's exports themselves, not what runInPulumiStack returns: that has lost secretness.
    let stackOutputs: Record<string, unknown> = {};
    await pulumi.runtime.runInPulumiStack(async () => {
        pulumi.runtime.registerStackTransformation((args) => {
            registrations.push({ resource: args.resource, type: args.type, name: args.name, props: args.props, opts: args.opts });
            return undefined;
        });
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        stackOutputs = { ...require(program) };
        return stackOutputs;
    });

    const resources: PlannedResource[] = [];
    for (const reg of registrations) {
        const custom = pulumi.CustomResource.isInstance(reg.resource);
        const deps = new Set<pulumi.Resource>();
        const inputs = custom ? (await resolver.value(reg.props, deps)) as Record<string, unknown> : {};
        const secretDigests = custom ? await digestsOfSecretInputs(inputs, () => revealing.value(reg.props, new Set()) as Promise<Record<string, unknown>>) : {};
        for (const d of await resolveList(reg.opts.dependsOn)) deps.add(d);
        const opts = reg.opts as pulumi.CustomResourceOptions;
        const provider = custom && opts.provider ? await urnOf(opts.provider) : null;
        if (opts.provider) deps.add(opts.provider);
        if (reg.opts.parent) deps.delete(reg.opts.parent);
        resources.push({
            urn: await urnOf(reg.resource),
            type: reg.type,
            name: reg.name,
            parent: reg.opts.parent ? await urnOf(reg.opts.parent) : null,
            custom,
            provider,
            inputs,
            protect: reg.opts.protect === true,
            retainOnDelete: reg.opts.retainOnDelete === true,
            deleteBeforeReplace: opts.deleteBeforeReplace === true,
            ignoreChanges: [...(reg.opts.ignoreChanges ?? [])].sort(),
            import: opts.import ?? null,
            dependsOn: [...new Set(await Promise.all([...deps].map(urnOf)))].sort(),
            ...(Object.keys(secretDigests).length ? { secretDigests } : {}),
            ...await aliasesOf(reg),
        });
    }
    const outputs = (await resolver.value(stackOutputs, new Set())) as Record<string, unknown>;
    resources.sort((a, b) => (a.urn < b.urn ? -1 : a.urn > b.urn ? 1 : 0));
    for (const generated of GENERATED_SECRETS) resolver.secrets.add(generated);
    return resolver.maskByValue({ project: PROJECT, stack: options.stack, resources, outputs }) as PlanDocument;
}

/**
 * The URNs a resource's `aliases` name, as the engine matches them: a URN as given, or an alias
 * spec completed from the resource (its name, type and parent unless the spec says otherwise).
 * Aliases a child inherits from an aliased parent are the engine's to derive; this program gives
 * none, so the plan shows only those given.
 */
async function aliasesOf(reg: Registration): Promise<{ aliases?: string[] }> {
    const given = await Promise.all((reg.opts.aliases ?? []).map(async (a) => (pulumi.Output.isInstance(a) ? (a as any).promise() : a) as Promise<string | pulumi.Alias>));
    if (given.length === 0) return {};
    const urns = await Promise.all(given.map(async (a) => {
        if (typeof a === "string") return a;
        const parent = a.parent ?? reg.opts.parent;
        const parentUrn = parent === undefined ? undefined : pulumi.Resource.isInstance(parent) ? await urnOf(parent) : await (pulumi.output(parent) as any).promise() as string;
        return mockUrn(parentUrn, String(a.type ?? reg.type), String(a.name ?? reg.name), String(a.project ?? pulumi.getProject()), String(a.stack ?? pulumi.getStack()));
    }));
    return { aliases: [...new Set(urns)].sort() };
}

/**
 * A URN as the mocks' monitor makes them, so an alias names what a plan's URNs are: the parent's
 * own type (not its chain) before the type, and for a resource without a parent the stack's.
 */
function mockUrn(parentUrn: string | undefined, type: string, name: string, project: string, stack: string): string {
    const parentType = parentUrn === undefined ? "pulumi:pulumi:Stack" : parentUrn.split("::")[2].split("$").pop()!;
    return `urn:pulumi:${stack}::${project}::${parentType}$${type}::${name}`;
}

/** For each top-level input the mask hides (wholly or in part), a digest of its revealed value. */
async function digestsOfSecretInputs(masked: Record<string, unknown>, reveal: () => Promise<Record<string, unknown>>): Promise<Record<string, string>> {
    const hidden = Object.keys(masked).filter((k) => JSON.stringify(masked[k]).includes(MASK));
    if (hidden.length === 0) return {};
    const revealed = await reveal();
    return Object.fromEntries(hidden.map((k) => [k, secretInputDigest(revealed[k])]));
}

async function resolveList(deps: pulumi.Input<pulumi.Input<pulumi.Resource>[]> | pulumi.Input<pulumi.Resource> | undefined): Promise<pulumi.Resource[]> {
    if (deps === undefined) return [];
    const value = await (pulumi.Output.isInstance(deps) ? (deps as any).promise() : deps);
    const list = Array.isArray(value) ? value : [value];
    return Promise.all(list.map(async (d: any) => (pulumi.Output.isInstance(d) ? (d as any).promise() : d)));
}
