// Several hosts per stack (`hosts`): today's one-host stacks keep every resource; the map's
// validation, key by key; and the two-host example (Pulumi.latam.yaml): every host complete, its
// names its own, its instances on its engine and behind its edge only.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { CloudSettings, LocalSettings, ValidationContext, validateConfig } from "../../components/config";
import { identityParts } from "../../tools/replacementRules";
import type { PlanDocument } from "../../tools/planner";
import { PROJECT_DIR, batchedPlan, byName, goldenPlan, planBatchRaw, readStackKeys, writeStackConfig } from "./planRun";

const ctx: ValidationContext = { stack: "test", projectDir: PROJECT_DIR };
const staging = readStackKeys("Pulumi.staging.yaml");
/** Staging's keys with its secrets set, as Pulumi hands them over decrypted. */
const stagingValid: Record<string, unknown> = {
    ...staging, snapshotApiToken: "t", offsiteAccessKeyId: "k", offsiteSecretAccessKey: "s", offsitePassword: "p",
    spacesAccessKeyId: "a", spacesSecretAccessKey: "b", alerts: { webhookUrl: "https://hooks.example.org/x" },
};
const twoHosts = (extra: Record<string, unknown> = {}) => ({
    ...stagingValid,
    hosts: { main: {}, b: { host: { size: "s-4vcpu-8gb" } } },
    instances: [
        { name: "colombia", domain: "colombia.example.org", host: "main" },
        { name: "peru", domain: "peru.example.org", host: "b" },
    ],
    ...extra,
});

function problemsOf(raw: Record<string, unknown>): readonly string[] {
    const result = validateConfig(raw, ctx);
    assert.equal(result.ok, false, "expected the config to be rejected");
    return result.ok ? [] : result.problems;
}

function resultOf(raw: Record<string, unknown>) {
    const result = validateConfig(raw, ctx);
    assert.ok(result.ok, result.ok ? "" : result.problems.join("\n"));
    return result;
}

/** The one line at a key path, matching. */
function lineFor(lines: readonly string[], key: string, match: RegExp): void {
    const found = lines.filter((l) => l.startsWith(`${key}: `));
    assert.equal(found.length, 1, `expected one problem at ${key}, got ${JSON.stringify(lines)}`);
    assert.match(found[0], match);
}

test("today's stacks upgrade with nothing replaced: every resource deployed before hosts keeps its URN, provider and replace-forcing inputs, and nothing is added", () => {
    const dir = path.join(PROJECT_DIR, "test/fixtures/deployed-before-hosts");
    for (const stack of ["dev", "staging", "production"]) {
        const deployed = JSON.parse(fs.readFileSync(path.join(dir, `${stack}.json`), "utf8")) as { resources: { urn: string; provider: string | null; protect: boolean; retainOnDelete: boolean; identity?: Record<string, string> }[] };
        // As committed (with the portable root), as the fixture was made.
        const plan = JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, "plans", `${stack}.json`), "utf8")) as PlanDocument;
        const now = new Map(plan.resources.map((r) => [r.urn, r]));
        const gone = deployed.resources.filter((r) => !now.has(r.urn)).map((r) => r.urn);
        assert.deepEqual(gone, [], `${stack}: deleted (or renamed without an alias)`);
        const replaced = deployed.resources.filter((r) => {
            const n = now.get(r.urn)!;
            return r.provider !== n.provider || (r.identity !== undefined && JSON.stringify(identityParts(n.type, n.inputs)) !== JSON.stringify(r.identity));
        }).map((r) => r.urn);
        assert.deepEqual(replaced, [], `${stack}: replaced`);
        assert.deepEqual(deployed.resources.filter((r) => r.protect !== now.get(r.urn)!.protect || r.retainOnDelete !== now.get(r.urn)!.retainOnDelete).map((r) => r.urn), [], `${stack}: protection changed`);
        const before = new Set(deployed.resources.map((r) => r.urn));
        assert.deepEqual(plan.resources.filter((r) => !before.has(r.urn)).map((r) => r.urn), [], `${stack}: added`);
        assert.equal(plan.resources.length, deployed.resources.length);
    }
});

test("hosts: each entry overrides the stack-wide host, volume and snapshots field by field; instances are placed; a host without instances gets a note", () => {
    const result = resultOf({ ...twoHosts(), hosts: { main: {}, b: { host: { size: "s-4vcpu-8gb" }, volume: { sizeGb: 200 }, snapshots: { at: "04:00" } }, c: null } });
    const s = result.settings as CloudSettings;
    assert.deepEqual(s.hosts.map((h) => h.name), ["main", "b", "c"]);
    const [main, b, c] = s.hosts;
    assert.equal(main.host.size, "s-2vcpu-4gb");
    assert.equal(b.host.size, "s-4vcpu-8gb");
    assert.deepEqual(b.host.sshAllowedCidrs, main.host.sshAllowedCidrs, "the rest of host is the stack's");
    assert.ok(b.host.kind === "create" && main.host.kind === "create" && c.host.kind === "create");
    assert.equal(b.host.dataVolume.sizeGb, 200);
    assert.equal(main.host.dataVolume.sizeGb, 100);
    assert.equal(b.host.dataVolume.name, "housing-portal-test-b-data", "named from the stack and the host");
    assert.equal(main.host.dataVolume.name, "housing-portal-test-data", "the default host keeps its name");
    assert.deepEqual([main.snapshots.at, b.snapshots.at, b.snapshots.retain], ["02:30", "04:00", 7]);
    assert.deepEqual(s.instances.map((i) => [i.name, i.host]), [["colombia", "main"], ["peru", "b"]]);
    assert.deepEqual(result.notes, ["hosts.c: no instance is placed on this host; it runs its edge and backups all the same"]);
    // Without hosts, one host named main, and every instance on it.
    const one = resultOf(stagingValid);
    assert.deepEqual(one.settings.hosts.map((h) => h.name), ["main"]);
    assert.deepEqual(one.settings.instances.map((i) => i.host), ["main", "main"]);
    assert.deepEqual(one.notes, []);
});

test("hosts: an unknown host, a missing one, bad names and entries are refused at their keys", () => {
    lineFor(problemsOf(twoHosts({ instances: [{ name: "colombia", domain: "colombia.example.org", host: "c" }] })), "instances[0].host", /names no host of this stack; expected one of main, b \(the keys of hosts\), got "c"/);
    lineFor(problemsOf(twoHosts({ instances: [{ name: "colombia", domain: "colombia.example.org" }] })), "instances[0].host", /is required with several hosts/);
    lineFor(problemsOf({ ...stagingValid, instances: [{ name: "colombia", domain: "colombia.example.org", host: "b" }] }), "instances[0].host", /expected "main", the stack's one host/);
    lineFor(problemsOf(twoHosts({ hosts: { main: {}, "B_2": {} } })), "hosts.B_2", /lowercase DNS label of at most 24 characters/);
    lineFor(problemsOf(twoHosts({ hosts: { main: {}, b: { size: "s-4vcpu-8gb" } } })), "hosts.b.size", /unknown key; expected one of host, volume, snapshots/);
    lineFor(problemsOf(twoHosts({ hosts: { main: {}, b: { host: "big" } } })), "hosts.b.host", /must be an object of the fields of host this host sets otherwise/);
    lineFor(problemsOf(twoHosts({ hosts: {} })), "hosts", /must be a map from a host name/);
});

test("hosts: a problem is reported at the key that set the value, the host's own or the stack-wide one (once)", () => {
    lineFor(problemsOf(twoHosts({ hosts: { main: {}, b: { host: { sshAllowedCidrs: ["0.0.0.0/0"] } } } })), "hosts.b.host.sshAllowedCidrs", /opens SSH to the whole internet/);
    const shared = problemsOf(twoHosts({ host: { ...(staging.host as object), sshAllowedCidrs: ["0.0.0.0/0"] } }));
    lineFor(shared, "host.sshAllowedCidrs", /opens SSH to the whole internet/);
    lineFor(problemsOf(twoHosts({ hosts: { main: {}, b: { snapshots: { at: "25:00" } } } })), "hosts.b.snapshots.at", /"HH:MM"/);
    lineFor(problemsOf(twoHosts({ hosts: { main: {}, b: { volume: { sizeGb: 0 } } } })), "hosts.b.volume.sizeGb", /whole number of GiB/);
});

test("hosts: what belongs to one machine is refused on two: an address, a host key, a volume's name, an adopted volume", () => {
    const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMemVwqpVLt1uMZ1nT5LwqAfQXVwC4m/8FhBf3VpMCMo ops@example";
    const existing = { address: "203.0.113.7", hostKey: key };
    const { volume: _v, snapshotApiToken: _s, ...noVolume } = stagingValid;
    lineFor(problemsOf({ ...twoHosts(), ...noVolume, hosts: { main: { host: existing }, b: { host: { ...existing, hostKey: key.replace("ops", "b") } } } }),
        "hosts.b.host.address", /hosts main and b have the same host\.address, "203\.0\.113\.7"/);
    lineFor(problemsOf(twoHosts({ hosts: { main: {}, b: { volume: { name: "shared-data" } } }, volume: { sizeGb: 100, name: "shared-data" } })),
        "hosts.b.volume.name", /hosts main and b have the same volume\.name, "shared-data"; each host is a machine with a volume of its own/);
    lineFor(problemsOf(twoHosts({ host: { ...(staging.host as object), hostKey: key } })), "hosts.b.host.hostKey", /the same host\.hostKey/);
    lineFor(problemsOf(twoHosts({ volume: { sizeGb: 100, adoptId: "506f78a4-e098-11e5-ad9f-000f53306ae1" } })), "hosts.b.volume.adoptId", /the same volume\.adoptId/);
});

test("hosts: domains are unique across the stack, dev ports per host; local hosts need an engine and a data root of their own", () => {
    lineFor(problemsOf(twoHosts({ instances: [{ name: "colombia", domain: "colombia.example.org", host: "main" }, { name: "peru", domain: "colombia.example.org", host: "b" }] })),
        "instances[1].domain", /duplicate domain "colombia\.example\.org"/);
    const local = {
        provider: "local",
        hosts: { a: { dataRoot: "/srv/a" }, b: { dataRoot: "/srv/b", dockerHost: "unix:///run/b/docker.sock" } },
        instances: [
            { name: "colombia", domain: "colombia.example.org", port: 8001, host: "a" },
            { name: "peru", domain: "peru.example.org", port: 8001, host: "b" },
        ],
    };
    const s = resultOf(local).settings as LocalSettings;
    assert.deepEqual(s.hosts.map((h) => [h.name, h.dockerHost, h.layout]), [
        ["a", "unix:///var/run/docker.sock", { kind: "data-volume", dataRoot: "/srv/a" }],
        ["b", "unix:///run/b/docker.sock", { kind: "data-volume", dataRoot: "/srv/b" }],
    ]);
    const samePort = { ...local, instances: [...local.instances, { name: "chile", domain: "chile.example.org", port: 8001, host: "a" }] };
    lineFor(problemsOf(samePort), "instances[2].port", /host port 8001 is already used by instances\[0\] on host a/);
    lineFor(problemsOf({ ...local, hosts: { a: { dataRoot: "/srv/a" }, b: { dataRoot: "/srv/b" } } }), "hosts.b.dockerHost", /hosts a and b have the same dockerHost/);
    lineFor(problemsOf({ ...local, hosts: { a: { dataRoot: "/srv/a" }, b: { dataRoot: "/srv/a", dockerHost: "unix:///run/b/docker.sock" } } }), "hosts.b.dataRoot", /the same dataRoot/);
    lineFor(problemsOf({ ...local, hosts: { a: { dataRoot: "/srv/a" }, b: { dockerHost: "tcp://10.0.0.2:2375" } } }), "hosts.b.dataRoot", /is required with provider local/);
    lineFor(problemsOf({ ...local, hosts: { a: { dataRoot: "/srv/a" }, b: { dataRoot: "/srv/b", dockerHost: "tcp://10.0.0.2:2375" } } }), "hosts.b.dockerHost", /must be the unix socket of a Docker engine/);
    lineFor(problemsOf({ ...local, hosts: { a: {}, b: {} }, projectRoot: "test/fixtures/housing_portal" }), "hosts", /the checkout layout \(projectRoot\) runs on one engine/);
});

const latam = goldenPlan("latam");
const named = (plan: PlanDocument, type: string) => plan.resources.filter((r) => r.type === type);

test("the two-host example: every host is complete, with names of its own", () => {
    for (const h of ["north", "south"]) {
        for (const name of [`host-${h}-droplet`, `host-${h}-firewall`, `host-${h}-ip`, `data-${h}-volume`, `data-${h}-attachment`, `snapshots-${h}-api-token`, `host-${h}-settings`, `edge-${h}-caddy`, `backups-${h}-offsite-credentials`]) {
            assert.ok(latam.resources.some((r) => r.name === name), `${name} is planned`);
        }
        assert.equal(byName(latam, `host-${h}-droplet`).inputs.name, `housing-portal-latam-${h}`);
        assert.equal(byName(latam, `data-${h}-volume`).inputs.name, `housing-portal-latam-${h}-data`);
    }
    assert.equal(byName(latam, "host-south-droplet").inputs.size, "s-4vcpu-8gb");
    assert.equal(byName(latam, "host-north-droplet").inputs.size, "s-2vcpu-4gb");
    assert.equal(byName(latam, "data-south-volume").inputs.size, 200);
    assert.ok(byName(latam, "data-north-volume").protect && byName(latam, "data-south-volume").protect, "both data volumes are protected");
    // No two cloud resources share a physical name.
    for (const type of ["digitalocean:index/droplet:Droplet", "digitalocean:index/volume:Volume", "digitalocean:index/firewall:Firewall", "digitalocean:index/tag:Tag"]) {
        const names = named(latam, type).map((r) => String(r.inputs.name));
        assert.equal(new Set(names).size, names.length, `${type}: ${names.join(", ")}`);
        assert.equal(names.length, 2, type);
    }
    // One bucket for the stack, each host a repository of its own in it.
    assert.deepEqual(named(latam, "digitalocean:index/spacesBucket:SpacesBucket").map((r) => r.name), ["backups-north-bucket"]);
    const settings = (h: string) => String(byName(latam, `host-${h}-settings`).inputs.stdin);
    const offsite = (h: string) => Buffer.from(JSON.parse(settings(h)).files.find((f: { path: string }) => f.path.endsWith("/offsite.env")).content, "base64").toString("utf8");
    assert.match(offsite("north"), /housing-portal-latam-north/);
    assert.match(offsite("south"), /housing-portal-latam-south/);
    assert.doesNotMatch(offsite("south"), /latam-north/);
});

test("the two-host example: each instance runs on its host's engine, and each edge routes its host's instances only", () => {
    const providerOf = (h: string) => byName(latam, `host-${h}-docker`).urn;
    const placed: Record<string, string> = { colombia: "north", peru: "north", argentina: "south", chile: "south", uruguay: "south" };
    const containers = named(latam, "docker:index/container:Container");
    for (const [instance, h] of Object.entries(placed)) {
        const own = containers.filter((c) => c.name.startsWith(`${instance}-`));
        assert.equal(own.length, 3, instance);
        for (const c of own) assert.equal(c.provider, providerOf(h), `${c.name} on ${h}'s engine`);
    }
    const routes = (h: string) => Buffer.from(/CADDYFILE_B64=([A-Za-z0-9+/=]+)/.exec(String(byName(latam, `edge-${h}-config`).inputs.create))![1], "base64").toString("utf8");
    for (const [instance, h] of Object.entries(placed)) {
        assert.match(routes(h), new RegExp(`${instance}\\.housing-portal\\.org`), `${instance} is routed by ${h}'s edge`);
        assert.doesNotMatch(routes(h === "north" ? "south" : "north"), new RegExp(`${instance}\\.housing-portal\\.org`), `${instance} is not routed by the other edge`);
    }
    // The outputs list each host with its instances and the records to create.
    const hosts = latam.outputs.hosts as Record<string, { instances: string[]; dnsRecords: { name: string; value: string }[]; address: string }>;
    assert.deepEqual(hosts.north.instances, ["colombia", "peru"]);
    assert.deepEqual(hosts.south.instances, ["argentina", "chile", "uruguay"]);
    assert.ok(hosts.south.dnsRecords.every((r) => r.value === hosts.south.address));
    assert.notEqual(hosts.north.address, hosts.south.address);
    assert.equal(latam.outputs.hostAddress, undefined, "a stack of several hosts has no one host's top-level outputs");
});



test("on AWS too: each host's volume has its own DLM policy, by its own tag, its own alerts topic, alarms, role and key pair; no two share a name", async () => {
    const production = readStackKeys("Pulumi.production.yaml");
    const [result] = await planBatchRaw([["--config-file", writeStackConfig({
        ...production,
        hosts: { main: {}, b: { host: { availabilityZone: "eu-central-1b" } } },
        instances: (production.instances as { name: string }[]).map((i, n) => ({ ...i, host: n === 0 ? "b" : "main" })),
    }, "production")]]);
    const plan = batchedPlan(result);
    for (const [policy, volume] of [["snapshots-policy", "data-volume"], ["snapshots-b-policy", "data-b-volume"]]) {
        const targetTags = (byName(plan, policy).inputs.policyDetails as { targetTags: Record<string, string> }).targetTags;
        const tags = byName(plan, volume).inputs.tags as Record<string, string>;
        assert.ok(Object.entries(targetTags).every(([k, v]) => tags[k] === v), `${policy} selects ${volume} by its tag`);
        const other = byName(plan, volume === "data-volume" ? "data-b-volume" : "data-volume").inputs.tags as Record<string, string>;
        assert.ok(!Object.entries(targetTags).every(([k, v]) => other[k] === v), `${policy} does not select the other host's volume`);
    }
    assert.equal(byName(plan, "data-b-volume").inputs.availabilityZone, "eu-central-1b");
    assert.match(String(byName(plan, "snapshots-b-policy").inputs.description), /^Housing Portal production, host b: /);
    const names = (type: string, key = "name") => named(plan, type).map((r) => JSON.stringify(r.inputs[key]));
    for (const [type, key] of [["aws:sns/topic:Topic", "name"], ["aws:cloudwatch/metricAlarm:MetricAlarm", "name"], ["aws:iam/instanceProfile:InstanceProfile", "name"], ["aws:ec2/keyPair:KeyPair", "keyName"], ["aws:ec2/securityGroup:SecurityGroup", "tags"], ["aws:ebs/volume:Volume", "tags"]] as const) {
        const all = names(type, key);
        assert.equal(new Set(all).size, all.length, `${type}: ${all.join(", ")}`);
    }
    assert.deepEqual(named(plan, "aws:s3/bucket:Bucket").map((r) => r.name), ["backups-bucket"], "one off-site bucket, created by main's backups");
});
