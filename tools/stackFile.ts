// Reads a Pulumi.<stack>.yaml file into the flat config map that Pulumi's runtime hands a program.
import * as fs from "fs";
import * as YAML from "yaml";
import * as path from "path";
import { CONFIG_NAMESPACE, SECRET_KEYS, parseConfigMap, requiredSecretKeys } from "../components/config";

export interface StackConfig {
    /** `namespace:key` → the value as Pulumi passes it (objects as JSON text). */
    readonly values: Record<string, string>;
    /** Full keys whose values are secret. */
    readonly secretKeys: string[];
    /** Secret keys that the file lacks or holds encrypted: the plan uses a stand-in value for them. */
    readonly placeholders: string[];
}

/** A stand-in for a secret the offline plan cannot decrypt; it is masked wherever it appears. */
export const SECRET_PLACEHOLDER = "offline-plan-secret-placeholder";

/** Parses a stack file; `overrides` (`key=value`, key without namespace) win over the file. */
function readStackFile(file: string, overrides: readonly string[] = []): StackConfig {
    const doc = YAML.parse(fs.readFileSync(file, "utf8")) ?? {};
    const config: Record<string, unknown> = doc.config ?? {};
    const values: Record<string, string> = {};
    const secretKeys: string[] = [];
    const placeholders: string[] = [];
    for (const [key, value] of Object.entries(config)) {
        if (value !== null && typeof value === "object" && !Array.isArray(value) && "secure" in value) {
            // Encrypted with the stack's secrets provider, which only the Pulumi CLI can open.
            values[key] = SECRET_PLACEHOLDER;
            secretKeys.push(key);
            placeholders.push(key);
            continue;
        }
        values[key] = typeof value === "string" ? value : JSON.stringify(value);
    }
    for (const override of overrides) {
        const eq = override.indexOf("=");
        if (eq <= 0) throw new Error(`--set takes key=value, got ${JSON.stringify(override)}`);
        values[`${CONFIG_NAMESPACE}:${override.slice(0, eq)}`] = override.slice(eq + 1);
    }
    for (const key of SECRET_KEYS) {
        const full = `${CONFIG_NAMESPACE}:${key}`;
        if (full in values && !secretKeys.includes(full)) secretKeys.push(full);
    }
    return { values, secretKeys: secretKeys.sort(), placeholders: placeholders.sort() };
}

/** Fills required secrets that a stack file leaves to `pulumi config set --secret` with the stand-in. */
function withSecretPlaceholders(stack: StackConfig, requiredSecrets: readonly string[]): StackConfig {
    const values = { ...stack.values };
    const secretKeys = [...stack.secretKeys];
    const placeholders = [...stack.placeholders];
    for (const key of requiredSecrets) {
        const full = `${CONFIG_NAMESPACE}:${key}`;
        if (full in values) continue;
        values[full] = SECRET_PLACEHOLDER;
        secretKeys.push(full);
        placeholders.push(full);
    }
    return { values, secretKeys: secretKeys.sort(), placeholders: placeholders.sort() };
}

/** The offline plan's config from a stack file: read, `overrides` applied, and the secrets the provider needs stood in for. */
export function planConfig(file: string, overrides: readonly string[] = []): StackConfig {
    const stack = readStackFile(file, overrides);
    return withSecretPlaceholders(stack, requiredSecretKeys(parseConfigMap(stack.values)));
}

/** The stack a `Pulumi.<stack>.yaml` file belongs to ("plan" for a file named otherwise). */
export function stackNameOf(file: string): string {
    return path.basename(file).match(/^Pulumi\.(.+)\.ya?ml$/)?.[1] ?? "plan";
}
