// Pulumi.yaml against the Pulumi CLI's rules for project config, and against the config module.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import * as YAML from "yaml";
import { CONFIG_KEYS, SECRET_KEYS } from "../../components/config";

const ROOT = path.resolve(__dirname, "..", "..");
const project = YAML.parse(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8"));
const stackFiles = [
    ...fs.readdirSync(ROOT).filter((f) => /^Pulumi\.[a-z0-9-]+\.yaml$/.test(f)).map((f) => path.join(ROOT, f)),
    path.join(ROOT, "test", "e2e", "Pulumi.e2e.yaml"),
    path.join(ROOT, "test", "e2e", "Pulumi.e2e-hosts.yaml"),
];

type Declared = Record<string, { description?: string; secret?: boolean; default?: unknown; value?: unknown }>;
const required: Declared = project.config ?? {};
const optional: Declared = project.template?.config ?? {};

test("every stack sets every key the CLI requires (a key in config: without a default)", () => {
    assert.ok(stackFiles.length >= 4, `stack files: ${stackFiles.join(", ")}`);
    const mustSet = Object.entries(required).filter(([, d]) => d.default === undefined && d.value === undefined).map(([k]) => k);
    for (const file of stackFiles) {
        const config = YAML.parse(fs.readFileSync(file, "utf8")).config ?? {};
        const missing = mustSet.filter((k) => !(`housing-portal:${k}` in config));
        // `pulumi up` would stop with "Stack '<name>' is missing configuration value(s) ...".
        assert.deepEqual(missing, [], `${path.relative(ROOT, file)} lacks keys Pulumi.yaml requires`);
    }
});

test("every key the program reads is declared once in Pulumi.yaml with a description, secrets as secret", () => {
    const declared = [...Object.keys(required), ...Object.keys(optional)];
    assert.deepEqual([...declared].sort(), [...CONFIG_KEYS].sort());
    for (const [key, d] of Object.entries({ ...required, ...optional })) {
        assert.ok(typeof d.description === "string" && d.description.length > 20, `${key} has no description`);
        assert.equal(d.secret === true, SECRET_KEYS.includes(key as (typeof SECRET_KEYS)[number]), `${key}: secret flag`);
    }
});
