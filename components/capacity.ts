// What a host's placement asks of its machine: the memory limits of the instances on it and of
// its edge, against the machine's memory. Memory limits are hard (no swap beyond them), so a host
// whose containers' limits add up to more than its memory can be driven out of memory by the
// portals staying within their own limits; that placement is refused before any resource exists.
// CPUs are ceilings, not reservations, and are not counted. Pure.
import { hostKeyPath, type CloudProvider, type CloudSettings, type ContainerResources, type InstanceSettings, type LocalSettings, type Problem } from "./config";
import { ROLES } from "./layout";

/**
 * The memory of each machine size the examples and docs use, and their neighbours up and down,
 * in MiB: the vendor's own figure.
 *
 * - DigitalOcean: the `memory` of each size in the API's size list (`GET /v2/sizes`, given in MB
 *   that are MiB: 4096 for a "4gb" size), the Droplet plans in docs.digitalocean.com/products/droplets/details/pricing/;
 *   the slugs are those of @pulumi/digitalocean's `DropletSlug` and of the API's size list.
 * - AWS: `MemoryInfo.SizeInMiB` of `aws ec2 describe-instance-types`, the "Memory (GiB)" column of
 *   aws.amazon.com/ec2/instance-types/t3/ (and m6i) times 1024.
 *
 * A size not listed here is not refused: its host's report says its memory is unknown.
 */
export const MACHINE_MEMORY_MIB: Readonly<Record<CloudProvider, Readonly<Record<string, number>>>> = {
    digitalocean: {
        "s-1vcpu-1gb": 1024,
        "s-1vcpu-2gb": 2048,
        "s-2vcpu-2gb": 2048,
        "s-2vcpu-4gb": 4096,
        "s-4vcpu-8gb": 8192,
        "s-8vcpu-16gb": 16384,
        "s-8vcpu-32gb": 32768,
        "s-16vcpu-64gb": 65536,
        "s-24vcpu-128gb": 131072,
        "s-32vcpu-192gb": 196608,
        "g-2vcpu-8gb": 8192,
        "g-4vcpu-16gb": 16384,
    },
    aws: {
        "t3.micro": 1024,
        "t3.small": 2048,
        "t3.medium": 4096,
        "t3.large": 8192,
        "t3.xlarge": 16384,
        "t3.2xlarge": 32768,
        "m6i.large": 8192,
        "m6i.xlarge": 16384,
        "m6i.2xlarge": 32768,
        "m6i.4xlarge": 65536,
    },
};

/** The machine's memory in MiB, or undefined when the size is not in MACHINE_MEMORY_MIB. */
export function machineMemoryMib(provider: CloudProvider, size: string): number | undefined {
    const table = MACHINE_MEMORY_MIB[provider];
    return Object.prototype.hasOwnProperty.call(table, size) ? table[size] : undefined;
}

/** The size of the table with the least memory that holds this much (the first listed among equals), or undefined when none does. */
export function smallestSizeFor(provider: CloudProvider, memoryMb: number): string | undefined {
    let best: [string, number] | undefined;
    for (const [size, mib] of Object.entries(MACHINE_MEMORY_MIB[provider])) {
        if (mib >= memoryMb && (best === undefined || mib < best[1])) best = [size, mib];
    }
    return best?.[0];
}

/** The machine a host runs on, as far as the program knows it. */
export type HostMachine =
    /** A machine the program creates: its provider and size are config. */
    | { readonly kind: "create"; readonly provider: CloudProvider; readonly size: string }
    /** A machine that already runs (host.address): its size is not the program's. */
    | { readonly kind: "existing"; readonly provider: CloudProvider }
    /** The local Docker engine (dev, the e2e tier): whatever this machine has. */
    | { readonly kind: "local" };

export interface HostCapacityInput {
    /** The host's name (`main` for a stack without `hosts`). */
    readonly host: string;
    /** The machine it runs on. */
    readonly machine: HostMachine;
    /** The instances placed on it, with their containers' limits. */
    readonly instances: readonly Pick<InstanceSettings, "name" | "resources">[];
    /** The edge's limits, when the host runs an edge (EDGE_RESOURCES). @default no edge */
    readonly edge?: Pick<ContainerResources, "memoryMb">;
}

/** One host's placement against its machine: the stack output `hosts.<name>.capacity` and the plan's line. */
export interface HostCapacity {
    /** The instances on the host, in config order. */
    readonly instances: readonly string[];
    /** The sum of the memory limits of their containers, MiB. */
    readonly instancesMemoryMb: number;
    /** The edge's memory limit, MiB (0 without an edge). */
    readonly edgeMemoryMb: number;
    /** Both together: what the host's containers may use at most, MiB. */
    readonly memoryLimitsMb: number;
    /** The machine's size, where the program chooses it. @default none (an existing host, the local engine) */
    readonly size?: string;
    /** The machine's provider, where the program chooses the machine. @default none */
    readonly provider?: CloudProvider;
    /** The machine's memory, MiB. @default none: unknown (a size not in MACHINE_MEMORY_MIB, an existing host, the local engine) */
    readonly machineMemoryMb?: number;
    /** Whether the limits fit in the machine's memory. @default none: not known */
    readonly fits?: boolean;
    /** One line for people: the numbers, and what is not known. */
    readonly summary: string;
}

const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? "" : "s"}`;

/** The memory limits of one instance's containers, MiB. */
export function instanceMemoryMb(instance: Pick<InstanceSettings, "resources">): number {
    return ROLES.reduce((sum, role) => sum + instance.resources[role].memoryMb, 0);
}

/** The host's placement against its machine's memory. */
export function hostCapacity(input: HostCapacityInput): HostCapacity {
    const instances = input.instances.map((i) => i.name);
    const instancesMemoryMb = input.instances.reduce((sum, i) => sum + instanceMemoryMb(i), 0);
    const edgeMemoryMb = input.edge?.memoryMb ?? 0;
    const memoryLimitsMb = instancesMemoryMb + edgeMemoryMb;
    const need = `${plural(instances.length, "instance")}: ${instancesMemoryMb} MiB of memory limits${edgeMemoryMb > 0 ? ` plus the edge's ${edgeMemoryMb} MiB, ${memoryLimitsMb} MiB` : ""}`;
    const m = input.machine;
    if (m.kind === "local") return { instances, instancesMemoryMb, edgeMemoryMb, memoryLimitsMb, summary: `${need}; the local engine's memory is not checked` };
    if (m.kind === "existing") return { instances, instancesMemoryMb, edgeMemoryMb, memoryLimitsMb, summary: `${need}; an existing machine's memory is not known to the program, not checked` };
    const machineMemoryMb = machineMemoryMib(m.provider, m.size);
    if (machineMemoryMb === undefined) {
        return { instances, instancesMemoryMb, edgeMemoryMb, memoryLimitsMb, size: m.size, provider: m.provider, summary: `${need}; ${m.size}'s memory is unknown (not in the capacity table), not checked` };
    }
    const fits = memoryLimitsMb <= machineMemoryMb;
    return {
        instances, instancesMemoryMb, edgeMemoryMb, memoryLimitsMb, size: m.size, provider: m.provider, machineMemoryMb, fits,
        summary: `${need} of ${m.size}'s ${machineMemoryMb} MiB${fits ? "" : ": too many"}`,
    };
}

/**
 * The config key that sets a host's size, which a refusal names: `hosts.<name>.host.size` on a
 * stack with a `hosts` map (the entry that overrides the stack-wide size for that host only),
 * `host.size` on a stack without one.
 */
export function hostSizeKey(host: string, hasHostsMap: boolean): string {
    return hostKeyPath(host, "host.size", hasHostsMap);
}

/** The refusal of a placement whose memory limits exceed its machine's memory; undefined when it fits or is not known. */
export function capacityProblem(report: HostCapacity, sizeKey: string): Problem | undefined {
    if (report.fits !== false) return undefined;
    const edge = report.edgeMemoryMb > 0 ? ` (plus the edge's ${report.edgeMemoryMb}: ${report.memoryLimitsMb} MiB)` : "";
    const larger = report.provider === undefined ? undefined : smallestSizeFor(report.provider, report.memoryLimitsMb);
    const fix = larger === undefined
        ? "no size in the capacity table holds that much: move instances to another host"
        : `pick a larger size (the smallest that holds it: ${larger}, ${MACHINE_MEMORY_MIB[report.provider!][larger]} MiB) or move an instance to another host`;
    return {
        path: sizeKey,
        message: `${plural(report.instances.length, "instance")} ${report.instances.length === 1 ? "needs" : "need"} ${report.instancesMemoryMb} MiB of memory limits${edge}, ${report.size} has ${report.machineMemoryMb} MiB; ${fix}`,
    };
}

/** What stackCapacity reads of the validated settings: the hosts, their instances, whether they run an edge. */
export type CapacitySettings =
    | Pick<LocalSettings, "provider" | "hosts" | "instances" | "edge">
    | Pick<CloudSettings, "provider" | "hosts" | "instances" | "edge">;

/**
 * Every host's capacity report, by host name, and the refusals of the placements that exceed
 * their machines: what validateConfig adds to its problems and the stack output `hosts` shows.
 * `hasHostsMap`: whether the stack file has a `hosts` map (the key a refusal names).
 */
export function stackCapacity(settings: CapacitySettings, hasHostsMap: boolean, edge: Pick<ContainerResources, "memoryMb">): { readonly reports: Readonly<Record<string, HostCapacity>>; readonly problems: readonly Problem[] } {
    const reports: Record<string, HostCapacity> = {};
    const problems: Problem[] = [];
    for (const h of settings.hosts) {
        const machine: HostMachine = settings.provider === "local" ? { kind: "local" }
            : "host" in h && h.host.kind === "create" ? { kind: "create", provider: settings.provider, size: h.host.size }
            : { kind: "existing", provider: settings.provider };
        // A local host runs an edge only with the edge key and a data root; a cloud host always does.
        const hasEdge = settings.edge !== undefined && ("host" in h || h.layout.kind === "data-volume");
        const report = hostCapacity({ host: h.name, machine, instances: settings.instances.filter((i) => i.host === h.name), ...(hasEdge ? { edge } : {}) });
        reports[h.name] = report;
        const problem = capacityProblem(report, hostSizeKey(h.name, hasHostsMap));
        if (problem !== undefined) problems.push(problem);
    }
    return { reports, problems };
}
