// host/unregister-instance.sh: removes an instance's marker from the registry that
// prepare-instance-dirs.sh writes, leaves the rest (other markers, the instance's data) alone,
// is idempotent, and validates its settings.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { Scratch, requireHostTier, runScript } from "./helpers";

describe("host/unregister-instance.sh", () => {
  let scratch: Scratch;
  before(() => {
    requireHostTier(["rm"]);
    scratch = new Scratch("unregister");
  });
  after(() => scratch?.cleanup());

  test("prepare registers, unregister removes only that marker and keeps the data; a second run has nothing to do", async () => {
    const dataRoot = scratch.path("data");
    const instancesDir = scratch.path("instances");
    fs.mkdirSync(dataRoot);
    for (const instance of ["peru", "chile"]) {
      const r = await runScript("prepare-instance-dirs.sh", { DATA_ROOT: dataRoot, INSTANCE: instance, INSTANCES_DIR: instancesDir, ALLOW_UNMOUNTED: "1", DATA_DIRS: "postgis images" });
      assert.equal(r.code, 0, r.stderr);
    }
    assert.deepEqual(fs.readdirSync(instancesDir).sort(), ["chile", "peru"]);

    const r = await runScript("unregister-instance.sh", { INSTANCE: "peru", INSTANCES_DIR: instancesDir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /unregistered peru from .*its data is left in place/);
    assert.deepEqual(fs.readdirSync(instancesDir), ["chile"]);
    assert.ok(fs.statSync(path.join(dataRoot, "postgis", "peru")).isDirectory(), "the data stays");

    const again = await runScript("unregister-instance.sh", { INSTANCE: "peru", INSTANCES_DIR: instancesDir });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /nothing to do: peru is not registered/);
    const noDir = await runScript("unregister-instance.sh", { INSTANCE: "peru", INSTANCES_DIR: scratch.path("missing") });
    assert.equal(noDir.code, 0, noDir.stderr);
    assert.deepEqual(fs.readdirSync(instancesDir), ["chile"]);
  });

  test("a directory in place of the marker is left alone and fails the run", async () => {
    const instancesDir = scratch.path("odd");
    fs.mkdirSync(path.join(instancesDir, "peru"), { recursive: true });
    const r = await runScript("unregister-instance.sh", { INSTANCE: "peru", INSTANCES_DIR: instancesDir });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /is a directory, not a marker file/);
    assert.ok(fs.statSync(path.join(instancesDir, "peru")).isDirectory());
  });

  test("bad settings exit 2 with one line, removing nothing", async () => {
    const instancesDir = scratch.path("kept");
    fs.mkdirSync(instancesDir);
    fs.writeFileSync(path.join(instancesDir, "peru"), "");
    for (const env of <Record<string, string>[]>[
      { INSTANCE: "" },
      { INSTANCE: "Peru" },
      { INSTANCE: "../peru" },
      { INSTANCE: "peru", INSTANCES_DIR: "instances" },
      { INSTANCE: "peru", INSTANCES_DIR: "/" },
    ]) {
      const r = await runScript("unregister-instance.sh", { INSTANCES_DIR: instancesDir, ...env });
      assert.equal(r.code, 2, `${JSON.stringify(env)}: ${r.stderr}`);
      assert.match(r.stderr, /^unregister-instance: invalid setting: (INSTANCE|INSTANCES_DIR)/);
      assert.equal(r.stderr.split("\n").filter(Boolean).length, 1);
    }
    assert.deepEqual(fs.readdirSync(instancesDir), ["peru"]);
  });
});
