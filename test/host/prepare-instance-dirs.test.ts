// host/prepare-instance-dirs.sh: creates $DATA_ROOT/<kind>/<instance> on a real mount (tmpfs),
// validates the instance name, and refuses a DATA_ROOT that is not a mount point.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { Scratch, requireHostTier, runScript, sh } from "./helpers";

const KINDS = "imports exports images drone tiles postgis backups media staticfiles docs drone-viewer".split(" ");

describe("host/prepare-instance-dirs.sh", () => {
  let scratch: Scratch;
  let dataRoot: string;

  before(() => {
    requireHostTier(["mount", "mountpoint"]);
    scratch = new Scratch("prepare");
    dataRoot = scratch.path("data");
    fs.mkdirSync(dataRoot);
    sh("mount", ["-t", "tmpfs", "-o", "size=16m", "hp-test-data", dataRoot]);
  });
  after(() => scratch?.cleanup());

  test("creates every kind's directory for the instance, postgis 0700; a second run changes nothing", async () => {
    const r = await runScript("prepare-instance-dirs.sh", { DATA_ROOT: dataRoot, INSTANCE: "colombia" });
    assert.equal(r.code, 0, r.stderr);
    for (const kind of KINDS) {
      assert.ok(fs.statSync(path.join(dataRoot, kind, "colombia")).isDirectory(), `${kind}/colombia`);
    }
    assert.equal(fs.statSync(path.join(dataRoot, "postgis", "colombia")).mode & 0o777, 0o700);

    fs.writeFileSync(path.join(dataRoot, "images", "colombia", "a.jpg"), "x");
    const again = await runScript("prepare-instance-dirs.sh", { DATA_ROOT: dataRoot, INSTANCE: "colombia" });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /nothing to do/);
    assert.equal(fs.readFileSync(path.join(dataRoot, "images", "colombia", "a.jpg"), "utf8"), "x");

    // A second instance sits beside the first; POSTGIS_OWNER sets the owner of its postgis dir.
    const peru = await runScript("prepare-instance-dirs.sh", { DATA_ROOT: dataRoot, INSTANCE: "peru", POSTGIS_OWNER: "999:999" });
    assert.equal(peru.code, 0, peru.stderr);
    const st = fs.statSync(path.join(dataRoot, "postgis", "peru"));
    assert.equal(st.uid, 999);
    assert.equal(st.gid, 999);
    assert.deepEqual(fs.readdirSync(path.join(dataRoot, "postgis")).sort(), ["colombia", "peru"]);
  });

  test("rejects an instance name that is not a lowercase DNS label, creating nothing", async () => {
    const before = fs.readdirSync(dataRoot).sort();
    for (const bad of ["", "Colombia", "-peru", "peru-", "a_b", "a.b", "../etc", "a/b", "x".repeat(64), "per u"]) {
      const r = await runScript("prepare-instance-dirs.sh", { DATA_ROOT: dataRoot, INSTANCE: bad });
      assert.equal(r.code, 2, `${JSON.stringify(bad)} must be rejected: ${r.stderr}`);
      assert.match(r.stderr, /INSTANCE/);
    }
    assert.deepEqual(fs.readdirSync(dataRoot).sort(), before);
    const ok = await runScript("prepare-instance-dirs.sh", { DATA_ROOT: dataRoot, INSTANCE: "x".repeat(63) });
    assert.equal(ok.code, 0, "63 characters is a valid label");
  });

  test("refuses a DATA_ROOT that is not a mount point unless ALLOW_UNMOUNTED=1", async () => {
    const plain = scratch.path("root-disk");
    fs.mkdirSync(plain);
    const r = await runScript("prepare-instance-dirs.sh", { DATA_ROOT: plain, INSTANCE: "paraguay" });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not a mount point/);
    assert.deepEqual(fs.readdirSync(plain), [], "nothing landed on the root disk");

    const allowed = await runScript("prepare-instance-dirs.sh", { DATA_ROOT: plain, INSTANCE: "paraguay", ALLOW_UNMOUNTED: "1" });
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.ok(fs.statSync(path.join(plain, "postgis", "paraguay")).isDirectory());
  });
});
