// host/release-data-volume.sh on real mounts (a loop-device ext4, and tmpfs), with a `docker` shim
// whose containers are real processes (stopping one kills its process) and a `systemctl` shim
// (stopping docker.service makes the docker shim fail like a client without a daemon). Both
// shims record each call, with whether the mount point was still mounted at that moment.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import {
  Scratch,
  isMountPoint,
  requireHostTier,
  runScript,
  sh,
  sha256File,
  start,
  trySh,
  waitUntil,
  writeExecutable,
  type Started,
} from "./helpers";

/** Is `pid` gone, or a zombie (which holds no file and no cwd any more)? */
function dead(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
}

describe("host/release-data-volume.sh", () => {
  let scratch: Scratch;
  let shimDir: string;
  let n = 0;
  const procs: Started[] = [];

  before(() => {
    requireHostTier(["losetup", "mkfs.ext4", "mount", "umount", "mountpoint", "findmnt", "fuser", "lsof", "timeout"], { loop: true });
    scratch = new Scratch("release");
    scratch.defer(() => {
      for (const p of procs) trySh("kill", ["-KILL", String(p.child.pid)]);
    });
    shimDir = scratch.path("shims");
    fs.mkdirSync(shimDir);
    writeExecutable(
      path.join(shimDir, "docker"),
      `#!/usr/bin/env bash
# docker shim. $SHIM_STATE/containers: "<id> <pid> <instance label or ->" of the running containers.
set -euo pipefail
state="$SHIM_STATE"
printf 'docker %s (%s)\\n' "$*" "$(mountpoint -q "$SHIM_MOUNT" && echo mounted || echo unmounted)" >>"$state/events"
if [[ -e "$state/docker-stopped" || "\${SHIM_PS:-}" == fail ]]; then
  echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2
  exit 1
fi
case "$*" in
  "ps -q --filter label=housing-portal.machine")
    awk '$3 != "-" { print $1 }' "$state/containers" ;;
  "stop -t 60 "*)
    [[ "\${SHIM_STOP:-}" != hang ]] || exec sleep 300
    shift 3
    for id in "$@"; do
      pid="$(awk -v id="$id" '$1 == id { print $2 }' "$state/containers")"
      [[ -n "$pid" ]] || { echo "Error response from daemon: No such container: $id" >&2; exit 1; }
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 300); do # a real docker stop returns once the container has exited
        st="$(cut -d')' -f2 "/proc/$pid/stat" 2>/dev/null | awk '{ print $1 }' || true)"
        [[ -z "$st" || "$st" == Z ]] && break
        sleep 0.1
      done
      awk -v id="$id" '$1 != id' "$state/containers" >"$state/containers.new"
      mv "$state/containers.new" "$state/containers"
      echo "$id"
    done ;;
  *) echo "docker shim: unexpected: docker $*" >&2; exit 2 ;;
esac
`,
    );
    writeExecutable(
      path.join(shimDir, "systemctl"),
      `#!/usr/bin/env bash
set -euo pipefail
state="$SHIM_STATE"
printf 'systemctl %s (%s)\\n' "$*" "$(mountpoint -q "$SHIM_MOUNT" && echo mounted || echo unmounted)" >>"$state/events"
case "$*" in
  "stop housing-portal-*.timer housing-portal-*.service") ;;
  "stop docker.socket docker.service") touch "$state/docker-stopped" ;;
  "is-active --quiet docker.service") [[ ! -e "$state/docker-stopped" ]] || exit 3 ;;
  *) echo "systemctl shim: unexpected: systemctl $*" >&2; exit 2 ;;
esac
`,
    );
  });
  after(() => scratch?.cleanup());

  /** A fresh case: its shim state, an empty container list, and the mount point (a directory). */
  function newCase(): { state: string; mp: string; env: (extra?: Record<string, string>) => Record<string, string>; events: () => string[] } {
    const c = scratch.path(`case${++n}`);
    const state = path.join(c, "state");
    const mp = path.join(c, "mnt");
    fs.mkdirSync(state, { recursive: true });
    fs.mkdirSync(mp);
    fs.writeFileSync(path.join(state, "containers"), "");
    return {
      state,
      mp,
      env: (extra = {}) => ({
        MOUNT_POINT: mp,
        DOCKER: path.join(shimDir, "docker"),
        SYSTEMCTL: path.join(shimDir, "systemctl"),
        SHIM_STATE: state,
        SHIM_MOUNT: mp,
        ...extra,
      }),
      events: () => {
        const f = path.join(state, "events");
        return fs.existsSync(f) ? fs.readFileSync(f, "utf8").split("\n").filter(Boolean) : [];
      },
    };
  }

  function ext4(name: string, mp: string): string {
    const dev = scratch.attach(scratch.image(`${name}.img`, 64));
    sh("mkfs.ext4", ["-q", "-F", "-L", "hp-data", dev]);
    sh("mount", [dev, mp]);
    return dev;
  }

  function tmpfs(mp: string): void {
    sh("mount", ["-t", "tmpfs", "-o", "size=4m", "hp-test-release", mp]);
  }

  /** A process that holds `file` open for writing and appends "line <n>" to it every 20 ms. */
  function writer(file: string): Started {
    const p = start(process.execPath, [
      "-e",
      "const fs = require('fs'); const fd = fs.openSync(process.argv[1], 'a'); let i = 0; setInterval(() => fs.writeSync(fd, `line ${++i}\\n`), 20);",
      file,
    ], { timeoutMs: 300_000 });
    procs.push(p);
    return p;
  }

  test("stops the labelled containers (a writer on the volume) and Docker, then unmounts; the data is intact; a second run says not mounted", async () => {
    const c = newCase();
    const dev = ext4("ok", c.mp);
    fs.mkdirSync(path.join(c.mp, "postgis", "peru"), { recursive: true });
    const blob = path.join(c.mp, "postgis", "peru", "base.bin");
    fs.writeFileSync(blob, Buffer.from(Array.from({ length: 1 << 20 }, (_, i) => (i * 7919) % 251)));
    const sum = sha256File(blob);
    const log = path.join(c.mp, "postgis", "peru", "wal.log");
    const w = writer(log);
    await waitUntil(() => fs.existsSync(log) && fs.readFileSync(log, "utf8").split("\n").length > 5, 30_000, "the writer to write");
    // An unlabelled container is left to Docker's own stop.
    const other = start("sleep", ["600"], { timeoutMs: 300_000 });
    procs.push(other);
    fs.writeFileSync(path.join(c.state, "containers"), `c0ffee01 ${w.child.pid} peru\nbeef0001 ${other.child.pid} -\n`);

    const r = await runScript("release-data-volume.sh", c.env());
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /unmounted .*: the volume can be detached\n$/);
    assert.equal(isMountPoint(c.mp), false, "unmounted");
    assert.ok(dead(w.child.pid!), "the labelled container's process was stopped");
    assert.ok(!dead(other.child.pid!), "docker stop was asked only for the labelled container");
    assert.deepEqual(c.events(), [
      "systemctl stop housing-portal-*.timer housing-portal-*.service (mounted)",
      "docker ps -q --filter label=housing-portal.machine (mounted)",
      "docker stop -t 60 c0ffee01 (mounted)",
      "systemctl stop docker.socket docker.service (mounted)",
    ]);

    sh("mount", [dev, c.mp]);
    assert.equal(sha256File(blob), sum, "the data is intact");
    const lines = fs.readFileSync(log, "utf8").split("\n");
    assert.equal(lines.pop(), "", "the writer's last line is whole");
    assert.ok(lines.length > 5);
    lines.forEach((l, i) => assert.equal(l, `line ${i + 1}`));
    sh("umount", [c.mp]);

    const again = await runScript("release-data-volume.sh", c.env());
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /is not mounted: nothing to release\n$/);
    assert.equal(c.events().length, 4, "no docker or systemctl call when there is nothing to release");
  });

  test("a mount held by a process that nothing stops: exit 1 naming it, still mounted, never lazily; once it is gone a run finishes", async () => {
    const c = newCase();
    ext4("busy", c.mp);
    fs.writeFileSync(path.join(c.mp, "keep.txt"), "kept");
    const holder = start("sleep", ["600"], { cwd: c.mp, timeoutMs: 300_000 });
    procs.push(holder);
    await waitUntil(() => fs.existsSync(`/proc/${holder.child.pid}/cwd`) && fs.readlinkSync(`/proc/${holder.child.pid}/cwd`) === c.mp, 30_000, "sleep to run in the mount");

    const r = await runScript("release-data-volume.sh", c.env());
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`error: ${c.mp} is still mounted: it is held by pid ${holder.child.pid} \\(sleep\\); .*never umount -l`));
    assert.match(r.stderr, /sleep/);
    assert.ok(isMountPoint(c.mp), "still mounted");
    assert.equal(fs.readFileSync(path.join(c.mp, "keep.txt"), "utf8"), "kept", "still the volume, not detached lazily");

    // The holder goes; a new run finds Docker stopped (docker ps fails, docker.service inactive) and finishes.
    process.kill(holder.child.pid!, "SIGKILL");
    await waitUntil(() => dead(holder.child.pid!), 30_000, "sleep to die");
    const again = await runScript("release-data-volume.sh", c.env());
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /docker ps' failed and docker.service is not active: no container to stop/);
    assert.equal(isMountPoint(c.mp), false);
  });

  test("without fuser, lsof names the holder; without either, the message says so", async () => {
    const c = newCase();
    tmpfs(c.mp);
    const holder = start("sleep", ["600"], { cwd: c.mp, timeoutMs: 300_000 });
    procs.push(holder);
    await waitUntil(() => fs.existsSync(`/proc/${holder.child.pid}/cwd`) && fs.readlinkSync(`/proc/${holder.child.pid}/cwd`) === c.mp, 30_000, "sleep to run in the mount");
    // A PATH with every tool but fuser (and then lsof).
    const pathWithout = (...tools: string[]) => {
      const bin = scratch.path(`bin-without-${tools.join("-")}`);
      fs.mkdirSync(bin);
      for (const d of (process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(":")) {
        if (!fs.existsSync(d)) continue;
        for (const f of fs.readdirSync(d)) {
          if (tools.includes(f) || fs.existsSync(path.join(bin, f))) continue;
          fs.symlinkSync(path.join(d, f), path.join(bin, f));
        }
      }
      return bin;
    };
    const noFuser = await runScript("release-data-volume.sh", c.env({ PATH: pathWithout("fuser") }));
    assert.equal(noFuser.code, 1, noFuser.stderr);
    assert.match(noFuser.stderr, new RegExp(`held by pid ${holder.child.pid} \\(sleep\\)`));
    const neither = await runScript("release-data-volume.sh", c.env({ PATH: pathWithout("fuser", "lsof") }));
    assert.equal(neither.code, 1, neither.stderr);
    assert.match(neither.stderr, /held by unknown processes \(neither fuser nor lsof is installed/);
    assert.ok(isMountPoint(c.mp));
  });

  test("a mount below the mount point is named; a file system stacked beneath is not taken for released", async () => {
    const below = newCase();
    tmpfs(below.mp);
    const sub = path.join(below.mp, "sub");
    fs.mkdirSync(sub);
    tmpfs(sub);
    const r = await runScript("release-data-volume.sh", below.env());
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`mounted below it: ${sub};`));
    assert.ok(isMountPoint(below.mp));

    const stacked = newCase();
    tmpfs(stacked.mp);
    tmpfs(stacked.mp);
    const s = await runScript("release-data-volume.sh", stacked.env());
    assert.equal(s.code, 1, s.stderr);
    assert.match(s.stderr, /is still a mount point after umount: another file system was mounted beneath the volume/);
  });

  test("a docker stop that hangs is bounded by STOP_TIMEOUT_SECONDS; Docker is left alone and the volume mounted", async () => {
    const c = newCase();
    tmpfs(c.mp);
    fs.writeFileSync(path.join(c.state, "containers"), "c0ffee01 1 peru\n");
    const r = await runScript("release-data-volume.sh", c.env({ SHIM_STOP: "hang", STOP_TIMEOUT_SECONDS: "2" }), 60_000);
    assert.equal(r.timedOut, false);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /error: '.*docker stop -t 60 c0ffee01' did not finish within 2s \(STOP_TIMEOUT_SECONDS\)/);
    assert.ok(isMountPoint(c.mp));
    assert.ok(!c.events().some((e) => e.startsWith("systemctl stop docker")), "Docker not stopped");
  });

  test("a docker ps that fails while docker.service is active fails the run before anything is stopped", async () => {
    const c = newCase();
    tmpfs(c.mp);
    const r = await runScript("release-data-volume.sh", c.env({ SHIM_PS: "fail" }));
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /docker ps' failed while docker.service is active/);
    assert.ok(isMountPoint(c.mp));
    assert.ok(!c.events().some((e) => e.startsWith("systemctl stop docker")));
  });

  test("bad settings exit 2 with one line, before any call", async () => {
    const c = newCase();
    tmpfs(c.mp);
    for (const extra of <Record<string, string>[]>[
      { MOUNT_POINT: "/" },
      { MOUNT_POINT: "//" },
      { MOUNT_POINT: "mnt/data" },
      { MOUNT_POINT: `${c.mp}/../mnt` },
      { STOP_TIMEOUT_SECONDS: "0" },
      { STOP_TIMEOUT_SECONDS: "2m" },
    ]) {
      const r = await runScript("release-data-volume.sh", c.env(extra));
      assert.equal(r.code, 2, `${JSON.stringify(extra)}: ${r.stderr}`);
      assert.match(r.stderr, /^release-data-volume: invalid setting: (MOUNT_POINT|STOP_TIMEOUT_SECONDS)/);
      assert.equal(r.stderr.split("\n").filter(Boolean).length, 1, "one line");
    }
    assert.deepEqual(c.events(), []);
    assert.ok(isMountPoint(c.mp));
  });
});
