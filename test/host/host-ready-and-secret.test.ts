// host/host-ready.sh (the gate before any Docker resource) and host/write-secret.sh (the
// snapshot token's way onto the host), for real as root.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { spawnSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { Scratch, hostScript, requireHostTier, runScript, scriptEnv, sh } from "./helpers";

describe("host/host-ready.sh", () => {
  let scratch: Scratch;
  let dataRoot: string;
  let dockerOk: string;
  let dockerDown: string;

  before(() => {
    requireHostTier(["mount", "mountpoint"]);
    scratch = new Scratch("ready");
    dataRoot = scratch.path("data");
    fs.mkdirSync(dataRoot);
    dockerOk = scratch.path("docker-ok");
    fs.writeFileSync(dockerOk, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    dockerDown = scratch.path("docker-down");
    fs.writeFileSync(dockerDown, "#!/bin/sh\nexit 1\n", { mode: 0o755 });
  });
  after(() => scratch?.cleanup());

  test("refuses while the data root is not a mount point", async () => {
    const r = await runScript("host-ready.sh", { DATA_ROOT: dataRoot, DOCKER: dockerOk, CLOUD_INIT: "no-cloud-init-here" });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /is not a mount point: the data volume is missing/);
  });

  test("is ready once the volume is mounted and Docker answers; waits boundedly for Docker", async () => {
    sh("mount", ["-t", "tmpfs", "-o", "size=1m", "hp-ready", dataRoot]);
    scratch.defer(() => spawnSync("umount", [dataRoot]));
    const ok = await runScript("host-ready.sh", { DATA_ROOT: dataRoot, DOCKER: dockerOk, CLOUD_INIT: "no-cloud-init-here" });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /ready/);
    const down = await runScript("host-ready.sh", { DATA_ROOT: dataRoot, DOCKER: dockerDown, CLOUD_INIT: "no-cloud-init-here", WAIT_SECONDS: "2" });
    assert.equal(down.code, 1);
    assert.match(down.stderr, /Docker engine does not answer/);
  });

  test("a cloud-init that finished with errors means not ready", async () => {
    const failed = scratch.path("cloud-init-failed");
    fs.writeFileSync(failed, "#!/bin/sh\necho 'status: error'\nexit 1\n", { mode: 0o755 });
    const r = await runScript("host-ready.sh", { DATA_ROOT: dataRoot, DOCKER: dockerOk, CLOUD_INIT: failed });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cloud-init did not finish cleanly \(status: error/);
  });

  test("a cloud-init that is installed but does not run on this host is not waited for", async () => {
    // Its `status --wait` never returns: without the check, the gate waits until WAIT_SECONDS.
    const notRun = scratch.path("cloud-init-not-run");
    fs.writeFileSync(notRun, '#!/bin/sh\n[ "$2" = --wait ] && exec sleep infinity\necho "status: not run"\n', { mode: 0o755 });
    const r = await runScript("host-ready.sh", { DATA_ROOT: dataRoot, DOCKER: dockerOk, CLOUD_INIT: notRun, WAIT_SECONDS: "2" });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /does not run on this host: not waiting/);
  });
});

describe("host/write-secret.sh", () => {
  let scratch: Scratch;
  before(() => {
    requireHostTier(["bash"]);
    scratch = new Scratch("secret");
  });
  after(() => scratch?.cleanup());

  function write(target: string, input: string) {
    return spawnSync(hostScript("write-secret.sh"), [], { input, encoding: "utf8", env: scriptEnv({ TARGET: target }) });
  }

  test("writes standard input to a root-only file in a root-only directory, replacing the old one", () => {
    const target = scratch.path("etc", "housing-portal", "do-token");
    assert.equal(write(target, "first-token\n").status, 0);
    assert.equal(write(target, "second-token\n").status, 0);
    assert.equal(fs.readFileSync(target, "utf8"), "second-token\n");
    assert.equal(fs.statSync(target).mode & 0o777, 0o600);
    assert.equal(fs.statSync(scratch.path("etc", "housing-portal")).mode & 0o777, 0o700);
    assert.deepEqual(fs.readdirSync(scratch.path("etc", "housing-portal")), ["do-token"], "no temporary file left");
  });

  test("empty input leaves the existing secret alone and fails", () => {
    const target = scratch.path("kept");
    assert.equal(write(target, "keep-me").status, 0);
    const r = write(target, "");
    assert.equal(r.status, 1);
    assert.match(r.stderr, /nothing on standard input/);
    assert.equal(fs.readFileSync(target, "utf8"), "keep-me");
  });

  test("a relative target is a bad setting", () => {
    assert.equal(write("relative/token", "x").status, 2);
  });
});
