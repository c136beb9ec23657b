// host/grow-data-volume.sh, for real, as root, on loop devices: an ext4 with files is mounted, its
// backing file grown (truncate) and the loop device told (losetup -c), as a cloud volume resize
// looks to the host. The script must grow the mounted file system online, keep every byte, do
// nothing the second time, and refuse anything that is not the device's ext4 at MOUNT_POINT.
import assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import { after, before, describe, test } from "node:test";
import { Scratch, hostScript, isMountPoint, requireHostTier, requireOnlineResize, runScript, scriptEnv, sh, sha256File, start } from "./helpers";

const MiB = 1024 * 1024;

describe("host/grow-data-volume.sh on loop devices", () => {
  let scratch: Scratch;
  let n = 0;

  before(() => {
    requireHostTier(["losetup", "mkfs.ext4", "mkfs.ext2", "mount", "mountpoint", "findmnt", "resize2fs", "dumpe2fs", "blockdev", "flock"], { loop: true });
    scratch = new Scratch("grow");
  });
  after(() => scratch?.cleanup());

  /** A mounted ext4 (or `fsType`) of `mib` MiB with files on it, reached through a by-id style symlink. */
  function mountedVolume(mib = 64, fsType = "ext4") {
    const dir = scratch.path(`case${++n}`);
    fs.mkdirSync(dir);
    const image = scratch.image(`case${n}.img`, mib);
    const dev = scratch.attach(image);
    sh(`mkfs.${fsType}`, ["-q", "-L", "hp-data", dev]);
    const mnt = `${dir}/mnt`;
    fs.mkdirSync(mnt);
    sh("mount", [dev, mnt]);
    fs.mkdirSync(`${mnt}/postgis/colombia`, { recursive: true });
    fs.writeFileSync(`${mnt}/postgis/colombia/PG_VERSION`, "15\n");
    fs.mkdirSync(`${mnt}/images/colombia`, { recursive: true });
    fs.writeFileSync(`${mnt}/images/colombia/street-1.jpg`, crypto.randomBytes(6 * MiB));
    fs.writeFileSync(`${mnt}/README.keep`, "existing data\n");
    const files = ["postgis/colombia/PG_VERSION", "images/colombia/street-1.jpg", "README.keep"];
    const sums = Object.fromEntries(files.map((f) => [f, sha256File(`${mnt}/${f}`)]));
    const byId = `${dir}/scsi-0DO_Volume_hp-test-data`;
    fs.symlinkSync(dev, byId);
    return {
      dir,
      image,
      dev,
      mnt,
      byId,
      env(extra: Record<string, string> = {}): Record<string, string> {
        return { DEVICE: byId, MOUNT_POINT: mnt, LOCK_FILE: `${dir}/lock`, WAIT_SECONDS: "30", ...extra };
      },
      /** Grow the "cloud volume": the backing file, then (optionally) tell the loop device. */
      grow(toMib: number, tell = true) {
        fs.truncateSync(image, toMib * MiB);
        if (tell) sh("losetup", ["-c", dev]);
      },
      assertFilesIntact() {
        for (const [f, sum] of Object.entries(sums)) assert.equal(sha256File(`${mnt}/${f}`), sum, `${f} is intact`);
      },
    };
  }

  /** The mounted file system's size as statfs reports it (what df shows). */
  function statfsBytes(mnt: string): number {
    const [blocks, bsize] = sh("stat", ["-f", "-c", "%b %S", mnt]).trim().split(" ").map(Number);
    return blocks * bsize;
  }

  /** The ext4's own size (block count x block size). */
  function fsBytes(dev: string): number {
    const out = sh("dumpe2fs", ["-h", dev]);
    return Number(/^Block count:\s+(\d+)/m.exec(out)![1]) * Number(/^Block size:\s+(\d+)/m.exec(out)![1]);
  }

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

  test("grows the mounted ext4 online to the device's size; files intact; a second run does nothing", async () => {
    requireOnlineResize();
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
    requireOnlineResize();
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
