// The one table of secret config (CONFIG_SECRECY in components/config.ts): every secret path it
// lists is refused in plain text in a stack file and marked secret when given with --set, both by
// tools/stackFile.ts from the same table; Pulumi.yaml declares the same keys `secret: true`.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { CONFIG_NAMESPACE, SECRET_KEYS, SECRET_PATHS, holdsSecret, secretPathName } from "../../components/config";
import { planConfig } from "../../tools/stackFile";
import { PROJECT_DIR, readStackKeys, writeStackConfig } from "./planRun";

/** Every secret path: an entry dropped from the table (or one added without a test here) fails. */
const EXPECTED = [
    "alerts.webhookUrl",
    "backendSecrets.<instance>.<NAME>",
    "snapshotApiToken",
    "sshPrivateKey",
    "offsiteAccessKeyId",
    "offsiteSecretAccessKey",
    "offsitePassword",
    "spacesAccessKeyId",
    "spacesSecretAccessKey",
];
const PLAIN = "do-not-print-this-plain-secret";
/** Each path with a plain-text value, as a stack file would hold it. */
const plainValues: Record<string, unknown> = {
    alerts: { webhookUrl: `https://hooks.example/${PLAIN}` },
    backendSecrets: { colombia: { DJANGO_SECRET_KEY: PLAIN } },
    ...Object.fromEntries(SECRET_KEYS.map((k) => [k, PLAIN])),
};

test("the table lists exactly the secret paths, and Pulumi.yaml declares its whole-value keys secret", () => {
    assert.deepEqual(SECRET_PATHS.map(secretPathName).sort(), [...EXPECTED].sort());
    const project = YAML.parse(fs.readFileSync(path.join(PROJECT_DIR, "Pulumi.yaml"), "utf8"));
    const declared = { ...project.config, ...project.template.config } as Record<string, { secret?: boolean }>;
    const secretDeclared = Object.entries(declared).filter(([, d]) => d.secret === true).map(([k]) => k).sort();
    assert.deepEqual(secretDeclared, [...SECRET_KEYS].sort());
});

test("every secret path is refused in plain text in a stack file, by its path, without repeating the value", () => {
    const file = writeStackConfig({ ...readStackKeys("Pulumi.staging.yaml"), ...plainValues }, "staging");
    const { problems } = planConfig(file);
    const refused = problems.map((l) => l.slice(0, l.indexOf(": "))).map((k) => k.replace(/^backendSecrets\.colombia\.DJANGO_SECRET_KEY$/, "backendSecrets.<instance>.<NAME>"));
    assert.deepEqual(refused.sort(), [...EXPECTED].sort(), problems.join("\n"));
    for (const line of problems) {
        assert.match(line, /: is plain text in Pulumi\.staging\.yaml; a secret is kept encrypted: `pulumi config set --secret /);
        assert.ok(!line.includes(PLAIN), line);
    }
});

test("every secret path given with --set is marked secret; a plain key or an object without its secret leaf is not", () => {
    const file = writeStackConfig(readStackKeys("Pulumi.staging.yaml"), "staging");
    const overrides = Object.entries(plainValues).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
    const { secretKeys } = planConfig(file, overrides);
    for (const key of Object.keys(plainValues)) assert.ok(secretKeys.includes(`${CONFIG_NAMESPACE}:${key}`), `${key} is secret`);
    assert.ok(!secretKeys.includes(`${CONFIG_NAMESPACE}:offsite`));
    assert.equal(holdsSecret("alerts", { email: ["ops@example.org"] }), false);
    assert.equal(holdsSecret("alerts", { webhookUrl: "x" }), true);
    assert.equal(holdsSecret("instances", []), false);
    assert.equal(holdsSecret("unknownKey", "x"), false);
});
