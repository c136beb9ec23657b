// Every validation rule of the config module, without mocks: one problem line per mistake,
// naming its key path, and all problems at once.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as path from "path";
import {
    Problems, ValidationContext, validateConfig, validateHost, validateInstanceName, validateInstances,
    validateSnapshots, validateVolume, DEFAULT_IMAGES, StackSettings,
} from "../../components/config";

const PROJECT_DIR = path.resolve(__dirname, "..", "..");
const ctx: ValidationContext = { stack: "test", projectDir: PROJECT_DIR };

const instances = [
    { name: "colombia", domain: "colombia.example.org", port: 8001 },
    { name: "peru", domain: "peru.example.org", port: 8002 },
];
const doConfig = {
    provider: "digitalocean",
    host: { sshKeys: ["aa:bb"], sshAllowedCidrs: ["203.0.113.0/24"] },
    volume: { sizeGb: 100 },
    snapshots: { everyHours: 24, at: "02:30", retain: 7 },
    snapshotApiToken: "token",
    instances,
};
const awsConfig = {
    provider: "aws",
    host: { image: "ami-0123", sshKeys: ["ssh-ed25519 AAAA ops"], sshAllowedCidrs: ["198.51.100.0/24"], availabilityZone: "eu-central-1a" },
    volume: { sizeGb: 100 },
    snapshots: { everyHours: 12, at: "03:00", retain: 14 },
    instances,
};
const devConfig = { provider: "local", projectRoot: "test/fixtures/housing_portal", instances };

/** The problem lines of a config that must be invalid. */
function problemsOf(raw: Record<string, unknown>, context = ctx): readonly string[] {
    const result = validateConfig(raw, context);
    assert.equal(result.ok, false, "expected the config to be rejected");
    return result.ok ? [] : result.problems;
}

function settingsOf(raw: Record<string, unknown>): StackSettings {
    const result = validateConfig(raw, ctx);
    assert.ok(result.ok, `expected a valid config, got: ${result.ok ? "" : result.problems.join("; ")}`);
    return result.settings;
}

/** Asserts exactly one line starts with the key path, and returns it. */
function lineFor(lines: readonly string[], key: string, match?: RegExp): string {
    const found = lines.filter((l) => l.startsWith(`${key}: `));
    assert.equal(found.length, 1, `expected one problem for ${key}, got ${JSON.stringify(lines)}`);
    if (match) assert.match(found[0], match);
    return found[0];
}

test("valid configs for the three providers give typed, defaulted settings", () => {
    const dev = settingsOf(devConfig);
    assert.deepEqual(dev.layout, { kind: "checkout", projectRoot: path.join(PROJECT_DIR, "test/fixtures/housing_portal") });
    assert.deepEqual(dev.instances[0].images, DEFAULT_IMAGES);
    assert.deepEqual(dev.instances[0].database, { name: "portal", user: "portal" });

    const staging = settingsOf(doConfig);
    assert.deepEqual(staging.layout, { kind: "data-volume", dataRoot: "/mnt/data" });
    assert.ok(staging.provider === "digitalocean");
    assert.equal(staging.host.kind, "create");
    assert.deepEqual(staging.host.kind === "create" && staging.host.dataVolume,
        { sizeGb: 100, name: "housing-portal-test-data", fromSnapshot: undefined, adoptId: undefined, kmsKeyId: undefined, placement: { provider: "digitalocean", region: "fra1" } },
        "the volume is named from the stack and placed in the host's region");
    assert.equal(staging.snapshots.dumpRetain, 7, "dumpRetain defaults to retain");

    const prod = settingsOf(awsConfig);
    assert.ok(prod.provider === "aws");
    assert.equal(prod.host.sshUser, "ubuntu");
    assert.deepEqual(prod.host.kind === "create" && prod.host.dataVolume.placement, { provider: "aws", availabilityZone: "eu-central-1a" });

    const e2e = settingsOf({ provider: "local", dataRoot: "/mnt/housing-portal-e2e", instances });
    assert.deepEqual(e2e.layout, { kind: "data-volume", dataRoot: "/mnt/housing-portal-e2e" });
});

test("an unknown provider is rejected with the allowed values", () => {
    lineFor(problemsOf({ ...doConfig, provider: "gcp" }), "provider", /must be one of local, digitalocean, aws, got "gcp"/);
    lineFor(problemsOf({ instances }), "provider", /got nothing/);
});

test("instances missing or empty are rejected", () => {
    lineFor(problemsOf({ ...doConfig, instances: undefined }), "instances", /at least one portal instance/);
    lineFor(problemsOf({ ...doConfig, instances: [] }), "instances", /at least one portal instance/);
    lineFor(problemsOf({ ...doConfig, instances: "colombia" }), "instances", /must be a list/);
});

test("instance names must be lowercase DNS labels", () => {
    const bad = ["Colombia", "col_ombia", "col..ombia", "a/b", "", "-peru", "peru-", "x".repeat(64), 42];
    for (const name of bad) {
        const lines = problemsOf({ ...doConfig, instances: [{ name, domain: "a.example.org", port: 8001 }] });
        lineFor(lines, "instances[0].name");
    }
    assert.match(validateInstanceName("x".repeat(64))!, /at most 63 characters/);
    assert.match(validateInstanceName("Colombia")!, /lowercase DNS label/);
    assert.equal(validateInstanceName("x".repeat(63)), undefined);
    assert.equal(validateInstanceName("el-salvador2"), undefined);
});

test("duplicate instance names and duplicate host ports are rejected", () => {
    const lines = problemsOf({
        ...doConfig,
        instances: [...instances, { name: "peru", domain: "peru2.example.org", port: 8001 }],
    });
    lineFor(lines, "instances[2].name", /duplicate instance name "peru" \(also instances\[1\]\.name\)/);
    lineFor(lines, "instances[2].port", /host port 8001 is already used by instances\[0\]/);
    lineFor(problemsOf({ ...doConfig, instances: [{ name: "a", domain: "a.example.org", port: 22 }] }), "instances[0].port", /SSH's port/);
});

test("instance fields: domain, port, images, database, backendEnv", () => {
    const p = new Problems();
    validateInstances([{
        name: "chile", domain: "Not A Domain", port: 70000, images: { postgis: "Bad Image" },
        database: { name: "1db" }, backendEnv: { "BAD-NAME": "x", POSTGRES_PASSWORD: "leak", DEBUG: 1 }, extra: true,
    }], DEFAULT_IMAGES, p);
    lineFor(p.lines, "instances[0].domain", /lowercase domain name/);
    lineFor(p.lines, "instances[0].port", /TCP port from 1 to 65535, got 70000/);
    lineFor(p.lines, "instances[0].images.postgis", /image reference/);
    lineFor(p.lines, "instances[0].database.name", /PostgreSQL identifier/);
    lineFor(p.lines, "instances[0].backendEnv.BAD-NAME", /environment variable name/);
    lineFor(p.lines, "instances[0].backendEnv.POSTGRES_PASSWORD", /set by the program/);
    lineFor(p.lines, "instances[0].backendEnv.DEBUG", /must be a string/);
    lineFor(p.lines, "instances[0].extra", /unknown key/);
});

test("an instance's images override the defaults one by one", () => {
    const s = settingsOf({ ...devConfig, images: { nginx: "nginx:1.26" }, instances: [{ ...instances[0], images: { backend: "portal/backend:2" } }] });
    assert.deepEqual(s.instances[0].images, { postgis: DEFAULT_IMAGES.postgis, backend: "portal/backend:2", nginx: "nginx:1.26" });
});

test("volume.sizeGb must be a positive integer within the provider's limits", () => {
    for (const sizeGb of [0, -5, 1.5, "100", 16385, undefined]) {
        lineFor(problemsOf({ ...doConfig, volume: { sizeGb } }), "volume.sizeGb", /whole number of GiB \(digitalocean\) from 1 to 16384/);
    }
    lineFor(problemsOf({ ...awsConfig, volume: { sizeGb: 0 } }), "volume.sizeGb", /\(aws\)/);
    lineFor(problemsOf({ ...doConfig, volume: undefined }), "volume", /is required on digitalocean/);
});

test("fromSnapshot together with adoptId is rejected", () => {
    const p = new Problems();
    validateVolume({ sizeGb: 10, fromSnapshot: "snap-1", adoptId: "vol-1" }, "aws", p);
    lineFor(p.lines, "volume", /fromSnapshot and adoptId exclude each other/);
    const ok = new Problems();
    assert.deepEqual(validateVolume({ sizeGb: 10, fromSnapshot: "snap-1" }, "aws", ok), { sizeGb: 10, name: undefined, fromSnapshot: "snap-1", adoptId: undefined, kmsKeyId: undefined });
    assert.deepEqual(ok.lines, []);
});

test("volume.name must be a name both clouds accept", () => {
    for (const name of ["Data", "1data", "data_volume", "a".repeat(65)]) {
        const p = new Problems();
        validateVolume({ sizeGb: 10, name }, "digitalocean", p);
        lineFor(p.lines, "volume.name", /lowercase letters, digits or '-'/);
    }
    const ok = new Problems();
    assert.equal(validateVolume({ sizeGb: 10, name: "staging-data" }, "digitalocean", ok)?.name, "staging-data");
    assert.deepEqual(ok.lines, []);
});

test("aws: the availability zone must be in the region, and adopting a volume needs its zone", () => {
    const p = new Problems();
    validateHost({ region: "eu-central-1", availabilityZone: "us-east-1a", image: "ami-1", sshKeys: ["k"], sshAllowedCidrs: ["198.51.100.0/24"] }, "aws", p);
    lineFor(p.lines, "host.availabilityZone", /is not in host.region "eu-central-1"/);
    lineFor(problemsOf({ ...awsConfig, host: { address: "203.0.113.7" }, volume: { sizeGb: 10, adoptId: "vol-1" } }),
        "host.availabilityZone", /to adopt a volume/);
});

test("snapshots: retain >= 1, a schedulable interval, HH:MM", () => {
    for (const retain of [0, -1, 2.5, undefined]) {
        lineFor(problemsOf({ ...doConfig, snapshots: { everyHours: 24, at: "02:00", retain } }), "snapshots.retain", /from 1 to/);
    }
    for (const everyHours of [5, 7, 48, 0, "24"]) {
        lineFor(problemsOf({ ...awsConfig, snapshots: { everyHours, at: "02:00", retain: 3 } }), "snapshots.everyHours", /aws schedules snapshots every 1, 2, 3, 4, 6, 8, 12, 24 hours/);
    }
    for (const at of ["2:00", "24:00", "12:60", "noon", 200, undefined]) {
        lineFor(problemsOf({ ...doConfig, snapshots: { everyHours: 24, at, retain: 3 } }), "snapshots.at", /"HH:MM"/);
    }
    const p = new Problems();
    validateSnapshots({ everyHours: 24, at: "02:00", retain: 3, copyToRegion: "eu-west-1" }, "digitalocean", p);
    lineFor(p.lines, "snapshots.copyToRegion", /only scheduled on aws/);
});

test("SSH open to the world needs an explicit opt-in", () => {
    const p = new Problems();
    validateHost({ sshKeys: ["k"], sshAllowedCidrs: ["0.0.0.0/0"] }, "digitalocean", p);
    lineFor(p.lines, "host.sshAllowedCidrs", /whole internet.*allowSshFromAnywhere/);
    const ok = new Problems();
    validateHost({ sshKeys: ["k"], sshAllowedCidrs: ["0.0.0.0/0"], allowSshFromAnywhere: true }, "digitalocean", ok);
    assert.deepEqual(ok.lines, []);
    const missing = new Problems();
    validateHost({ sshKeys: [], sshAllowedCidrs: ["not-a-cidr"] }, "aws", missing);
    lineFor(missing.lines, "host.sshKeys", /public key/);
    lineFor(missing.lines, "host.sshAllowedCidrs[0]", /must be a CIDR/);
    lineFor(missing.lines, "host.image", /AMI/);
    lineFor(missing.lines, "host.availabilityZone", /must share one zone/);
});

test("an existing host needs no volume and no snapshot token unless its volume is adopted", () => {
    const { volume: _volume, snapshotApiToken: _token, ...rest } = doConfig;
    const bare = settingsOf({ ...rest, host: { address: "203.0.113.7" } });
    assert.ok(bare.provider === "digitalocean" && bare.host.kind === "existing" && bare.host.dataVolume === undefined);
    // A volume that is not adopted would be ignored: refused, and so is a token nothing would use.
    lineFor(problemsOf({ ...rest, host: { address: "203.0.113.7" }, volume: { sizeGb: 100 } }), "volume", /managed only when adopted: set volume.adoptId/);
    lineFor(problemsOf({ ...rest, host: { address: "203.0.113.7" }, snapshotApiToken: "t" }), "snapshotApiToken", /only used by a DigitalOcean host that snapshots its volume/);
    // Adopted, it is snapshotted by the host's timer, with the token.
    lineFor(problemsOf({ ...rest, host: { address: "203.0.113.7" }, volume: { sizeGb: 100, adoptId: "vol-1" } }), "snapshotApiToken", /is required on digitalocean/);
    assert.ok(settingsOf({ ...rest, host: { address: "203.0.113.7" }, volume: { sizeGb: 100, adoptId: "vol-1" }, snapshotApiToken: "t" }));
});

test("host.address selects the existing-host mode, which needs no keys or image", () => {
    const s = settingsOf({ ...doConfig, volume: { sizeGb: 100, adoptId: "vol-0" }, host: { address: "203.0.113.7", sshUser: "deploy" } });
    assert.ok(s.provider === "digitalocean" && s.host.kind === "existing");
    assert.equal(s.host.address, "203.0.113.7");
    const adopted = settingsOf({ ...doConfig, host: { address: "203.0.113.7" }, volume: { sizeGb: 100, adoptId: "vol-1", name: "old-data" } });
    assert.ok(adopted.provider === "digitalocean" && adopted.host.kind === "existing");
    assert.deepEqual([adopted.host.dataVolume?.adoptId, adopted.host.dataVolume?.name], ["vol-1", "old-data"]);
});

test("dev: a bind path missing under projectRoot is named, and a missing checkout says so", () => {
    const lines = problemsOf({ ...devConfig, projectRoot: "../no-such-checkout" });
    lineFor(lines, "projectRoot", /does not exist; clone the portal there/);
    const exists = (p: string) => !p.endsWith(path.join("images", "peru"));
    const partial = problemsOf(devConfig, { ...ctx, pathExists: exists });
    lineFor(partial, "projectRoot", /bind path \.\.\/images\/peru does not exist/);
    lineFor(problemsOf({ provider: "local", instances }), "projectRoot", /is required with provider local/);
});

test("host paths must be absolute and stay inside the data root; cloud stacks keep /mnt/data", () => {
    for (const dataRoot of ["mnt/data", "./data", "/mnt/../etc", "/mnt//data", "/", 7]) {
        lineFor(problemsOf({ provider: "local", dataRoot, instances }), "dataRoot");
    }
    lineFor(problemsOf({ ...doConfig, dataRoot: "/srv/portal" }), "dataRoot", /fixed at \/mnt\/data on digitalocean/);
    assert.deepEqual(settingsOf({ ...doConfig, dataRoot: "/mnt/data" }).layout, { kind: "data-volume", dataRoot: "/mnt/data" });
    // The seed's trap: a relative path silently becomes a new, empty named volume.
    lineFor(problemsOf({ provider: "local", dataRoot: "data", instances }), "dataRoot", /silently become a new, empty Docker volume/);
    assert.deepEqual(settingsOf({ provider: "local", dataRoot: "/srv/portal/", instances }).layout, { kind: "data-volume", dataRoot: "/srv/portal" });
});

test("keys that do not belong are rejected, typos included", () => {
    const lines = problemsOf({ ...devConfig, instance: [], volume: { sizeGb: 1 } });
    lineFor(lines, "instance", /unknown key/);
    lineFor(lines, "volume", /not used with provider local/);
    lineFor(problemsOf({ ...doConfig, projectRoot: "../x" }), "projectRoot", /only used with provider local/);
    lineFor(problemsOf({ ...doConfig, snapshotApiToken: undefined }), "snapshotApiToken", /pulumi config set --secret/);
    lineFor(problemsOf({ ...awsConfig, snapshotApiToken: "t" }), "snapshotApiToken", /only used by a DigitalOcean host that snapshots its volume/);
});

test("all problems are reported at once, one line each", () => {
    const lines = problemsOf({
        provider: "digitalocean",
        host: { sshKeys: ["k"], sshAllowedCidrs: ["0.0.0.0/0"] },
        volume: { sizeGb: 0, fromSnapshot: "s", adoptId: "v" },
        snapshots: { everyHours: 5, at: "25:00", retain: 0 },
        instances: [{ name: "A", domain: "a.example.org", port: 1 }, { name: "b", domain: "b.example.org", port: 1 }],
    });
    for (const key of ["host.sshAllowedCidrs", "volume.sizeGb", "volume", "snapshots.everyHours", "snapshots.at", "snapshots.retain", "instances[0].name", "instances[1].port", "snapshotApiToken"]) {
        lineFor(lines, key);
    }
    for (const line of lines) assert.match(line, /^[A-Za-z0-9_.[\]-]+: \S/, `not a "<key>: <message>" line: ${line}`);
});
