// Deterministic stand-ins for the values a cloud or engine would compute, so that the program's
// Outputs resolve under mocks and the same config always gives the same plan.
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";

/** A stable hex digest of the parts, for fake ids and secrets. */
export function fakeDigest(...parts: string[]): string {
    return crypto.createHash("sha256").update(parts.join("\0")).digest("hex");
}

/** Outputs a provider would compute, by resource type. Inputs are returned as state as well. */
const COMPUTED: Record<string, (name: string, inputs: Record<string, any>) => Record<string, unknown>> = {
    "random:index/randomPassword:RandomPassword": (name, inputs) => ({
        result: fakeDigest("password", name).slice(0, inputs.length ?? 32),
    }),
    // The plan shows the reference that will be pulled where the engine would show its digest.
    "docker:index/remoteImage:RemoteImage": (_name, inputs) => ({ imageId: inputs.name, repoDigest: inputs.name }),
};

/** The fake id of a resource. */
export function fakeId(type: string, name: string): string {
    return `${name}-${fakeDigest(type, name).slice(0, 8)}`;
}

export const planMocks: pulumi.runtime.Mocks = {
    newResource(args: pulumi.runtime.MockResourceArgs): pulumi.runtime.MockResourceResult {
        const computed = COMPUTED[args.type]?.(args.name, args.inputs) ?? {};
        return { id: args.id ?? fakeId(args.type, args.name), state: { ...args.inputs, ...computed } };
    },
    call(args: pulumi.runtime.MockCallArgs): pulumi.runtime.MockCallResult {
        throw new Error(`the offline plan has no mock for the function ${args.token}`);
    },
};

