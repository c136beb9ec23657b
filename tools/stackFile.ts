// Reads a Pulumi.<stack>.yaml file into the flat config map that Pulumi's runtime hands a program.
import * as fs from "fs";
import * as YAML from "yaml";
import * as path from "path";
import { CONFIG_NAMESPACE, SECRET_PATHS, SecretLeaf, holdsSecret, parseConfigMap, requiredSecretKeys, requiredSecretLeaves } from "../components/config";

export interface StackConfig {
    /** `namespace:key` → the value as Pulumi passes it (objects as JSON text). */
    readonly values: Record<string, string>;
    /** Full keys whose values are secret. */
    readonly secretKeys: string[];
    /** Secret keys that the file lacks or holds encrypted: the plan uses a stand-in value for them. */
    readonly placeholders: string[];
    /**
     * What the stack file itself gets wrong, as `<key>: <message>` lines: a secret written in
     * plain text. A value given with `--set` is not refused: it never lands in a file.
     */
    readonly problems: readonly string[];
}

/** A stack file that cannot be read at all (YAML syntax, no `config` mapping): one line per problem. */
export class StackFileError extends Error {
    constructor(readonly problems: readonly string[]) {
        super(problems.join("\n"));
        this.name = "StackFileError";
    }
}

/** A stand-in for a secret the offline plan cannot decrypt; it is masked wherever it appears. */
export const SECRET_PLACEHOLDER = "offline-plan-secret-placeholder";

/** The file as a problem line names it: relative to the working directory when inside it. */
function displayPath(file: string): string {
    const rel = path.relative(process.cwd(), file);
    return rel !== "" && !rel.startsWith("..") && !path.isAbsolute(rel) ? rel : file;
}

/** The stack file's `config` mapping; a StackFileError with `<file>:<line>:<column>: ...` lines when the YAML is broken. */
function readConfigMapping(file: string): Record<string, unknown> {
    const shown = displayPath(file);
    const lineCounter = new YAML.LineCounter();
    const doc = YAML.parseDocument(fs.readFileSync(file, "utf8"), { lineCounter, prettyErrors: false });
    if (doc.errors.length > 0) {
        throw new StackFileError(doc.errors.map((e) => {
            const { line, col } = lineCounter.linePos(e.pos[0]);
            return `${shown}:${line}:${col}: YAML syntax error: ${e.message.split("\n")[0]}`;
        }));
    }
    const top: unknown = doc.toJS() ?? {};
    const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
    if (!isMapping(top)) throw new StackFileError([`${shown}: must be a YAML mapping with a config: mapping of namespace:key to values`]);
    const config = top.config ?? {};
    if (!isMapping(config)) throw new StackFileError([`${shown}: config: must be a mapping of namespace:key to values, got ${JSON.stringify(config)}`]);
    return config;
}

const isSecure = (v: unknown): boolean => v !== null && typeof v === "object" && !Array.isArray(v) && "secure" in v;

/**
 * A value with each encrypted leaf (`{secure: …}`, as `pulumi config set --secret --path` writes
 * it) replaced by the stand-in, whether it had any, and the paths of its plain-text leaves.
 */
function standInSecureLeaves(value: unknown, at: string): { value: unknown; encrypted: boolean; plain: string[] } {
    if (isSecure(value)) return { value: SECRET_PLACEHOLDER, encrypted: true, plain: [] };
    if (value === null || typeof value !== "object") return { value, encrypted: false, plain: [at] };
    let encrypted = false;
    const plain: string[] = [];
    const walk = (k: string, v: unknown, path: string) => {
        const r = standInSecureLeaves(v, path);
        encrypted ||= r.encrypted;
        plain.push(...r.plain);
        return [k, r.value] as const;
    };
    if (Array.isArray(value)) return { value: value.map((v, i) => walk(String(i), v, `${at}[${i}]`)[1]), encrypted, plain };
    const out = Object.fromEntries(Object.entries(value).map(([k, v]) => walk(k, v, `${at}.${k}`)));
    return { value: out, encrypted, plain };
}

/** Parses a stack file; `overrides` (`key=value`, key without namespace) win over the file. */
function readStackFile(file: string, overrides: readonly string[] = []): StackConfig {
    const config = readConfigMapping(file);
    const values: Record<string, string> = {};
    const secretKeys: string[] = [];
    const placeholders: string[] = [];
    const problems: string[] = [];
    // Every secret path of the config table (components/config.ts), by the key it lives under.
    const pathsOf = (shortKey: string) => SECRET_PATHS.filter((p) => p.key === shortKey);
    const plainText = (shown: string, setWith: string) =>
        `${shown}: is plain text in ${path.basename(file)}; a secret is kept encrypted: \`${setWith}\` (and replace this one if the file was ever committed or shared)`;
    for (const [key, value] of Object.entries(config)) {
        const shortKey = key.startsWith(`${CONFIG_NAMESPACE}:`) ? key.slice(CONFIG_NAMESPACE.length + 1) : "";
        const paths = pathsOf(shortKey);
        if (paths.some((p) => p.kind === "values")) {
            // Secret values under plain names: the plan shows the names, so each value is encrypted on its own.
            if (isSecure(value)) {
                problems.push(`${shortKey}: is encrypted as one value, so the offline plan cannot see its names; set each one with \`pulumi config set --secret --path '${key}.<instance>.<NAME>' <value>\``);
                continue;
            }
            const leaves = standInSecureLeaves(value, shortKey);
            for (const at of leaves.plain) problems.push(plainText(at, `pulumi config set --secret --path '${CONFIG_NAMESPACE}:${at}' <value>`));
            values[key] = JSON.stringify(leaves.value);
            if (leaves.encrypted) placeholders.push(key);
            secretKeys.push(key);
            continue;
        }
        if (isSecure(value)) {
            // Encrypted with the stack's secrets provider, which only the Pulumi CLI can open.
            values[key] = SECRET_PLACEHOLDER;
            secretKeys.push(key);
            placeholders.push(key);
            continue;
        }
        if (paths.some((p) => p.kind === "key")) {
            // The value is never repeated: it is a secret, now in a file that is committed.
            problems.push(plainText(shortKey, `pulumi config set --secret ${key} <value>`));
            values[key] = typeof value === "string" ? value : JSON.stringify(value);
            continue;
        }
        // A leaf that must be secret (alerts.webhookUrl), written in plain text.
        for (const p of paths) {
            if (p.kind !== "leaf") continue;
            const v = value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>)[p.leaf] : undefined;
            if (v !== undefined && !isSecure(v)) problems.push(plainText(`${shortKey}.${p.leaf}`, `pulumi config set --secret --path '${key}.${p.leaf}' <value>`));
        }
        // `pulumi config set --secret --path` encrypts one leaf of an object: the key is then secret.
        const leaves = standInSecureLeaves(value, shortKey);
        if (leaves.encrypted) {
            secretKeys.push(key);
            placeholders.push(key);
        }
        values[key] = leaves.encrypted ? JSON.stringify(leaves.value) : typeof value === "string" ? value : JSON.stringify(value);
    }
    for (const override of overrides) {
        const eq = override.indexOf("=");
        if (eq <= 0) throw new Error(`--set takes key=value, got ${JSON.stringify(override)}`);
        values[`${CONFIG_NAMESPACE}:${override.slice(0, eq)}`] = override.slice(eq + 1);
    }
    // What holds a secret by the same table is secret however it arrived (a --set value too:
    // snapshotApiToken=…, alerts={"webhookUrl": …}).
    const parsed = parseConfigMap(values);
    for (const full of Object.keys(values)) {
        if (!full.startsWith(`${CONFIG_NAMESPACE}:`)) continue;
        const shortKey = full.slice(CONFIG_NAMESPACE.length + 1);
        if (holdsSecret(shortKey, parsed[shortKey]) && !secretKeys.includes(full)) secretKeys.push(full);
    }
    return { values, secretKeys: secretKeys.sort(), placeholders: placeholders.sort(), problems };
}

/** Fills required secrets (and secret leaves) that a stack file leaves to `pulumi config set --secret` with the stand-in. */
function withSecretPlaceholders(stack: StackConfig, requiredSecrets: readonly string[], requiredLeaves: readonly SecretLeaf[] = []): StackConfig {
    const values = { ...stack.values };
    const secretKeys = [...stack.secretKeys];
    const placeholders = [...stack.placeholders];
    for (const { key, leaf } of requiredLeaves) {
        const full = `${CONFIG_NAMESPACE}:${key}`;
        const object = JSON.parse(values[full] ?? "{}") as Record<string, unknown>;
        if (leaf in object) continue;
        values[full] = JSON.stringify({ ...object, [leaf]: SECRET_PLACEHOLDER });
        if (!secretKeys.includes(full)) secretKeys.push(full);
        if (!placeholders.includes(full)) placeholders.push(full);
    }
    for (const key of requiredSecrets) {
        const full = `${CONFIG_NAMESPACE}:${key}`;
        if (full in values) continue;
        values[full] = SECRET_PLACEHOLDER;
        secretKeys.push(full);
        placeholders.push(full);
    }
    return { values, secretKeys: secretKeys.sort(), placeholders: placeholders.sort(), problems: stack.problems };
}

/**
 * The offline plan's config from a stack file: read, `overrides` applied, and the secrets the
 * provider needs stood in for. A StackFileError when the file cannot be read as a stack file.
 */
export function planConfig(file: string, overrides: readonly string[] = []): StackConfig {
    const stack = readStackFile(file, overrides);
    const raw = parseConfigMap(stack.values);
    return withSecretPlaceholders(stack, requiredSecretKeys(raw), requiredSecretLeaves(raw));
}

/** The stack a `Pulumi.<stack>.yaml` file belongs to ("plan" for a file named otherwise). */
export function stackNameOf(file: string): string {
    return path.basename(file).match(/^Pulumi\.(.+)\.ya?ml$/)?.[1] ?? "plan";
}
