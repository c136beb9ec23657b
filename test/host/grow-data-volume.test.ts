// host/grow-data-volume.sh, for real, as root, on loop devices: an ext4 with files is mounted, its
// backing file grown (truncate) and the loop device told (losetup -c), as a cloud volume resize
// looks to the host. The script must do nothing when the file system fills its device, and refuse
// anything that is not the device's ext4 at MOUNT_POINT. The online growth itself needs
// CAP_SYS_RESOURCE, which root here and in CI lacks: it is in privileged/grow-online.test.ts,
// which `npm run test:host:privileged` (test/host/vm/run.sh, run by .ci/run after this tier) runs
// in a qemu VM whose root has every capability.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Scratch, isMountPoint, requireHostTier, runScript, sh } from "./helpers";
import { MiB, fsBytes, mountedVolume as mounted } from "./grow-fixture";

describe("host/grow-data-volume.sh on loop devices", () => {
  let scratch: Scratch;
  const mountedVolume = (mib?: number, fsType?: string) => mounted(scratch, mib, fsType);

  before(() => {
    requireHostTier(["losetup", "mkfs.ext4", "mkfs.ext2", "mount", "mountpoint", "findmnt", "resize2fs", "dumpe2fs", "blockdev", "flock"], { loop: true });
    scratch = new Scratch("grow");
  });
  after(() => scratch?.cleanup());

  test("a file system that already fills its device: nothing to do, no resize2fs", async () => {
    const v = mountedVolume(64);
    const before = fsBytes(v.dev);
    const r = await runScript("grow-data-volume.sh", v.env({ EXPECT_BYTES: String(64 * MiB) }));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /nothing to do/);
    assert.doesNotMatch(r.stderr, /resize2fs/);
    assert.equal(fsBytes(v.dev), before);
    v.assertFilesIntact();
  });

  test("EXPECT_GB that the device never reaches: fails after WAIT_SECONDS and changes nothing", async () => {
    const v = mountedVolume(64);
    const before = fsBytes(v.dev);
    const r = await runScript("grow-data-volume.sh", v.env({ EXPECT_GB: "1", WAIT_SECONDS: "1" }));
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /did not reach 1073741824 bytes within 1s/);
    assert.equal(fsBytes(v.dev), before);
    v.assertFilesIntact();
  });

  test("refuses a device that is not what is mounted at MOUNT_POINT, an unmounted MOUNT_POINT, and a file system that is not ext4", async () => {
    const a = mountedVolume(64);
    const b = mountedVolume(64);
    b.grow(128);
    const bBefore = fsBytes(b.dev);

    // b's device, but a's mount point: another device is mounted there.
    const r1 = await runScript("grow-data-volume.sh", b.env({ MOUNT_POINT: a.mnt }));
    assert.equal(r1.code, 1, r1.stderr);
    assert.match(r1.stderr, /is not mounted at .*; refusing/);

    // b's device, its mount point unmounted.
    sh("umount", [b.mnt]);
    const r2 = await runScript("grow-data-volume.sh", b.env());
    assert.equal(r2.code, 1, r2.stderr);
    assert.match(r2.stderr, /is not a mount point; refusing/);
    assert.equal(isMountPoint(b.mnt), false, "nothing was mounted by the script");
    assert.equal(fsBytes(b.dev), bBefore, "an unmounted file system is never resized");

    // ext2 (not ext4) mounted at its mount point.
    const c = mountedVolume(64, "ext2");
    c.grow(128);
    const r3 = await runScript("grow-data-volume.sh", c.env());
    assert.equal(r3.code, 1, r3.stderr);
    assert.match(r3.stderr, /is ext2, not ext4; refusing/);
    assert.equal(fsBytes(c.dev), 64 * MiB);
    assert.ok(isMountPoint(c.mnt) && isMountPoint(a.mnt), "still mounted");
    a.assertFilesIntact();
    c.assertFilesIntact();
  });

  test("settings are validated (exit 2, one line)", async () => {
    const v = mountedVolume(64);
    for (const extra of [
      { DEVICE: "" },
      { DEVICE: "relative/dev" },
      { MOUNT_POINT: "mnt" },
      { EXPECT_GB: "ten" },
      { EXPECT_BYTES: "-1" },
      { EXPECT_BYTES: "1000", EXPECT_GB: "1" },
      { WAIT_SECONDS: "soon" },
    ] as Record<string, string>[]) {
      const r = await runScript("grow-data-volume.sh", v.env(extra));
      assert.equal(r.code, 2, `${JSON.stringify(extra)}: ${r.stderr}`);
      assert.match(r.stderr, /^grow-data-volume: invalid setting: .*\n$/);
    }
  });
});
