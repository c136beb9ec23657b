// backendSecrets: secret environment variables of a backend, per instance, under names the stack
// file and the plan show, with values that only ever travel as secrets. Validated like
// backendEnv; a plain-text value in the stack file, or a secret-looking name in backendEnv, is
// refused; the plan masks every value.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { validateConfig } from "../../components/config";
import { byName, planBatchRaw, batchedPlan, writeStackConfig } from "./planRun";

const PROJECT_DIR = path.resolve(__dirname, "..", "..");
const VALUE = "django-insecure-do-not-print-this";
const dev = (extra: Record<string, unknown>) => ({
    provider: "local", projectRoot: "test/fixtures/housing_portal",
    instances: [
        { name: "colombia", domain: "colombia.localhost", port: 8000, backendEnv: { DJANGO_SETTINGS_MODULE: "config.settings.local" } },
        { name: "peru", domain: "peru.localhost", port: 8001 },
    ],
    ...extra,
});
const linesOf = (raw: Record<string, unknown>) => {
    const r = validateConfig(raw, { stack: "dev", projectDir: PROJECT_DIR });
    return r.ok ? [] : [...r.problems];
};

test("names are validated per instance like backendEnv, and never repeat a value", () => {
    const ok = validateConfig(dev({ backendSecrets: { colombia: { SENTRY_DSN: VALUE, DJANGO_SECRET_KEY: VALUE } } }), { stack: "dev", projectDir: PROJECT_DIR });
    assert.ok(ok.ok);
    assert.deepEqual(ok.settings.backendSecretNames, { colombia: ["DJANGO_SECRET_KEY", "SENTRY_DSN"], peru: [] });
    const lines = linesOf(dev({
        backendSecrets: {
            chile: { X: VALUE },
            peru: { "BAD-NAME": VALUE, PGPASSWORD: VALUE, POSTGRES_PASSWORD: VALUE, EMPTY: "", NUMBER: 7 },
            colombia: { DJANGO_SETTINGS_MODULE: VALUE },
        },
    }));
    assert.deepEqual(lines.map((l) => l.slice(0, l.indexOf(": "))).sort(), [
        "backendSecrets.chile", "backendSecrets.colombia.DJANGO_SETTINGS_MODULE", "backendSecrets.peru.BAD-NAME",
        "backendSecrets.peru.EMPTY", "backendSecrets.peru.NUMBER", "backendSecrets.peru.PGPASSWORD", "backendSecrets.peru.POSTGRES_PASSWORD",
    ]);
    assert.ok(lines.includes("backendSecrets.chile: names no instance (instances: colombia, peru)"));
    assert.ok(lines.includes("backendSecrets.colombia.DJANGO_SETTINGS_MODULE: is also set in plain backendEnv of instance colombia; keep it in one place, here"));
    assert.ok(lines.includes("backendSecrets.peru.NUMBER: must be a non-empty string (the value is not shown: it is a secret)"));
    assert.ok(!lines.join("\n").includes(VALUE), "no value in any message");
    assert.match(linesOf(dev({ backendSecrets: "x" })).join("\n"), /^backendSecrets: must map instance names to \{NAME: secret value\}/);
});

test("a secret-looking name in plain backendEnv is refused, pointing to backendSecrets", () => {
    const lines = linesOf(dev({ instances: [{ name: "colombia", domain: "colombia.localhost", port: 8000, backendEnv: { DJANGO_SECRET_KEY: VALUE, MAPS_API_KEY: "k", DEBUG: "0" } }] }));
    assert.deepEqual(lines.map((l) => l.slice(0, l.indexOf(": "))).sort(), ["instances[0].backendEnv.DJANGO_SECRET_KEY", "instances[0].backendEnv.MAPS_API_KEY"]);
    assert.match(lines[0], /looks like a secret, and backendEnv is plain config \(in the stack file and the plan\); set it as a backend secret: `pulumi config set --secret --path 'housing-portal:backendSecrets\.colombia\.DJANGO_SECRET_KEY' <value>`/);
    assert.ok(!lines.join("\n").includes(VALUE));
});

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hp-secrets-"));
process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
/** A dev stack file whose backendSecrets block is this YAML text. */
const stackFile = (name: string, backendSecrets: string) => {
    const file = path.join(dir, name, "Pulumi.dev.yaml");
    fs.mkdirSync(path.dirname(file));
    fs.writeFileSync(file, [
        "config:",
        "  housing-portal:provider: local",
        `  housing-portal:projectRoot: ${path.join(PROJECT_DIR, "test/fixtures/housing_portal")}`,
        "  housing-portal:instances:",
        "    - {name: colombia, domain: colombia.localhost, port: 8000}",
        "    - {name: peru, domain: peru.localhost, port: 8001}",
        "  housing-portal:backendSecrets:",
        backendSecrets,
        "",
    ].join("\n"));
    return file;
};

const runs = planBatchRaw([
    ["--config-file", stackFile("encrypted", "    colombia:\n      DJANGO_SECRET_KEY:\n        secure: v1:AAAAbm90LXJlYWw=\n      SENTRY_DSN:\n        secure: v1:BBBBbm90LXJlYWw=")],
    ["--config-file", stackFile("plain", `    colombia:\n      DJANGO_SECRET_KEY: ${VALUE}\n      SENTRY_DSN:\n        secure: v1:BBBBbm90LXJlYWw=`)],
    ["--config-file", stackFile("whole", "    secure: v1:CCCCbm90LXJlYWw=")],
    // --set never lands in a file: tests pass a plain value that way, and it is planned as a secret.
    ["--config-file", writeStackConfig(dev({}), "dev"), "--set", `backendSecrets={"peru":{"DJANGO_SECRET_KEY":"${VALUE}"}}`],
    ["--config-file", writeStackConfig(dev({}), "dev"), "--set", `backendSecrets={"peru":{"DJANGO_SECRET_KEY":"${VALUE}"}}`, "--reveal-secrets"],
]);

test("the stack file: each value encrypted on its own is planned with a masked stand-in; plain text or one encrypted blob is refused", async () => {
    const [encrypted, plain, whole] = await runs;
    const plan = batchedPlan(encrypted);
    const envs = byName(plan, "colombia-backend").inputs.envs as string[];
    assert.equal(envs.filter((e) => e === "[secret]").length, 4, "the database password, its URL and two backend secrets");
    assert.equal((byName(plan, "peru-backend").inputs.envs as string[]).filter((e) => e === "[secret]").length, 2, "peru gets none: only its database password and URL");
    assert.ok(!plain.ok);
    assert.deepEqual(plain.problems, [
        `backendSecrets.colombia.DJANGO_SECRET_KEY: is plain text in Pulumi.dev.yaml; a secret is kept encrypted: \`pulumi config set --secret --path 'housing-portal:backendSecrets.colombia.DJANGO_SECRET_KEY' <value>\` (and replace this one if the file was ever committed or shared)`,
    ]);
    assert.ok(!whole.ok);
    assert.deepEqual(whole.problems, ["backendSecrets: is encrypted as one value, so the offline plan cannot see its names; set each one with `pulumi config set --secret --path 'housing-portal:backendSecrets.<instance>.<NAME>' <value>`"]);
});

test("the backend gets each secret as NAME=value; the plan masks it everywhere, and shows it only with --reveal-secrets", async () => {
    const [, , , masked, revealed] = await runs;
    assert.ok(masked.ok && revealed.ok);
    assert.ok(!masked.json.includes(VALUE), "the value appears nowhere in the plan");
    assert.ok((byName(batchedPlan(masked), "peru-backend").inputs.envs as string[]).includes("[secret]"));
    assert.ok((byName(batchedPlan(revealed), "peru-backend").inputs.envs as string[]).includes(`DJANGO_SECRET_KEY=${VALUE}`));
    assert.ok(!(byName(batchedPlan(revealed), "colombia-backend").inputs.envs as string[]).some((e) => e.startsWith("DJANGO_SECRET_KEY=")), "only the instance it is set for");
});
