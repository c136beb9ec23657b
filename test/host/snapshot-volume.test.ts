// host/snapshot-volume.sh, for real: a loop-device file system mounted and really frozen, a fake
// DigitalOcean API served on 127.0.0.1 by this process, and a `docker` shim for the CHECKPOINT step.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { after, afterEach, before, beforeEach, describe, test } from "node:test";
import { FakeDoApi } from "./fake-do-api";
import * as path from "node:path";
import { HOST_DIR, Scratch, type Started, hostScript, isFrozen, requireHostTier, run, runScript, scriptEnv, sh, start, waitUntil, writeExecutable } from "./helpers";

const VOLUME = "506f78a4-e098-11e5-ad9f-000f53306ae1";
const OTHER_VOLUME = "7724db7c-e098-11e5-b522-000f53304e51";

describe("host/snapshot-volume.sh against a fake DigitalOcean API", () => {
  let scratch: Scratch;
  let api: FakeDoApi;
  let mnt: string;
  let events: string;
  let statusFile: string;
  let frozenAtCreate: boolean | undefined;

  before(async () => {
    requireHostTier(["losetup", "mkfs.ext4", "mount", "mountpoint", "fsfreeze", "curl", "jq", "flock", "timeout"], { loop: true });
    scratch = new Scratch("snapshot");
    const dev = scratch.attach(scratch.image("volume.img"));
    sh("mkfs.ext4", ["-q", "-L", "hp-data", dev]);
    mnt = scratch.path("mnt");
    fs.mkdirSync(mnt);
    sh("mount", [dev, mnt]);
    fs.mkdirSync(`${mnt}/postgis/colombia`, { recursive: true });

    // docker shim: `ps` lists two PostGIS containers, `exec` runs the command the way the container
    // would (its env has POSTGRES_USER/POSTGRES_DB), with a psql that only records its arguments.
    events = scratch.path("events.log");
    fs.mkdirSync(scratch.path("shim-bin"));
    writeExecutable(scratch.path("shim-bin", "psql"), `#!/usr/bin/env bash\nprintf 'psql %s\\n' "$*" >>"$SHIM_EVENTS"\n`);
    writeExecutable(
      scratch.path("docker"),
      `#!/usr/bin/env bash
set -euo pipefail
printf 'docker %s\\n' "$*" >>"$SHIM_EVENTS"
case "$1" in
  ps)
    [[ "$*" == *"--filter label=housing-portal.role=postgis"* ]] || { echo "shim: unexpected ps: $*" >&2; exit 2; }
    for id in $SHIM_POSTGIS; do printf '%s\\n' "$id"; done ;;
  exec)
    id="$2"; shift 2
    for bad in \${SHIM_FAIL:-}; do
      if [[ "$id" == "$bad" ]]; then echo "Error response from daemon: container $id is restarting" >&2; exit 1; fi
    done
    exec env POSTGRES_USER="user_$id" POSTGRES_DB="db_$id" PATH="$SHIM_BIN:$PATH" "$@" ;;
  *) echo "shim: unsupported: docker $*" >&2; exit 2 ;;
esac
`,
    );

    api = new FakeDoApi();
    await api.start();
    api.eventsFile = events;
    fs.writeFileSync(scratch.path("do-token"), `${api.token}\n`, { mode: 0o600 });
    statusFile = scratch.path("state", "snapshot.last-success");
    fs.mkdirSync(scratch.path("tmp"));
  });

  after(async () => {
    await api?.stop();
    scratch?.cleanup();
  });

  beforeEach(() => {
    api.reset();
    fs.writeFileSync(events, "");
    fs.rmSync(statusFile, { force: true });
    frozenAtCreate = undefined;
    api.onCreate = () => {
      frozenAtCreate = isFrozen(mnt);
    };
  });

  afterEach(() => {
    // Whatever happened, the test leaves the file system thawed for the next one.
    if (isFrozen(mnt)) {
      sh("fsfreeze", ["-u", mnt]);
      throw new Error(`${mnt} was left frozen`);
    }
  });

  function env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      API_URL: api.url,
      TOKEN_FILE: scratch.path("do-token"),
      VOLUME_ID: VOLUME,
      MOUNT_POINT: mnt,
      RETAIN: "3",
      SNAPSHOT_PREFIX: "hp-data",
      STATUS_FILE: statusFile,
      API_TIMEOUT_SECONDS: "20",
      CONNECT_TIMEOUT_SECONDS: "5",
      CHECKPOINT_TIMEOUT_SECONDS: "20",
      DOCKER: scratch.path("docker"),
      LOCK_FILE: scratch.path("snapshot.lock"),
      SHIM_EVENTS: events,
      SHIM_BIN: scratch.path("shim-bin"),
      SHIM_POSTGIS: "pg-colombia pg-peru",
      FREEZE_STATE_FILE: freezeState(),
      // the script's private temp dir (curl config with the token) stays under the scratch dir
      TMPDIR: scratch.path("tmp"),
      ...extra,
    };
  }

  const freezeState = () => scratch.path("run", "snapshot-volume.freeze");

  /**
   * The unit's ExecStopPost command line, as systemd would run it: the installed script path
   * points at the checkout and /mnt/data at this test's mount point.
   */
  function execStopPost(): string {
    const unit = fs.readFileSync(path.join(HOST_DIR, "systemd", "housing-portal-snapshot.service"), "utf8");
    // The thaw (the unit's other ExecStopPost is the alert, alert.test.ts).
    const lines = unit.split("\n").filter((l) => l.startsWith("ExecStopPost=") && l.includes("housing-portal-snapshot-volume"));
    assert.equal(lines.length, 1, "one thawing ExecStopPost line");
    return lines[0]
      .slice("ExecStopPost=".length)
      .replace(/^[-@:+!]+/, "")
      .replace(/\/usr\/local\/sbin\/housing-portal-([a-z-]+)/g, (_m, n: string) => hostScript(`${n}.sh`))
      .replace(/\/mnt\/data/g, mnt);
  }

  /** The run's first create request; fails (instead of waiting forever) when the run ends first. */
  function createRequestOf(s: Started): Promise<unknown> {
    return Promise.race([
      api.waitForRequest((q) => q.method === "POST"),
      s.done.then((r) => {
        throw new Error(`the run ended (exit ${r.code}, ${r.signal}) before its create request:\n${r.stderr}`);
      }),
    ]);
  }

  const INVOCATION_A = "0f3a1c2b4d5e6f708192a3b4c5d6e7f8";
  const INVOCATION_B = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b";

  function eventLines(): string[] {
    return fs.readFileSync(events, "utf8").split("\n").filter(Boolean);
  }

  function assertThawedAndWritable(): void {
    assert.equal(isFrozen(mnt), false, "the file system is thawed");
    fs.writeFileSync(`${mnt}/postgis/colombia/after-snapshot.txt`, "writable\n");
    assert.equal(fs.readFileSync(`${mnt}/postgis/colombia/after-snapshot.txt`, "utf8"), "writable\n");
  }

  const creates = () => api.requests.filter((r) => r.method === "POST");
  const deletes = () => api.requests.filter((r) => r.method === "DELETE");

  test("success: CHECKPOINT in every PostGIS, freeze, snapshot with the prefix, thaw, status file", async () => {
    const r = await runScript("snapshot-volume.sh", env());
    assert.equal(r.code, 0, r.stderr);

    assert.equal(creates().length, 1);
    const create = creates()[0];
    assert.equal(create.path, `/v2/volumes/${VOLUME}/snapshots`);
    assert.equal(create.authorization, `Bearer ${api.token}`);
    const name = (create.body as { name: string }).name;
    assert.match(name, /^hp-data-\d{8}-\d{6}$/);
    assert.equal(frozenAtCreate, true, "the file system was frozen while the snapshot was created");
    assertThawedAndWritable();

    // Order: docker ps, a CHECKPOINT per container (run with the container's own user and db), then the API.
    const ev = eventLines();
    const iPs = ev.indexOf("docker ps -q --filter label=housing-portal.role=postgis");
    const iCol = ev.indexOf("psql -U user_pg-colombia -d db_pg-colombia -c CHECKPOINT");
    const iPeru = ev.indexOf("psql -U user_pg-peru -d db_pg-peru -c CHECKPOINT");
    const iPost = ev.indexOf(`api POST /v2/volumes/${VOLUME}/snapshots`);
    assert.ok(iPs >= 0 && iCol > iPs && iPeru > iPs && iPost > iCol && iPost > iPeru, ev.join("\n"));

    const status = fs.readFileSync(statusFile, "utf8");
    const snap = api.snapshots.find((s) => s.name === name)!;
    assert.ok(snap, "the snapshot exists");
    assert.match(status, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ ${snap.id} ${name}\\n$`));
    assert.equal(fs.readdirSync(scratch.path("state")).length, 1, "no temp file left next to the status file");
    assert.equal(deletes().length, 0, "nothing to prune");
  });

  test("API error: non-zero exit, thawed and writable, no status, nothing listed or pruned", async () => {
    api.createMode = "error";
    const r = await runScript("snapshot-volume.sh", env());
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /HTTP 500/);
    assert.equal(frozenAtCreate, true);
    assertThawedAndWritable();
    assert.equal(fs.existsSync(statusFile), false, "no success recorded");
    assert.equal(api.requests.filter((q) => q.method !== "POST").length, 0);
  });

  test("API that hangs: bounded by API_TIMEOUT_SECONDS, thawed, non-zero", async () => {
    api.createMode = "hang";
    const r = await runScript("snapshot-volume.sh", env({ API_TIMEOUT_SECONDS: "2" }), 60_000);
    assert.equal(r.timedOut, false, "the script bounded the hang itself");
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /timed out after 2s/);
    assert.equal(frozenAtCreate, true);
    assertThawedAndWritable();
    assert.equal(fs.existsSync(statusFile), false);
    assert.equal(deletes().length, 0);
  });

  for (const sig of ["SIGTERM", "SIGINT"] as const) {
    test(`a ${sig} while the API hangs thaws at once and exits non-zero`, async () => {
      api.createMode = "hang";
      const s = start(hostScript("snapshot-volume.sh"), [], { env: scriptEnv(env({ API_TIMEOUT_SECONDS: "300" })), timeoutMs: 60_000 });
      await api.waitForRequest((q) => q.method === "POST");
      assert.equal(isFrozen(mnt), true, "frozen while the request hangs");
      s.child.kill(sig);
      const r = await s.done;
      assert.equal(r.timedOut, false, "the signal ended it, not the test's bound");
      assert.notEqual(r.code ?? 1, 0);
      assert.match(r.stderr, new RegExp(`interrupted by ${sig}`));
      assert.match(r.stderr, /thawed/);
      assertThawedAndWritable();
      assert.equal(fs.existsSync(statusFile), false);
    });
  }

  test("SIGKILL of the snapshot run while frozen: the watchdog thaws within its bound, the next run works", async () => {
    api.createMode = "hang";
    const s = start(hostScript("snapshot-volume.sh"), [], {
      env: scriptEnv(env({ API_TIMEOUT_SECONDS: "60", FREEZE_MAX_SECONDS: "600" })),
      timeoutMs: 90_000,
    });
    await createRequestOf(s);
    assert.equal(isFrozen(mnt), true, "frozen while the create request hangs");
    s.child.kill("SIGKILL"); // no trap runs
    // The bound is one watchdog poll (about a second) after the death; the deadline is far above it
    // and far below FREEZE_MAX_SECONDS, so only the owner's death can have ended the freeze.
    await waitUntil(() => !isFrozen(mnt), 20_000, `${mnt} thawed after the SIGKILL`);
    assertThawedAndWritable();
    const r = await s.done; // the watchdog shares stderr: it is closed once the watchdog exits
    assert.equal(r.signal, "SIGKILL");
    assert.match(r.stderr, /watchdog: the snapshot run \(pid \d+\) died while \S+ was frozen; thawed/);
    assert.equal(fs.existsSync(freezeState()), false, "no freeze state left");
    assert.equal(fs.existsSync(statusFile), false);

    api.reset();
    const again = await runScript("snapshot-volume.sh", env());
    assert.equal(again.code, 0, `the lock is free again: ${again.stderr}`);
  });

  test("a freeze that outlives FREEZE_MAX_SECONDS is ended by the watchdog, and the run does not count the snapshot as consistent", async () => {
    api.createMode = "hold";
    api.snapshots = [];
    api.add({ id: "own-old", name: "hp-data-20200101-000000", created_at: "2020-01-01T00:00:00Z", resource_id: VOLUME });
    const s = start(hostScript("snapshot-volume.sh"), [], {
      env: scriptEnv(env({ API_TIMEOUT_SECONDS: "60", FREEZE_MAX_SECONDS: "2", RETAIN: "1" })),
      timeoutMs: 90_000,
    });
    await createRequestOf(s);
    await waitUntil(() => !isFrozen(mnt), 30_000, `${mnt} thawed by the watchdog while the create is still pending`);
    assert.equal(s.child.exitCode, null, "the run is still waiting for the API");
    assert.equal(s.child.signalCode, null);
    assertThawedAndWritable();
    api.releaseHeld(); // the snapshot is created now, after the thaw
    const r = await s.done;
    assert.equal(r.timedOut, false);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /watchdog: \S+ frozen for more than 2s; thawed/);
    assert.match(r.stderr, /not consistent/);
    assert.equal(fs.existsSync(statusFile), false, "no success recorded");
    assert.equal(deletes().length, 0, "nothing pruned");
    assert.ok(api.snapshots.some((x) => x.id === "own-old"));
    assert.equal(fs.existsSync(freezeState()), false);
  });

  test("a run that loses the lock, and its ExecStopPost, never thaw another run's freeze; the freezing invocation's ExecStopPost does", async () => {
    api.createMode = "hang";
    const a = start(hostScript("snapshot-volume.sh"), [], {
      env: scriptEnv(env({ API_TIMEOUT_SECONDS: "60", INVOCATION_ID: INVOCATION_A })),
      timeoutMs: 90_000,
    });
    await createRequestOf(a);
    assert.equal(isFrozen(mnt), true);

    // The timer's run while a manual one is frozen mid-snapshot: it loses the lock ...
    const b = await runScript("snapshot-volume.sh", env({ INVOCATION_ID: INVOCATION_B }));
    assert.equal(b.code, 1);
    assert.match(b.stderr, /another snapshot run holds/);
    assert.equal(isFrozen(mnt), true, "the losing run left the freeze alone");
    // ... and systemd then runs its ExecStopPost, in the same invocation.
    const cmd = execStopPost();
    const post = await run("bash", ["-c", cmd], { env: scriptEnv(env({ INVOCATION_ID: INVOCATION_B })), timeoutMs: 30_000 });
    assert.equal(post.code, 0, post.stderr);
    assert.equal(isFrozen(mnt), true, `the ExecStopPost of another invocation did not thaw (${cmd}): ${post.stderr}`);

    // The freezing invocation's ExecStopPost thaws (systemd killed the whole unit, watchdog included;
    // SIGSTOP keeps the run alive but silent, so that only the ExecStopPost can thaw).
    a.child.kill("SIGSTOP");
    const own = await run("bash", ["-c", cmd], { env: scriptEnv(env({ INVOCATION_ID: INVOCATION_A })), timeoutMs: 30_000 });
    assert.equal(own.code, 0, own.stderr);
    assert.equal(isFrozen(mnt), false, `the own invocation's ExecStopPost thawed: ${own.stderr}`);
    a.child.kill("SIGTERM");
    a.child.kill("SIGCONT");
    const ra = await a.done;
    assert.notEqual(ra.code ?? 1, 0);
    assert.equal(fs.existsSync(statusFile), false);
    assertThawedAndWritable();
  });

  test("pruning deletes exactly this volume's prefixed snapshots beyond the newest RETAIN (across pages)", async () => {
    api.snapshots = [];
    const own = (id: string, day: string, name = `hp-data-${id}`) => api.add({ id, name, created_at: `2024-03-${day}T02:00:00Z`, resource_id: VOLUME });
    // Own: names deliberately not in created_at order, so only created_at can sort them.
    own("own-a", "05", "hp-data-20240309-020000");
    own("own-b", "01", "hp-data-20240308-020000");
    own("own-c", "03", "hp-data-20240101-020000");
    own("own-d", "02", "hp-data-20240102-020000");
    own("own-e", "04", "hp-data-20240103-020000");
    // Same volume, foreign prefixes (older than everything): kept.
    api.add({ id: "manual-1", name: "before-upgrade-2023", created_at: "2023-01-01T00:00:00Z", resource_id: VOLUME });
    api.add({ id: "prefix-no-dash", name: "hp-data", created_at: "2023-01-02T00:00:00Z", resource_id: VOLUME });
    api.add({ id: "prefix-longer", name: "hp-data2-20230103", created_at: "2023-01-03T00:00:00Z", resource_id: VOLUME });
    api.add({ id: "prefix-case", name: "HP-DATA-20230104", created_at: "2023-01-04T00:00:00Z", resource_id: VOLUME });
    // Another volume, same prefix, old: kept.
    for (const d of ["01", "02", "03"]) {
      api.add({ id: `other-vol-${d}`, name: `hp-data-2023010${d}`, created_at: `2023-01-${d}T00:00:00Z`, resource_id: OTHER_VOLUME });
    }
    api.pageSize = 2; // 10 snapshots of this volume after the create -> 5 pages

    const r = await runScript("snapshot-volume.sh", env({ RETAIN: "3" }));
    assert.equal(r.code, 0, r.stderr);

    // newest 3 own: the new one, own-a (03-05), own-e (03-04); deleted: own-c, own-d, own-b.
    assert.deepEqual(deletes().map((q) => q.path).sort(), ["/v2/snapshots/own-b", "/v2/snapshots/own-c", "/v2/snapshots/own-d"]);
    const left = api.snapshots.map((s) => s.id);
    for (const id of ["own-a", "own-e", "manual-1", "prefix-no-dash", "prefix-longer", "prefix-case", "other-vol-01", "other-vol-02", "other-vol-03"]) {
      assert.ok(left.includes(id), `${id} is kept`);
    }
    assert.equal(left.length, 10);
    const pages = api.requests.filter((q) => q.method === "GET").map((q) => q.query.page);
    assert.deepEqual(pages, ["1", "2", "3", "4", "5"], "followed every page");
    assert.ok(api.requests.filter((q) => q.method === "GET").every((q) => q.path === `/v2/volumes/${VOLUME}/snapshots`));
    assertThawedAndWritable();
    assert.ok(fs.existsSync(statusFile));

    // A second run with the same RETAIN deletes exactly one more (the oldest remaining own one).
    api.reset();
    const r2 = await runScript("snapshot-volume.sh", env({ RETAIN: "3" }));
    assert.equal(r2.code, 0, r2.stderr);
    assert.deepEqual(deletes().map((q) => q.path), ["/v2/snapshots/own-e"]);
  });

  test("pruning keeps an operator's own snapshots with the prefix and a neighbouring prefix's snapshots", async () => {
    api.snapshots = [];
    const P = "housing-portal-staging";
    const add = (id: string, name: string, created: string) => api.add({ id, name, created_at: created, resource_id: VOLUME });
    add("own-old-1", `${P}-20250101-000000`, "2025-01-01T00:00:00Z");
    add("own-old-2", `${P}-20250102-000000`, "2025-01-02T00:00:00Z");
    // Not made by the script, though they start with "<prefix>-": all older than everything of ours.
    add("manual", `${P}-before-migration`, "2024-01-01T00:00:00Z");
    add("manual-stamped", `${P}-20240101-000000-before-upgrade`, "2024-01-02T00:00:00Z");
    add("manual-short", `${P}-2024-01-03`, "2024-01-03T00:00:00Z");
    add("eu-1", `${P}-eu-20240101-000000`, "2024-01-04T00:00:00Z");
    add("eu-2", `${P}-eu-20260101-000000`, "2024-01-05T00:00:00Z");
    const r = await runScript("snapshot-volume.sh", env({ SNAPSHOT_PREFIX: P, RETAIN: "1" }));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(deletes().map((q) => q.path).sort(), ["/v2/snapshots/own-old-1", "/v2/snapshots/own-old-2"]);
    const left = api.snapshots.map((s) => s.id);
    for (const id of ["manual", "manual-stamped", "manual-short", "eu-1", "eu-2"]) assert.ok(left.includes(id), `${id} is kept`);
    assert.equal(left.length, 6);
  });

  test("another volume's snapshots are never deleted, even when the API lists them under this volume", async () => {
    api.snapshots = [];
    for (const d of ["01", "02", "03", "04"]) {
      api.add({ id: `other-${d}`, name: `hp-data-202301${d}-000000`, created_at: `2023-01-${d}T00:00:00Z`, resource_id: OTHER_VOLUME });
    }
    api.add({ id: "own-old", name: "hp-data-20220101-000000", created_at: "2022-01-01T00:00:00Z", resource_id: VOLUME });
    api.listAllVolumes = true;
    const r = await runScript("snapshot-volume.sh", env({ RETAIN: "1" }));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(deletes().map((q) => q.path), ["/v2/snapshots/own-old"]);
    assert.equal(api.snapshots.filter((s) => s.resource_id === OTHER_VOLUME).length, 4);
  });

  test("nothing is pruned when the create fails", async () => {
    api.snapshots = [];
    for (let i = 1; i <= 5; i++) {
      api.add({ id: `keep-${i}`, name: `hp-data-2024010${i}-020000`, created_at: `2024-01-0${i}T02:00:00Z`, resource_id: VOLUME });
    }
    api.createMode = "error";
    const r = await runScript("snapshot-volume.sh", env({ RETAIN: "1" }));
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /nothing pruned/);
    assert.equal(deletes().length, 0);
    assert.equal(api.snapshots.length, 5);
    assertThawedAndWritable();
  });

  test("a failing listing after a good create: non-zero, nothing deleted, the snapshot's success still recorded", async () => {
    api.snapshots = [];
    api.listMode = "error";
    const r = await runScript("snapshot-volume.sh", env({ RETAIN: "1" }));
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /listing the snapshots .* failed; nothing pruned/);
    assert.equal(deletes().length, 0);
    assert.ok(fs.existsSync(statusFile), "the snapshot itself succeeded");
    assertThawedAndWritable();
  });

  test("a failed CHECKPOINT: the snapshot is still taken (crash-consistent) but the run fails and records no success", async () => {
    const r = await runScript("snapshot-volume.sh", env({ SHIM_FAIL: "pg-peru" }));
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /CHECKPOINT failed in PostGIS container pg-peru/);
    assert.equal(creates().length, 1);
    assert.equal(fs.existsSync(statusFile), false);
    assertThawedAndWritable();
  });

  test("refuses when MOUNT_POINT is not a mount point (it would freeze the root file system): no API call, no docker", async () => {
    const plain = scratch.path("not-mounted");
    fs.mkdirSync(plain, { recursive: true });
    const r = await runScript("snapshot-volume.sh", env({ MOUNT_POINT: plain }));
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /not a mount point/);
    assert.equal(api.requests.length, 0);
    assert.deepEqual(eventLines(), []);
  });

  test("settings are validated before anything runs", async () => {
    for (const [extra, re] of [
      [{ VOLUME_ID: "" }, /VOLUME_ID/],
      [{ RETAIN: "0" }, /RETAIN/],
      [{ SNAPSHOT_PREFIX: "bad prefix" }, /SNAPSHOT_PREFIX/],
      [{ API_URL: "http://api.example.com" }, /API_URL/],
      [{ API_TIMEOUT_SECONDS: "forever" }, /API_TIMEOUT_SECONDS/],
      [{ FREEZE_MAX_SECONDS: "0" }, /FREEZE_MAX_SECONDS/],
      [{ FREEZE_STATE_FILE: "relative/freeze" }, /FREEZE_STATE_FILE/],
      [{ ACTION: "thaw-everything" }, /ACTION/],
      [{ ACTION: "thaw-own" }, /INVOCATION_ID/],
    ] as [Record<string, string>, RegExp][]) {
      const r = await runScript("snapshot-volume.sh", env(extra));
      assert.equal(r.code, 2, `${JSON.stringify(extra)}: ${r.stderr}`);
      assert.match(r.stderr, re);
    }
    assert.equal(api.requests.length, 0);
  });
});
