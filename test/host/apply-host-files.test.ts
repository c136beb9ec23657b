// host/apply-host-files.sh, for real: the bundle the program renders (components/hostSettings.ts)
// installed into a scratch root, with a systemctl shim that records what it is asked. Changed
// files are written, unchanged ones left alone (same inode), files the previous bundle had are
// removed, systemd is reloaded only when a unit changed, a timer whose files changed is
// restarted; a bad bundle changes nothing.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { after, before, describe, test } from "node:test";
import { HostFileSet, renderHostBundle } from "../../components/hostSettings";
import { Scratch, hostScript, requireHostTier, run, scriptEnv, writeExecutable } from "./helpers";

const UNIT = "/etc/systemd/system";

describe("host/apply-host-files.sh", () => {
  let scratch: Scratch;
  let root: string;
  let calls: string;
  let systemctl: string;

  before(() => {
    requireHostTier(["jq", "base64", "install", "cmp"]);
    scratch = new Scratch("apply");
    root = scratch.path("root");
    fs.mkdirSync(root);
    calls = scratch.path("systemctl.log");
    systemctl = writeExecutable(scratch.path("systemctl"), `#!/bin/sh\nprintf '%s\\n' "$*" >>"${calls}"\n`);
  });
  after(() => scratch?.cleanup());

  const apply = (bundle: string) =>
    run(hostScript("apply-host-files.sh"), [], { env: scriptEnv({ ROOT: root, SYSTEMCTL: systemctl }), input: bundle });
  const systemctlCalls = () => {
    const lines = fs.existsSync(calls) ? fs.readFileSync(calls, "utf8").trim().split("\n").filter(Boolean) : [];
    fs.rmSync(calls, { force: true });
    return lines;
  };
  const file = (p: string) => fs.readFileSync(`${root}${p}`, "utf8");

  const timer = (calendar: string) => `[Timer]\nOnCalendar=${calendar}\n`;
  const set = (calendar: string, retain: number, extra: HostFileSet["files"] = []): HostFileSet => ({
    files: [
      { path: "/usr/local/sbin/housing-portal-dump-databases", content: "#!/bin/sh\necho dump\n", permissions: "0755" },
      { path: `${UNIT}/housing-portal-dump.service`, content: "[Service]\nType=oneshot\n", permissions: "0644" },
      { path: `${UNIT}/housing-portal-dump.timer`, content: timer(calendar), permissions: "0644" },
      { path: "/etc/housing-portal/dump.env", content: `RETAIN=${retain}\n`, permissions: "0644" },
      ...extra,
    ],
    enable: ["housing-portal-dump.timer"],
  });

  test("first apply: every file with its mode, systemd reloaded, the timer enabled and started", async () => {
    const r = await apply(renderHostBundle(set("*-*-* 02:15:00 UTC", 7)));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(file("/etc/housing-portal/dump.env"), "RETAIN=7\n");
    assert.equal(fs.statSync(`${root}/usr/local/sbin/housing-portal-dump-databases`).mode & 0o777, 0o755);
    assert.equal(fs.statSync(`${root}${UNIT}/housing-portal-dump.timer`).mode & 0o777, 0o644);
    // The scripts every host gets come with any bundle.
    assert.equal(file("/usr/local/sbin/housing-portal-write-secret"), fs.readFileSync(hostScript("write-secret.sh"), "utf8"));
    assert.deepEqual(systemctlCalls(), ["daemon-reload", "enable housing-portal-dump.timer", "restart housing-portal-dump.timer"]);
  });

  test("the same bundle again: nothing written, no reload, the timer only kept running", async () => {
    const inode = fs.statSync(`${root}/etc/housing-portal/dump.env`).ino;
    const r = await apply(renderHostBundle(set("*-*-* 02:15:00 UTC", 7)));
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /wrote/);
    assert.equal(fs.statSync(`${root}/etc/housing-portal/dump.env`).ino, inode, "an unchanged file is left alone");
    assert.deepEqual(systemctlCalls(), ["enable housing-portal-dump.timer", "start housing-portal-dump.timer"]);
  });

  test("a retention change writes the settings file only; a schedule change reloads systemd and restarts the timer", async () => {
    const retain = await apply(renderHostBundle(set("*-*-* 02:15:00 UTC", 8)));
    assert.equal(retain.code, 0, retain.stderr);
    assert.deepEqual(retain.stderr.match(/wrote \S+/g), ["wrote /etc/housing-portal/dump.env"]);
    assert.equal(file("/etc/housing-portal/dump.env"), "RETAIN=8\n");
    assert.deepEqual(systemctlCalls(), ["enable housing-portal-dump.timer", "start housing-portal-dump.timer"]);

    const schedule = await apply(renderHostBundle(set("*-*-* 01,13:00:00 UTC", 8)));
    assert.equal(schedule.code, 0, schedule.stderr);
    assert.match(file(`${UNIT}/housing-portal-dump.timer`), /OnCalendar=\*-\*-\* 01,13:00:00 UTC/);
    assert.deepEqual(systemctlCalls(), ["daemon-reload", "enable housing-portal-dump.timer", "restart housing-portal-dump.timer"]);
  });

  test("files and units the previous bundle had and this one lacks are removed and disabled", async () => {
    const snapshot: HostFileSet["files"] = [
      { path: `${UNIT}/housing-portal-snapshot.service`, content: "[Service]\n", permissions: "0644" },
      { path: `${UNIT}/housing-portal-snapshot.timer`, content: timer("daily"), permissions: "0644" },
    ];
    const withSnapshot = set("daily", 8, snapshot);
    const r1 = await apply(renderHostBundle({ ...withSnapshot, enable: [...withSnapshot.enable, "housing-portal-snapshot.timer"] }));
    assert.equal(r1.code, 0, r1.stderr);
    systemctlCalls();
    fs.writeFileSync(`${root}/etc/housing-portal/operator-notes`, "not the program's\n");

    const r2 = await apply(renderHostBundle(set("daily", 8)));
    assert.equal(r2.code, 0, r2.stderr);
    assert.ok(!fs.existsSync(`${root}${UNIT}/housing-portal-snapshot.timer`));
    assert.ok(!fs.existsSync(`${root}${UNIT}/housing-portal-snapshot.service`));
    assert.ok(fs.existsSync(`${root}/etc/housing-portal/operator-notes`), "a file the program never installed stays");
    assert.deepEqual(systemctlCalls(), ["disable --now housing-portal-snapshot.timer", "daemon-reload", "enable housing-portal-dump.timer", "start housing-portal-dump.timer"]);
  });

  test("a bad bundle exits 2 with one line and changes nothing", async () => {
    const before = file("/etc/housing-portal/dump.env");
    const good = set("daily", 9);
    const bad: string[] = [
      "not json",
      JSON.stringify({ files: [] }),
      renderHostBundle({ ...good, files: [...good.files, { path: "/etc/passwd", content: "x", permissions: "0644" }] }),
      renderHostBundle({ ...good, files: [...good.files, { path: "/etc/housing-portal/../shadow", content: "x", permissions: "0644" }] }),
      renderHostBundle({ ...good, files: [...good.files, { path: "/etc/housing-portal/x.env", content: "x", permissions: "644" }] }),
      renderHostBundle({ ...good, enable: ["sshd.service"] }),
      renderHostBundle({ ...good, enable: ["housing-portal-missing.timer"] }),
    ];
    for (const bundle of bad) {
      const r = await apply(bundle);
      assert.equal(r.code, 2, `${bundle.slice(0, 80)}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.match(r.stderr, /invalid bundle/);
    }
    assert.equal(file("/etc/housing-portal/dump.env"), before, "nothing half-applied");
    assert.deepEqual(systemctlCalls(), []);
  });
});
