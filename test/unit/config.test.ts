// Every validation rule of the config module, without mocks: one problem line per mistake,
// naming its key path, and all problems at once.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as path from "path";
import {
    Problems, ValidationContext, validateConfig, validateConfigMap, validateHost, validateInstanceName, validateInstances,
    validateSnapshots, validateVolume, DEFAULT_IMAGES, DEFAULT_RESOURCES, StackSettings, coversFamily, editDistance, imageReferenceProblem, parseCidr,
} from "../../components/config";

const PROJECT_DIR = path.resolve(__dirname, "..", "..");
const ctx: ValidationContext = { stack: "test", projectDir: PROJECT_DIR };

const instances = [
    { name: "colombia", domain: "colombia.example.org", port: 8001 },
    { name: "peru", domain: "peru.example.org", port: 8002 },
];
/** Cloud stacks publish no instance port: the edge serves each at https://<domain>. */
const cloudInstances = instances.map(({ port: _port, ...rest }) => rest);
const doConfig = {
    provider: "digitalocean",
    host: { sshKeys: ["aa:bb"], sshAllowedCidrs: ["203.0.113.0/24"] },
    volume: { sizeGb: 100 },
    snapshots: { everyHours: 24, at: "02:30", retain: 7 },
    snapshotApiToken: "token",
    instances: cloudInstances,
};
const awsConfig = {
    provider: "aws",
    host: { image: "ami-0123", sshKeys: ["ssh-ed25519 AAAA ops"], sshAllowedCidrs: ["198.51.100.0/24"], availabilityZone: "eu-central-1a" },
    volume: { sizeGb: 100 },
    snapshots: { everyHours: 12, at: "03:00", retain: 14 },
    instances: cloudInstances,
};
const devConfig = { provider: "local", projectRoot: "test/fixtures/housing_portal", instances };
/** Ids in each cloud's own format. */
const DO_VOLUME = "506f78a4-e098-11e5-ad9f-000f53306ae1";
const DO_SNAPSHOT = "fbe805e8-866b-11e6-96bf-000f53315a41";
const EBS_VOLUME = "vol-0123456789abcdef0";
const EBS_SNAPSHOT = "snap-0123456789abcdef0";
/** An existing host's public host key (ssh-keygen -t ed25519). */
const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMemVwqpVLt1uMZ1nT5LwqAfQXVwC4m/8FhBf3VpMCMo ops@example";

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
    assert.deepEqual(dev.hosts[0].layout, { kind: "checkout", projectRoot: path.join(PROJECT_DIR, "test/fixtures/housing_portal") });
    assert.deepEqual(dev.instances[0].images, DEFAULT_IMAGES);
    assert.deepEqual(dev.instances[0].database, { name: "portal", user: "portal" });

    const staging = settingsOf(doConfig);
    assert.deepEqual(staging.hosts[0].layout, { kind: "data-volume", dataRoot: "/mnt/data" });
    assert.ok(staging.provider === "digitalocean");
    assert.equal(staging.hosts[0].host.kind, "create");
    assert.deepEqual(staging.hosts[0].host.kind === "create" && staging.hosts[0].host.dataVolume,
        { sizeGb: 100, name: "housing-portal-test-data", fromSnapshot: undefined, adoptId: undefined, kmsKeyId: undefined, placement: { provider: "digitalocean", region: "fra1" } },
        "the volume is named from the stack and placed in the host's region");
    assert.equal(staging.hosts[0].snapshots.dumpRetain, 7, "dumpRetain defaults to retain");

    const prod = settingsOf(awsConfig);
    assert.ok(prod.provider === "aws");
    assert.equal(prod.hosts[0].host.sshUser, "ubuntu");
    assert.deepEqual(prod.hosts[0].host.kind === "create" && prod.hosts[0].host.dataVolume.placement, { provider: "aws", availabilityZone: "eu-central-1a" });

    const e2e = settingsOf({ provider: "local", dataRoot: "/mnt/housing-portal-e2e", instances });
    assert.deepEqual(e2e.hosts[0].layout, { kind: "data-volume", dataRoot: "/mnt/housing-portal-e2e" });
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
        const lines = problemsOf({ ...doConfig, instances: [{ name, domain: "a.example.org" }] });
        lineFor(lines, "instances[0].name");
    }
    assert.match(validateInstanceName("x".repeat(64))!, /at most 63 characters/);
    assert.match(validateInstanceName("Colombia")!, /lowercase DNS label/);
    assert.equal(validateInstanceName("x".repeat(63)), undefined);
    assert.equal(validateInstanceName("el-salvador2"), undefined);
});

test("duplicate instance names and duplicate host ports are rejected", () => {
    const lines = problemsOf({
        ...devConfig,
        instances: [...instances, { name: "peru", domain: "peru2.example.org", port: 8001 }],
    });
    lineFor(lines, "instances[2].name", /duplicate instance name "peru" \(also instances\[1\]\.name\)/);
    lineFor(lines, "instances[2].port", /host port 8001 is already used by instances\[0\]/);
    lineFor(problemsOf({ ...devConfig, instances: [{ name: "a", domain: "a.example.org", port: 22 }] }), "instances[0].port", /SSH's port/);
    lineFor(problemsOf({ ...devConfig, instances: [{ name: "a", domain: "a.example.org" }] }), "instances[0].port", /TCP port/);
});

test("cloud stacks refuse an instance's port: the edge serves it on 443 at its domain", () => {
    for (const config of [doConfig, awsConfig]) {
        const lines = problemsOf({ ...config, instances: [cloudInstances[0], { ...cloudInstances[1], port: 8002 }] });
        assert.deepEqual(lines, ["instances[1].port: is only used with provider local: the edge serves the instance on 443 at https://peru.example.org (and redirects port 80 there); remove it"]);
    }
    const s = settingsOf(doConfig);
    assert.ok(s.instances.every((i) => i.port === undefined));
});

test("aliases: more domain names of an instance, unique across every instance's domain and aliases", () => {
    const s = settingsOf({ ...doConfig, instances: [{ ...cloudInstances[0], aliases: ["www.colombia.example.org"] }, cloudInstances[1]] });
    assert.deepEqual(s.instances.map((i) => i.aliases), [["www.colombia.example.org"], []]);
    const lines = problemsOf({ ...doConfig, instances: [{ ...cloudInstances[0], aliases: ["peru.example.org", "Bad Name", "www.colombia.example.org"] }, { ...cloudInstances[1], aliases: ["www.colombia.example.org"] }] });
    lineFor(lines, "instances[1].domain", /duplicate domain "peru\.example\.org" \(also instances\[0\]\.aliases\[0\]\)/);
    lineFor(lines, "instances[0].aliases[1]", /lowercase domain name/);
    lineFor(lines, "instances[1].aliases[0]", /duplicate domain "www\.colombia\.example\.org" \(also instances\[0\]\.aliases\[2\]\)/);
    lineFor(problemsOf({ ...doConfig, instances: [{ ...cloudInstances[0], aliases: "www.colombia.example.org" }] }), "instances[0].aliases", /must be a list/);
    lineFor(problemsOf({ ...doConfig, instances: [{ ...cloudInstances[0], aliases: ["colombia.example.org"] }] }), "instances[0].aliases[0]", /duplicate domain/);
});

test("edge: Let's Encrypt production by default; a CA directory over https, a contact email and a PEM root may be set", () => {
    const s = settingsOf(doConfig);
    assert.deepEqual(s.edge, { caUrl: "https://acme-v02.api.letsencrypt.org/directory", image: "caddy:2" });
    const pem = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n";
    const custom = settingsOf({ ...awsConfig, images: { edge: "caddy:2.8.4" }, edge: { caUrl: "https://acme-staging-v02.api.letsencrypt.org/directory", email: "ops@example.org", caRootPem: pem } });
    assert.deepEqual(custom.edge, { caUrl: "https://acme-staging-v02.api.letsencrypt.org/directory", email: "ops@example.org", caRootPem: pem, image: "caddy:2.8.4" });
    lineFor(problemsOf({ ...doConfig, edge: { caUrl: "http://acme.example.org/directory" } }), "edge.caUrl", /ACME directory URL over https/);
    lineFor(problemsOf({ ...doConfig, edge: { caUrl: "https://acme.example.org/{dir}" } }), "edge.caUrl", /ACME directory URL over https/);
    lineFor(problemsOf({ ...doConfig, edge: { email: "not an email" } }), "edge.email", /email address/);
    lineFor(problemsOf({ ...doConfig, edge: { caRootPem: "hello" } }), "edge.caRootPem", /one PEM certificate/);
    lineFor(problemsOf({ ...doConfig, edge: { caurl: "x" } }), "edge.caurl", /unknown key; did you mean caUrl\?/);
    lineFor(problemsOf({ ...doConfig, edge: "letsencrypt" }), "edge", /must be an object/);
    lineFor(problemsOf({ ...doConfig, images: { edge: "caddy" } }), "images.edge", /names no tag or digest/);
    lineFor(problemsOf({ ...doConfig, instances: [{ ...cloudInstances[0], images: { edge: "caddy:2" } }] }), "instances[0].images.edge", /set images\.edge, not an instance's/);
});

test("edge on a local stack: only when set, and only with a data root", () => {
    assert.equal(settingsOf(devConfig).edge, undefined, "dev keeps http://localhost:<port>");
    assert.equal(settingsOf({ provider: "local", dataRoot: "/mnt/housing-portal-e2e", instances }).edge, undefined);
    const local = settingsOf({ provider: "local", dataRoot: "/mnt/housing-portal-e2e", instances, edge: { caUrl: "https://127.0.0.1:14000/dir" } });
    assert.deepEqual(local.edge, { caUrl: "https://127.0.0.1:14000/dir", image: "caddy:2" });
    assert.equal(local.instances[0].port, 8001, "and the instances keep their ports");
    lineFor(problemsOf({ ...devConfig, edge: {} }), "edge", /needs dataRoot with provider local/);
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
    const reserved = new Problems();
    validateInstances([{ name: "chile", domain: "chile.example.org", port: 8004, backendEnv: { PORTAL_INSTANCE: "peru", PGHOST: "evil", PGPASSWORD: "x", PGSSLMODE: "disable", PAGE_SIZE: "20" } }], DEFAULT_IMAGES, reserved);
    lineFor(reserved.lines, "instances[0].backendEnv.PORTAL_INSTANCE", /set by the program/);
    for (const k of ["PGHOST", "PGPASSWORD", "PGSSLMODE"]) lineFor(reserved.lines, `instances[0].backendEnv.${k}`, /PostgreSQL's client library/);
    assert.equal(reserved.lines.length, 4, "PAGE_SIZE is the backend's own");
    lineFor(p.lines, "instances[0].backendEnv.DEBUG", /must be a string/);
    lineFor(p.lines, "instances[0].extra", /unknown key/);
});

test("an instance's resources override the default limits role by role and field by field; bad values are refused", () => {
    const s = settingsOf({ ...devConfig, instances: [{ ...instances[0], resources: { postgis: { memoryMb: 3072, cpus: 2 }, backend: { cpus: 0.5, pids: 512 } } }, instances[1]] });
    assert.deepEqual(s.instances[0].resources, {
        postgis: { memoryMb: 3072, cpus: "2", pids: DEFAULT_RESOURCES.postgis.pids },
        backend: { memoryMb: DEFAULT_RESOURCES.backend.memoryMb, cpus: "0.5", pids: 512 }, nginx: DEFAULT_RESOURCES.nginx,
    });
    assert.deepEqual(s.instances[1].resources, DEFAULT_RESOURCES, "the other instance keeps the defaults");
    const p = new Problems();
    validateInstances([{ name: "chile", domain: "chile.example.org", port: 8004, resources: { postgis: { memoryMb: 8, cpus: "2" }, edge: {}, nginx: { memory: 1 }, backend: { pids: 4 } } }], DEFAULT_IMAGES, p);
    lineFor(p.lines, "instances[0].resources.backend.pids", /limit of processes and threads, an integer from 16/);
    lineFor(p.lines, "instances[0].resources.postgis.memoryMb", /memory limit in MB, an integer from 32/);
    lineFor(p.lines, "instances[0].resources.postgis.cpus", /number of CPUs/);
    lineFor(p.lines, "instances[0].resources.edge", /unknown key/);
    lineFor(p.lines, "instances[0].resources.nginx.memory", /unknown key; .*memoryMb/);
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
    validateVolume({ sizeGb: 10, fromSnapshot: EBS_SNAPSHOT, adoptId: EBS_VOLUME }, "aws", p);
    lineFor(p.lines, "volume", /fromSnapshot and adoptId exclude each other/);
    const ok = new Problems();
    assert.deepEqual(validateVolume({ sizeGb: 10, fromSnapshot: EBS_SNAPSHOT }, "aws", ok), { sizeGb: 10, name: undefined, fromSnapshot: EBS_SNAPSHOT, adoptId: undefined, kmsKeyId: undefined });
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
    lineFor(problemsOf({ ...awsConfig, host: { address: "203.0.113.7", hostKey: HOST_KEY }, volume: { sizeGb: 10, adoptId: EBS_VOLUME } }),
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
    const bare = settingsOf({ ...rest, host: { address: "203.0.113.7", hostKey: HOST_KEY } });
    assert.ok(bare.provider === "digitalocean" && bare.hosts[0].host.kind === "existing" && bare.hosts[0].host.dataVolume === undefined);
    // A volume that is not adopted would be ignored: refused, and so is a token nothing would use.
    lineFor(problemsOf({ ...rest, host: { address: "203.0.113.7", hostKey: HOST_KEY }, volume: { sizeGb: 100 } }), "volume", /managed only when adopted: set volume.adoptId/);
    lineFor(problemsOf({ ...rest, host: { address: "203.0.113.7", hostKey: HOST_KEY }, snapshotApiToken: "t" }), "snapshotApiToken", /only used by a DigitalOcean host that snapshots its volume/);
    // Adopted, it is snapshotted by the host's timer, with the token.
    lineFor(problemsOf({ ...rest, host: { address: "203.0.113.7", hostKey: HOST_KEY }, volume: { sizeGb: 100, adoptId: DO_VOLUME } }), "snapshotApiToken", /is required on digitalocean/);
    assert.ok(settingsOf({ ...rest, host: { address: "203.0.113.7", hostKey: HOST_KEY }, volume: { sizeGb: 100, adoptId: DO_VOLUME }, snapshotApiToken: "t" }));
});

test("host.address selects the existing-host mode, which needs no keys or image", () => {
    const s = settingsOf({ ...doConfig, volume: { sizeGb: 100, adoptId: DO_VOLUME }, host: { address: "203.0.113.7", hostKey: HOST_KEY, sshUser: "deploy" } });
    assert.ok(s.provider === "digitalocean" && s.hosts[0].host.kind === "existing");
    assert.equal(s.hosts[0].host.address, "203.0.113.7");
    const adopted = settingsOf({ ...doConfig, host: { address: "203.0.113.7", hostKey: HOST_KEY }, volume: { sizeGb: 100, adoptId: DO_VOLUME, name: "old-data" } });
    assert.ok(adopted.provider === "digitalocean" && adopted.hosts[0].host.kind === "existing");
    assert.deepEqual([adopted.hosts[0].host.dataVolume?.adoptId, adopted.hosts[0].host.dataVolume?.name], [DO_VOLUME, "old-data"]);
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
    assert.deepEqual(settingsOf({ ...doConfig, dataRoot: "/mnt/data" }).hosts[0].layout, { kind: "data-volume", dataRoot: "/mnt/data" });
    // The seed's trap: a relative path silently becomes a new, empty named volume.
    lineFor(problemsOf({ provider: "local", dataRoot: "data", instances }), "dataRoot", /silently become a new, empty Docker volume/);
    assert.deepEqual(settingsOf({ provider: "local", dataRoot: "/srv/portal/", instances }).hosts[0].layout, { kind: "data-volume", dataRoot: "/srv/portal" });
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
        instances: [{ name: "A", domain: "a.example.org" }, { name: "b", domain: "b.example.org", port: 1 }],
    });
    for (const key of ["host.sshAllowedCidrs", "volume.sizeGb", "volume", "snapshots.everyHours", "snapshots.at", "snapshots.retain", "instances[0].name", "instances[1].port", "snapshotApiToken"]) {
        lineFor(lines, key);
    }
    for (const line of lines) assert.match(line, /^[A-Za-z0-9_.[\]-]+: \S/, `not a "<key>: <message>" line: ${line}`);
});

// The "Secure by default" rules: each refusal is one line naming the key path and what is expected.

/** The problem lines of a host on this provider (validateHost alone). */
function hostLines(host: Record<string, unknown>, provider: "digitalocean" | "aws" = "digitalocean"): string[] {
    const p = new Problems();
    validateHost(host, provider, p);
    return p.lines;
}
const doHost = { sshKeys: ["aa:bb"], sshAllowedCidrs: ["203.0.113.0/24"] };
const awsHost = awsConfig.host;

test("host.sshAllowedCidrs: CIDRs parsed by ipaddr.js; an invalid one is named with its index", () => {
    for (const cidr of ["999.1.1.1/24", "10.0.0.0/33", "1.2.3/24", "0x7f.0.0.1/8", "01.2.3.4/8", "fe80::1%eth0/64", "::/129", "2001:db8::/", "2001:db8::g/32", "not-a-cidr", "10.0.0.0/8 "]) {
        lineFor(hostLines({ ...doHost, sshAllowedCidrs: ["203.0.113.0/24", cidr] }), "host.sshAllowedCidrs[1]", /must be a CIDR such as "203\.0\.113\.0\/24" or "2001:db8::\/32"/);
    }
    lineFor(hostLines({ ...doHost, sshAllowedCidrs: ["198.51.100.7"] }), "host.sshAllowedCidrs[0]", /a single address takes its prefix, "198\.51\.100\.7\/32"/);
    lineFor(hostLines({ ...doHost, sshAllowedCidrs: ["2001:db8::7"] }), "host.sshAllowedCidrs[0]", /"2001:db8::7\/128"/);
    assert.deepEqual(hostLines({ ...doHost, sshAllowedCidrs: ["203.0.113.0/24", "198.51.100.7/32", "2001:db8::/32", "::ffff:192.0.2.0/120"] }), []);
    assert.deepEqual(parseCidr("10.1.2.3/8"), { family: "ipv4", first: 10n << 24n, last: (11n << 24n) - 1n }, "host bits do not narrow the range");
});

test("host.sshAllowedCidrs: any set that covers all of IPv4 or of IPv6 is the world, and needs allowSshFromAnywhere", () => {
    const worlds: [string[], RegExp][] = [
        [["0.0.0.0/0"], /all of IPv4\)/], [["::/0"], /all of IPv6\)/], [["::0/0"], /all of IPv6\)/], [["1.2.3.4/0"], /all of IPv4\)/],
        [["0.0.0.0/1", "128.0.0.0/1"], /all of IPv4\)/], [["::/1", "8000::/1"], /all of IPv6\)/],
        [["128.0.0.0/1", "0.0.0.0/2", "64.0.0.0/2", "10.0.0.0/8"], /all of IPv4\)/], [["0.0.0.0/1", "128.0.0.0/1", "::/0"], /all of IPv4 and IPv6\)/],
    ];
    for (const [cidrs, covers] of worlds) {
        lineFor(hostLines({ ...doHost, sshAllowedCidrs: cidrs }), "host.sshAllowedCidrs", covers);
        lineFor(hostLines({ ...doHost, sshAllowedCidrs: cidrs }), "host.sshAllowedCidrs", /whole internet.*host\.allowSshFromAnywhere: true/);
        assert.deepEqual(hostLines({ ...doHost, sshAllowedCidrs: cidrs, allowSshFromAnywhere: true }), [], cidrs.join(", "));
    }
    for (const cidrs of [["0.0.0.0/1"], ["0.0.0.0/1", "128.0.0.0/2"], ["0.0.0.0/1", "::/1"], ["0.0.0.0/2", "128.0.0.0/1"], ["::/1", "0.0.0.0/1"]]) {
        assert.deepEqual(hostLines({ ...doHost, sshAllowedCidrs: cidrs }), [], `${cidrs.join(", ")} is not the world`);
    }
    const ranges = (cidrs: string[]) => cidrs.map((c) => parseCidr(c)!);
    assert.equal(coversFamily(ranges(["0.0.0.0/1", "128.0.0.0/1"]), "ipv4"), true);
    assert.equal(coversFamily(ranges(["0.0.0.0/1", "128.0.0.0/1"]), "ipv6"), false, "IPv4 ranges cover no IPv6");
    assert.equal(coversFamily(ranges(["0.0.0.0/1", "128.0.0.1/32", "128.0.0.0/2", "192.0.0.0/2"]), "ipv4"), true, "overlaps and contained ranges");
    assert.equal(coversFamily(ranges(["0.0.0.0/1", "128.0.0.0/2", "192.0.0.1/32", "192.0.0.2/31", "192.0.0.4/30"]), "ipv4"), false, "a gap of one address");
    assert.equal(coversFamily([], "ipv4"), false);
});

test("host.sshUser is a POSIX user name; host.address an IP address or a host name", () => {
    for (const sshUser of ["root\n", "ops]", "a b", "Root", "1ops", "x".repeat(33), "ops;rm", "-ops", "ops$"]) {
        lineFor(hostLines({ ...doHost, sshUser }), "host.sshUser", /must be a POSIX user name/);
    }
    for (const sshUser of ["deploy", "_svc", "ops-1", "ubuntu", "a".repeat(32)]) assert.deepEqual(hostLines({ ...doHost, sshUser }), [], sshUser);
    for (const address of ["999.1.1.1", "10.1", "1.2.3.4.5", "host name", "-bad.example.org", "a..b", "bad-.example.org", "fe80::1%eth0", "[2001:db8::1]", "host:22", "ssh://host", "deploy@host", `${"x".repeat(64)}.org`, "host\n"]) {
        lineFor(hostLines({ address }), "host.address", /must be an IPv4 or IPv6 address or a host name/);
    }
    for (const address of ["203.0.113.7", "2001:db8::7", "::ffff:203.0.113.7", "bastion.example.org", "portal-1", "Host.Example.org", "10.0.0.7"]) {
        assert.deepEqual(hostLines({ address, hostKey: HOST_KEY }), [], address);
    }
});

test("domains are lowercase domain names, each instance its own", () => {
    const lines = problemsOf({ ...doConfig, instances: [...cloudInstances, { name: "chile", domain: "colombia.example.org" }] });
    lineFor(lines, "instances[2].domain", /duplicate domain "colombia\.example\.org" \(also instances\[0\]\.domain\)/);
    for (const domain of ["Colombia.example.org", "colombia", "colombia.example.org.", "-a.example.org", "a_b.example.org", "a..example.org", `${"x".repeat(64)}.org`, 7]) {
        lineFor(problemsOf({ ...doConfig, instances: [{ name: "a", domain }] }), "instances[0].domain", /lowercase domain name/);
    }
});

test("images: a repository with a tag or a digest; tags may have capitals, registries a port", () => {
    const digest = `sha256:${"0123456789abcdef".repeat(4)}`;
    const refused: [string, RegExp][] = [
        ["nginx::", /a tag is 1 to 128/], ["nginx:", /a tag is/], ["nginx", /no tag or digest/], ["ghcr.io/org/img", /no tag or digest/],
        ["registry.example.org:5000/img", /no tag or digest/], ["Nginx:1.27", /repository is lowercase/], ["ghcr.io/Org/img:tag", /repository is lowercase/],
        ["img@sha256:abc", /a digest is "sha256:" and 64/], [`img@sha256:${"A".repeat(64)}`, /a digest/], ["nginx:-x", /a tag/], [`nginx:${"x".repeat(129)}`, /a tag/],
        ["a//b:1", /repository/], ["/nginx:1", /repository/], ["nginx_:1", /repository/], ["bad host.io/img:1", /repository|registry/], ["ghcr.io:port/img:1", /registry/],
        ["Bad Image", /./],
    ];
    for (const [ref, why] of refused) {
        assert.match(imageReferenceProblem(ref) ?? "accepted", why, ref);
        lineFor(problemsOf({ ...devConfig, images: { nginx: ref } }), "images.nginx", /must be an image reference such as "nginx:1\.27", "ghcr\.io\/org\/img:tag" or "img@sha256:<64 hex>"/);
    }
    const accepted = ["nginx:1.27", "nginx:1.27-Alpine", "nginx:latest", "ghcr.io/org/img:tag", `img@${digest}`, `nginx:1.27@${digest}`, "registry.example.org:5000/team/img:1",
        "localhost:5000/img:dev", "localhost/img:dev", "my_org/my__img.x-y:V1_2", "Registry.Example.org/img:1", `nginx:${"x".repeat(128)}`, ...Object.values(DEFAULT_IMAGES)];
    for (const ref of accepted) assert.equal(imageReferenceProblem(ref), undefined, ref);
    lineFor(problemsOf({ ...devConfig, images: { nginx: 1 } }), "images.nginx", /not a string/);
});

test("aws: a zone is its region and one letter; copyToRegion is another region's name", () => {
    for (const availabilityZone of ["eu-central-10a", "eu-central-1", "eu-central-1ab", "eu-central-1A", "eu-central-1-a", "us-east-1a"]) {
        lineFor(hostLines({ ...awsHost, region: "eu-central-1", availabilityZone }, "aws"), "host.availabilityZone", /is not in host\.region "eu-central-1"; a zone is the region and one letter, e\.g\. "eu-central-1a"/);
    }
    assert.deepEqual(hostLines({ ...awsHost, region: "eu-central-1", availabilityZone: "eu-central-1c" }, "aws"), []);
    const snapshots = awsConfig.snapshots;
    lineFor(problemsOf({ ...awsConfig, snapshots: { ...snapshots, copyToRegion: "eu-central-1" } }), "snapshots.copyToRegion", /"eu-central-1" is host\.region itself/);
    lineFor(problemsOf({ ...awsConfig, host: { ...awsHost, region: "eu-west-1", availabilityZone: "eu-west-1a" }, snapshots: { ...snapshots, copyToRegion: "eu-west-1" } }),
        "snapshots.copyToRegion", /"eu-west-1" is host\.region itself/);
    for (const copyToRegion of ["eu-west", "EU-WEST-1", "euwest1", "eu-west-12", "fra1", "eu-west-1a"]) {
        lineFor(problemsOf({ ...awsConfig, snapshots: { ...snapshots, copyToRegion } }), "snapshots.copyToRegion", /must be an AWS region name such as "eu-west-1"/);
    }
    for (const copyToRegion of ["eu-west-1", "us-gov-west-1", "ap-southeast-2"]) {
        assert.equal(settingsOf({ ...awsConfig, snapshots: { ...snapshots, copyToRegion } }).provider, "aws", copyToRegion);
    }
});

test("volume.adoptId and volume.fromSnapshot in the stack's cloud's id format", () => {
    const volumeLines = (volume: Record<string, unknown>, provider: "digitalocean" | "aws") => {
        const p = new Problems();
        validateVolume({ sizeGb: 10, ...volume }, provider, p);
        return p.lines;
    };
    for (const adoptId of [DO_VOLUME, "vol-123", "vol-0123456789ABCDEF0", "vol-0123456789abcdef", "vol-0123456789abcdef01", "volume-1"]) {
        lineFor(volumeLines({ adoptId }, "aws"), "volume.adoptId", /must be an EBS volume id, "vol-" and 8 or 17 hex digits/);
    }
    lineFor(volumeLines({ adoptId: DO_VOLUME }, "aws"), "volume.adoptId", /\(an id of digitalocean; this stack's provider is aws\)/);
    for (const fromSnapshot of [DO_SNAPSHOT, "snap-1", EBS_VOLUME, "snap-0123456789abcdefg"]) {
        lineFor(volumeLines({ fromSnapshot }, "aws"), "volume.fromSnapshot", /must be an EBS snapshot id, "snap-" and 8 or 17 hex digits/);
    }
    for (const adoptId of [EBS_VOLUME, "vol-1", "506f78a4-e098-11e5-ad9f-000f53306ae", DO_VOLUME.toUpperCase(), "12345"]) {
        lineFor(volumeLines({ adoptId }, "digitalocean"), "volume.adoptId", /must be a DigitalOcean volume id, a UUID/);
    }
    lineFor(volumeLines({ adoptId: EBS_VOLUME }, "digitalocean"), "volume.adoptId", /\(an id of aws; this stack's provider is digitalocean\)/);
    lineFor(volumeLines({ fromSnapshot: EBS_SNAPSHOT }, "digitalocean"), "volume.fromSnapshot", /must be a DigitalOcean volume snapshot id, a UUID.*\(an id of aws/);
    lineFor(volumeLines({ fromSnapshot: "12345678" }, "digitalocean"), "volume.fromSnapshot", /a numeric id is a Droplet snapshot/);
    for (const [volume, provider] of [[{ adoptId: EBS_VOLUME }, "aws"], [{ adoptId: "vol-01234567" }, "aws"], [{ fromSnapshot: "snap-01234567" }, "aws"],
        [{ fromSnapshot: EBS_SNAPSHOT }, "aws"], [{ adoptId: DO_VOLUME }, "digitalocean"], [{ fromSnapshot: DO_SNAPSHOT }, "digitalocean"]] as const) {
        assert.deepEqual(volumeLines(volume, provider), [], JSON.stringify(volume));
    }
});

test("a private key in host.sshKeys is refused without repeating it", () => {
    const key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU\n-----END OPENSSH PRIVATE KEY-----";
    const lines = hostLines({ ...awsHost, sshKeys: [key] }, "aws");
    lineFor(lines, "host.sshKeys[0]", /is a private key; list public keys only.*pulumi config set --secret housing-portal:sshPrivateKey/);
    assert.ok(!lines.join("\n").includes("b3BlbnNzaC1rZXktdjEAAAAABG5vbmU"), "the key is not in the message");
    lineFor(hostLines({ ...doHost, sshKeys: ["aa:bb", "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----"] }), "host.sshKeys[1]", /is a private key/);
});

test("database.name is none of PostgreSQL's own databases", () => {
    for (const name of ["postgres", "template0", "template1"]) {
        lineFor(problemsOf({ ...devConfig, instances: [{ ...instances[0], database: { name } }] }), "instances[0].database.name", /is one of PostgreSQL's own databases \(postgres, template0, template1\)/);
    }
    assert.equal(settingsOf({ ...devConfig, instances: [{ ...instances[0], database: { name: "postgres_data", user: "postgres_app" } }] }).instances[0].database.name, "postgres_data");
});

test("database.user is the backend's own role: neither the superuser nor a pg_* name", () => {
    lineFor(problemsOf({ ...devConfig, instances: [{ ...instances[0], database: { user: "postgres" } }] }), "instances[0].database.user", /"postgres" is the database's superuser, which only the host's maintenance uses; the backend needs a role of its own/);
    lineFor(problemsOf({ ...devConfig, instances: [{ ...instances[0], database: { user: "pg_monitor" } }] }), "instances[0].database.user", /a name PostgreSQL reserves for its own roles/);
    assert.equal(settingsOf({ ...devConfig, instances: [{ ...instances[0], database: { user: "pgadmin" } }] }).instances[0].database.user, "pgadmin");
});

test("dev: dataRoot is not a system directory; a directory below one is fine", () => {
    for (const dataRoot of ["/etc", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/boot", "/dev", "/proc", "/sys", "/run", "/var", "/root", "/home", "/var/", "/home/"]) {
        lineFor(problemsOf({ provider: "local", dataRoot, instances }), "dataRoot", /is a system directory; portal data needs a directory of its own, such as "\/srv\/portal"/);
    }
    for (const dataRoot of ["/srv/portal", "/var/lib/portal", "/home/dev/portal-data", "/library", "/mnt/housing-portal-e2e"]) {
        assert.equal(settingsOf({ provider: "local", dataRoot, instances }).provider, "local", dataRoot);
    }
});

test("sshPrivateKey is refused with provider local, which connects over no SSH", () => {
    lineFor(problemsOf({ ...devConfig, sshPrivateKey: "k" }), "sshPrivateKey", /is only used by Pulumi's SSH connections to a cloud host.*remove it/);
    assert.ok(settingsOf({ ...doConfig, sshPrivateKey: "k" }));
    assert.ok(settingsOf({ ...awsConfig, sshPrivateKey: "k" }));
});

test("a near-miss key gets a \"did you mean\", at the top and inside objects", () => {
    lineFor(problemsOf({ ...devConfig, instance: [] }), "instance", /^instance: unknown key; did you mean instances\?$/);
    lineFor(problemsOf({ ...devConfig, imagse: {} }), "imagse", /did you mean images\?$/);
    lineFor(problemsOf({ ...doConfig, snapshotApiTokn: "t" }), "snapshotApiTokn", /did you mean snapshotApiToken\?$/);
    lineFor(problemsOf({ ...doConfig, host: { ...doHost, sshAllowedCidr: [] } }), "host.sshAllowedCidr", /did you mean sshAllowedCidrs\?$/);
    lineFor(problemsOf({ ...doConfig, host: { ...doHost, sshuser: "ops" } }), "host.sshuser", /did you mean sshUser\?$/);
    lineFor(problemsOf({ ...devConfig, colour: 1 }), "colour", /unknown key; expected one of provider, projectRoot/);
    assert.deepEqual([editDistance("host", "hots"), editDistance("instance", "instances"), editDistance("kitten", "sitting")], [1, 1, 3]);
});

test("Pulumi's config map: a namespace that is not housing-portal's nor a provider's is refused", () => {
    const map = (extra: Record<string, string>) => ({
        "housing-portal:provider": "local", "housing-portal:projectRoot": devConfig.projectRoot, "housing-portal:instances": JSON.stringify(instances),
        "aws:region": "eu-central-1", "digitalocean:token": "t", "docker:host": "unix:///var/run/docker.sock", "command:x": "1", "random:y": "1", "pulumi:tags": "{}", ...extra,
    });
    assert.ok(validateConfigMap(map({}), ctx).ok, "the providers' own namespaces pass");
    const lines = (extra: Record<string, string>) => {
        const r = validateConfigMap(map(extra), ctx);
        assert.equal(r.ok, false);
        return r.ok ? [] : r.problems;
    };
    lineFor(lines({ "housingportal:images": "{}" }), "housingportal:images", /^housingportal:images: unknown namespace; did you mean housing-portal:images\?$/);
    lineFor(lines({ "housing_portl:host": "{}" }), "housing_portl:host", /did you mean housing-portal:host\?$/);
    lineFor(lines({ "digitalocaen:token": "t" }), "digitalocaen:token", /did you mean digitalocean:token\?$/);
    lineFor(lines({ "gcp:project": "p" }), "gcp:project", /unknown namespace "gcp"; expected housing-portal:, aws:, digitalocean:, docker:, command:, random:, pulumi:/);
    lineFor(lines({ images: "{}" }), "images", /^images: has no namespace; did you mean housing-portal:images\?$/);
    lineFor(lines({ colour: "1" }), "colour", /has no namespace; keys are written namespace:key, e.g. housing-portal:provider/);
    // Every problem at once: the namespace's and the config's.
    const both = lines({ "housingportal:images": "{}", "housing-portal:provider": "gcp" });
    lineFor(both, "housingportal:images");
    lineFor(both, "provider", /must be one of/);
});
