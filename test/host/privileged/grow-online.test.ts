// host/grow-data-volume.sh growing a MOUNTED ext4 online, for real. Needs CAP_SYS_RESOURCE
// (resize2fs's online resize ioctl), which root in a container without it lacks: CI's machine
// has it cleared in its bounding set, so this file is not part of `npm run test:host`.
// `npm run test:host:privileged` (test/host/vm/run.sh; .ci/run runs it) runs it in a qemu VM
// whose root has every capability. It fails loudly, never skips, where the capability is missing.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { after, before, describe, test } from "node:test";
import { Scratch, hostScript, requireHostTier, requireOnlineResize, runScript, scriptEnv, sh, start } from "../helpers";
import { MiB, fsBytes, mountedVolume as mounted, statfsBytes } from "../grow-fixture";

describe("host/grow-data-volume.sh grows a mounted ext4 online", () => {
  let scratch: Scratch;
  const mountedVolume = (mib?: number) => mounted(scratch, mib);

  before(() => {
    requireHostTier(["losetup", "mkfs.ext4", "mount", "mountpoint", "findmnt", "resize2fs", "dumpe2fs", "blockdev", "flock"], { loop: true });
    requireOnlineResize();
    scratch = new Scratch("grow-online");
  });
  after(() => scratch?.cleanup());

  test("grows the mounted ext4 online to the device's size; files intact; a second run does nothing", async () => {
    const v = mountedVolume(64);
    const before = statfsBytes(v.mnt);
    const majMin = sh("mountpoint", ["-d", v.mnt]).trim();
    v.grow(160);

    const r = await runScript("grow-data-volume.sh", v.env());
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /grew the file system/);
    const devBytes = Number(sh("blockdev", ["--getsize64", v.dev]).trim());
    assert.equal(devBytes, 160 * MiB);
    assert.ok(fsBytes(v.dev) > devBytes - MiB, `the ext4 fills the device (${fsBytes(v.dev)} of ${devBytes})`);
    const after1 = statfsBytes(v.mnt);
    assert.ok(after1 > before + 80 * MiB, `statfs shows the larger size: ${before} -> ${after1}`);
    assert.equal(sh("mountpoint", ["-d", v.mnt]).trim(), majMin, "still mounted, never unmounted");
    v.assertFilesIntact();
    fs.writeFileSync(`${v.mnt}/after-grow.txt`, "writable\n");

    const r2 = await runScript("grow-data-volume.sh", v.env());
    assert.equal(r2.code, 0, r2.stderr);
    assert.match(r2.stderr, /nothing to do/);
    assert.doesNotMatch(r2.stderr, /resize2fs/);
    assert.equal(statfsBytes(v.mnt), after1);
    v.assertFilesIntact();
  });

  test("EXPECT_BYTES: waits (bounded) until the device shows the new size, then grows", async () => {
    const v = mountedVolume(64);
    v.grow(128, false); // the cloud resized the volume, the host does not see it yet
    const s = start(hostScript("grow-data-volume.sh"), [], { env: scriptEnv(v.env({ EXPECT_BYTES: String(128 * MiB), WAIT_SECONDS: "120" })), timeoutMs: 150_000 });
    await s.stderrMatches(/waiting up to 120s for .* to show 134217728 bytes/);
    sh("losetup", ["-c", v.dev]); // now it does
    const r = await s.done;
    assert.equal(r.code, 0, r.stderr);
    assert.ok(fsBytes(v.dev) > 127 * MiB, String(fsBytes(v.dev)));
    v.assertFilesIntact();
  });

});
