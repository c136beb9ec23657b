// The plan records each resource's aliases as the URNs it was known by, and the plan diff (and so
// the data-loss gate) takes an aliased resource as the one at its old URN: a rename with an alias
// is no deletion and no addition.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { runPlan, type PlanDocument } from "../../tools/planner";
import { diffPlans } from "../../tools/planDiff";
import { dataLossGate } from "../../tools/dataLossGate";

test("aliases given as specs and as URNs are recorded as the old URNs; none is recorded where none is given", async () => {
    const plan = await runPlan({ stack: "test", config: { values: {}, secretKeys: [], placeholders: [], problems: [] }, program: path.join(__dirname, "aliasedProgram.ts") });
    const of = (name: string) => plan.resources.find((r) => r.name === name)!;
    // In the plan's URNs, as the mocks make them: a top-level resource's carries the stack's type.
    assert.deepEqual(of("renamed").aliases, ["urn:pulumi:test::housing-portal::housing-portal:test:Group$docker:index/volume:Volume::original"]);
    assert.equal(of("renamed").urn, "urn:pulumi:test::housing-portal::housing-portal:test:Group$docker:index/volume:Volume::renamed");
    assert.deepEqual(of("moved").aliases, ["urn:pulumi:test::housing-portal::housing-portal:test:Group$docker:index/volume:Volume::moved"]);
    assert.equal(of("moved").urn, "urn:pulumi:test::housing-portal::pulumi:pulumi:Stack$docker:index/volume:Volume::moved");
    assert.deepEqual(of("by-urn").aliases, ["urn:pulumi:test::housing-portal::docker:index/volume:Volume::old-name"]);
    assert.equal(of("group").aliases, undefined);
});

test("a data volume renamed with an alias is the same resource to the diff and the gate; without one it is deleted and a new one added", () => {
    const staging: PlanDocument = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "plans", "staging.json"), "utf8"));
    const renamed = (aliased: boolean): PlanDocument => {
        const head: PlanDocument = JSON.parse(JSON.stringify(staging));
        const volume = head.resources.find((r) => r.name === "data-volume")!;
        const old = volume.urn;
        volume.urn = old.replace(/::data-volume$/, "::data-disk");
        volume.name = "data-disk";
        if (aliased) volume.aliases = [old];
        return head;
    };
    const withAlias = diffPlans(staging, renamed(true));
    assert.deepEqual([withAlias.added.length, withAlias.removed.length, withAlias.changed.length], [0, 0, 0]);
    assert.ok(dataLossGate([{ stack: "staging", removed: withAlias.removed, replaced: withAlias.changed.filter((c) => c.replaced) }], []).passed);
    const without = diffPlans(staging, renamed(false));
    assert.deepEqual([without.added.map((r) => r.name), without.removed.map((r) => r.name)], [["data-disk"], ["data-volume"]]);
    assert.equal(dataLossGate([{ stack: "staging", removed: without.removed, replaced: [] }], []).passed, false);
});

test("a resource whose provider changes (an instance moved to another host's engine) is replaced", () => {
    const staging: PlanDocument = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "plans", "staging.json"), "utf8"));
    const head: PlanDocument = JSON.parse(JSON.stringify(staging));
    const postgis = head.resources.find((r) => r.name === "peru-postgis")!;
    postgis.provider = "urn:pulumi:staging::housing-portal::housing-portal:host:DockerHost$pulumi:providers:docker::host-b-docker";
    const diff = diffPlans(staging, head);
    assert.deepEqual(diff.changed.map((c) => [c.resource.name, c.replaced, c.reasons]), [["peru-postgis", true, ["(provider)"]]]);
});
