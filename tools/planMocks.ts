// Deterministic stand-ins for the values a cloud or engine would compute, so that the program's
// Outputs resolve under mocks and the same config always gives the same plan.
//
// Every fake id and computed output is derived from the resource's identity: its type, its name
// and the values of the inputs that make its provider replace it (tools/replacementRules.ts).
// A change that replaces a resource therefore gives it a new id and new outputs, as the cloud
// would, and every resource whose inputs take them changes too: two plans show the cascade of a
// replacement by themselves. An update in place keeps the id and the outputs.
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import { identityParts, stableJson } from "./replacementRules";
import { PORTABLE_ROOT, PROJECT_DIR } from "./planArgs";

/** A stable hex digest of the parts, for fake ids and secrets. */
export function fakeDigest(...parts: string[]): string {
    return crypto.createHash("sha256").update(parts.join("\0")).digest("hex");
}

/** Secret values the mocks generated (passwords): the plan masks them wherever they appear. */
export const GENERATED_SECRETS = new Set<string>();

/**
 * Config secrets of the stack being planned: masked before they enter an identity, so that no
 * fake id is derived from a real secret. (A change of a secret alone is invisible to the plan,
 * which masks it everywhere anyway.) The mocks' own generated passwords are not secrets of anyone.
 */
const CONFIG_SECRETS = new Set<string>();

export function setConfigSecrets(values: Iterable<string>): void {
    CONFIG_SECRETS.clear();
    for (const v of values) if (v) CONFIG_SECRETS.add(v);
}

function maskConfigSecrets(v: unknown): unknown {
    if (typeof v === "string") return [...CONFIG_SECRETS].some((s) => v.includes(s)) ? "[secret]" : v;
    if (Array.isArray(v)) return v.map(maskConfigSecrets);
    if (v !== null && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, maskConfigSecrets(x)]));
    return v;
}

/**
 * A digest of a secret input's value, so that two plans tell whether it changed (a machine's user
 * data, which holds its host key, is secret as a whole). Config secrets are masked before, so no
 * digest rests on a real secret; the mocks' generated ones are stand-ins of no one.
 */
export function secretInputDigest(value: unknown): string {
    return fakeDigest("secret-input", stableJson(maskConfigSecrets(value))).slice(0, 16);
}

/**
 * What a resource is to its provider: the same identity, the same resource (and the same fake id
 * and outputs). The project's directory counts as its portable stand-in, so that ids (and what
 * shows them, like a command's triggers) do not depend on where the checkout lies.
 */
export function resourceIdentity(type: string, name: string, inputs: Record<string, unknown>): string {
    const identity = stableJson(identityParts(type, maskConfigSecrets(inputs) as Record<string, unknown>));
    return fakeDigest(type, name, identity.split(PROJECT_DIR).join(PORTABLE_ROOT));
}

/** The password the mocks generate for a random password resource with these inputs. */
export function fakePassword(name: string, inputs: Record<string, unknown>): string {
    const length = typeof inputs.length === "number" ? inputs.length : 32;
    return fakeDigest("password", resourceIdentity("random:index/randomPassword:RandomPassword", name, inputs)).slice(0, length);
}

/** Outputs a provider would compute, by resource type, from the resource's identity. Inputs are returned as state as well. */
const COMPUTED: Record<string, (name: string, inputs: Record<string, any>, identity: string) => Record<string, unknown>> = {
    "random:index/randomPassword:RandomPassword": (name, inputs) => {
        const result = fakePassword(name, inputs);
        GENERATED_SECRETS.add(result);
        return { result };
    },
    // The plan shows the reference that will be pulled where the engine would show its digest.
    "docker:index/remoteImage:RemoteImage": (_name, inputs) => ({ imageId: inputs.name, repoDigest: inputs.name }),
    "digitalocean:index/reservedIp:ReservedIp": (_name, _inputs, identity) => ({ ipAddress: fakeAddress("203.0.113", identity) }),
    "digitalocean:index/droplet:Droplet": (_name, _inputs, identity) => ({ ipv4Address: fakeAddress("192.0.2", identity), urn: `do:droplet:${fakeNumber(identity)}` }),
    "digitalocean:index/volume:Volume": (_name, _inputs, identity) => ({ urn: `do:volume:${fakeUuid(identity)}` }),
    "aws:ec2/eip:Eip": (_name, _inputs, identity) => ({ publicIp: fakeAddress("198.51.100", identity), allocationId: `eipalloc-${identity.slice(0, 17)}` }),
    "aws:ec2/instance:Instance": (_name, _inputs, identity) => ({
        privateIp: fakeAddress("10.0.0", identity), publicIp: fakeAddress("192.0.2", identity),
        arn: `arn:aws:ec2:eu-central-1:123456789012:instance/${idOf("aws:ec2/instance:Instance", "", identity)}`,
    }),
    "aws:iam/role:Role": (name, inputs) => ({ name: inputs.name ?? `${name}-role`, arn: `arn:aws:iam::123456789012:role/${inputs.name ?? `${name}-role`}` }),
    "aws:ec2/keyPair:KeyPair": (_name, inputs) => ({ keyName: inputs.keyName }),
    "aws:sns/topic:Topic": (name, inputs) => ({ arn: `arn:aws:sns:eu-central-1:123456789012:${inputs.name ?? name}` }),
    "tls:index/privateKey:PrivateKey": (_name, _inputs, identity) => {
        const key = fakeHostKey(identity);
        GENERATED_SECRETS.add(key.privateKeyOpenssh);
        return key;
    },
};

/**
 * An ED25519 key pair from the identity: a real public key line (it is pinned and validated like
 * a real one) and a private key in OpenSSH's armour whose body is a digest, never a usable key.
 */
function fakeHostKey(identity: string): { publicKeyOpenssh: string; privateKeyOpenssh: string } {
    const seed = Buffer.from(fakeDigest("host-key", identity), "hex");
    // PKCS#8 of an ED25519 private key is a fixed 16-byte header and the 32-byte seed.
    const privateKey = crypto.createPrivateKey({ key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]), format: "der", type: "pkcs8" });
    const raw = crypto.createPublicKey(privateKey).export({ format: "der", type: "spki" }).subarray(-32);
    const sshString = (b: Buffer) => {
        const length = Buffer.alloc(4);
        length.writeUInt32BE(b.length);
        return Buffer.concat([length, b]);
    };
    const blob = Buffer.concat([sshString(Buffer.from("ssh-ed25519")), sshString(raw)]);
    const body = Buffer.from(fakeDigest("host-key-private", identity).repeat(2), "hex").toString("base64");
    return {
        publicKeyOpenssh: `ssh-ed25519 ${blob.toString("base64")}\n`,
        privateKeyOpenssh: `-----BEGIN OPENSSH PRIVATE KEY-----\n${body}\n-----END OPENSSH PRIVATE KEY-----\n`,
    };
}

/** Ids in the shape each cloud gives them, where the program reads them. */
const ID_SHAPES: Record<string, (identity: string) => string> = {
    "digitalocean:index/droplet:Droplet": (identity) => String(fakeNumber(identity)),
    "digitalocean:index/volume:Volume": fakeUuid,
    "aws:ebs/volume:Volume": (identity) => `vol-0${identity.slice(0, 16)}`,
    "aws:ec2/instance:Instance": (identity) => `i-0${identity.slice(0, 16)}`,
    // The DLMPolicyId dimension of DLM's CloudWatch metrics.
    "aws:dlm/lifecyclePolicy:LifecyclePolicy": (identity) => `policy-0${identity.slice(0, 16)}`,
};

function fakeNumber(seed: string): number {
    return 100000000 + (parseInt(fakeDigest(seed).slice(0, 7), 16) % 900000000);
}

function fakeUuid(seed: string): string {
    const h = fakeDigest(seed);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** An address in a documentation range (RFC 5737), never a real host. */
function fakeAddress(prefix: string, seed: string): string {
    return `${prefix}.${1 + (parseInt(fakeDigest(seed).slice(0, 4), 16) % 254)}`;
}

function idOf(type: string, name: string, identity: string): string {
    return ID_SHAPES[type]?.(identity) ?? `${name}-${identity.slice(0, 8)}`;
}

/** The functions (data sources) the program calls, by token: what the cloud would answer, from the arguments. */
const CALLS: Record<string, (inputs: Record<string, any>) => Record<string, unknown>> = {
    // A Route 53 hosted zone found by its name: an id in Route 53's shape (Z and 13 to 32 letters and digits).
    "aws:route53/getZone:getZone": (inputs) => {
        const zoneId = `Z${fakeDigest("route53-zone", String(inputs.name), String(inputs.privateZone ?? false)).slice(0, 20).toUpperCase()}`;
        return { ...inputs, id: zoneId, zoneId, name: inputs.name };
    },
};

export const planMocks: pulumi.runtime.Mocks = {
    newResource(args: pulumi.runtime.MockResourceArgs): pulumi.runtime.MockResourceResult {
        const identity = resourceIdentity(args.type, args.name, args.inputs);
        const computed = COMPUTED[args.type]?.(args.name, args.inputs, identity) ?? {};
        // An import names the id to adopt; otherwise args.id is empty.
        return { id: args.id || idOf(args.type, args.name, identity), state: { ...args.inputs, ...computed } };
    },
    call(args: pulumi.runtime.MockCallArgs): pulumi.runtime.MockCallResult {
        const call = CALLS[args.token];
        if (call === undefined) throw new Error(`the offline plan has no mock for the function ${args.token}`);
        return call(args.inputs);
    },
};
