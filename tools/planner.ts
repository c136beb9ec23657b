// Runs the real program (index.ts) under Pulumi's runtime mocks and records every resource it
// registers: type, name, parent, resolved inputs (secrets masked), options and dependencies.
// Call runPlan once per process: the runtime's mocks and stack are process-wide.
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { GENERATED_SECRETS, planMocks } from "./planMocks";
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
    import: string | null;
    dependsOn: string[];
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
    /** Show secret values instead of the mask: for the e2e realiser only, never for review. */
    readonly revealSecrets?: boolean;
    /** The program's entry module. */
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
        if (typeof v === "string") return [...this.secrets].some((s) => v.includes(s)) ? MASK : v;
        if (Array.isArray(v)) return v.map((x) => this.maskByValue(x));
        if (v !== null && typeof v === "object") {
            return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, this.maskByValue(x)]));
        }
        return v;
    }
}

async function urnOf(r: pulumi.Resource): Promise<string> {
    return (r.urn as any).promise();
}

/** Runs the program under mocks with the stack's config and returns the plan. */
export async function runPlan(options: PlanOptions): Promise<PlanDocument> {
    pulumi.runtime.setAllConfig(options.config.values, options.config.secretKeys);
    // Not a preview: ids and computed outputs resolve to the mocks' deterministic values.
    await pulumi.runtime.setMocks(planMocks, PROJECT, options.stack, false);
    const registrations: Registration[] = [];
    const program = options.program ?? path.resolve(__dirname, "..", "index.ts");
    const resolver = new Resolver(options.revealSecrets === true);
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
            import: opts.import ?? null,
            dependsOn: [...new Set(await Promise.all([...deps].map(urnOf)))].sort(),
        });
    }
    const outputs = (await resolver.value(stackOutputs, new Set())) as Record<string, unknown>;
    resources.sort((a, b) => (a.urn < b.urn ? -1 : a.urn > b.urn ? 1 : 0));
    for (const generated of GENERATED_SECRETS) resolver.secrets.add(generated);
    return resolver.maskByValue({ project: PROJECT, stack: options.stack, resources, outputs }) as PlanDocument;
}

async function resolveList(deps: pulumi.Input<pulumi.Input<pulumi.Resource>[]> | pulumi.Input<pulumi.Resource> | undefined): Promise<pulumi.Resource[]> {
    if (deps === undefined) return [];
    const value = await (pulumi.Output.isInstance(deps) ? (deps as any).promise() : deps);
    const list = Array.isArray(value) ? value : [value];
    return Promise.all(list.map(async (d: any) => (pulumi.Output.isInstance(d) ? (d as any).promise() : d)));
}
