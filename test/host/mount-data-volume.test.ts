// host/mount-data-volume.sh, for real, as root, on loop devices (docs/host-scripts.md).
// Every test uses its own image, mount point and FSTAB under a scratch dir; /etc/fstab and
// /mnt/data are never touched.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { after, before, describe, test } from "node:test";
import {
  Scratch,
  hostScript,
  isImmutable,
  isMountPoint,
  probe,
  requireHostTier,
  runScript,
  scriptEnv,
  sh,
  sha256File,
  start,
} from "./helpers";

const DATA_DIRS = "imports exports images drone tiles postgis backups media staticfiles docs drone-viewer".split(" ");

describe("host/mount-data-volume.sh on loop devices", () => {
  let scratch: Scratch;
  let n = 0;

  before(() => {
    requireHostTier(
      ["losetup", "blkid", "wipefs", "mkfs.ext4", "mount", "umount", "mountpoint", "chattr", "lsattr", "sfdisk", "mkswap", "mkfs.ext2", "cmp", "flock"],
      { loop: true },
    );
    scratch = new Scratch("mount");
  });
  after(() => scratch?.cleanup());

  /** A fresh case: its own dir with mount point path, fstab path and lock file. */
  function newCase() {
    const dir = scratch.path(`case${++n}`);
    fs.mkdirSync(dir);
    return {
      dir,
      mnt: `${dir}/mnt`,
      fstab: `${dir}/fstab`,
      env(device: string, extra: Record<string, string> = {}): Record<string, string> {
        return { DEVICE: device, MOUNT_POINT: `${dir}/mnt`, FSTAB: `${dir}/fstab`, LOCK_FILE: `${dir}/lock`, WAIT_SECONDS: "5", ...extra };
      },
    };
  }

  function fstabLinesFor(fstab: string, mnt: string): string[] {
    if (!fs.existsSync(fstab)) return [];
    return fs
      .readFileSync(fstab, "utf8")
      .split("\n")
      .filter((l) => l.trim() && !l.trim().startsWith("#") && l.trim().split(/\s+/)[1] === mnt);
  }

  /** An ext4 file system with a few files on it, made by hand (like an existing volume). */
  function volumeWithFiles(name: string): { image: string; uuid: string } {
    const image = scratch.image(name);
    sh("mkfs.ext4", ["-q", "-L", "hp-data", image]);
    const dev = scratch.attach(image);
    const tmpMnt = scratch.path(`${name}.fill`);
    fs.mkdirSync(tmpMnt);
    sh("mount", [dev, tmpMnt]);
    fs.mkdirSync(`${tmpMnt}/images/colombia`, { recursive: true });
    fs.writeFileSync(`${tmpMnt}/images/colombia/street-1.jpg`, "jpeg bytes of colombia");
    fs.mkdirSync(`${tmpMnt}/postgis/colombia`, { recursive: true });
    fs.writeFileSync(`${tmpMnt}/postgis/colombia/PG_VERSION`, "15\n");
    fs.writeFileSync(`${tmpMnt}/README.keep`, "existing data\n");
    sh("umount", [tmpMnt]);
    const uuid = probe(dev).UUID;
    assert.ok(uuid, "the hand-made file system has a UUID");
    scratch.detach(dev);
    return { image, uuid };
  }

  function assertFilesIntact(mnt: string): void {
    assert.equal(fs.readFileSync(`${mnt}/images/colombia/street-1.jpg`, "utf8"), "jpeg bytes of colombia");
    assert.equal(fs.readFileSync(`${mnt}/postgis/colombia/PG_VERSION`, "utf8"), "15\n");
    assert.equal(fs.readFileSync(`${mnt}/README.keep`, "utf8"), "existing data\n");
  }

  test("a blank device is formatted, mounted by UUID in fstab, guarded, and gets the data dirs", async () => {
    const c = newCase();
    const dev = scratch.attach(scratch.image(`case${n}.img`));
    assert.deepEqual(probe(dev), {}, "the new device is blank");

    const r = await runScript("mount-data-volume.sh", c.env(dev));
    assert.equal(r.code, 0, r.stderr);
    assert.ok(isMountPoint(c.mnt), "mounted");
    const p = probe(dev);
    assert.equal(p.TYPE, "ext4");
    assert.equal(p.LABEL, "hp-data");
    for (const d of DATA_DIRS) assert.ok(fs.statSync(`${c.mnt}/${d}`).isDirectory(), `${d} exists on the volume`);
    assert.equal(sh("mountpoint", ["-d", c.mnt]).trim(), sh("mountpoint", ["-x", dev]).trim(), "the device is what is mounted");

    const lines = fstabLinesFor(c.fstab, c.mnt);
    assert.equal(lines.length, 1, `exactly one fstab line:\n${fs.readFileSync(c.fstab, "utf8")}`);
    const [src, mp, type, opts, , pass] = lines[0].split(/\s+/);
    assert.equal(src, `UUID=${p.UUID}`);
    assert.equal(mp, c.mnt);
    assert.equal(type, "ext4");
    assert.match(opts, /(^|,)nofail(,|$)/);
    assert.match(opts, /(^|,)x-systemd\.device-timeout=\d+/);
    assert.equal(pass, "2");

    // The guard: the mounted volume's root is writable and not immutable...
    assert.equal(isImmutable(c.mnt), false, "the volume's root is not immutable");
    fs.writeFileSync(`${c.mnt}/imports/probe.txt`, "on the volume");
    // ...while the directory underneath (on the root disk) is.
    sh("umount", [c.mnt]);
    assert.ok(isImmutable(c.mnt), "the empty mount point is immutable while nothing is mounted");
    assert.throws(() => fs.writeFileSync(`${c.mnt}/stray.txt`, "x"), /EPERM|EACCES/);
  });

  test("a second run is a no-op: same UUID, same files, exactly one fstab line, fstab untouched", async () => {
    const c = newCase();
    const dev = scratch.attach(scratch.image(`case${n}.img`));
    const first = await runScript("mount-data-volume.sh", c.env(dev));
    assert.equal(first.code, 0, first.stderr);
    const uuid = probe(dev).UUID;
    fs.writeFileSync(`${c.mnt}/exports/report.csv`, "a,b\n");
    const fstabBefore = fs.readFileSync(c.fstab, "utf8");
    const mtimeBefore = fs.statSync(c.fstab).mtimeMs;

    const second = await runScript("mount-data-volume.sh", c.env(dev));
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /nothing to do/);
    assert.doesNotMatch(second.stderr, /creating an? ext4|fstab: UUID|mounted \/dev/);
    assert.equal(probe(dev).UUID, uuid, "not reformatted");
    assert.equal(fs.readFileSync(`${c.mnt}/exports/report.csv`, "utf8"), "a,b\n");
    assert.equal(fs.readFileSync(c.fstab, "utf8"), fstabBefore, "fstab unchanged");
    assert.equal(fs.statSync(c.fstab).mtimeMs, mtimeBefore, "fstab not rewritten");
    assert.equal(fstabLinesFor(c.fstab, c.mnt).length, 1);

    // After a reboot-like unmount, a third run mounts again and still adds no second line.
    sh("umount", [c.mnt]);
    const third = await runScript("mount-data-volume.sh", c.env(dev));
    assert.equal(third.code, 0, third.stderr);
    assert.ok(isMountPoint(c.mnt));
    assert.equal(probe(dev).UUID, uuid);
    assert.equal(fstabLinesFor(c.fstab, c.mnt).length, 1);
    assert.equal(fs.readFileSync(`${c.mnt}/exports/report.csv`, "utf8"), "a,b\n");
  });

  test("a stale or duplicated fstab entry for the mount point is replaced by exactly one line; other lines stay", async () => {
    const c = newCase();
    const dev = scratch.attach(scratch.image(`case${n}.img`));
    const other = "UUID=11111111-2222-3333-4444-555555555555 /srv/other ext4 defaults 0 2";
    fs.writeFileSync(
      c.fstab,
      [
        "# /etc/fstab: static file system information.",
        other,
        `UUID=deadbeef-0000-0000-0000-000000000000 ${c.mnt} ext4 defaults,nofail 0 2`,
        `/dev/disk/by-id/scsi-0DO_Volume_old ${c.mnt}/ ext4 defaults,nofail,discard 0 0`,
        "",
      ].join("\n"),
    );
    const r = await runScript("mount-data-volume.sh", c.env(dev));
    assert.equal(r.code, 0, r.stderr);
    const text = fs.readFileSync(c.fstab, "utf8");
    const lines = fstabLinesFor(c.fstab, c.mnt).concat(fstabLinesFor(c.fstab, `${c.mnt}/`));
    assert.equal(lines.length, 1, text);
    assert.ok(lines[0].startsWith(`UUID=${probe(dev).UUID} `), text);
    assert.ok(text.includes(other), "unrelated lines are kept");
    assert.ok(text.startsWith("# /etc/fstab"), "comments are kept");
  });

  test("a device with a file system and files is mounted with the files intact, never reformatted", async () => {
    const c = newCase();
    const vol = volumeWithFiles(`case${n}.img`);
    const before = sha256File(vol.image);
    const dev = scratch.attach(vol.image);
    // Unchanged until the script mounts it: the content is the hand-made one.
    assert.equal(sha256File(vol.image), before);

    const r = await runScript("mount-data-volume.sh", c.env(dev));
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /creating an? ext4/);
    assert.ok(isMountPoint(c.mnt));
    assert.equal(probe(dev).UUID, vol.uuid, "same UUID: not reformatted");
    assertFilesIntact(c.mnt);
    for (const d of DATA_DIRS) assert.ok(fs.statSync(`${c.mnt}/${d}`).isDirectory(), `${d} exists`);
    assert.equal(fstabLinesFor(c.fstab, c.mnt)[0]?.split(/\s+/)[0], `UUID=${vol.uuid}`);
  });

  test("a byte copy of a volume (a snapshot restore) attached as a new device mounts with its files", async () => {
    const c = newCase();
    const vol = volumeWithFiles(`case${n}-orig.img`);
    const copy = scratch.path(`case${n}-restored.img`);
    sh("cp", ["--sparse=always", vol.image, copy]);
    const dev = scratch.attach(copy);

    const r = await runScript("mount-data-volume.sh", c.env(dev));
    assert.equal(r.code, 0, r.stderr);
    assert.ok(isMountPoint(c.mnt));
    assert.equal(sh("mountpoint", ["-d", c.mnt]).trim(), sh("mountpoint", ["-x", dev]).trim(), "the copy is what is mounted");
    assert.equal(probe(dev).UUID, vol.uuid, "the restored volume keeps its UUID");
    assertFilesIntact(c.mnt);
    assert.equal(fstabLinesFor(c.fstab, c.mnt).length, 1);
  });

  test("a device that never appears: non-zero exit within WAIT_SECONDS, the mount point stays guarded", async () => {
    const c = newCase();
    const missing = `${c.dir}/dev/disk/by-id/scsi-0DO_Volume_never-there`;
    const r = await runScript("mount-data-volume.sh", c.env(missing, { WAIT_SECONDS: "2" }), 60_000);
    assert.equal(r.timedOut, false, "bounded by WAIT_SECONDS, not by the test's kill");
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /did not appear within 2s/);
    assert.equal(isMountPoint(c.mnt), false);
    assert.ok(isImmutable(c.mnt), "guarded");
    assert.throws(() => fs.writeFileSync(`${c.mnt}/written-to-root-disk.txt`, "x"), /EPERM|EACCES/);
    assert.throws(() => fs.mkdirSync(`${c.mnt}/postgis`), /EPERM|EACCES/);
    assert.deepEqual(fs.readdirSync(c.mnt), []);
    assert.equal(fstabLinesFor(c.fstab, c.mnt).length, 0, "no fstab line without a device");
  });

  test("a device that appears while the script waits is then formatted and mounted", async () => {
    const c = newCase();
    const link = `${c.dir}/scsi-0DO_Volume_late`;
    const img = scratch.image(`case${n}.img`);
    const s = start(hostScript("mount-data-volume.sh"), [], { env: scriptEnv(c.env(link, { WAIT_SECONDS: "60" })), timeoutMs: 90_000 });
    await s.stderrMatches(/waiting up to 60s/);
    const dev = scratch.attach(img);
    fs.symlinkSync(dev, link);
    const r = await s.done;
    assert.equal(r.code, 0, r.stderr);
    assert.ok(isMountPoint(c.mnt));
    assert.equal(probe(dev).TYPE, "ext4");
  });

  const refusals: { what: string; prepare: (image: string) => void }[] = [
    { what: "a DOS partition table (sfdisk)", prepare: (img) => sh("sfdisk", ["-q", img], { input: ",,L\n" }) },
    { what: "a GPT partition table (sfdisk)", prepare: (img) => sh("sfdisk", ["-q", "--label", "gpt", img], { input: ",,L\n" }) },
    { what: "a swap signature (mkswap)", prepare: (img) => sh("mkswap", ["-q", img]) },
    { what: "another file system (ext2, not the configured ext4)", prepare: (img) => sh("mkfs.ext2", ["-q", img]) },
    {
      what: "data without any recognised signature",
      prepare: (img) => {
        const fd = fs.openSync(img, "r+");
        fs.writeSync(fd, Buffer.alloc(4096, 0xa5), 0, 4096, 65536);
        fs.closeSync(fd);
      },
    },
  ];
  for (const k of refusals) {
    test(`a device carrying ${k.what} is refused and never formatted`, async () => {
      const c = newCase();
      const img = scratch.image(`case${n}.img`);
      k.prepare(img);
      const dev = scratch.attach(img);
      const sigBefore = probe(dev);
      const hashBefore = sha256File(img);

      const r = await runScript("mount-data-volume.sh", c.env(dev));
      assert.notEqual(r.code, 0, `must refuse:\n${r.stderr}`);
      assert.match(r.stderr, /refusing/);
      assert.equal(isMountPoint(c.mnt), false, "not mounted");
      assert.deepEqual(probe(dev), sigBefore, "the signature is still there");
      assert.equal(sha256File(img), hashBefore, "not a byte changed");
      assert.equal(fstabLinesFor(c.fstab, c.mnt).length, 0, "no fstab line");
      assert.ok(isImmutable(c.mnt), "the mount point stays guarded");
    });
  }

  test("a different file system already mounted at the mount point is left alone, the device untouched", async () => {
    const c = newCase();
    const a = scratch.attach(scratch.image(`case${n}-a.img`));
    const b = scratch.attach(scratch.image(`case${n}-b.img`));
    const first = await runScript("mount-data-volume.sh", c.env(a));
    assert.equal(first.code, 0, first.stderr);
    const r = await runScript("mount-data-volume.sh", c.env(b));
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /another file system mounted/);
    assert.deepEqual(probe(b), {}, "the other device was not formatted");
    assert.equal(sh("mountpoint", ["-d", c.mnt]).trim(), sh("mountpoint", ["-x", a]).trim());
  });

  test("settings are validated", async () => {
    const c = newCase();
    for (const [env, re] of [
      [{ DEVICE: "" }, /DEVICE is required/],
      [{ DEVICE: "relative/dev" }, /absolute/],
      [{ FS_TYPE: "btrfs" }, /FS_TYPE/],
      [{ WAIT_SECONDS: "soon" }, /WAIT_SECONDS/],
      [{ MOUNT_POINT: "/" }, /MOUNT_POINT/],
      [{ FS_LABEL: "a-label-far-too-long-for-ext4" }, /FS_LABEL/],
    ] as [Record<string, string>, RegExp][]) {
      const r = await runScript("mount-data-volume.sh", c.env("/dev/null-device", env));
      assert.equal(r.code, 2, `${JSON.stringify(env)}: ${r.stderr}`);
      assert.match(r.stderr, re);
    }
    assert.equal(fs.existsSync(c.mnt), false, "nothing created on a bad setting");
  });
});
