// host/backup-status.sh: fresh -> 0 with "OK: ...", stale or missing -> 1 with "STALE: <reason>".
// Ages are set with `touch -d` on the markers; nothing is timed.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, beforeEach, describe, test } from "node:test";
import { Scratch, requireHostTier, runScript, sh, writeExecutable } from "./helpers";
import { WebhookReceiver, runAsUnit } from "./offsite-fixture";

describe("host/backup-status.sh", () => {
  let scratch: Scratch;
  let n = 0;
  let dir: string;

  before(() => {
    requireHostTier(["touch", "find", "stat", "date"]);
    scratch = new Scratch("status");
  });
  after(() => scratch?.cleanup());
  beforeEach(() => {
    dir = scratch.path(`case${++n}`);
    fs.mkdirSync(path.join(dir, "state"), { recursive: true });
    fs.mkdirSync(path.join(dir, "backups"), { recursive: true });
  });

  const snap = () => path.join(dir, "state", "snapshot.last-success");
  const dump = () => path.join(dir, "state", "dump.last-success");
  const touch = (file: string, when: string) => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, "marker\n");
    sh("touch", ["-d", when, file]);
  };
  const status = (extra: Record<string, string> = {}) =>
    runScript("backup-status.sh", {
      INTERVAL_HOURS: "24",
      SNAPSHOT_STATUS_FILE: snap(),
      DUMP_STATUS_FILE: dump(),
      BACKUP_ROOT: path.join(dir, "backups"),
      INSTANCES_DIR: path.join(dir, "instances"), // absent unless a test creates it
      ...extra,
    });
  const oneLine = (out: string) => {
    assert.equal(out.split("\n").filter(Boolean).length, 1, `one line: ${JSON.stringify(out)}`);
    assert.ok(out.endsWith("\n"));
  };

  test("fresh snapshot and dump: exit 0 with one OK line", async () => {
    touch(snap(), "2 hours ago");
    touch(dump(), "3 hours ago");
    const r = await status();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    oneLine(r.stdout);
    assert.match(r.stdout, /^OK: snapshot 2h ago; dump 3h ago\n$/);
  });

  test("within twice the interval is still fresh", async () => {
    touch(snap(), "47 hours ago");
    touch(dump(), "30 hours ago");
    const r = await status();
    assert.equal(r.code, 0, r.stdout);
  });

  test("a stale snapshot: non-zero with a one-line reason", async () => {
    touch(snap(), "72 hours ago");
    touch(dump(), "1 hour ago");
    const r = await status();
    assert.equal(r.code, 1);
    oneLine(r.stdout);
    assert.match(r.stdout, /^STALE: last snapshot 3d 0h ago at \S+ \(.*snapshot\.last-success\), more than twice the 24h interval\n$/);
    assert.doesNotMatch(r.stdout, /dump/);
  });

  test("a stale dump: non-zero with a one-line reason; the interval is configurable per check", async () => {
    touch(snap(), "1 hour ago");
    touch(dump(), "13 hours ago");
    const r = await status({ DUMP_INTERVAL_HOURS: "6" });
    assert.equal(r.code, 1);
    oneLine(r.stdout);
    assert.match(r.stdout, /^STALE: last dump 13h ago .*more than twice the 6h interval\n$/);
  });

  test("missing markers: non-zero, both reasons on one line", async () => {
    const r = await status();
    assert.equal(r.code, 1);
    oneLine(r.stdout);
    assert.match(r.stdout, /^STALE: no successful snapshot recorded \(.* is missing\); no successful dump recorded/);
  });

  test("without a dump marker (a replaced host) the newest dump file in BACKUP_ROOT counts", async () => {
    touch(snap(), "1 hour ago");
    touch(path.join(dir, "backups", "colombia", "20240101T020000Z.dump"), "120 hours ago");
    touch(path.join(dir, "backups", "peru", "20240102T020000Z.dump"), "4 hours ago");
    touch(path.join(dir, "backups", "peru", "notes.txt"), "now");
    const fresh = await status();
    assert.equal(fresh.code, 0, fresh.stdout);
    assert.match(fresh.stdout, /dump 4h ago/);

    fs.rmSync(path.join(dir, "backups", "peru"), { recursive: true });
    const stale = await status();
    assert.equal(stale.code, 1);
    assert.match(stale.stdout, /^STALE: last dump 5d 0h ago .*colombia\/20240101T020000Z\.dump/);
  });

  test("INSTANCES: each instance's newest dump is checked by name; a missing or stale one is STALE: dump of <instance>", async () => {
    touch(snap(), "1 hour ago");
    touch(dump(), "2 hours ago"); // the last run's marker is fresh, yet two instances have no fresh dump
    touch(path.join(dir, "backups", "colombia", "20240105T020000Z.dump"), "2 hours ago");
    touch(path.join(dir, "backups", "peru", "20240101T020000Z.dump"), "1 hour ago"); // older by name ...
    touch(path.join(dir, "backups", "peru", "20240102T020000Z.dump"), "120 hours ago"); // ... than the newest
    touch(path.join(dir, "backups", "chile", "notes.txt"), "now");
    const r = await status({ INSTANCES: "colombia peru chile" });
    assert.equal(r.code, 1, r.stdout);
    oneLine(r.stdout);
    assert.match(
      r.stdout,
      /^STALE: dump of peru stale: its newest, 20240102T020000Z\.dump, is 5d 0h old \(.*peru\/20240102T020000Z\.dump\), more than twice the 24h interval; dump of chile missing: no <timestamp>\.dump in \S+\/chile\n$/,
    );
    assert.doesNotMatch(r.stdout, /colombia/);
  });

  test("INSTANCES: all fresh is OK, also without the dump marker (a replaced host)", async () => {
    touch(snap(), "1 hour ago");
    touch(path.join(dir, "backups", "colombia", "20240105T020000Z.dump"), "2 hours ago");
    touch(path.join(dir, "backups", "peru", "20240105T020000Z.dump"), "3 hours ago");
    const r = await status({ INSTANCES: "colombia peru" });
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /^OK: snapshot 1h ago; dump of colombia 2h ago; dump of peru 3h ago\n$/);
  });

  test("INSTANCES_DIR: a registered instance without a fresh dump is STALE by name; unregistered, the check is OK again", async () => {
    touch(snap(), "1 hour ago");
    touch(dump(), "2 hours ago");
    touch(path.join(dir, "backups", "colombia", "20240105T020000Z.dump"), "2 hours ago");
    touch(path.join(dir, "backups", "peru", "20240101T020000Z.dump"), "100 hours ago");
    const instancesDir = path.join(dir, "instances");
    for (const instance of ["colombia", "peru", "chile"]) {
      const p = await runScript("prepare-instance-dirs.sh", {
        INSTANCE: instance,
        DATA_ROOT: dir,
        DATA_DIRS: "postgis",
        ALLOW_UNMOUNTED: "1",
        INSTANCES_DIR: instancesDir,
      });
      assert.equal(p.code, 0, p.stderr);
    }
    fs.writeFileSync(path.join(instancesDir, "README"), "not an instance");
    const r = await status();
    assert.equal(r.code, 1, r.stdout);
    oneLine(r.stdout);
    assert.match(r.stdout, /^STALE: dump of chile missing: no <timestamp>\.dump in \S+\/chile; dump of peru stale: its newest, 20240101T020000Z\.dump, is 4d 4h old/);
    assert.doesNotMatch(r.stdout, /colombia|README/);
    assert.match(r.stderr, /^backup-status: warning: ignoring README in \S+: not a lowercase DNS label\n$/);

    for (const instance of ["chile", "peru"]) {
      const u = await runScript("unregister-instance.sh", { INSTANCE: instance, INSTANCES_DIR: instancesDir });
      assert.equal(u.code, 0, u.stderr);
    }
    const ok = await status();
    assert.equal(ok.code, 0, ok.stdout);
    assert.match(ok.stdout, /^OK: snapshot 1h ago; dump 2h ago; dump of colombia 2h ago\n$/);
  });

  test("INSTANCES, when set, is the list: INSTANCES_DIR is not read; an empty INSTANCES_DIR is no list", async () => {
    touch(snap(), "1 hour ago");
    touch(dump(), "2 hours ago");
    touch(path.join(dir, "backups", "colombia", "20240105T020000Z.dump"), "2 hours ago");
    fs.mkdirSync(path.join(dir, "instances"));
    const empty = await status();
    assert.equal(empty.code, 0, empty.stdout);
    assert.match(empty.stdout, /^OK: snapshot 1h ago; dump 2h ago\n$/);
    fs.writeFileSync(path.join(dir, "instances", "chile"), "");
    const r = await status({ INSTANCES: "colombia" });
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /^OK: snapshot 1h ago; dump 2h ago; dump of colombia 2h ago\n$/);
  });

  test("CHECKS=dump (AWS, where DLM takes the snapshots) ignores the snapshot marker", async () => {
    touch(dump(), "1 hour ago");
    const r = await status({ CHECKS: "dump" });
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /^OK: dump 1h ago\n$/);
  });

  test("CHECKS offsite: the host's marker and the repository's newest snapshot, each within twice the interval", async () => {
    const marker = path.join(dir, "state", "offsite.last-success");
    const latest = path.join(dir, "latest");
    const epoch = (hoursAgo: number) => String(Math.floor(Date.now() / 1000) - hoursAgo * 3600);
    const offsite = (script: string, extra: Record<string, string> = {}) => {
      writeExecutable(latest, `#!/usr/bin/env bash\n[[ "$ACTION" == latest ]] || exit 9\n${script}\n`);
      return status({ CHECKS: "offsite", OFFSITE_INTERVAL_HOURS: "24", OFFSITE_STATUS_FILE: marker, OFFSITE_LATEST: latest, ...extra });
    };
    touch(marker, "3 hours ago");
    const ok = await offsite(`echo ${epoch(3)}`);
    assert.equal(ok.code, 0, ok.stdout);
    assert.match(ok.stdout, /^OK: off-site copy 3h ago; off-site snapshot 3h ago\n$/);

    // The marker is fresh, but the repository's newest copy is old (pruned or lost there).
    const old = await offsite(`echo ${epoch(60)}`);
    assert.equal(old.code, 1);
    assert.match(old.stdout, /^STALE: last off-site snapshot 2d 12h ago at \S+ \(the off-site repository\), more than twice the 24h interval\n$/);
    const none = await offsite("exit 0");
    assert.match(none.stdout, /^STALE: the off-site repository holds no snapshot of this host\n$/);
    const down = await offsite("exit 1");
    assert.equal(down.code, 1);
    assert.match(down.stdout, /^STALE: cannot read the off-site repository's newest snapshot \(\S+ failed\)\n$/);
    fs.rmSync(marker);
    const missing = await offsite(`echo ${epoch(1)}`);
    assert.match(missing.stdout, /^STALE: no successful off-site copy recorded \(\S+ is missing\)\n$/);
  });

  test("CHECKS restore-check: the last passed restore check within twice its weekly interval", async () => {
    const marker = path.join(dir, "state", "restore-check.last-success");
    const check = () => status({ CHECKS: "restore-check", RESTORE_CHECK_STATUS_FILE: marker });
    const missing = await check();
    assert.equal(missing.code, 1);
    assert.match(missing.stdout, /^STALE: no passed restore check recorded/);
    touch(marker, "13 days ago");
    assert.match((await check()).stdout, /^OK: restore check 13d 0h ago\n$/);
    touch(marker, "15 days ago");
    const stale = await check();
    assert.equal(stale.code, 1);
    assert.match(stale.stdout, /^STALE: last restore check 15d 0h ago at \S+ \(\S+\), more than twice the 168h interval\n$/);
  });

  test("as the unit runs it, with its alert: one message per stale finding and per recovery, by instance", async () => {
    const hook = new WebhookReceiver();
    await hook.start();
    scratch.defer(() => hook.stop());
    fs.writeFileSync(path.join(dir, "url"), `${hook.url}\n`, { mode: 0o600 });
    const dumpOf = (i: string) => path.join(dir, "backups", i, "20240105T020000Z.dump");
    const unit = async () => {
      const { run, alert } = await runAsUnit("backup-status.sh", "backup-status", {
        INTERVAL_HOURS: "24", SNAPSHOT_STATUS_FILE: snap(), DUMP_STATUS_FILE: dump(), BACKUP_ROOT: path.join(dir, "backups"), INSTANCES: "colombia peru",
      }, { STACK: "staging", HOST_NAME: "main", MACHINE: "hp-test-machine", WEBHOOK_URL_FILE: path.join(dir, "url"), STATE_DIR: path.join(dir, "alerts") }, dir);
      assert.equal(alert.code, 0, alert.stderr);
      return run;
    };
    const texts = () => hook.messages.map((m) => m.text);
    touch(snap(), "1 hour ago");
    touch(dump(), "2 hours ago");
    touch(dumpOf("colombia"), "2 hours ago");
    touch(dumpOf("peru"), "2 hours ago");
    assert.equal((await unit()).code, 0);
    touch(dumpOf("colombia"), "50 hours ago");
    assert.equal((await unit()).code, 1);
    assert.equal(hook.messages.length, 1, texts().join("\n"));
    assert.match(texts()[0], /^housing-portal staging\/main \(hp-test-machine\): backup-status FAILED for dump:colombia since \S+ \(last success: \S+\): dump of colombia stale: its newest, 20240105T020000Z\.dump, is 2d 2h old/);
    touch(dumpOf("peru"), "60 hours ago");
    await unit();
    assert.equal(hook.messages.length, 2, texts().join("\n"));
    assert.match(texts()[1], /: backup-status FAILED for dump:peru since \S+ \(last success: \S+\): dump of peru stale/);
    await unit();
    assert.equal(hook.messages.length, 2, "still stale: nothing new");
    // Another finding of the same run, the snapshot, is its own message.
    touch(snap(), "3 days ago");
    await unit();
    assert.equal(hook.messages.length, 3, texts().join("\n"));
    assert.match(texts()[2], /: backup-status FAILED for snapshot since \S+ \(last success: \S+\): last snapshot 3d 0h ago/);
    touch(snap(), "1 hour ago");
    touch(dumpOf("colombia"), "1 hour ago");
    await unit();
    assert.equal(hook.messages.length, 5, texts().join("\n"));
    assert.match(texts()[3], /: backup-status RECOVERED for snapshot at \S+ after failing since \S+: snapshot 1h ago$/);
    assert.match(texts()[4], /: backup-status RECOVERED for dump:colombia at \S+ after failing since \S+: dump of colombia 1h ago$/);
    touch(dumpOf("peru"), "1 hour ago");
    assert.equal((await unit()).code, 0);
    assert.equal(hook.messages.length, 6, texts().join("\n"));
    assert.match(texts()[5], /: backup-status RECOVERED for dump:peru at /);
  });

  test("bad settings exit 2", async () => {
    const bad: Record<string, string>[] = [{ INTERVAL_HOURS: "0" }, { INTERVAL_HOURS: "daily" }, { CHECKS: "snapshot tape" }, { RESTORE_CHECK_INTERVAL_HOURS: "0" }, { INSTANCES: "colombia ../etc" }, { INSTANCES_DIR: "instances" }, { FINDINGS_FILE: "findings" }];
    for (const extra of bad) {
      const r = await status(extra);
      assert.equal(r.code, 2, JSON.stringify(extra));
      assert.match(r.stderr, /invalid setting/);
    }
  });
});
