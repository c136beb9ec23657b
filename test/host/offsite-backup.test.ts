// host/offsite-backup.sh with Debian's restic against an S3-compatible server on loopback (s3rver
// over TLS, offsite-fixture.ts; it knows one access key id, S3RVER, and checks no signature), and host/alert.sh as each unit's ExecStopPost runs it, posting to
// a webhook receiver on loopback. Nothing is timed: bounds are upper limits of a run.
import assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { RunResult, Scratch, requireHostTier, run, runScript, scriptEnv, writeExecutable } from "./helpers";
import { FakeS3, WebhookReceiver, loopbackCertificate } from "./offsite-fixture";

const HOST_TAG = "housing-portal-staging";

describe("host/offsite-backup.sh against s3rver over TLS, with alerts to a loopback webhook", () => {
  let scratch: Scratch;
  let s3: FakeS3;
  let hook: WebhookReceiver;
  let tls: { key: string; cert: string };
  let backupRoot: string;
  let edge: string;
  let etc: string;
  let state: string;
  const marker = `PLAINTEXT-${crypto.randomBytes(8).toString("hex")}`;

  before(async () => {
    requireHostTier(["restic", "openssl", "timeout", "flock", "jq", "curl"]);
    scratch = new Scratch("offsite");
    tls = loopbackCertificate(scratch.dir);
    s3 = new FakeS3(scratch.path("s3"), tls, "portal-backups");
    await s3.start();
    hook = new WebhookReceiver();
    await hook.start();
    scratch.defer(() => {
      s3.stop();
      hook.stop();
    });
    backupRoot = scratch.path("data", "backups");
    edge = scratch.path("data", "edge");
    etc = scratch.path("etc");
    state = scratch.path("state");
    fs.mkdirSync(path.join(backupRoot, "colombia"), { recursive: true });
    fs.mkdirSync(path.join(backupRoot, "peru"), { recursive: true });
    fs.mkdirSync(etc, { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(backupRoot, "colombia", "20261201T021500Z.dump"), Buffer.concat([Buffer.from("PGDMP"), crypto.randomBytes(2 * 1024 * 1024)]));
    fs.writeFileSync(path.join(backupRoot, "colombia", "20261201T021500Z.counts"), `tables\t3\nrows\tpublic.marker\t1\n# ${marker}\n`);
    fs.writeFileSync(path.join(backupRoot, "peru", "20261201T021500Z.dump"), `PGDMP ${marker} `.repeat(4000));
    fs.writeFileSync(path.join(backupRoot, "peru", ".20261201T031500Z.dump.x1.partial"), "a dump being written");
    fs.writeFileSync(path.join(etc, "offsite-credentials"), "AWS_ACCESS_KEY_ID=S3RVER\nAWS_SECRET_ACCESS_KEY=hp-test-secret\n", { mode: 0o600 });
    fs.writeFileSync(path.join(etc, "offsite-password"), "correct horse battery staple\n", { mode: 0o600 });
    fs.writeFileSync(path.join(etc, "alert-webhook-url"), `${hook.url}\n`, { mode: 0o600 });
  });
  after(() => scratch?.cleanup());

  const settings = (extra: Record<string, string> = {}): Record<string, string> => ({
    REPOSITORY: s3.repository("staging"),
    CREDENTIALS_FILE: path.join(etc, "offsite-credentials"),
    PASSWORD_FILE: path.join(etc, "offsite-password"),
    BACKUP_ROOT: backupRoot,
    EXTRA_PATHS: edge,
    HOST_TAG,
    KEEP_DAILY: "7",
    KEEP_WEEKLY: "4",
    KEEP_MONTHLY: "6",
    TIMEOUT_SECONDS: "60",
    CACERT: tls.cert,
    CACHE_DIR: scratch.path("cache"),
    STATUS_FILE: path.join(state, "offsite.last-success"),
    CHECK_STATUS_FILE: path.join(state, "offsite-check.last-success"),
    LOCK_FILE: scratch.path("offsite.lock"),
    TZ: "UTC",
    ...extra,
  });

  /** restic itself, on the test's repository, with the right password. */
  const restic = (args: string[], extra: Record<string, string> = {}) =>
    run("restic", [args[0], "--cacert", tls.cert, ...args.slice(1)], {
      env: scriptEnv({
        RESTIC_REPOSITORY: s3.repository("staging"), RESTIC_PASSWORD_FILE: path.join(etc, "offsite-password"),
        AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "hp-test-secret", RESTIC_CACHE_DIR: scratch.path("cache-test"), TZ: "UTC", ...extra,
      }),
      timeoutMs: 120_000,
    });
  const snapshots = async (): Promise<{ time: string; hostname: string; paths: string[]; id: string }[]> => {
    const r = await restic(["snapshots", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout);
  };

  /**
   * One run of the unit as systemd runs it: the script, then alert.sh as its ExecStopPost, with
   * SERVICE_RESULT and the run's log where journalctl finds it for this invocation.
   */
  let invocation = 0;
  async function unitRun(extra: Record<string, string> = {}, timeoutMs = 180_000): Promise<{ run: RunResult; alert: RunResult }> {
    const r = await runScript("offsite-backup.sh", settings(extra), timeoutMs);
    assert.ok(!r.timedOut, `the run ended by itself within its bound:\n${r.stderr}`);
    const id = `inv${++invocation}`;
    const log = scratch.path(`${id}.log`);
    fs.writeFileSync(log, r.stderr);
    const journalctl = writeExecutable(scratch.path(`journalctl-${id}`), `#!/usr/bin/env bash\n[[ "$*" == *"_SYSTEMD_INVOCATION_ID=${id}"* ]] && cat '${log}'\n`);
    const alert = await runScript("alert.sh", {
      CHECK: "offsite", STACK: "staging", HOST_NAME: "main", MACHINE: "hp-test-machine",
      WEBHOOK_URL_FILE: path.join(etc, "alert-webhook-url"), STATE_DIR: path.join(state, "alerts"),
      SERVICE_RESULT: r.code === 0 ? "success" : "exit-code", EXIT_CODE: "exited", EXIT_STATUS: String(r.code),
      INVOCATION_ID: id, JOURNALCTL: journalctl,
    });
    assert.equal(alert.code, 0, alert.stderr);
    return { run: r, alert };
  }

  test("the first run creates the repository and copies the finished dumps and the edge's storage, encrypted; a missing edge directory is no error", async () => {
    const first = await unitRun();
    assert.equal(first.run.code, 0, first.run.stderr);
    assert.match(first.run.stderr, /no repository at \S+ yet: creating it/);
    assert.match(first.run.stderr, new RegExp(`${edge} does not exist; not copied`));
    assert.match(first.run.stderr, /restic check passed/);
    assert.match(first.run.stderr, /done: snapshot [0-9a-f]{8} in /);
    assert.ok(fs.existsSync(path.join(state, "offsite.last-success")));
    assert.equal(hook.messages.length, 0, "a success without a failure before it posts nothing");

    fs.mkdirSync(path.join(edge, "caddy", "certificates"), { recursive: true });
    fs.writeFileSync(path.join(edge, "caddy", "certificates", "colombia.example.crt"), "certificate\n");
    const second = await unitRun();
    assert.equal(second.run.code, 0, second.run.stderr);
    assert.doesNotMatch(second.run.stderr, /restic check passed/, "the check runs every CHECK_EVERY_DAYS, not every run");
    const list = await snapshots();
    assert.equal(list.length, 1, "two copies on one day: keep-daily keeps the newer one (the paths do not split the group)");
    assert.deepEqual(list[0].paths.sort(), [backupRoot, edge].sort());
    assert.equal(list[0].hostname, HOST_TAG);

    // Restored, the files are the same; the dump being written is not in the copy.
    const target = scratch.path("restored");
    const r = await restic(["restore", "latest", "--target", target]);
    assert.equal(r.code, 0, r.stderr);
    for (const f of ["colombia/20261201T021500Z.dump", "colombia/20261201T021500Z.counts", "peru/20261201T021500Z.dump"]) {
      assert.ok(fs.readFileSync(path.join(target, backupRoot, f)).equals(fs.readFileSync(path.join(backupRoot, f))), f);
    }
    assert.equal(fs.readFileSync(path.join(target, edge, "caddy", "certificates", "colombia.example.crt"), "utf8"), "certificate\n");
    assert.ok(!fs.existsSync(path.join(target, backupRoot, "peru", ".20261201T031500Z.dump.x1.partial")));
    assert.ok(!s3.storedBytes().includes(Buffer.from(marker)), "no plaintext in the stored objects");
  });

  test("retention: forget --prune keeps exactly KEEP_DAILY / KEEP_WEEKLY / KEEP_MONTHLY of this host, and no other host's snapshot goes", async () => {
    // Earlier copies, as if made on these days (restic backup --time).
    const now = Date.now();
    const days = [1, 2, 3, 5, 9, 16, 23, 40, 45, 75, 110, 140];
    const extra = scratch.path("seed");
    fs.mkdirSync(extra, { recursive: true });
    for (const d of days) {
      fs.writeFileSync(path.join(extra, "f"), `day ${d}\n`);
      const when = new Date(now - d * 86_400_000).toISOString().replace("T", " ").slice(0, 19);
      const r = await restic(["backup", "--host", HOST_TAG, "--tag", "housing-portal", "--time", when, extra]);
      assert.equal(r.code, 0, r.stderr);
    }
    const other = await restic(["backup", "--host", "someone-else", "--tag", "housing-portal", "--time", "2020-01-01 00:00:00", extra]);
    assert.equal(other.code, 0, other.stderr);

    const before = (await snapshots()).filter((s) => s.hostname === HOST_TAG);
    const r = await unitRun({ KEEP_DAILY: "3", KEEP_WEEKLY: "2", KEEP_MONTHLY: "3" });
    assert.equal(r.run.code, 0, r.run.stderr);
    const left = (await snapshots()).filter((s) => s.hostname === HOST_TAG);
    const made = left.filter((s) => !before.some((b) => b.id === s.id));
    assert.equal(made.length, 1, "the run made one copy");
    // Exactly what the policy keeps of everything there was (restic's rule: the newest per day,
    // ISO week and month, counted per rule), by id.
    const expected = expectedKept([...before, ...made].map((s) => ({ ...s, t: new Date(s.time) })), { daily: 3, weekly: 2, monthly: 3 });
    assert.deepEqual(left.map((s) => s.id).sort(), expected.map((s) => s.id).sort());
    assert.ok(left.length < before.length, `older copies were pruned: ${before.length} → ${left.length}`);
    assert.ok((await snapshots()).some((s) => s.hostname === "someone-else"), "another host's snapshot is not this host's to prune");
  });

  test("a wrong password, an unreachable endpoint and an endpoint that dies mid-upload each fail within the bound and alert once; the next run recovers, clearing the stale lock", async () => {
    hook.messages.length = 0;
    const ok = await unitRun();
    assert.equal(ok.run.code, 0, ok.run.stderr);

    // 1. A wrong password: one message, however often it fails.
    fs.writeFileSync(scratch.path("wrong-password"), "not the password\n", { mode: 0o600 });
    for (let i = 0; i < 2; i++) {
      const bad = await unitRun({ PASSWORD_FILE: scratch.path("wrong-password") });
      assert.equal(bad.run.code, 1, bad.run.stderr);
      assert.match(bad.run.stderr, /cannot open the repository .*wrong password or key, or unreachable/);
    }
    assert.equal(hook.messages.length, 1, JSON.stringify(hook.messages));
    const failure = hook.messages[0];
    assert.equal(failure.text, failure.content, "one body for Slack, Teams (text) and Discord (content)");
    assert.match(failure.text, /^housing-portal staging\/main \(hp-test-machine\): offsite FAILED since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(last success: \d{4}-[^)]+\): offsite-backup: error: cannot open the repository/);
    assert.doesNotMatch(failure.text, /correct horse|hp-test-secret|secret-token/, "no secret in the message");
    const recovered = await unitRun();
    assert.equal(recovered.run.code, 0, recovered.run.stderr);
    assert.equal(hook.messages.length, 2);
    assert.match(hook.messages[1].text, /^housing-portal staging\/main \(hp-test-machine\): offsite RECOVERED at \S+ after failing since \S+: offsite-backup: done: snapshot/);

    // 2. An endpoint nothing listens on.
    const unreachable = await unitRun({ REPOSITORY: `s3:https://127.0.0.1:${await freePort()}/portal-backups/staging` });
    assert.equal(unreachable.run.code, 1, unreachable.run.stderr);
    assert.equal(hook.messages.length, 3);
    assert.match(hook.messages[2].text, /offsite FAILED since .*cannot open the repository/);
    assert.equal((await unitRun()).run.code, 0);
    assert.equal(hook.messages.length, 4);
    assert.match(hook.messages[3].text, /offsite RECOVERED/);

    // 3. The server dies during an upload: restic would retry for many minutes; the bound ends it.
    fs.writeFileSync(path.join(backupRoot, "colombia", "20261202T021500Z.dump"), crypto.randomBytes(1024 * 1024));
    s3.dieOnUpload = true;
    const died = await unitRun({ TIMEOUT_SECONDS: "8" });
    assert.equal(s3.deaths, 1, "the server died mid-upload");
    assert.equal(died.run.code, 1, died.run.stderr);
    assert.match(died.run.stderr, /restic backup did not finish within TIMEOUT_SECONDS \(8s\); killed/);
    assert.match(died.run.stderr, /error: restic backup of .* failed; no success recorded/);
    assert.equal(hook.messages.length, 5);
    assert.match(hook.messages[4].text, /offsite FAILED since .*restic backup of .* failed/);
    await s3.start(s3.port);
    const locks = await restic(["list", "locks", "--no-lock"]);
    assert.equal(locks.code, 0, locks.stderr);
    assert.equal(locks.stdout.trim().split("\n").filter(Boolean).length, 1, "the killed run left its lock");
    const next = await unitRun();
    assert.equal(next.run.code, 0, next.run.stderr);
    const after = await restic(["list", "locks", "--no-lock"]);
    assert.equal(after.stdout.trim(), "", "the stale lock was cleared");
    assert.equal(hook.messages.length, 6);
    assert.match(hook.messages[5].text, /offsite RECOVERED/);
    const list = await snapshots();
    assert.ok(list.some((s) => s.hostname === HOST_TAG), "the copy after the failure is there");
  });

  test("ACTION=latest prints the newest snapshot's time of this host, for the freshness check", async () => {
    const r = await runScript("offsite-backup.sh", settings({ ACTION: "latest" }));
    assert.equal(r.code, 0, r.stderr);
    const newest = Math.max(...(await snapshots()).filter((s) => s.hostname === HOST_TAG).map((s) => Math.floor(new Date(s.time).getTime() / 1000)));
    assert.equal(r.stdout, `${newest}\n`);
    const none = await runScript("offsite-backup.sh", settings({ ACTION: "latest", HOST_TAG: "nobody" }));
    assert.equal(none.code, 0, none.stderr);
    assert.equal(none.stdout, "");
  });

  test("bad settings and missing secrets", async () => {
    const bad: Record<string, string>[] = [{ REPOSITORY: "s3:/no-host" }, { HOST_TAG: "" }, { KEEP_DAILY: "0", KEEP_WEEKLY: "0", KEEP_MONTHLY: "0" }, { TIMEOUT_SECONDS: "0" }, { EXTRA_PATHS: "edge" }, { CHECK_READ_DATA_SUBSET: "all" }];
    for (const extra of bad) {
      const r = await runScript("offsite-backup.sh", settings(extra));
      assert.equal(r.code, 2, `${JSON.stringify(extra)}: ${r.stderr}`);
      assert.match(r.stderr, /invalid setting/);
    }
    const noPassword = await runScript("offsite-backup.sh", settings({ PASSWORD_FILE: scratch.path("missing") }));
    assert.equal(noPassword.code, 1);
    assert.match(noPassword.stderr, /no repository password in/);
    fs.writeFileSync(scratch.path("creds-bad"), "AWS_ACCESS_KEY_ID=x\n$(touch /tmp/pwned)\n");
    const badCreds = await runScript("offsite-backup.sh", settings({ CREDENTIALS_FILE: scratch.path("creds-bad") }));
    assert.equal(badCreds.code, 1);
    assert.match(badCreds.stderr, /may hold only AWS_ACCESS_KEY_ID= and AWS_SECRET_ACCESS_KEY= lines/);
  });
});

/** restic's keep-daily/weekly/monthly policy (its own algorithm: newest first, one per bucket, counted per rule). */
function expectedKept<T extends { t: Date }>(snaps: T[], keep: { daily: number; weekly: number; monthly: number }): T[] {
  const isoWeek = (t: Date) => {
    const d = new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate()));
    const day = d.getUTCDay() || 7;
    d.setUTCDate(d.getUTCDate() + 4 - day);
    const year = d.getUTCFullYear();
    const week = Math.ceil(((d.getTime() - Date.UTC(year, 0, 1)) / 86_400_000 + 1) / 7);
    return `${year}-${week}`;
  };
  const rules = [
    { left: keep.daily, key: (t: Date) => t.toISOString().slice(0, 10), last: "" },
    { left: keep.weekly, key: isoWeek, last: "" },
    { left: keep.monthly, key: (t: Date) => t.toISOString().slice(0, 7), last: "" },
  ];
  const kept: T[] = [];
  for (const s of [...snaps].sort((a, b) => b.t.getTime() - a.t.getTime())) {
    let keepIt = false;
    for (const r of rules) {
      const k = r.key(s.t);
      if (r.left > 0 && k !== r.last) {
        r.last = k;
        r.left--;
        keepIt = true;
      }
    }
    if (keepIt) kept.push(s);
  }
  return kept;
}

async function freePort(): Promise<number> {
  const net = await import("node:net");
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as import("node:net").AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}
