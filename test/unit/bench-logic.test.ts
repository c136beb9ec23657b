// The pure figures of `npm run bench` (bench/logic.ts): critical path, blast radius, marginal
// costs and the generated instances, on tiny handmade plans. Nothing here runs a plan or times anything.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import type { PlanDocument, PlannedResource } from "../../tools/planner";
import { validateInstanceName } from "../../components/config";
import {
    benchHostNames, benchHostSize, benchInstance, benchInstances, blastRadius, criticalPath, marginal, placedInstances, prerequisites, spread, withBackendImage,
} from "../../bench/logic";
import { subtree } from "../../tools/planGraph";

const CONTAINER = "docker:index/container:Container";
const COMPONENT = "housing-portal:portal:PortalInstance";
const urn = (name: string) => `urn:pulumi:s::p::t::${name}`;

interface Spec {
    type?: string;
    custom?: boolean;
    parent?: string;
    deps?: string[];
    inputs?: Record<string, unknown>;
    provider?: string;
}

function res(name: string, spec: Spec = {}): PlannedResource {
    return {
        urn: urn(name), type: spec.type ?? CONTAINER, name, parent: spec.parent ? urn(spec.parent) : null, custom: spec.custom ?? true,
        provider: spec.provider ? urn(spec.provider) : null, inputs: spec.inputs ?? {}, protect: false, retainOnDelete: false,
        deleteBeforeReplace: false, ignoreChanges: [], import: null, dependsOn: (spec.deps ?? []).map(urn),
    };
}

function plan(...resources: PlannedResource[]): PlanDocument {
    return { project: "p", stack: "s", resources, outputs: {} };
}

/** A host (volume → machine → gate → provider) and n instances of three chained containers. */
function hosted(n: number, image = (_i: number) => "backend:1", ports = false): PlanDocument {
    const rs = [
        res("volume"), res("machine", { deps: ["volume"] }), res("gate", { deps: ["machine"] }), res("docker", { deps: ["gate"], type: "pulumi:providers:docker" }),
        res("firewall", { deps: ["machine"], inputs: { ports: ports ? Array.from({ length: n }, (_, i) => 8001 + i) : [80] } }),
    ];
    for (let i = 1; i <= n; i++) {
        rs.push(
            res(`i${i}`, { type: COMPONENT, custom: false }),
            res(`i${i}-db`, { parent: `i${i}`, deps: ["docker"], provider: "docker", inputs: { image: "postgis" } }),
            res(`i${i}-backend`, { parent: `i${i}`, deps: ["docker", `i${i}-db`], provider: "docker", inputs: { image: image(i) } }),
            res(`i${i}-nginx`, { parent: `i${i}`, deps: ["docker", `i${i}-backend`], provider: "docker", inputs: { image: "nginx" } }),
        );
    }
    return plan(...rs);
}

test("prerequisites: dependsOn and custom parents count, component parents do not, components expand to what is below them", () => {
    const p = plan(
        res("group", { type: COMPONENT, custom: false }),
        res("inner", { type: COMPONENT, custom: false, parent: "group" }),
        res("a", { parent: "group" }),
        res("b", { parent: "inner" }),
        res("child-of-custom", { parent: "a" }),
        res("waits-for-group", { deps: ["group", "not-in-plan", "waits-for-group"] }),
    );
    const pre = prerequisites(p);
    assert.deepEqual([...pre.keys()].sort(), [urn("a"), urn("b"), urn("child-of-custom"), urn("waits-for-group")], "only custom resources are nodes");
    assert.deepEqual(pre.get(urn("a")), [], "a component parent is no prerequisite");
    assert.deepEqual(pre.get(urn("child-of-custom")), [urn("a")], "a custom parent is one");
    assert.deepEqual(pre.get(urn("waits-for-group")), [urn("a"), urn("b"), urn("child-of-custom")].sort(),
        "a component stands for every custom resource below it; unknown URNs and itself are ignored");
});

test("the critical path is the longest chain, named from first to last", () => {
    const path = criticalPath(hosted(1));
    assert.equal(path.length, 7);
    assert.deepEqual(path.chain, ["volume", "machine", "gate", "docker", "i1-db", "i1-backend", "i1-nginx"]);
});

test("instances side by side do not lengthen the critical path", () => {
    assert.equal(criticalPath(hosted(5)).length, criticalPath(hosted(1)).length);
    assert.deepEqual(criticalPath(hosted(5)), criticalPath(hosted(5)), "deterministic");
});

test("a plan without custom resources has an empty critical path; a cycle is an error", () => {
    assert.deepEqual(criticalPath(plan(res("c", { type: COMPONENT, custom: false }))), { length: 0, chain: [] });
    assert.throws(() => criticalPath(plan(res("x", { deps: ["y"] }), res("y", { deps: ["x"] }))), /dependency cycle/);
});

test("subtree: the named component and everything below it", () => {
    const p = hosted(2);
    assert.deepEqual([...subtree(p, "i2")].sort(), ["i2", "i2-backend", "i2-db", "i2-nginx"].map(urn).sort());
    assert.throws(() => subtree(p, "nope"), /no resource named nope/);
});

test("blast radius of adding an instance: its resources are added, nothing existing changes", () => {
    const b = blastRadius(hosted(2), hosted(3), ["i3"]);
    assert.equal(b.added, 4);
    assert.equal(b.removed, 0);
    assert.deepEqual([b.own, b.outside], [[], []]);
});

test("blast radius counts a shared resource whose inputs follow the instance list", () => {
    const b = blastRadius(hosted(2, undefined, true), hosted(3, undefined, true), ["i3"]);
    assert.deepEqual(b.outside, [{ name: "firewall", type: CONTAINER, fields: ["ports"], replaced: true }]);
});

test("blast radius of one instance's new image: its own changes are own, nothing outside", () => {
    const b = blastRadius(hosted(3), hosted(3, (i) => (i === 2 ? "backend:2" : "backend:1")), ["i2"]);
    assert.deepEqual([b.added, b.removed], [0, 0]);
    assert.deepEqual(b.own.map((c) => [c.name, c.fields]), [["i2-backend", ["image"]]]);
    assert.deepEqual(b.outside, []);
    const noOwner = blastRadius(hosted(3), hosted(3, (i) => (i === 2 ? "backend:2" : "backend:1")));
    assert.deepEqual(noOwner.outside.map((c) => c.name), ["i2-backend"], "without owners every change is outside");
});

test("blast radius sees option changes, and tells updates from replacements", () => {
    const base = plan(res("vol", { type: "digitalocean:index/volume:Volume", inputs: { size: 100, region: "fra1" } }));
    const grown = plan(res("vol", { type: "digitalocean:index/volume:Volume", inputs: { size: 200, region: "fra1" } }));
    assert.deepEqual(blastRadius(base, grown).outside, [{ name: "vol", type: "digitalocean:index/volume:Volume", fields: ["size"], replaced: false }]);
    const nowProtected = plan({ ...base.resources[0], protect: true });
    assert.deepEqual(blastRadius(base, nowProtected).outside.map((c) => c.fields), [["(protect)"]]);
    const dependsOnly = plan({ ...base.resources[0], dependsOn: [urn("other")] });
    assert.deepEqual(blastRadius(base, dependsOnly).outside, [], "dependsOn alone changes nothing the engine updates");
});

test("marginal cost and spread", () => {
    assert.equal(marginal(10, 500, 100, 2300), 20);
    assert.equal(marginal(1, 70, 10, 520), 50);
    assert.throws(() => marginal(10, 1, 10, 2));
    assert.deepEqual(spread([3, 1, 2]), { min: 1, max: 3 });
    assert.throws(() => spread([]));
});

test("generated instances: valid unique names and domains; one image change touches one instance", () => {
    const list = benchInstances(100);
    assert.equal(list.length, 100);
    assert.deepEqual(list[0], { name: "country-001", domain: "country-001.staging.housing-portal.org" });
    assert.deepEqual(benchInstance(100).name, "country-100");
    for (const i of list) assert.equal(validateInstanceName(i.name), undefined, i.name);
    assert.equal(new Set(list.map((i) => i.name)).size, 100);
    assert.equal(new Set(list.map((i) => i.domain)).size, 100);
    const changed = withBackendImage(list.slice(0, 10), 5, "backend:2");
    assert.deepEqual(changed.filter((i) => i.images !== undefined), [{ ...list[4], images: { backend: "backend:2" } }]);
    assert.equal(list[4].images, undefined, "the input list is not modified");
    assert.throws(() => withBackendImage(list.slice(0, 3), 4, "x"));
});

test("generated hosts: N instances per host, each placed once, on a size that holds them", () => {
    assert.deepEqual(benchHostNames(3), ["h01", "h02", "h03"]);
    for (const h of benchHostNames(10)) assert.equal(validateInstanceName(h), undefined, h);
    const placed = placedInstances(10, 10);
    assert.equal(placed.length, 100);
    assert.deepEqual(placed.slice(9, 11).map((i) => [i.name, i.host]), [["country-010", "h01"], ["country-011", "h02"]]);
    assert.deepEqual(benchHostNames(10).map((h) => placed.filter((i) => i.host === h).length), Array(10).fill(10));
    // 10 default instances (1920 MiB each) and the edge: 19456 MiB; 100: 192256 MiB.
    assert.equal(benchHostSize(10), "s-8vcpu-32gb");
    assert.equal(benchHostSize(100), "s-32vcpu-192gb");
    assert.equal(benchHostSize(2), "s-2vcpu-4gb");
    assert.throws(() => benchHostSize(1000), /no DigitalOcean size/);
});
