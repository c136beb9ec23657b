// host/alert.sh, as every backup unit's ExecStopPost runs it: one message per failure, one per
// recovery, to a webhook receiver on loopback (and an SNS topic through an `aws` shim).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import type { AddressInfo } from "node:net";
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

  /** One run of a unit whose script listed its results per item (FINDINGS_FILE) under invocation `id`. */
  let inv = 0;
  const findingsRun = (check: string, rows: [string, "ok" | "fail", string][], extra: Record<string, string> = {}) => {
    const id = `inv-${++inv}`;
    const file = path.join(dir, `${check}.findings`);
    fs.writeFileSync(file, [`invocation ${id}`, ...rows.map((r) => r.join("\t"))].join("\n") + "\n");
    const failing = rows.some((r) => r[1] === "fail");
    return alert({ CHECK: check, FINDINGS_FILE: file, INVOCATION_ID: id, SERVICE_RESULT: failing ? "exit-code" : "success", SUMMARY: "the run's last line", ...extra });
  };
  const texts = () => hook.messages.map((m) => m.text);

  test("one message per failure and per recovery, per instance: A fails, B fails while A still fails, A recovers, B recovers: four messages, each naming its instance", async () => {
    const who = "housing-portal production/main \\(ip-10-0-0-1\\)";
    assert.equal((await findingsRun("dump", [["chile", "ok", "dumped: a.dump (10 bytes)"], ["peru", "ok", "dumped: b.dump (10 bytes)"]])).code, 0);
    assert.equal(hook.messages.length, 0);
    // A (chile) fails.
    assert.equal((await findingsRun("dump", [["chile", "fail", "not dumped: no running PostGIS container"], ["peru", "ok", "dumped"]])).code, 0);
    assert.equal(hook.messages.length, 1, texts().join("\n"));
    assert.match(texts()[0], new RegExp(`^${who}: dump FAILED for chile since (\\S+) \\(last success: \\S+Z\\): not dumped: no running PostGIS container$`));
    const chileSince = /since (\S+)/.exec(texts()[0])![1];
    // B (peru) fails while A still fails: one message, naming B.
    assert.equal((await findingsRun("dump", [["chile", "fail", "not dumped: no running PostGIS container"], ["peru", "fail", "not dumped: pg_dump failed"]])).code, 0);
    assert.equal(hook.messages.length, 2, texts().join("\n"));
    assert.match(texts()[1], new RegExp(`^${who}: dump FAILED for peru since \\S+ \\(last success: \\S+Z\\): not dumped: pg_dump failed$`));
    // Both still fail: nothing.
    await findingsRun("dump", [["chile", "fail", "not dumped: no running PostGIS container"], ["peru", "fail", "not dumped: pg_dump failed"]]);
    assert.equal(hook.messages.length, 2);
    // A recovers while B still fails: one recovery, naming A.
    assert.equal((await findingsRun("dump", [["chile", "ok", "dumped: c.dump (12 bytes)"], ["peru", "fail", "not dumped: pg_dump failed"]])).code, 0);
    assert.equal(hook.messages.length, 3, texts().join("\n"));
    assert.match(texts()[2], new RegExp(`^${who}: dump RECOVERED for chile at \\S+ after failing since ${chileSince}: dumped: c\\.dump \\(12 bytes\\)$`));
    // B recovers: one.
    await findingsRun("dump", [["chile", "ok", "dumped"], ["peru", "ok", "dumped"]]);
    assert.equal(hook.messages.length, 4, texts().join("\n"));
    assert.match(texts()[3], /: dump RECOVERED for peru at /);
    await findingsRun("dump", [["chile", "ok", "dumped"], ["peru", "ok", "dumped"]]);
    assert.equal(hook.messages.length, 4, "nothing while all is well");
    assert.doesNotMatch(texts().join("\n"), /dump (FAILED|RECOVERED) since|dump RECOVERED at/, "no message for the run as a whole: it completed every time");
  });

  test("a run that listed no results (killed, timed out) is one message for the run as a whole; the next run that lists them recovers it and reports its instances", async () => {
    // The run was killed before it listed anything: the last run's findings are not this invocation's.
    await findingsRun("restore-check", [["chile", "ok", "passed"]]);
    const stale = path.join(dir, "restore-check.findings");
    const killed = await alert({ CHECK: "restore-check", FINDINGS_FILE: stale, INVOCATION_ID: "inv-killed", SERVICE_RESULT: "timeout", EXIT_CODE: "killed", EXIT_STATUS: "TERM", SUMMARY: "" });
    assert.equal(killed.code, 0, killed.stderr);
    assert.match(killed.stderr, /is not this run's \(invocation inv-\d+\); judging the run as a whole/);
    assert.equal(hook.messages.length, 1);
    assert.match(texts()[0], /: restore-check FAILED since \S+ \(last success: \S+Z\): the unit ended with timeout \(killed TERM\)$/);
    // Killed again: still the same failure.
    await alert({ CHECK: "restore-check", FINDINGS_FILE: path.join(dir, "none"), INVOCATION_ID: "inv-killed-2", SERVICE_RESULT: "timeout", SUMMARY: "" });
    assert.equal(hook.messages.length, 1);
    // The next run completes: the run recovers, and its failed instance is its own message.
    await findingsRun("restore-check", [["chile", "ok", "passed"], ["peru", "fail", "20261201T021500Z.dump restored, but: public.surveys has 40 rows, the dump step counted 41"]]);
    assert.equal(hook.messages.length, 3, texts().join("\n"));
    assert.match(texts()[1], /: restore-check RECOVERED at \S+ after failing since \S+: the run completes again: 1 ok, 1 failed$/);
    assert.match(texts()[2], /: restore-check FAILED for peru since \S+ \(last success: none recorded\): 20261201T021500Z\.dump restored, but: public\.surveys has 40 rows/);
    // A failed run whose listed items all passed (it died after listing them) is the run's failure.
    await findingsRun("restore-check", [["chile", "ok", "passed"], ["peru", "ok", "passed"]], { SERVICE_RESULT: "exit-code", SUMMARY: "restore-check: error: cannot write the status" });
    assert.equal(hook.messages.length, 5, texts().join("\n"));
    assert.match(texts()[3], /: restore-check FAILED since \S+ \(last success: \S+\): restore-check: error: cannot write the status$/);
    assert.match(texts()[4], /: restore-check RECOVERED for peru at /);
  });

  test("a failing item that is no longer among the results (an instance removed) is closed with one message; a failure of no one instance (\"-\") is the run's", async () => {
    await findingsRun("backup-status", [["dump:chile", "fail", "dump of chile missing: no <timestamp>.dump in /mnt/data/backups/chile"], ["dump:peru", "ok", "dump of peru 2h ago"]]);
    assert.equal(hook.messages.length, 1);
    assert.match(texts()[0], /: backup-status FAILED for dump:chile since \S+ \(last success: none recorded\): dump of chile missing/);
    await findingsRun("backup-status", [["dump:peru", "ok", "dump of peru 1h ago"]]);
    await findingsRun("backup-status", [["dump:peru", "ok", "dump of peru 1h ago"]]);
    assert.equal(hook.messages.length, 2, texts().join("\n"));
    assert.match(texts()[1], /: backup-status no longer checks dump:chile \(failing since \S+\): it is not among this run's results$/);
    assert.deepEqual(fs.readdirSync(path.join(dir, "alerts")).filter((f) => f.endsWith(".state")).sort(), ["backup-status.state", "backup-status@dump:peru.state"]);
    await findingsRun("dump", [["-", "fail", "PostGIS container c0ffee09 has no housing-portal.instance label; not dumped"], ["peru", "ok", "dumped"]]);
    assert.equal(hook.messages.length, 3);
    assert.match(texts()[2], /: dump FAILED since \S+ \(last success: none recorded\): PostGIS container c0ffee09 has no housing-portal\.instance label; not dumped$/);
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

  test("the URL never reaches a command line; with SNS_TOPIC_ARN the message is published there too, signed with the instance role's credentials", async () => {
    // The metadata service (IMDSv2) and SNS, on loopback.
    const seen: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }[] = [];
    const aws = http.createServer((req, res) => {
      let body = "";
      req.setEncoding("utf8").on("data", (d: string) => (body += d)).on("end", () => {
        seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
        if (req.method === "PUT" && req.url === "/latest/api/token") return res.end("imds-token");
        if (req.headers["x-aws-ec2-metadata-token"] !== "imds-token" && req.url!.startsWith("/latest/")) return res.writeHead(401).end();
        if (req.url === "/latest/meta-data/iam/security-credentials/") return res.end("housing-portal-host\n");
        if (req.url === "/latest/meta-data/iam/security-credentials/housing-portal-host") {
          return res.end(JSON.stringify({ AccessKeyId: "ASIAEXAMPLEKEYID", SecretAccessKey: "do-not-print-secret", Token: "do-not-print-session-token" }));
        }
        if (req.method === "POST" && req.url === "/") return res.end("<PublishResponse><PublishResult><MessageId>1</MessageId></PublishResult></PublishResponse>");
        return res.writeHead(404).end();
      });
    });
    await new Promise<void>((resolve) => aws.listen(0, "127.0.0.1", () => resolve()));
    scratch.defer(() => aws.close());
    const port = (aws.address() as AddressInfo).port;
    const bin = path.join(dir, "bin");
    fs.mkdirSync(bin);
    const argsLog = path.join(dir, "args.log");
    writeExecutable(path.join(bin, "curl"), `#!/usr/bin/env bash\nprintf 'curl %s\\n' "$*" >>'${argsLog}'\nexec /usr/bin/curl "$@"\n`);
    const topic = "arn:aws:sns:eu-central-1:123456789012:housing-portal-production-alerts";
    const r = await failed("offsite-backup: error: x", {
      PATH: `${bin}:${process.env.PATH}`, SNS_TOPIC_ARN: topic, IMDS_URL: `http://127.0.0.1:${port}`, SNS_ENDPOINT: `http://127.0.0.1:${port}`,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(hook.messages.length, 1);
    const calls = fs.readFileSync(argsLog, "utf8");
    assert.doesNotMatch(calls, /secret-token|do-not-print|imds-token/, "no URL, key or token on a command line");
    const publish = seen.find((q) => q.method === "POST")!;
    assert.match(String(publish.headers.authorization), /^AWS4-HMAC-SHA256 Credential=ASIAEXAMPLEKEYID\/\d{8}\/eu-central-1\/sns\/aws4_request, SignedHeaders=\S+, Signature=[0-9a-f]{64}$/);
    assert.equal(publish.headers["x-amz-security-token"], "do-not-print-session-token");
    const form = new URLSearchParams(publish.body);
    assert.equal(form.get("Action"), "Publish");
    assert.equal(form.get("TopicArn"), topic);
    assert.equal(form.get("Subject"), "housing-portal production/main (ip-10-0-0-1): dump FAILED");
    assert.match(form.get("Message")!, /^housing-portal production\/main \(ip-10-0-0-1\): dump FAILED since \S+ \(last success: none recorded\): offsite-backup: error: x$/);

    // No instance role (an existing host): the webhook still gets it; the run says why SNS did not.
    const noRole = await failed("y", { CHECK: "offsite", SNS_TOPIC_ARN: topic, IMDS_URL: `http://127.0.0.1:${await closedPort()}` });
    assert.equal(noRole.code, 1);
    assert.match(noRole.stderr, /error: no instance-role credentials from the metadata service/);
    assert.equal(hook.messages.length, 2);
  });

  test("without a webhook file, only the log; bad settings exit 2", async () => {
    const r = await failed("x", { WEBHOOK_URL_FILE: path.join(dir, "none") });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /dump FAILED since/);
    assert.equal(hook.messages.length, 0);
    const bad: Record<string, string>[] = [{ CHECK: "" }, { CHECK: "../x" }, { RESULT: "maybe" }, { STATE_DIR: "rel" }, { SNS_TOPIC_ARN: "topic" }, { POST_TIMEOUT_SECONDS: "0" }, { FINDINGS_FILE: "dump.findings" }];
    for (const extra of bad) {
      const b = await alert({ SERVICE_RESULT: "success", ...extra });
      assert.equal(b.code, 2, JSON.stringify(extra));
      assert.match(b.stderr, /invalid setting/);
    }
    const noResult = await alert({});
    assert.equal(noResult.code, 2);
  });
});

/** A loopback port nothing listens on. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (srv.address() as AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}
