// Static checks of host/: every script is an executable bash script with its settings documented
// and passes `bash -n` and shellcheck; every systemd unit has the shape the TypeScript program and
// cloud-init rely on, and `systemd-analyze verify` accepts it once the placeholder is filled in.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { HOST_DIR, Scratch, requireHostTier, run, sh } from "./helpers";

const SYSTEMD_DIR = path.join(HOST_DIR, "systemd");
const SCRIPTS = fs.readdirSync(HOST_DIR).filter((f) => f.endsWith(".sh")).sort();
// perItem: the script lists its results per instance (FINDINGS_FILE) for one alert per instance;
// the others are host-level and alert per run.
const UNITS: Record<string, { script: string; env: string; needsMount: boolean; check: string; perItem: boolean }> = {
  "housing-portal-snapshot": { script: "snapshot-volume.sh", env: "snapshot.env", needsMount: true, check: "snapshot", perItem: false },
  "housing-portal-dump": { script: "dump-databases.sh", env: "dump.env", needsMount: true, check: "dump", perItem: true },
  "housing-portal-backup-status": { script: "backup-status.sh", env: "backup-status.env", needsMount: false, check: "backup-status", perItem: true },
  "housing-portal-offsite": { script: "offsite-backup.sh", env: "offsite.env", needsMount: true, check: "offsite", perItem: false },
  "housing-portal-restore-check": { script: "restore-check.sh", env: "restore-check.env", needsMount: true, check: "restore-check", perItem: true },
};
const ALERT = "/usr/local/sbin/housing-portal-alert";
/** The one unit that is no backup: it runs with Docker, not on a timer. */
const METADATA_BLOCK = "housing-portal-block-container-metadata.service";

/** `Key=value` lines of one [Section] of a unit file. */
function section(text: string, name: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  let current = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const m = /^\[(.+)\]$/.exec(line);
    if (m) {
      current = m[1];
      continue;
    }
    if (current !== name) continue;
    const i = line.indexOf("=");
    (out[line.slice(0, i)] ??= []).push(line.slice(i + 1));
  }
  return out;
}

describe("host/ scripts and systemd units", () => {
  let scratch: Scratch;
  before(() => {
    requireHostTier(["bash", "shellcheck", "systemd-analyze"]);
    scratch = new Scratch("units");
  });
  after(() => scratch?.cleanup());

  test("every host script is executable bash with strict mode, a settings header, and passes bash -n and shellcheck", async () => {
    const found = fs.readdirSync(HOST_DIR).filter((f) => f.endsWith(".sh")).sort();
    for (const s of SCRIPTS) assert.ok(found.includes(s), `host/${s} exists`);
    for (const s of found) {
      const file = path.join(HOST_DIR, s);
      const text = fs.readFileSync(file, "utf8");
      assert.ok(text.startsWith("#!/usr/bin/env bash\n"), `${s}: shebang`);
      assert.match(text, /^set -euo pipefail$/m, `${s}: strict mode`);
      assert.match(text, /^# Settings \(environment\):$/m, `${s}: documents its settings`);
      assert.ok((fs.statSync(file).mode & 0o111) === 0o111, `${s} is executable`);
      sh("bash", ["-n", file]);
    }
    const r = await run("shellcheck", ["--severity=style", ...found.map((s) => path.join(HOST_DIR, s))]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  test("timers: OnCalendar placeholder, Persistent=true, each starts its service", () => {
    for (const name of Object.keys(UNITS)) {
      const timer = fs.readFileSync(path.join(SYSTEMD_DIR, `${name}.timer`), "utf8");
      const t = section(timer, "Timer");
      assert.deepEqual(t.OnCalendar, ["@ON_CALENDAR@"], `${name}.timer`);
      assert.deepEqual(t.Persistent, ["true"], `${name}.timer`);
      assert.deepEqual(t.Unit, [`${name}.service`]);
      assert.deepEqual(section(timer, "Install").WantedBy, ["timers.target"]);
    }
  });

  test("services: oneshot, settings from /etc/housing-portal/<name>.env, the installed script path, the mount", () => {
    for (const [name, u] of Object.entries(UNITS)) {
      const text = fs.readFileSync(path.join(SYSTEMD_DIR, `${name}.service`), "utf8");
      const svc = section(text, "Service");
      const unit = section(text, "Unit");
      assert.deepEqual(svc.Type, ["oneshot"], name);
      // Its own settings, then who is told; the freshness check also reads the off-site settings first.
      const offsite = name === "housing-portal-backup-status" ? ["-/etc/housing-portal/offsite.env"] : [];
      assert.deepEqual(svc.EnvironmentFile, [...offsite, `/etc/housing-portal/${u.env}`, "-/etc/housing-portal/alerts.env"], name);
      // Every backup unit alerts on failure and on recovery, however its run ended.
      assert.equal(svc.ExecStopPost?.at(-1), `-/usr/bin/env CHECK=${u.check} ${ALERT}`, name);
      // The script and its alert share the findings file: the unit's environment reaches both.
      assert.deepEqual(svc.Environment, u.perItem ? [`FINDINGS_FILE=/var/lib/housing-portal/${u.check}.findings`] : undefined, name);
      if (u.perItem) assert.match(fs.readFileSync(path.join(HOST_DIR, u.script), "utf8"), /^#   FINDINGS_FILE /m, u.script);
      assert.deepEqual(svc.ExecStart, [`/usr/local/sbin/housing-portal-${u.script.replace(/\.sh$/, "")}`], name);
      assert.ok(fs.existsSync(path.join(HOST_DIR, u.script)));
      if (u.needsMount) assert.deepEqual(unit.RequiresMountsFor, ["/mnt/data"], name);
    }
    const snap = fs.readFileSync(path.join(SYSTEMD_DIR, "housing-portal-snapshot.service"), "utf8");
    assert.match(section(snap, "Unit").After?.join(" ") ?? "", /housing-portal-dump\.service/, "the snapshot waits for a running dump");
    // A thaw after a SIGKILL, but only of this invocation's own freeze: never a bare fsfreeze -u.
    assert.deepEqual(section(snap, "Service").ExecStopPost, ["-/usr/bin/env ACTION=thaw-own /usr/local/sbin/housing-portal-snapshot-volume", `-/usr/bin/env CHECK=snapshot ${ALERT}`]);
    const files = fs.readdirSync(SYSTEMD_DIR).sort();
    assert.deepEqual(files, [...Object.keys(UNITS).flatMap((n) => [`${n}.service`, `${n}.timer`]), METADATA_BLOCK].sort());
  });

  test("the metadata block runs its installed script each time Docker starts, and stays active", () => {
    const text = fs.readFileSync(path.join(SYSTEMD_DIR, METADATA_BLOCK), "utf8");
    assert.deepEqual(section(text, "Unit").After, ["docker.service"]);
    assert.deepEqual(section(text, "Unit").PartOf, ["docker.service"], "restarted with Docker");
    assert.deepEqual(section(text, "Install").WantedBy, ["docker.service"]);
    const svc = section(text, "Service");
    assert.deepEqual([svc.Type, svc.RemainAfterExit, svc.ExecStart], [["oneshot"], ["yes"], ["/usr/local/sbin/housing-portal-block-container-metadata"]]);
  });

  test("systemd-analyze verify accepts the units once @ON_CALENDAR@ is filled in", async () => {
    const dir = scratch.path("units");
    fs.mkdirSync(dir);
    for (const f of fs.readdirSync(SYSTEMD_DIR)) {
      const text = fs
        .readFileSync(path.join(SYSTEMD_DIR, f), "utf8")
        .replace(/@ON_CALENDAR@/g, "*-*-* 02:00:00")
        // the installed path does not exist here: point at the script in the checkout instead
        .replace(/\/usr\/local\/sbin\/housing-portal-([a-z-]+)/g, (_m, s: string) => path.join(HOST_DIR, `${s}.sh`));
      fs.writeFileSync(path.join(dir, f), text);
    }
    // The metadata block orders itself after Docker, which this machine need not have.
    fs.writeFileSync(path.join(dir, "docker.service"), "[Unit]\nDescription=stand-in for Docker\n[Service]\nExecStart=/bin/true\n");
    const r = await run("systemd-analyze", ["verify", ...fs.readdirSync(dir).map((f) => path.join(dir, f))], {
      env: { ...process.env, SYSTEMD_LOG_LEVEL: "warning" },
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.stderr.split("\n").filter((l) => l.includes("housing-portal")).join("\n"), "", "no warnings about our units");
  });
});
