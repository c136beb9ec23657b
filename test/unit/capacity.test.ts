// A host's capacity: the memory limits of its instances and edge against its machine's memory,
// the refusal with its numbers, and the sizes the stack files and docs name.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { MACHINE_MEMORY_MIB, capacityProblem, hostCapacity, hostSizeKey, instanceMemoryMb, machineMemoryMib, smallestSizeFor, stackCapacity } from "../../components/capacity";
import { DEFAULT_RESOURCES, EDGE_RESOURCES, validateConfig, type ResourceSettings } from "../../components/config";

const PROJECT_DIR = path.resolve(__dirname, "..", "..");
const instance = (name: string, resources: ResourceSettings = DEFAULT_RESOURCES) => ({ name, resources });
const three = [instance("colombia"), instance("peru"), instance("paraguay")];

test("an instance's memory is the sum of its containers' limits; the defaults add up to 1920 MiB", () => {
    assert.equal(instanceMemoryMb(instance("colombia")), 1024 + 768 + 128);
    const big = { ...DEFAULT_RESOURCES, postgis: { ...DEFAULT_RESOURCES.postgis, memoryMb: 3072 } };
    assert.equal(instanceMemoryMb(instance("brazil", big)), 3072 + 768 + 128);
});

test("three default instances and the edge do not fit on s-2vcpu-4gb: refused with the numbers, naming the host's size key", () => {
    const report = hostCapacity({ host: "south", machine: { kind: "create", provider: "digitalocean", size: "s-2vcpu-4gb" }, instances: three, edge: EDGE_RESOURCES });
    assert.deepEqual(report.instances, ["colombia", "peru", "paraguay"]);
    assert.equal(report.instancesMemoryMb, 5760);
    assert.equal(report.edgeMemoryMb, 256);
    assert.equal(report.memoryLimitsMb, 6016);
    assert.equal(report.machineMemoryMb, 4096);
    assert.equal(report.fits, false);
    assert.deepEqual(capacityProblem(report, hostSizeKey("south", true)), {
        path: "hosts.south.host.size",
        message: "3 instances need 5760 MiB of memory limits (plus the edge's 256: 6016 MiB), s-2vcpu-4gb has 4096 MiB; pick a larger size (the smallest that holds it: s-4vcpu-8gb, 8192 MiB) or move an instance to another host",
    });
    // A stack without hosts: the stack-wide key.
    assert.equal(capacityProblem(report, hostSizeKey("main", false))?.path, "host.size");
});

test("the example stacks' placements fit: staging's two instances on s-2vcpu-4gb, production's three on t3.large", () => {
    const staging = hostCapacity({ host: "main", machine: { kind: "create", provider: "digitalocean", size: "s-2vcpu-4gb" }, instances: three.slice(0, 2), edge: EDGE_RESOURCES });
    // Exactly the machine's memory: limits are ceilings, a placement is refused only above it.
    assert.equal(staging.memoryLimitsMb, 4096);
    assert.equal(staging.fits, true);
    assert.equal(capacityProblem(staging, "host.size"), undefined);
    assert.equal(staging.summary, "2 instances: 3840 MiB of memory limits plus the edge's 256 MiB, 4096 MiB of s-2vcpu-4gb's 4096 MiB");
    const production = hostCapacity({ host: "main", machine: { kind: "create", provider: "aws", size: "t3.large" }, instances: three, edge: EDGE_RESOURCES });
    assert.equal(production.fits, true);
    assert.equal(production.machineMemoryMb, 8192);
    // One raised instance more and it no longer fits: the refusal counts the instance's own limits.
    const brazil = instance("brazil", { ...DEFAULT_RESOURCES, postgis: { ...DEFAULT_RESOURCES.postgis, memoryMb: 3072 } });
    const crowded = hostCapacity({ host: "main", machine: { kind: "create", provider: "aws", size: "t3.large" }, instances: [...three, brazil], edge: EDGE_RESOURCES });
    assert.equal(crowded.memoryLimitsMb, 5760 + 3968 + 256);
    assert.match(capacityProblem(crowded, "host.size")!.message, /^4 instances need 9728 MiB of memory limits \(plus the edge's 256: 9984 MiB\), t3\.large has 8192 MiB; pick a larger size \(the smallest that holds it: t3\.xlarge, 16384 MiB\)/);
    // More than the table's largest machine: only another host helps.
    const huge = hostCapacity({ host: "main", machine: { kind: "create", provider: "aws", size: "t3.large" }, instances: Array.from({ length: 40 }, (_, i) => instance(`c${i}`)), edge: EDGE_RESOURCES });
    assert.match(capacityProblem(huge, "host.size")!.message, /t3\.large has 8192 MiB; no size in the capacity table holds that much: move instances to another host$/);
});

test("a size not in the table, an existing machine and the local engine are reported, never refused", () => {
    const unknown = hostCapacity({ host: "main", machine: { kind: "create", provider: "digitalocean", size: "so-2vcpu-16gb" }, instances: three, edge: EDGE_RESOURCES });
    assert.equal(unknown.machineMemoryMb, undefined);
    assert.equal(unknown.fits, undefined);
    assert.equal(unknown.size, "so-2vcpu-16gb");
    assert.match(unknown.summary, /so-2vcpu-16gb's memory is unknown/);
    assert.equal(capacityProblem(unknown, "host.size"), undefined);
    const existing = hostCapacity({ host: "main", machine: { kind: "existing", provider: "aws" }, instances: three, edge: EDGE_RESOURCES });
    assert.equal(existing.fits, undefined);
    assert.equal(capacityProblem(existing, "host.size"), undefined);
    const local = hostCapacity({ host: "main", machine: { kind: "local" }, instances: [instance("dev")] });
    assert.deepEqual(local, {
        instances: ["dev"], instancesMemoryMb: 1920, edgeMemoryMb: 0, memoryLimitsMb: 1920,
        summary: "1 instance: 1920 MiB of memory limits; the local engine's memory is not checked",
    });
    // A size of the other cloud is not this cloud's: unknown, not another machine's figure.
    assert.equal(machineMemoryMib("aws", "s-2vcpu-4gb"), undefined);
    assert.equal(machineMemoryMib("digitalocean", "constructor"), undefined);
});

test("the smallest size that holds a placement", () => {
    assert.equal(smallestSizeFor("digitalocean", 4096), "s-2vcpu-4gb");
    assert.equal(smallestSizeFor("digitalocean", 4097), "s-4vcpu-8gb");
    assert.equal(smallestSizeFor("digitalocean", 100 * 1920 + 256), "s-32vcpu-192gb");
    assert.equal(smallestSizeFor("aws", 6016), "t3.large");
    assert.equal(smallestSizeFor("aws", 1 << 20), undefined);
});

test("a host with no instance has only its edge's limit", () => {
    const empty = hostCapacity({ host: "spare", machine: { kind: "create", provider: "digitalocean", size: "s-1vcpu-1gb" }, instances: [], edge: EDGE_RESOURCES });
    assert.equal(empty.memoryLimitsMb, 256);
    assert.equal(empty.fits, true);
    assert.match(empty.summary, /^0 instances: 0 MiB/);
});

test("every machine size the stack files and docs name has its memory in the table", () => {
    const files = [
        ...fs.readdirSync(PROJECT_DIR).filter((f) => /^Pulumi\..*\.ya?ml$/.test(f)),
        ...fs.readdirSync(path.join(PROJECT_DIR, "docs")).filter((f) => f.endsWith(".md")).map((f) => path.join("docs", f)),
        "README.md", "components/config.ts",
    ];
    const named = new Map<string, "digitalocean" | "aws">();
    for (const f of files) {
        const text = fs.readFileSync(path.join(PROJECT_DIR, f), "utf8");
        for (const m of text.matchAll(/\b(s-\d+vcpu-\d+gb)\b/g)) named.set(m[1], "digitalocean");
        for (const m of text.matchAll(/\b([tm]\d[a-z]*\.(?:micro|small|medium|\d*x?large))\b/g)) named.set(m[1], "aws");
    }
    assert.ok(named.has("s-2vcpu-4gb") && named.has("t3.large"), "the example sizes are found");
    for (const [size, provider] of named) assert.ok(machineMemoryMib(provider, size) !== undefined, `${size} (${provider}) is not in MACHINE_MEMORY_MIB`);
    // The vendors' figures: a size's name says its GiB, the table holds MiB.
    for (const [size, mib] of Object.entries(MACHINE_MEMORY_MIB.digitalocean)) assert.equal(mib, 1024 * Number(/-(\d+)gb$/.exec(size)![1]), size);
});

test("every host of a stack: its report, and a refusal naming the host's size key", () => {
    const ctx = { stack: "latam", projectDir: PROJECT_DIR };
    const doc = YAML.parse(fs.readFileSync(path.join(PROJECT_DIR, "Pulumi.latam.yaml"), "utf8")).config as Record<string, unknown>;
    const secrets = {
        snapshotApiToken: "t", offsiteAccessKeyId: "a", offsiteSecretAccessKey: "b", offsitePassword: "p", spacesAccessKeyId: "k", spacesSecretAccessKey: "s",
        alerts: { webhookUrl: "https://hooks.example.org/x" },
    };
    const keys: Record<string, unknown> = { ...Object.fromEntries(Object.entries(doc).map(([k, v]) => [k.replace(/^housing-portal:/, ""), v])), ...secrets };
    const settingsOf = (raw: Record<string, unknown>) => {
        const r = validateConfig(raw, ctx);
        if (!r.ok) throw new Error(r.problems.join("\n"));
        return r.settings;
    };
    const latam = stackCapacity(settingsOf(keys), true, EDGE_RESOURCES);
    assert.deepEqual(latam.problems, []);
    assert.deepEqual(Object.fromEntries(Object.entries(latam.reports).map(([h, r]) => [h, [r.instances, r.memoryLimitsMb, r.size, r.machineMemoryMb]])), {
        north: [["colombia", "peru"], 4096, "s-2vcpu-4gb", 4096],
        south: [["argentina", "chile", "uruguay"], 6016, "s-4vcpu-8gb", 8192],
    });
    // A third instance on north: refused at north's own size key.
    const crowded = { ...keys, instances: [...(keys.instances as object[]), { name: "bolivia", domain: "bolivia.housing-portal.org", host: "north" }] };
    const refusedBy = (raw: Record<string, unknown>) => {
        const r = validateConfig(raw, ctx);
        return r.ok ? [] : r.problems;
    };
    assert.deepEqual(refusedBy(crowded).map((l) => l.slice(0, l.indexOf(": "))), ["hosts.north.host.size"], "validation refuses it");
    // A stack without hosts names the stack-wide key.
    const staging = YAML.parse(fs.readFileSync(path.join(PROJECT_DIR, "Pulumi.staging.yaml"), "utf8")).config as Record<string, unknown>;
    const stagingKeys: Record<string, unknown> = { ...Object.fromEntries(Object.entries(staging).map(([k, v]) => [k.replace(/^housing-portal:/, ""), v])), ...secrets };
    const three = { ...stagingKeys, instances: [...(stagingKeys.instances as object[]), { name: "chile", domain: "chile.staging.housing-portal.org" }] };
    assert.deepEqual(refusedBy(three), [
        "host.size: 3 instances need 5760 MiB of memory limits (plus the edge's 256: 6016 MiB), s-2vcpu-4gb has 4096 MiB; pick a larger size (the smallest that holds it: s-4vcpu-8gb, 8192 MiB) or move an instance to another host",
    ]);
    // A dev stack: the local engine, not checked; no edge.
    const devReport = stackCapacity(settingsOf({ provider: "local", projectRoot: "test/fixtures/housing_portal", instances: [{ name: "colombia", domain: "colombia.example.org", port: 8001 }] }), false, EDGE_RESOURCES);
    assert.deepEqual(devReport.problems, []);
    assert.equal(devReport.reports.main.machineMemoryMb, undefined);
    assert.equal(devReport.reports.main.edgeMemoryMb, 0, "dev has no edge");
});
