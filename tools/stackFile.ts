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

/** Parses a stack file; `overrides` (`key=value`, key without namespace) win over the file. */
function readStackFile(file: string, overrides: readonly string[] = []): StackConfig {
    const config = readConfigMapping(file);
    const values: Record<string, string> = {};
    const secretKeys: string[] = [];
    const placeholders: string[] = [];
    const problems: string[] = [];
    const secretFullKeys = SECRET_KEYS.map((key) => `${CONFIG_NAMESPACE}:${key}`);
    for (const [key, value] of Object.entries(config)) {
        if (value !== null && typeof value === "object" && !Array.isArray(value) && "secure" in value) {
            // Encrypted with the stack's secrets provider, which only the Pulumi CLI can open.
            values[key] = SECRET_PLACEHOLDER;
            secretKeys.push(key);
            placeholders.push(key);
            continue;
        }
        if (secretFullKeys.includes(key)) {
            // The value is never repeated: it is a secret, now in a file that is committed.
            problems.push(`${key.slice(CONFIG_NAMESPACE.length + 1)}: is plain text in ${path.basename(file)}; a secret is kept encrypted: \`pulumi config set --secret ${key} <value>\` (and replace this one if the file was ever committed or shared)`);
        }
        values[key] = typeof value === "string" ? value : JSON.stringify(value);
    }
    for (const override of overrides) {
        const eq = override.indexOf("=");
        if (eq <= 0) throw new Error(`--set takes key=value, got ${JSON.stringify(override)}`);
        values[`${CONFIG_NAMESPACE}:${override.slice(0, eq)}`] = override.slice(eq + 1);
    }
    for (const full of secretFullKeys) {
        if (full in values && !secretKeys.includes(full)) secretKeys.push(full);
    }
    return { values, secretKeys: secretKeys.sort(), placeholders: placeholders.sort(), problems };
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
    return { values, secretKeys: secretKeys.sort(), placeholders: placeholders.sort(), problems: stack.problems };
}

/**
 * The offline plan's config from a stack file: read, `overrides` applied, and the secrets the
 * provider needs stood in for. A StackFileError when the file cannot be read as a stack file.
 */
export function planConfig(file: string, overrides: readonly string[] = []): StackConfig {
    const stack = readStackFile(file, overrides);
    return withSecretPlaceholders(stack, requiredSecretKeys(parseConfigMap(stack.values)));
}

/** The stack a `Pulumi.<stack>.yaml` file belongs to ("plan" for a file named otherwise). */
export function stackNameOf(file: string): string {
    return path.basename(file).match(/^Pulumi\.(.+)\.ya?ml$/)?.[1] ?? "plan";
}
