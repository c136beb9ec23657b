// The grow tests' fixture: a mounted ext4 with files on a loop device, reached through a by-id
// style link, whose "cloud volume" (the backing file) can be grown. Shared by
// grow-data-volume.test.ts and privileged/grow-online.test.ts.
import assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import { Scratch, sh, sha256File } from "./helpers";

export const MiB = 1024 * 1024;

export type GrowVolume = ReturnType<typeof mountedVolume>;

let n = 0;
/** A mounted ext4 (or `fsType`) of `mib` MiB with files on it, reached through a by-id style symlink. */
export function mountedVolume(scratch: Scratch, mib = 64, fsType = "ext4") {
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
export function statfsBytes(mnt: string): number {
  const [blocks, bsize] = sh("stat", ["-f", "-c", "%b %S", mnt]).trim().split(" ").map(Number);
  return blocks * bsize;
}

/** The ext4's own size (block count x block size). */
export function fsBytes(dev: string): number {
  const out = sh("dumpe2fs", ["-h", dev]);
  return Number(/^Block count:\s+(\d+)/m.exec(out)![1]) * Number(/^Block size:\s+(\d+)/m.exec(out)![1]);
}

