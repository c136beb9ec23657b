// Deterministic stand-ins for the values a cloud or engine would compute, so that the program's
// Outputs resolve under mocks and the same config always gives the same plan.
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";

/** A stable hex digest of the parts, for fake ids and secrets. */
export function fakeDigest(...parts: string[]): string {
    return crypto.createHash("sha256").update(parts.join("\0")).digest("hex");
}

/** Secret values the mocks generated (passwords): the plan masks them wherever they appear. */
export const GENERATED_SECRETS = new Set<string>();

/** Outputs a provider would compute, by resource type. Inputs are returned as state as well. */
const COMPUTED: Record<string, (name: string, inputs: Record<string, any>) => Record<string, unknown>> = {
    "random:index/randomPassword:RandomPassword": (name, inputs) => {
        const result = fakeDigest("password", name).slice(0, inputs.length ?? 32);
        GENERATED_SECRETS.add(result);
        return { result };
    },
    // The plan shows the reference that will be pulled where the engine would show its digest.
    "docker:index/remoteImage:RemoteImage": (_name, inputs) => ({ imageId: inputs.name, repoDigest: inputs.name }),
    "digitalocean:index/reservedIp:ReservedIp": (name) => ({ ipAddress: fakeAddress("203.0.113", name) }),
    "digitalocean:index/droplet:Droplet": (name) => ({ ipv4Address: fakeAddress("192.0.2", name), urn: `do:droplet:${fakeNumber(name)}` }),
    "digitalocean:index/volume:Volume": (name) => ({ urn: `do:volume:${fakeUuid(name)}` }),
    "aws:ec2/eip:Eip": (name) => ({ publicIp: fakeAddress("198.51.100", name), allocationId: `eipalloc-${fakeDigest(name).slice(0, 17)}` }),
    "aws:ec2/instance:Instance": (name) => ({ privateIp: fakeAddress("10.0.0", name), publicIp: fakeAddress("192.0.2", name), arn: `arn:aws:ec2:eu-central-1:123456789012:instance/${idOf("aws:ec2/instance:Instance", name)}` }),
    "aws:iam/role:Role": (_name, inputs) => ({ name: inputs.name ?? `${_name}-role`, arn: `arn:aws:iam::123456789012:role/${inputs.name ?? `${_name}-role`}` }),
    "aws:ec2/keyPair:KeyPair": (_name, inputs) => ({ keyName: inputs.keyName }),
    "aws:sns/topic:Topic": (name, inputs) => ({ arn: `arn:aws:sns:eu-central-1:123456789012:${inputs.name ?? name}` }),
};

/** Ids in the shape each cloud gives them, where the program reads them. */
const ID_SHAPES: Record<string, (name: string) => string> = {
    "digitalocean:index/droplet:Droplet": (name) => String(fakeNumber(name)),
    "digitalocean:index/volume:Volume": fakeUuid,
    "aws:ebs/volume:Volume": (name) => `vol-0${fakeDigest(name).slice(0, 16)}`,
    "aws:ec2/instance:Instance": (name) => `i-0${fakeDigest(name).slice(0, 16)}`,
    // The DLMPolicyId dimension of DLM's CloudWatch metrics.
    "aws:dlm/lifecyclePolicy:LifecyclePolicy": (name) => `policy-0${fakeDigest(name).slice(0, 16)}`,
};

function fakeNumber(name: string): number {
    return 100000000 + (parseInt(fakeDigest(name).slice(0, 7), 16) % 900000000);
}

function fakeUuid(name: string): string {
    const h = fakeDigest(name);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** An address in a documentation range (RFC 5737), never a real host. */
function fakeAddress(prefix: string, name: string): string {
    return `${prefix}.${1 + (parseInt(fakeDigest(name).slice(0, 4), 16) % 254)}`;
}

function idOf(type: string, name: string): string {
    return ID_SHAPES[type]?.(name) ?? `${name}-${fakeDigest(type, name).slice(0, 8)}`;
}


export const planMocks: pulumi.runtime.Mocks = {
    newResource(args: pulumi.runtime.MockResourceArgs): pulumi.runtime.MockResourceResult {
        const computed = COMPUTED[args.type]?.(args.name, args.inputs) ?? {};
        // An import names the id to adopt; otherwise args.id is empty.
        return { id: args.id || idOf(args.type, args.name), state: { ...args.inputs, ...computed } };
    },
    call(args: pulumi.runtime.MockCallArgs): pulumi.runtime.MockCallResult {
        throw new Error(`the offline plan has no mock for the function ${args.token}`);
    },
};

