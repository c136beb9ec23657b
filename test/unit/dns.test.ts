// The optional `dns` key: its validation (the zone every name lies in, the stack's own cloud's
// DNS), the records' names and types as each DNS service takes them, and the records the program
// plans under mocks on both clouds; without the key, the records to create are listed.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as path from "path";
import { Problems, validateConfig } from "../../components/config";
import { dnsRecordEntries, inZone, recordFor, recordName, recordValue, validateDns, type DnsInstance } from "../../components/dnsConfig";
import { DNS_RECORD_TTL_SECONDS, recordResourceName } from "../../components/dnsRecords";
import type { PlanDocument } from "../../tools/planner";
import { diffPlans } from "../../tools/planDiff";
import { batchedPlan, byName, goldenPlan, ofType, planBatchRaw, readStackKeys, writeStackConfig } from "./planRun";

const staging = readStackKeys("Pulumi.staging.yaml");
const production = readStackKeys("Pulumi.production.yaml");
const instances: DnsInstance[] = [
    { name: "colombia", domain: "colombia.housing-portal.org", aliases: ["www.colombia.housing-portal.org"] },
    { name: "peru", domain: "peru.housing-portal.org", aliases: [] },
];
const problemsOf = (raw: unknown, provider: "digitalocean" | "aws" = "digitalocean", insts = instances, named: string[] = []) => {
    const problems = new Problems();
    const settings = validateDns(raw, provider, insts, problems, named);
    return { settings, lines: problems.lines };
};

test("dns: the zone, and the stack's own cloud's DNS by default", () => {
    assert.deepEqual(problemsOf(undefined), { settings: undefined, lines: [] });
    assert.deepEqual(problemsOf({ zone: "housing-portal.org" }), { settings: { zone: "housing-portal.org", provider: "digitalocean" }, lines: [] });
    assert.deepEqual(problemsOf({ zone: "housing-portal.org" }, "aws"), { settings: { zone: "housing-portal.org", provider: "route53" }, lines: [] });
    assert.deepEqual(problemsOf({ zone: "housing-portal.org", provider: "route53" }, "aws").lines, []);
    // A zone that is one of the names itself (its apex) holds that name's A record.
    assert.deepEqual(problemsOf({ zone: "peru.housing-portal.org" }, "digitalocean", [instances[1]]).lines, []);
});

test("dns: one line per mistake, naming its key", () => {
    assert.deepEqual(problemsOf({ zone: "housing-portal.org", provider: "route53" }).lines, [
        "dns.provider: \"route53\" is AWS's Route 53, and this stack runs on digitalocean: the program manages records with the stack's own credentials, in DigitalOcean's DNS (\"digitalocean\"); set \"digitalocean\" or leave it out, or create the records in the other DNS yourself (stack output dnsRecords) and remove dns",
    ]);
    assert.match(problemsOf({ zone: "housing-portal.org", provider: "digitalocean" }, "aws").lines[0], /^dns\.provider: "digitalocean" is DigitalOcean's DNS, and this stack runs on aws: .* in AWS's Route 53 \("route53"\)/);
    assert.deepEqual(problemsOf({ zone: "housing-portal.org", provider: "cloudflare" }).lines, ["dns.provider: must be \"digitalocean\" (DigitalOcean's DNS, the DNS of the stack's cloud), got \"cloudflare\""]);
    assert.deepEqual(problemsOf({ zone: "housing-portal.org." }).lines, ["dns.zone: must be the zone's domain name (without the trailing dot), lowercase, such as \"example.org\", got \"housing-portal.org.\""]);
    assert.deepEqual(problemsOf({}).lines, ["dns.zone: must be the zone's domain name, lowercase, such as \"example.org\", got undefined"]);
    assert.deepEqual(problemsOf({ zone: "housing-portal.org", zones: [] }).lines, ["dns.zones: unknown key; did you mean zone?"]);
    assert.deepEqual(problemsOf("housing-portal.org").lines, ["dns: must be an object {zone: \"example.org\", provider?: \"digitalocean\"}, got \"housing-portal.org\""]);
    // Every domain and alias lies in the zone, each outside it named by its instance's key.
    const elsewhere = [instances[0], { name: "peru", domain: "peru.example.org", aliases: ["www.peru.example.org", "peru.housing-portal.org"] }];
    assert.deepEqual(problemsOf({ zone: "housing-portal.org" }, "digitalocean", elsewhere).lines.map((l) => l.slice(0, l.indexOf(": "))), ["instances[1].domain", "instances[1].aliases[0]"]);
    assert.match(problemsOf({ zone: "housing-portal.org" }, "digitalocean", elsewhere).lines[0], /^instances\[1\]\.domain: "peru\.example\.org" is not in dns\.zone "housing-portal\.org": /);
    // A name that only ends like the zone is not in it.
    assert.equal(inZone("peru.not-housing-portal.org", "housing-portal.org"), false);
    assert.equal(inZone("housing-portal.org", "housing-portal.org"), true);
    // The apex holds no CNAME: a host reached by a host name cannot serve it.
    const apex = [{ name: "portal", domain: "housing-portal.org", aliases: [] }];
    assert.match(problemsOf({ zone: "housing-portal.org" }, "digitalocean", apex, ["main"]).lines[0], /^instances\[0\]\.domain: is the zone's apex, and host "main" is reached by a host name/);
    assert.deepEqual(problemsOf({ zone: "housing-portal.org" }, "digitalocean", apex).lines, []);
});

test("dns through the config: cloud stacks only, and its settings reach the stack's", () => {
    const ctx = { stack: "staging", projectDir: path.resolve(__dirname, "..", "..") };
    const ok = validateConfig({ ...staging, snapshotApiToken: "t", spacesAccessKeyId: "k", spacesSecretAccessKey: "s", offsiteAccessKeyId: "a", offsiteSecretAccessKey: "b", offsitePassword: "p", alerts: { webhookUrl: "https://hooks.example.org/x" }, dns: { zone: "housing-portal.org" } }, ctx);
    assert.ok(ok.ok, ok.ok ? "" : ok.problems.join("\n"));
    assert.deepEqual(ok.settings.provider !== "local" && ok.settings.dns, { zone: "housing-portal.org", provider: "digitalocean" });
    const local = validateConfig({ provider: "local", projectRoot: "test/fixtures/housing_portal", instances: [{ name: "colombia", domain: "colombia.housing-portal.org", port: 8001 }], dns: { zone: "housing-portal.org" } }, ctx);
    assert.ok(!local.ok);
    assert.deepEqual(local.problems, ["dns: is not used with provider local; remove it (it applies to digitalocean and aws)"]);
    // An existing host known by a host name, with an instance at the zone's apex.
    const housingPortalKeys = Object.fromEntries(Object.entries(production).filter(([k]) => !k.includes(":")));
    const existing = validateConfig({
        ...housingPortalKeys, offsiteAccessKeyId: "a", offsiteSecretAccessKey: "b", offsitePassword: "p",
        host: { region: "eu-central-1", address: "portal-1.ops.example.net", hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGcnpHWLx5QxHtHnG3R1ZmU7L4a0ZqYVdNn0p1u2v3w4", sshAllowedCidrs: ["198.51.100.0/24"] },
        volume: undefined, instances: [{ name: "colombia", domain: "housing-portal.org" }], dns: { zone: "housing-portal.org" },
    }, ctx);
    assert.ok(!existing.ok);
    assert.deepEqual(existing.problems.map((l) => l.slice(0, l.indexOf(": "))), ["instances[0].domain"]);
});

test("record names, types and values as each DNS service takes them", () => {
    assert.equal(recordName("digitalocean", "colombia.staging.housing-portal.org", "housing-portal.org"), "colombia.staging");
    assert.equal(recordName("digitalocean", "housing-portal.org", "housing-portal.org"), "@");
    assert.equal(recordName("route53", "colombia.staging.housing-portal.org", "housing-portal.org"), "colombia.staging.housing-portal.org");
    assert.deepEqual(recordFor("203.0.113.10"), { type: "A", value: "203.0.113.10" });
    assert.deepEqual(recordFor("2001:db8::10"), { type: "AAAA", value: "2001:db8::10" });
    assert.deepEqual(recordFor("portal-1.ops.example.net"), { type: "CNAME", value: "portal-1.ops.example.net" });
    assert.equal(recordValue("digitalocean", recordFor("portal-1.ops.example.net")), "portal-1.ops.example.net.");
    assert.equal(recordValue("route53", recordFor("portal-1.ops.example.net")), "portal-1.ops.example.net");
    // The listed records (dnsRecords) of an existing host reached over IPv6 are AAAA, not A.
    assert.deepEqual(dnsRecordEntries(["peru.housing-portal.org"], "2001:db8::10"), [{ name: "peru.housing-portal.org", type: "AAAA", value: "2001:db8::10" }]);
    // A record's Pulumi name has no host in it: it stays when its instance moves to another host.
    assert.equal(recordResourceName("peru.housing-portal.org"), "dns-peru.housing-portal.org");
});

/** Staging with a second host b, each instance on main unless `placed` names b. */
const twoHosts = (placed: Readonly<Record<string, string>>) => writeStackConfig({
    ...staging, dns: { zone: "housing-portal.org" }, hosts: { main: {}, b: {} },
    instances: (staging.instances as { name: string }[]).map((i) => ({ ...i, host: placed[i.name] ?? "main" })),
}, "staging");

const plans = (async () => {
    const [doDns, route53, aliases, bothOnMain, peruOnB] = await planBatchRaw([
        ["--config-file", writeStackConfig({ ...staging, dns: { zone: "housing-portal.org" } }, "staging")],
        ["--config-file", writeStackConfig({ ...production, dns: { zone: "housing-portal.org", provider: "route53" } }, "production")],
        ["--config-file", writeStackConfig({ ...staging, instances: [{ name: "colombia", domain: "colombia.staging.housing-portal.org", aliases: ["staging.housing-portal.org"] }], dns: { zone: "staging.housing-portal.org" } }, "staging")],
        ["--config-file", twoHosts({})],
        ["--config-file", twoHosts({ peru: "b" })],
    ]);
    return {
        doDns: batchedPlan(doDns), route53: batchedPlan(route53), aliases: batchedPlan(aliases),
        bothOnMain: batchedPlan(bothOnMain), peruOnB: batchedPlan(peruOnB),
    };
})();

/** The address of the host's stable address resource, as the plan's records must show it. */
const dnsRecordsOutput = (plan: PlanDocument) => plan.outputs.dnsRecords as { name: string; type: string; value: string }[];

test("digitalocean: one A record per name in the zone, at the reserved IP, with a short TTL; nothing else changes", async () => {
    const { doDns, aliases } = await plans;
    const records = ofType(doDns, "digitalocean:index/dnsRecord:DnsRecord");
    const address = dnsRecordsOutput(goldenPlan("staging"))[0].value;
    assert.deepEqual(records.map((r) => [r.name, r.inputs]), [
        ["dns-colombia.staging.housing-portal.org", { domain: "housing-portal.org", name: "colombia.staging", type: "A", value: address, ttl: DNS_RECORD_TTL_SECONDS }],
        ["dns-peru.staging.housing-portal.org", { domain: "housing-portal.org", name: "peru.staging", type: "A", value: address, ttl: DNS_RECORD_TTL_SECONDS }],
    ]);
    assert.equal(DNS_RECORD_TTL_SECONDS, 300);
    // Under the DnsRecords component, after the address it points at.
    const component = byName(doDns, "dns");
    assert.equal(component.type, "housing-portal:dns:DnsRecords");
    for (const r of records) {
        assert.equal(r.parent, component.urn);
        assert.ok(r.dependsOn.includes(byName(doDns, "host-ip").urn), `${r.name} waits for the reserved IP`);
    }
    // The output lists what the program now manages, as before.
    assert.deepEqual(dnsRecordsOutput(doDns), dnsRecordsOutput(goldenPlan("staging")));
    // Every other resource is the golden plan's, input for input.
    const golden = new Map(goldenPlan("staging").resources.map((r) => [r.urn, JSON.stringify(r.inputs)]));
    const others = doDns.resources.filter((r) => r.type !== "digitalocean:index/dnsRecord:DnsRecord" && r.urn !== component.urn);
    assert.deepEqual(others.filter((r) => golden.get(r.urn) !== JSON.stringify(r.inputs)).map((r) => r.name), []);
    assert.equal(others.length, golden.size);
    // An alias at the zone's apex is "@".
    assert.deepEqual(ofType(aliases, "digitalocean:index/dnsRecord:DnsRecord").map((r) => r.inputs.name), ["colombia", "@"]);
});

test("route53: the public zone found by its name, one record per full name at the Elastic IP", async () => {
    const { route53 } = await plans;
    const records = ofType(route53, "aws:route53/record:Record");
    const address = dnsRecordsOutput(goldenPlan("production"))[0].value;
    assert.deepEqual(records.map((r) => r.name), ["dns-colombia.housing-portal.org", "dns-paraguay.housing-portal.org", "dns-peru.housing-portal.org"]);
    const zoneIds = new Set(records.map((r) => r.inputs.zoneId));
    assert.equal(zoneIds.size, 1);
    assert.match(String([...zoneIds][0]), /^Z[0-9A-F]{20}$/);
    for (const r of records) {
        assert.deepEqual({ ...r.inputs, zoneId: undefined }, { zoneId: undefined, name: r.name.slice("dns-".length), type: "A", records: [address], ttl: DNS_RECORD_TTL_SECONDS });
        assert.ok(r.dependsOn.includes(byName(route53, "host-eip").urn), `${r.name} waits for the Elastic IP`);
    }
    assert.equal(ofType(route53, "digitalocean:index/dnsRecord:DnsRecord").length, 0);
});

test("without dns no record is managed, and dnsRecords lists those to create", () => {
    for (const stack of ["staging", "production"]) {
        const plan = goldenPlan(stack);
        assert.equal(ofType(plan, "digitalocean:index/dnsRecord:DnsRecord").length + ofType(plan, "aws:route53/record:Record").length, 0);
        assert.ok(dnsRecordsOutput(plan).length >= 2);
        for (const r of dnsRecordsOutput(plan)) assert.equal(r.type, "A");
    }
});

test("several hosts: each host's names at its own address; a moved instance's record is the same resource, updated to its new host", async () => {
    const { bothOnMain, peruOnB } = await plans;
    const hostsOut = (plan: PlanDocument) => plan.outputs.hosts as Record<string, { address: string; dnsRecords?: { name: string; value: string }[] }>;
    const [main, b] = [hostsOut(peruOnB).main, hostsOut(peruOnB).b];
    assert.notEqual(main.address, b.address);
    const record = (plan: PlanDocument, name: string) => byName(plan, `dns-${name}`);
    assert.equal(record(peruOnB, "peru.staging.housing-portal.org").inputs.value, b.address);
    assert.equal(record(peruOnB, "colombia.staging.housing-portal.org").inputs.value, main.address);
    assert.equal(record(peruOnB, "peru.staging.housing-portal.org").parent, byName(peruOnB, "dns-b").urn);
    assert.deepEqual(b.dnsRecords, [{ name: "peru.staging.housing-portal.org", type: "A", value: b.address }]);
    // A host with no instance has no record; its DnsRecords is there for the first one placed on it.
    assert.deepEqual(hostsOut(bothOnMain).b.dnsRecords, []);
    // The move: peru's record keeps its URN and is updated in place (its value), nothing of the DNS is deleted or created again.
    const diff = diffPlans(bothOnMain, peruOnB);
    const dnsTypes = (rs: readonly { type: string }[]) => rs.filter((r) => r.type === "digitalocean:index/dnsRecord:DnsRecord");
    assert.deepEqual(dnsTypes(diff.added), []);
    assert.deepEqual(dnsTypes(diff.removed), []);
    const moved = diff.changed.filter((c) => c.resource.type === "digitalocean:index/dnsRecord:DnsRecord");
    assert.deepEqual(moved.map((c) => [c.resource.name, c.replaced, c.fields.includes("value")]), [["dns-peru.staging.housing-portal.org", false, true]]);
});
