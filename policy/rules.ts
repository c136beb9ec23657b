// The guard rails, as plain functions over a resource's type, props and protect flag. The policy
// pack (index.ts) wraps them for `pulumi preview/up --policy-pack policy`; the unit tests call
// them directly, against hand-made resources and the golden plans. Each returns the violations it finds, as sentences.
import * as path from "path";
import { DEFAULT_DATA_ROOT, SECRET_LOOKING_ENV, worldFamiliesOf } from "../components/config";
import { POSTGIS_DATA_TARGET } from "../components/layout";
import { EDGE_SERVICE, LABEL_MACHINE, LABEL_ROLE } from "../components/naming";

/** What a rule sees of a resource: the same in the policy pack and in the offline plan. */
export interface ResourceView {
    readonly type: string;
    readonly name: string;
    readonly props: Record<string, any>;
    readonly protect: boolean;
    /**
     * What a secret value looks like in `props`: the offline plan's mask. Undefined where secrets
     * arrive decrypted and unmarked, as in CrossGuard's validation hooks. @default undefined
     */
    readonly secretMask?: string;
}

export interface ResourceRule {
    readonly name: string;
    readonly description: string;
    /** The rule judges whether values are secret, so it runs only on views that mark them (secretMask). @default false */
    readonly needsMarkedSecrets?: boolean;
    check(resource: ResourceView, dataRoot: string): string[];
}

export interface StackRule {
    readonly name: string;
    readonly description: string;
    check(resources: readonly ResourceView[]): string[];
}

const T = {
    doVolume: "digitalocean:index/volume:Volume",
    ebsVolume: "aws:ebs/volume:Volume",
    dockerVolume: "docker:index/volume:Volume",
    container: "docker:index/container:Container",
    doFirewall: "digitalocean:index/firewall:Firewall",
    securityGroup: "aws:ec2/securityGroup:SecurityGroup",
    ingressRule: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    dlmPolicy: "aws:dlm/lifecyclePolicy:LifecyclePolicy",
};

/** The value of a docker label, given as [{label, value}] (or a map, as some engines report it). */
export function labelOf(r: ResourceView, key: string): string | undefined {
    const labels = r.props.labels;
    if (Array.isArray(labels)) return labels.find((l) => l?.label === key)?.value;
    return labels?.[key];
}

function role(r: ResourceView): string | undefined {
    return labelOf(r, LABEL_ROLE);
}

/** Is a container's `user` ("name", "uid", "name:group" or "uid:gid") someone other than root? Unset is the image's user: root for the edge's. */
export function isNonRootUser(user: unknown): boolean {
    if (typeof user !== "string" || user === "") return false;
    const who = user.split(":")[0];
    return who !== "" && who !== "root" && !/^0+$/.test(who);
}

/** Is `p` an absolute, normalised path at or below `root`? */
export function isInside(p: unknown, root: string): boolean {
    if (typeof p !== "string" || !path.posix.isAbsolute(p) || path.posix.normalize(p) !== p) return false;
    return p === root || p.startsWith(`${root}/`);
}

function portsOf(range: unknown): [number, number] | undefined {
    if (typeof range !== "string" || range === "") return undefined;
    if (range === "all") return [1, 65535];
    const [from, to] = range.split("-").map(Number);
    return [from, to ?? from];
}

const covers22 = (from: number | undefined, to: number | undefined, protocol?: string) =>
    protocol === "-1" || protocol === "all" || (from !== undefined && to !== undefined && from <= 22 && 22 <= to);

export const dataVolumesProtected: ResourceRule = {
    name: "data-volumes-protected",
    description: "The block volume and every PostGIS data volume carry `protect`, so Pulumi never deletes or replaces them.",
    check(r) {
        const isData = r.type === T.doVolume || r.type === T.ebsVolume || (r.type === T.dockerVolume && role(r) === "postgis");
        return isData && !r.protect ? [`${r.name} holds portal data and must be protected (resource option protect: true)`] : [];
    },
};

export const ebsEncrypted: ResourceRule = {
    name: "ebs-encrypted",
    description: "EBS volumes are encrypted at rest.",
    check(r) {
        return r.type === T.ebsVolume && r.props.encrypted !== true ? [`${r.name} must set encrypted: true`] : [];
    },
};

export const bindMountsInsideDataRoot: ResourceRule = {
    name: "bind-mounts-inside-data-root",
    description: "Every bind mount and bind-backed Docker volume has an absolute source inside the data root; a relative one would silently become an empty named volume.",
    check(r, dataRoot) {
        const problems: string[] = [];
        if (r.type === T.container) {
            for (const m of r.props.mounts ?? []) {
                if (m?.type === "bind" && !isInside(m.source, dataRoot)) {
                    problems.push(`${r.name} binds ${JSON.stringify(m.source)} at ${m.target}: the source must be an absolute path inside ${dataRoot}`);
                }
            }
            for (const v of r.props.volumes ?? []) {
                if (v?.hostPath !== undefined && !isInside(v.hostPath, dataRoot)) {
                    problems.push(`${r.name} binds ${JSON.stringify(v.hostPath)} at ${v.containerPath}: the source must be an absolute path inside ${dataRoot}`);
                }
            }
        }
        const device = r.type === T.dockerVolume ? r.props.driverOpts?.device : undefined;
        if (device !== undefined && !isInside(device, dataRoot)) {
            problems.push(`${r.name} keeps its data at ${JSON.stringify(device)}: it must be inside ${dataRoot}, on the block volume`);
        }
        return problems;
    },
};

export const noPublishedDatabaseOrBackendPorts: ResourceRule = {
    name: "no-published-database-or-backend-ports",
    description: "PostGIS and the backend publish no host port; only nginx faces the network.",
    check(r) {
        const which = role(r);
        const published = r.type === T.container && (which === "postgis" || which === "backend") && (r.props.ports ?? []).length > 0;
        return published ? [`${r.name} (${which}) must not publish ports; only nginx does`] : [];
    },
};

/** The machine label of a container on the local engine (dev, the e2e tier): the only place instances publish ports. */
const LOCAL_MACHINE = "local";

export const onlyEdgePublishesPorts: ResourceRule = {
    name: "only-edge-publishes-ports",
    description: "On a cloud host only the edge publishes host ports (80 and 443); every portal is reached through it at https://<domain>. Dev (the local engine) may publish nginx.",
    check(r) {
        if (r.type !== T.container || (r.props.ports ?? []).length === 0) return [];
        // An unknown machine (a preview of a new host) is a cloud machine: only "local" is exempt.
        if (labelOf(r, LABEL_MACHINE) === LOCAL_MACHINE) return [];
        if (role(r) === EDGE_SERVICE) return [];
        return [`${r.name} publishes host ports on a cloud host; only the edge may (it serves the portal at https://<domain>)`];
    },
};

/** The only ports a host's firewall opens: the edge's HTTP and HTTPS, and SSH (whose sources ssh-not-open-to-world judges). */
const OPEN_PORTS = new Set([80, 443, 22]);

export const firewallWebAndSshOnly: ResourceRule = {
    name: "firewall-web-and-ssh-only",
    description: "The firewall / security group opens TCP 80 and 443 (the edge) and 22 (SSH, from the configured CIDRs: ssh-not-open-to-world) and nothing else.",
    check(r) {
        const problems: string[] = [];
        const judge = (from: number | undefined, to: number | undefined, protocol: string, _sources: unknown[]) => {
            const one = from !== undefined && from === to && protocol === "tcp";
            if (!(one && OPEN_PORTS.has(from!))) problems.push(`${r.name} opens ${protocol} ${from}-${to}; a host opens only tcp 80 and 443 (the edge) and 22 (SSH)`);
        };
        if (r.type === T.doFirewall) {
            for (const rule of r.props.inboundRules ?? []) {
                const ports = portsOf(rule.portRange) ?? [1, 65535];
                judge(ports[0], ports[1], String(rule.protocol), rule.sourceAddresses ?? []);
            }
        }
        if (r.type === T.securityGroup) {
            for (const rule of r.props.ingress ?? []) judge(rule.fromPort, rule.toPort, String(rule.protocol), [...(rule.cidrBlocks ?? []), ...(rule.ipv6CidrBlocks ?? [])]);
        }
        if (r.type === T.ingressRule) judge(r.props.fromPort, r.props.toPort, String(r.props.ipProtocol), [r.props.cidrIpv4, r.props.cidrIpv6]);
        return problems;
    },
};

export const sshNotOpenToWorld: StackRule = {
    name: "ssh-not-open-to-world",
    description: "SSH (port 22) is reachable only from the configured CIDRs: the sources that reach it on one firewall or security group never cover all of IPv4 or IPv6 together (0.0.0.0/0, or 0.0.0.0/1 and 128.0.0.0/1, …).",
    check(resources) {
        // Sources that reach port 22, by the firewall or security group they open it on.
        const reach22 = new Map<string, string[]>();
        const add = (group: string, sources: unknown[]) => {
            reach22.set(group, [...(reach22.get(group) ?? []), ...sources.filter((s): s is string => typeof s === "string")]);
        };
        for (const r of resources) {
            if (r.type === T.doFirewall) {
                for (const rule of r.props.inboundRules ?? []) {
                    const ports = portsOf(rule.portRange) ?? (rule.protocol === "tcp" ? [1, 65535] : undefined);
                    if (ports && covers22(ports[0], ports[1])) add(r.name, rule.sourceAddresses ?? []);
                }
            }
            if (r.type === T.securityGroup) {
                for (const rule of r.props.ingress ?? []) {
                    if (covers22(rule.fromPort, rule.toPort, String(rule.protocol))) add(r.name, [...(rule.cidrBlocks ?? []), ...(rule.ipv6CidrBlocks ?? [])]);
                }
            }
            // One CIDR per rule resource: their union is what the group opens.
            if (r.type === T.ingressRule && covers22(r.props.fromPort, r.props.toPort, String(r.props.ipProtocol))) {
                add(`the security group ${String(r.props.securityGroupId)}`, [r.props.cidrIpv4, r.props.cidrIpv6]);
            }
        }
        return [...reach22].flatMap(([group, sources]) => {
            const world = worldFamiliesOf(sources);
            return world.length ? [`${group} opens SSH to the world (its sources together cover all of ${world.map((f) => (f === "ipv4" ? "IPv4" : "IPv6")).join(" and ")})`] : [];
        });
    },
};

export const postgisVolumeDedicated: StackRule = {
    name: "postgis-volume-dedicated",
    description: "Each PostGIS container's data volume is mounted by that container alone.",
    check(resources) {
        const containers = resources.filter((r) => r.type === T.container);
        const problems: string[] = [];
        for (const pg of containers.filter((c) => role(c) === "postgis")) {
            const data = (pg.props.mounts ?? []).find((m: any) => m?.target === POSTGIS_DATA_TARGET);
            if (data === undefined || data.type !== "volume") {
                problems.push(`${pg.name} must keep ${POSTGIS_DATA_TARGET} on a Docker volume of its own`);
                continue;
            }
            for (const other of containers.filter((c) => c !== pg)) {
                if ((other.props.mounts ?? []).some((m: any) => m?.source === data.source)) {
                    problems.push(`${other.name} mounts ${data.source}, the database volume of ${pg.name}`);
                }
            }
        }
        return problems;
    },
};

export const dlmTargetTagOnDataVolume: StackRule = {
    name: "dlm-target-tag-on-data-volume",
    description: "Every DLM policy targets a tag that an EBS volume in the stack carries; otherwise it snapshots nothing, silently.",
    check(resources) {
        const volumes = resources.filter((r) => r.type === T.ebsVolume);
        const problems: string[] = [];
        for (const policy of resources.filter((r) => r.type === T.dlmPolicy)) {
            const target: Record<string, string> = policy.props.policyDetails?.targetTags ?? {};
            const matched = volumes.some((v) => Object.entries(target).every(([k, val]) => v.props.tags?.[k] === val));
            if (Object.keys(target).length === 0 || !matched) {
                problems.push(`${policy.name} targets ${JSON.stringify(target)}, which no EBS volume in the stack carries`);
            }
        }
        return problems;
    },
};

/** The engine's socket: whoever mounts it controls the host. */
const DOCKER_SOCKETS = ["/var/run/docker.sock", "/run/docker.sock"];

export const containersHardened: ResourceRule = {
    name: "containers-hardened",
    description: "Every container has a memory limit, drops all capabilities but those it names, never gains privileges (no-new-privileges), is not privileged, and does not mount the Docker socket; nginx and the edge run on a read-only root file system, and the edge as a non-root user.",
    check(r) {
        if (r.type !== T.container) return [];
        const problems: string[] = [];
        if (role(r) === EDGE_SERVICE && !isNonRootUser(r.props.user)) problems.push(`${r.name} must run as a non-root user (user "<uid>:<gid>")`);
        if (!(typeof r.props.memory === "number" && r.props.memory > 0)) problems.push(`${r.name} has no memory limit (memory, in MB)`);
        if (!(r.props.securityOpts ?? []).some((o: unknown) => /^no-new-privileges(:true)?$/.test(String(o)))) {
            problems.push(`${r.name} must set securityOpts ["no-new-privileges:true"]`);
        }
        if (!(r.props.capabilities?.drops ?? []).includes("ALL")) problems.push(`${r.name} must drop all capabilities (capabilities.drops ["ALL"]) and add back only what it needs`);
        if (r.props.privileged === true) problems.push(`${r.name} must not be privileged`);
        const which = role(r);
        if ((which === "nginx" || which === EDGE_SERVICE) && r.props.readOnly !== true) {
            problems.push(`${r.name} (${which}) must run on a read-only root file system (readOnly: true; what it writes on tmpfs)`);
        }
        const sources = [...(r.props.mounts ?? []).map((m: any) => m?.source), ...(r.props.volumes ?? []).map((v: any) => v?.hostPath)];
        if (sources.some((s) => DOCKER_SOCKETS.includes(String(s)))) problems.push(`${r.name} mounts the Docker socket, which gives it the host`);
        return problems;
    },
};

const COMMANDS = ["command:local:Command", "command:remote:Command"];
/** `NAME=value` settings on a command line (host scripts take theirs as `env NAME=value … bash -s`). */
const COMMAND_LINE_SETTING = /(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=('[^']*'|\S*)/g;

export const noPlaintextSecrets: ResourceRule = {
    name: "no-plaintext-secrets",
    description: "A container variable, a command's environment or command-line setting whose name says it is a secret (PASSWORD, SECRET, TOKEN, PRIVATE_KEY, API_KEY, CREDENTIAL), and an SSH connection's key or password, hold a Pulumi secret, never plain text; no command line holds a secret at all (every process on the host can read it): secrets go on standard input.",
    needsMarkedSecrets: true,
    check(r) {
        const mask = r.secretMask!;
        const problems: string[] = [];
        const plain = (name: string, value: unknown) => SECRET_LOOKING_ENV.test(name) && value !== mask;
        if (r.type === T.container) {
            for (const e of r.props.envs ?? []) {
                if (typeof e !== "string" || e === mask) continue;
                const eq = e.indexOf("=");
                const name = eq < 0 ? e : e.slice(0, eq);
                if (plain(name, e.slice(eq + 1))) problems.push(`${r.name} sets ${name} in plain text: a secret reaches a container only as a Pulumi secret (config set --secret, or a generated password)`);
            }
        }
        if (COMMANDS.includes(r.type)) {
            for (const [name, value] of Object.entries(r.props.environment ?? {})) {
                if (plain(name, value)) problems.push(`${r.name} passes ${name} in plain text in its environment: it must be a Pulumi secret`);
            }
            for (const field of ["create", "update", "delete"] as const) {
                const line = r.props[field];
                if (line === mask) problems.push(`${r.name} has a secret on its ${field} command line, where every process on the host can read it: pass it on standard input`);
                if (typeof line !== "string") continue;
                for (const m of line.matchAll(COMMAND_LINE_SETTING)) {
                    if (SECRET_LOOKING_ENV.test(m[1])) problems.push(`${r.name} sets ${m[1]} on its ${field} command line in plain text: pass a secret on standard input`);
                }
            }
            const connection = r.props.connection;
            if (connection !== undefined && connection !== mask) {
                for (const k of ["privateKey", "password"]) {
                    if (connection[k] !== undefined && connection[k] !== mask) problems.push(`${r.name} has its SSH ${k} in plain text: it must be a Pulumi secret (sshPrivateKey)`);
                }
            }
        }
        return problems;
    },
};

export const RESOURCE_RULES: readonly ResourceRule[] = [
    dataVolumesProtected, ebsEncrypted, bindMountsInsideDataRoot, noPublishedDatabaseOrBackendPorts, containersHardened,
    onlyEdgePublishesPorts, firewallWebAndSshOnly, noPlaintextSecrets,
];
/** The host script that sets containers' process limits, which the Docker provider has no input for. */
const PIDS_SCRIPT_SETTING = /(?:^|\s)LIMITS=('[^']*'|\S+)/;

export const containersPidsLimited: StackRule = {
    name: "containers-pids-limited",
    description: "Every container gets a process limit: a host command (host/limit-container-pids.sh, LIMITS=<container>=<n> …) names it, since the Docker provider has no input for it.",
    check(resources) {
        const limited = new Set<string>();
        for (const r of resources.filter((c) => c.type === "command:local:Command" || c.type === "command:remote:Command")) {
            const m = PIDS_SCRIPT_SETTING.exec(String(r.props.create ?? ""));
            for (const pair of (m?.[1] ?? "").replace(/'/g, "").split(/\s+/)) if (/^\S+=[1-9][0-9]*$/.test(pair)) limited.add(pair.slice(0, pair.indexOf("=")));
        }
        return resources.filter((r) => r.type === T.container && !limited.has(String(r.props.name)))
            .map((r) => `${r.name} (${String(r.props.name)}) has no process limit: no host command sets one (host/limit-container-pids.sh)`);
    },
};

export const STACK_RULES: readonly StackRule[] = [postgisVolumeDedicated, dlmTargetTagOnDataVolume, sshNotOpenToWorld, containersPidsLimited];

/** Every violation of every rule, as `<rule>: <sentence>` (the rules that judge secretness only on views that mark it). */
export function checkAll(resources: readonly ResourceView[], dataRoot = DEFAULT_DATA_ROOT): string[] {
    const applies = (rule: ResourceRule, r: ResourceView) => !rule.needsMarkedSecrets || r.secretMask !== undefined;
    return [
        ...resources.flatMap((r) => RESOURCE_RULES.filter((rule) => applies(rule, r)).flatMap((rule) => rule.check(r, dataRoot).map((v) => `${rule.name}: ${v}`))),
        ...STACK_RULES.flatMap((rule) => rule.check(resources).map((v) => `${rule.name}: ${v}`)),
    ];
}
