// The offline plan diff: additions, changes, replacements and removals, with protected and
// retained resources called out at the top of the pull-request comment.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "fs";
import { COMMENT_MARKER, diffPlans, renderDiffComment } from "../../tools/planDiff";
import type { PlanDocument } from "../../tools/planner";

const staging: PlanDocument = JSON.parse(fs.readFileSync("plans/staging.json", "utf8"));
const clone = (): PlanDocument => JSON.parse(JSON.stringify(staging));
const byName = (plan: PlanDocument, name: string) => plan.resources.find((r) => r.name === name)!;

test("identical plans have no changes", () => {
    const diff = diffPlans(staging, clone());
    assert.deepEqual([diff.added, diff.removed, diff.changed, diff.warnings], [[], [], [], []]);
    assert.match(renderDiffComment([{ stack: "staging", diff }]), /### staging: 0 to add, 0 to change, 0 to replace, 0 to remove\n\nNo changes\./);
});

test("a protected data volume that would be replaced is flagged at the top", () => {
    const head = clone();
    byName(head, "data-volume").inputs.snapshotId = "snap-1";
    const diff = diffPlans(staging, head);
    assert.deepEqual(diff.changed.map((c) => [c.resource.name, c.fields, c.replaced]), [["data-volume", ["snapshotId"], true]]);
    assert.match(diff.warnings[0], /^data-volume \(digitalocean:index\/volume:Volume\) is protected and would be REPLACED \(snapshotId\)/);
    const comment = renderDiffComment([{ stack: "staging", diff }]);
    assert.ok(comment.startsWith(`${COMMENT_MARKER}\n## Offline plan diff\n\n> [!WARNING]`));
    assert.match(comment, /- `\+-` data-volume/);
});

test("growing the volume is an in-place change and no warning", () => {
    const head = clone();
    byName(head, "data-volume").inputs.size = 200;
    const diff = diffPlans(staging, head);
    assert.deepEqual(diff.changed.map((c) => [c.resource.name, c.replaced]), [["data-volume", false]]);
    assert.deepEqual(diff.warnings, []);
});

test("removing an instance lists its resources and says its database volume is kept", () => {
    const head = clone();
    head.resources = head.resources.filter((r) => !(r.name === "peru" || r.name.startsWith("peru-")));
    const diff = diffPlans(staging, head);
    assert.ok(diff.removed.length > 5);
    assert.ok(diff.warnings.some((w) => /^peru-postgis-data \(docker:index\/volume:Volume\) is protected and would be removed/.test(w)));
});

test("adding an instance shows only additions", () => {
    const head = clone();
    const extra = staging.resources.filter((r) => r.name.startsWith("peru")).map((r) => ({ ...r, urn: r.urn.replace(/peru/g, "chile"), name: r.name.replace("peru", "chile") }));
    head.resources.push(...extra);
    const diff = diffPlans(staging, head);
    assert.equal(diff.added.length, extra.length);
    assert.deepEqual([diff.changed, diff.removed, diff.warnings], [[], [], []]);
});
