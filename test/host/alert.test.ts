// host/alert.sh, as every backup unit's ExecStopPost runs it: one message per failure, one per
// recovery, to a webhook receiver on loopback (and an SNS topic through an `aws` shim).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, beforeEach, describe, test } from "node:test";
import { Scratch, requireHostTier, runScript, writeExecutable } from "./helpers";
import { WebhookReceiver } from "./offsite-fixture";

describe("host/alert.sh", () => {
  let scratch: Scratch;
  let hook: WebhookReceiver;
  let n = 0;
  let dir: string;

  before(async () => {
    requireHostTier(["curl", "jq", "flock"]);
    scratch = new Scratch("alert");
    hook = new WebhookReceiver();
    await hook.start();
    scratch.defer(() => hook.stop());
  });
  after(() => scratch?.cleanup());
  beforeEach(() => {
    dir = scratch.path(`case${++n}`);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "url"), `${hook.url}\n`, { mode: 0o600 });
    hook.messages.length = 0;
    hook.status = 200;
  });

  const alert = (extra: Record<string, string>) =>
    runScript("alert.sh", {
      CHECK: "dump", STACK: "production", HOST_NAME: "main", MACHINE: "ip-10-0-0-1",
      WEBHOOK_URL_FILE: path.join(dir, "url"), STATE_DIR: path.join(dir, "alerts"), ...extra,
    });
  const failed = (summary: string, extra: Record<string, string> = {}) => alert({ SERVICE_RESULT: "exit-code", EXIT_CODE: "exited", EXIT_STATUS: "1", SUMMARY: summary, ...extra });
  const succeeded = (extra: Record<string, string> = {}) => alert({ SERVICE_RESULT: "success", SUMMARY: "dump-databases: done: 2 database(s) dumped", ...extra });

  test("one message per failure, naming stack, host, machine, check, since when and the run's last line; one per recovery", async () => {
    assert.equal((await succeeded()).code, 0);
    assert.equal(hook.messages.length, 0, "a success with no failure before it posts nothing");
    const f1 = await failed("dump-databases: error: not dumped: chile (no running PostGIS container)");
    assert.equal(f1.code, 0, f1.stderr);
    assert.equal((await failed("dump-databases: error: not dumped: chile (no running PostGIS container)")).code, 0);
    assert.equal((await failed("dump-databases: error: not dumped: chile, peru")).code, 0);
    assert.equal(hook.messages.length, 1, "a failure that goes on is reported once");
    const m = hook.messages[0];
    assert.equal(m.text, m.content);
    assert.match(m.text, /^housing-portal production\/main \(ip-10-0-0-1\): dump FAILED since (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) \(last success: \d{4}-\d\d-\d\dT[\d:]+Z\): dump-databases: error: not dumped: chile \(no running PostGIS container\)$/);
    const since = /since (\S+)/.exec(m.text)![1];
    assert.equal((await succeeded()).code, 0);
    assert.equal((await succeeded()).code, 0);
    assert.equal(hook.messages.length, 2, "one recovery");
    assert.match(hook.messages[1].text, new RegExp(`^housing-portal production/main \\(ip-10-0-0-1\\): dump RECOVERED at \\S+ after failing since ${since}: dump-databases: done`));
    // Another check keeps its own state.
    await failed("offsite-backup: error: cannot open the repository", { CHECK: "offsite" });
    assert.equal(hook.messages.length, 3);
    assert.match(hook.messages[2].text, /offsite FAILED since \S+ \(last success: none recorded\)/);
  });

  test("a webhook that fails is tried again by the next run; the message is not lost", async () => {
    hook.status = 500;
    const r = await failed("snapshot-volume: error: POST /v2/volumes/x/snapshots failed");
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error: the webhook post failed \(curl exit 22\)/);
    hook.status = 200;
    assert.equal((await failed("snapshot-volume: error: again")).code, 0);
    assert.equal(hook.messages.length, 1);
    assert.match(hook.messages[0].text, /dump FAILED since .*: snapshot-volume: error: again$/);
    // Since the first failure, not the first delivered message.
    const state = fs.readFileSync(path.join(dir, "alerts", "dump.state"), "utf8");
    assert.match(state, /^failing \S+ - 1\n$/);
  });

  test("the summary comes from this invocation's journal, else from how the unit ended (a timeout)", async () => {
    const journal = writeExecutable(path.join(dir, "journalctl"), `#!/usr/bin/env bash
[[ "$*" == *"_SYSTEMD_INVOCATION_ID=abc123"* ]] || exit 0
printf 'restore-check: colombia: FAILED: pg_restore failed\\nrestore-check: error: restore check failed: colombia (pg_restore of 20261201T021500Z.dump failed)\\nalert: an older line of ours\\n'
`);
    await alert({ CHECK: "restore-check", SERVICE_RESULT: "exit-code", INVOCATION_ID: "abc123", JOURNALCTL: journal });
    assert.match(hook.messages[0].text, /restore-check FAILED since \S+ \(last success: none recorded\): restore-check: error: restore check failed: colombia \(pg_restore of 20261201T021500Z\.dump failed\)$/);
    await alert({ CHECK: "offsite", SERVICE_RESULT: "timeout", EXIT_CODE: "killed", EXIT_STATUS: "TERM", INVOCATION_ID: "other", JOURNALCTL: journal });
    assert.match(hook.messages[1].text, /offsite FAILED since \S+ \(last success: none recorded\): the unit ended with timeout \(killed TERM\)$/);
  });

  test("the URL never reaches a command line; with SNS_TOPIC_ARN the message is published there too", async () => {
    const bin = path.join(dir, "bin");
    fs.mkdirSync(bin);
    const argsLog = path.join(dir, "args.log");
    writeExecutable(path.join(bin, "curl"), `#!/usr/bin/env bash\nprintf 'curl %s\\n' "$*" >>'${argsLog}'\nexec /usr/bin/curl "$@"\n`);
    writeExecutable(path.join(bin, "aws"), `#!/usr/bin/env bash\nprintf 'aws %s\\n' "$*" >>'${argsLog}'\n`);
    const r = await failed("offsite-backup: error: x", { PATH: `${bin}:${process.env.PATH}`, SNS_TOPIC_ARN: "arn:aws:sns:eu-central-1:123456789012:housing-portal-production-alerts" });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(hook.messages.length, 1);
    const calls = fs.readFileSync(argsLog, "utf8");
    assert.doesNotMatch(calls, /secret-token|127\.0\.0\.1/, "the webhook URL is a secret");
    assert.match(calls, /^aws sns publish --region eu-central-1 --topic-arn arn:aws:sns:eu-central-1:123456789012:housing-portal-production-alerts --subject housing-portal production\/main \(ip-10-0-0-1\): dump FAILED --message housing-portal production\/main .*dump FAILED since/m);
  });

  test("without a webhook file, only the log; bad settings exit 2", async () => {
    const r = await failed("x", { WEBHOOK_URL_FILE: path.join(dir, "none") });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /dump FAILED since/);
    assert.equal(hook.messages.length, 0);
    const bad: Record<string, string>[] = [{ CHECK: "" }, { CHECK: "../x" }, { RESULT: "maybe" }, { STATE_DIR: "rel" }, { SNS_TOPIC_ARN: "topic" }, { POST_TIMEOUT_SECONDS: "0" }];
    for (const extra of bad) {
      const b = await alert({ SERVICE_RESULT: "success", ...extra });
      assert.equal(b.code, 2, JSON.stringify(extra));
      assert.match(b.stderr, /invalid setting/);
    }
    const noResult = await alert({});
    assert.equal(noResult.code, 2);
  });
});
