// host/dump-databases.sh against a real PostgreSQL (Debian's packages, with PostGIS): a throwaway
// cluster in a scratch dir, listening only on a unix socket there, and a `docker` shim that maps
// `docker ps` to a fake container list and `docker exec <c> ...` to running the command locally
// against that server with the container's POSTGRES_USER/POSTGRES_DB.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, beforeEach, describe, test } from "node:test";
import { Scratch, findPgBin, requireHostTier, runScript, sh, writeExecutable } from "./helpers";
import { WebhookReceiver, runAsUnit } from "./offsite-fixture";

// (The registry of configured instances, INSTANCES_DIR, is per case and absent unless a test
// creates it: the tier never reads the machine's /etc/housing-portal/instances.)

const DUMP_NAME = /^\d{8}T\d{6}Z\.dump$/;

describe("host/dump-databases.sh against a real PostgreSQL", () => {
  let scratch: Scratch;
  let pgBin: string;
  let sock: string;
  let dataDir: string;
  let backupRoot: string;
  let statusFile: string;
  let instancesDir: string;
  let containers: string;

  const asPostgres = (cmd: string, args: string[]) => sh("runuser", ["-u", "postgres", "--", path.join(pgBin, cmd), ...args]);
  const psql = (db: string, sql: string) =>
    sh(path.join(pgBin, "psql"), ["-X", "-h", sock, "-U", "postgres", "-d", db, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql]);

  before(() => {
    requireHostTier(["runuser", "flock", "timeout"]);
    pgBin = findPgBin();
    scratch = new Scratch("dump");
    sock = scratch.path("pgsock");
    dataDir = scratch.path("pgdata");
    fs.mkdirSync(sock);
    fs.mkdirSync(dataDir);
    sh("chown", ["postgres:postgres", sock, dataDir]);
    asPostgres("initdb", ["-D", dataDir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"]);
    scratch.defer(() => {
      // stop the server before the scratch dir goes away
      asPostgres("pg_ctl", ["-D", dataDir, "-m", "immediate", "-w", "-t", "60", "stop"]);
    });
    asPostgres("pg_ctl", [
      "-D", dataDir, "-l", path.join(dataDir, "server.log"), "-w", "-t", "60",
      "-o", `-k ${sock} -c listen_addresses='' -c fsync=off -c full_page_writes=off`, "start",
    ]);

    // Two portal databases: one with PostGIS, like the real thing.
    psql("postgres", "CREATE DATABASE hp_colombia");
    psql("postgres", "CREATE DATABASE hp_peru");
    psql(
      "hp_colombia",
      `CREATE EXTENSION postgis;
       CREATE TABLE properties (id int PRIMARY KEY, address text NOT NULL, geom geometry(Point, 4326));
       INSERT INTO properties
         SELECT i, 'Calle ' || i || ' #' || (i * 7) || ' – Bogotá', ST_SetSRID(ST_MakePoint(-74.0 + i / 1000.0, 4.6 + i / 1000.0), 4326)
         FROM generate_series(1, 500) AS i;`,
    );
    psql(
      "hp_peru",
      `CREATE TABLE surveys (id serial PRIMARY KEY, answer jsonb);
       INSERT INTO surveys (answer) SELECT jsonb_build_object('q', i, 'city', 'Lima') FROM generate_series(1, 120) AS i;`,
    );

    containers = scratch.path("containers.txt");
    writeExecutable(
      scratch.path("docker"),
      `#!/usr/bin/env bash
# docker shim: containers.txt lines are "<id> <instance or -> <POSTGRES_USER> <POSTGRES_DB> [mode]"
set -euo pipefail
printf 'docker %s\\n' "$*" >>"$SHIM_EVENTS"
case "$1" in
  ps)
    [[ "$*" == *"--filter label=housing-portal.role=postgis"* ]] || { echo "shim: unexpected ps: $*" >&2; exit 2; }
    if [[ " $* " == *" -q "* ]]; then
      awk 'NF { print $1 }' "$SHIM_CONTAINERS"
    else
      [[ "$*" == *'{{.ID}} {{.Label "housing-portal.instance"}}'* ]] || { echo "shim: unexpected format: $*" >&2; exit 2; }
      awk 'NF { print $1 " " ($2 == "-" ? "" : $2) }' "$SHIM_CONTAINERS"
    fi ;;
  exec)
    shift
    [[ "$1" != -i ]] || shift
    id="$1"; shift
    line="$(awk -v id="$id" '$1 == id' "$SHIM_CONTAINERS")"
    [[ -n "$line" ]] || { echo "Error: No such container: $id" >&2; exit 1; }
    read -r _ _ user db mode <<<"$line"
    case "\${mode:-ok}" in
      partial) printf 'PGDMP half a dump'; echo "pg_dump: error: connection to server lost" >&2; exit 1 ;;
      notdump) echo "this is not a dump"; exit 0 ;;
      hang) exec sleep 300 ;;
      big) printf 'PGDMP'; head -c "$SHIM_BIG_BYTES" /dev/zero; exit 0 ;;
      insert) exec env POSTGRES_USER="$user" POSTGRES_DB="$db" PGHOST="$SHIM_PGHOST" SHIM_PGBIN="$SHIM_PGBIN" PATH="$SHIM_WRAPDIR:$SHIM_PGBIN:$PATH" "$@" ;;
    esac
    exec env POSTGRES_USER="$user" POSTGRES_DB="$db" PGHOST="$SHIM_PGHOST" PATH="$SHIM_PGBIN:$PATH" "$@" ;;
  *) echo "shim: unsupported: docker $*" >&2; exit 2 ;;
esac
`,
    );
  });

  after(() => scratch?.cleanup());

  let caseNo = 0;
  beforeEach(() => {
    caseNo++;
    backupRoot = scratch.path(`case${caseNo}`, "backups");
    statusFile = scratch.path(`case${caseNo}`, "state", "dump.last-success");
    instancesDir = scratch.path(`case${caseNo}`, "etc", "instances");
    fs.mkdirSync(backupRoot, { recursive: true });
  });

  function env(rows: string[], extra: Record<string, string> = {}): Record<string, string> {
    fs.writeFileSync(containers, rows.join("\n") + "\n");
    return {
      BACKUP_ROOT: backupRoot,
      RETAIN: "7",
      STATUS_FILE: statusFile,
      DUMP_TIMEOUT_SECONDS: "60",
      DOCKER: scratch.path("docker"),
      LOCK_FILE: scratch.path("dump.lock"),
      INSTANCES_DIR: instancesDir,
      SHIM_EVENTS: scratch.path("events.log"),
      SHIM_CONTAINERS: containers,
      SHIM_PGHOST: sock,
      SHIM_PGBIN: pgBin,
      SHIM_BIG_BYTES: String(10 * 1024 * 1024),
      ...extra,
    };
  }

  const GOOD = ["c0ffee01 colombia postgres hp_colombia", "c0ffee02 peru postgres hp_peru"];
  const files = (instance: string) => (fs.existsSync(path.join(backupRoot, instance)) ? fs.readdirSync(path.join(backupRoot, instance)).sort() : []);
  const dumps = (instance: string) => files(instance).filter((f) => DUMP_NAME.test(f));

  test("every instance is dumped, and the dump restores with pg_restore into a fresh database with the same rows", async () => {
    const r = await runScript("dump-databases.sh", env(GOOD));
    assert.equal(r.code, 0, r.stderr);

    for (const [instance, db, query] of [
      ["colombia", "hp_colombia", "SELECT id, address, ST_AsText(geom) FROM properties ORDER BY id"],
      ["peru", "hp_peru", "SELECT id, answer::text FROM surveys ORDER BY id"],
    ] as const) {
      const fl = files(instance);
      assert.equal(fl.length, 2, `exactly the dump and its counts, no temp left: ${fl.join(", ")}`);
      assert.match(fl[1], DUMP_NAME);
      assert.equal(fl[0], fl[1].replace(/\.dump$/, ".counts"));
      const file = path.join(backupRoot, instance, fl[1]);
      // The counts the restore check expects: the tables, PostGIS's version, the largest tables' rows.
      const counts = fs.readFileSync(path.join(backupRoot, instance, fl[0]), "utf8");
      assert.equal(fs.statSync(path.join(backupRoot, instance, fl[0])).mode & 0o777, 0o600);
      if (instance === "colombia") {
        assert.match(counts, /^tables\t2\npostgis\t3\.[0-9.]+\nrows\tpublic\.(properties|spatial_ref_sys)\t\d+\n/);
        assert.match(counts, /^rows\tpublic\.properties\t500$/m);
      } else {
        assert.equal(counts, "tables\t1\npostgis\tnone\nrows\tpublic.surveys\t120\n");
      }
      assert.equal(fs.statSync(file).mode & 0o777, 0o600, "dumps are root-only");
      assert.equal(fs.statSync(path.join(backupRoot, instance)).mode & 0o777, 0o700);
      assert.equal(fs.readFileSync(file).subarray(0, 5).toString(), "PGDMP", "custom format");

      const restored = `restored_${instance}_${caseNo}`;
      psql("postgres", `CREATE DATABASE ${restored}`);
      sh(path.join(pgBin, "pg_restore"), ["-h", sock, "-U", "postgres", "-d", restored, "--no-owner", "--exit-on-error", file]);
      const original = psql(db, query);
      const copy = psql(restored, query);
      assert.ok(original.split("\n").length >= 120);
      assert.equal(copy, original, `${instance}: the restored rows equal the original`);
    }
    assert.match(fs.readFileSync(statusFile, "utf8"), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ 2 instance\(s\)\n$/);
  });

  test("retention keeps only the newest RETAIN dumps of each instance and leaves other files alone", async () => {
    const dir = path.join(backupRoot, "colombia");
    fs.mkdirSync(dir, { recursive: true });
    for (let i = 0; i < 9; i++) fs.writeFileSync(path.join(dir, `2020010${i}T000000Z.dump`), "PGDMP old");
    fs.writeFileSync(path.join(dir, "notes.txt"), "operator notes");
    fs.writeFileSync(path.join(dir, ".20191231T000000Z.dump.Ab12Cd.partial"), "left by a killed run");

    const r = await runScript("dump-databases.sh", env(GOOD, { RETAIN: "3" }));
    assert.equal(r.code, 0, r.stderr);
    const d1 = dumps("colombia");
    assert.equal(d1.length, 3, d1.join(", "));
    assert.deepEqual(d1.slice(0, 2), ["20200107T000000Z.dump", "20200108T000000Z.dump"]);
    assert.ok(d1[2] > "2020", "the new dump is the newest");
    const counted = (d: string[]) => d.filter((f) => f > "2021").map((f) => f.replace(/\.dump$/, ".counts"));
    assert.deepEqual(files("colombia"), [...d1, ...counted(d1), "notes.txt"].sort(), "the stale temp file is gone, notes.txt stays");
    assert.equal(dumps("peru").length, 1);

    const r2 = await runScript("dump-databases.sh", env(GOOD, { RETAIN: "3" }));
    assert.equal(r2.code, 0, r2.stderr);
    const d2 = dumps("colombia");
    assert.equal(d2.length, 3);
    assert.equal(d2[0], "20200108T000000Z.dump");
    assert.equal(d2[1], d1[2], "the previous run's dump is kept");
    assert.ok(d2[2] > d1[2], "a new dump with a later name");
    assert.equal(dumps("peru").length, 2);
    assert.deepEqual(files("colombia"), [...d2, ...counted(d2), "notes.txt"].sort(), "a dump's counts go with it");
  });

  test("COMPRESS=0 writes an uncompressed custom-format dump that restores the same; a bad level exits 2", async () => {
    const r = await runScript("dump-databases.sh", env(["c0ffee02 peru postgres hp_peru"], { COMPRESS: "0" }));
    assert.equal(r.code, 0, r.stderr);
    const file = path.join(backupRoot, "peru", dumps("peru")[0]);
    assert.match(sh(path.join(pgBin, "pg_restore"), ["-l", file]), /^;\s+Compression: (0|none)$/m);
    const d = await runScript("dump-databases.sh", env(["c0ffee02 peru postgres hp_peru"]));
    assert.equal(d.code, 0, d.stderr);
    assert.doesNotMatch(sh(path.join(pgBin, "pg_restore"), ["-l", path.join(backupRoot, "peru", dumps("peru")[1])]), /^;\s+Compression: (0|none)$/m, "the default compresses");
    const bad = await runScript("dump-databases.sh", env(["c0ffee02 peru postgres hp_peru"], { COMPRESS: "fast" }));
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /invalid setting: COMPRESS/);
  });

  test("the counts are taken in the dump's own snapshot: a row written between the snapshot and pg_dump is in neither", async () => {
    // mode "insert": a pg_dump wrapper first inserts a row from another session, then runs pg_dump.
    const wrapDir = scratch.path(`wrap${caseNo}`);
    fs.mkdirSync(wrapDir);
    writeExecutable(path.join(wrapDir, "pg_dump"), `#!/usr/bin/env bash
set -euo pipefail
"$SHIM_PGBIN/psql" -X -q -U postgres -d "$POSTGRES_DB" -c "INSERT INTO surveys (answer) VALUES ('{}')"
exec "$SHIM_PGBIN/pg_dump" "$@"
`);
    const before = Number(psql("hp_peru", "SELECT count(*) FROM surveys").trim());
    const r = await runScript("dump-databases.sh", env(["c0ffee02 peru postgres hp_peru insert"], { SHIM_WRAPDIR: wrapDir }));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(Number(psql("hp_peru", "SELECT count(*) FROM surveys").trim()), before + 1, "the wrapper inserted a row");
    const fl = files("peru");
    const counts = fs.readFileSync(path.join(backupRoot, "peru", fl.find((f) => f.endsWith(".counts"))!), "utf8");
    const restored = `counted_${caseNo}`;
    psql("postgres", `CREATE DATABASE ${restored}`);
    sh(path.join(pgBin, "pg_restore"), ["-h", sock, "-U", "postgres", "-d", restored, "--no-owner", "--exit-on-error", path.join(backupRoot, "peru", fl.find((f) => DUMP_NAME.test(f))!)]);
    assert.equal(Number(psql(restored, "SELECT count(*) FROM surveys").trim()), before, "the dump does not hold the row");
    assert.match(counts, new RegExp(`^rows\tpublic\.surveys\t${before}$`, "m"), "nor do the counts");
  });

  test("a failing pg_dump leaves no file with a final name, the other instances are still dumped, the run fails", async () => {
    const oldDumps = ["20200101T000000Z.dump", "20200102T000000Z.dump", "20200103T000000Z.dump"];
    fs.mkdirSync(path.join(backupRoot, "missingdb"), { recursive: true });
    for (const f of oldDumps) fs.writeFileSync(path.join(backupRoot, "missingdb", f), "PGDMP old");

    const r = await runScript(
      "dump-databases.sh",
      env(
        [
          "dead0001 missingdb postgres hp_does_not_exist",
          "dead0002 partial postgres hp_peru partial",
          "dead0003 notadump postgres hp_peru notdump",
          "dead0004 hangs postgres hp_peru hang",
          "dead0005 - postgres hp_peru",
          "dead0006 ../etc postgres hp_peru",
          "c0ffee01 colombia postgres hp_colombia",
        ],
        { RETAIN: "1", DUMP_TIMEOUT_SECONDS: "3" },
      ),
      120_000,
    );
    assert.equal(r.timedOut, false);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /missingdb: pg_dump in container dead0001 failed/);
    assert.match(r.stderr, /partial: pg_dump in container dead0002 failed/);
    assert.match(r.stderr, /notadump: the output of pg_dump is not a custom-format dump/);
    assert.match(r.stderr, /hangs: pg_dump in container dead0004 failed \(exit 124, timed out after 3s\)/);
    assert.match(r.stderr, /dead0005 has no housing-portal.instance label/);
    assert.match(r.stderr, /invalid instance label '\.\.\/etc'/);

    assert.equal(dumps("colombia").length, 1, "the good instance is dumped anyway");
    assert.deepEqual(files("missingdb"), oldDumps, "no new file, and nothing pruned after a failure");
    for (const inst of ["partial", "notadump", "hangs"]) assert.deepEqual(files(inst), [], `${inst}: no file at all`);
    assert.equal(fs.existsSync(path.join(backupRoot, "..", "etc")), false);
    assert.equal(fs.existsSync(statusFile), false, "no success recorded");
  });

  test("as the unit runs it, with its alert: A fails, B fails while A still fails, A recovers, B recovers: one message each, naming the instance", async () => {
    const hook = new WebhookReceiver();
    await hook.start();
    scratch.defer(() => hook.stop());
    const unitDir = scratch.path(`case${caseNo}`, "unit");
    fs.mkdirSync(unitDir, { recursive: true });
    fs.writeFileSync(path.join(unitDir, "url"), `${hook.url}\n`, { mode: 0o600 });
    const unit = async (rows: string[]) => {
      const { run, alert } = await runAsUnit("dump-databases.sh", "dump", env(rows, { INSTANCES: "colombia peru" }), {
        STACK: "staging", HOST_NAME: "main", MACHINE: "hp-test-machine", WEBHOOK_URL_FILE: path.join(unitDir, "url"), STATE_DIR: path.join(unitDir, "alerts"),
      }, unitDir);
      assert.equal(alert.code, 0, alert.stderr);
      return run;
    };
    const texts = () => hook.messages.map((m) => m.text);
    const [colombia, peru] = GOOD;
    const peruFails = "c0ffee02 peru postgres hp_peru partial";
    assert.equal((await unit(GOOD)).code, 0);
    assert.equal(hook.messages.length, 0);
    assert.equal((await unit([peru])).code, 1, "colombia is not running");
    assert.equal(hook.messages.length, 1, texts().join("\n"));
    assert.match(texts()[0], /^housing-portal staging\/main \(hp-test-machine\): dump FAILED for colombia since \S+ \(last success: \S+\): not dumped: no running PostGIS container$/);
    assert.equal((await unit([peruFails])).code, 1);
    assert.equal(hook.messages.length, 2, texts().join("\n"));
    assert.match(texts()[1], /: dump FAILED for peru since \S+ \(last success: \S+\): not dumped: pg_dump failed$/);
    await unit([peruFails]);
    assert.equal(hook.messages.length, 2, "still failing: nothing new");
    assert.equal((await unit([colombia, peruFails])).code, 1);
    assert.equal(hook.messages.length, 3, texts().join("\n"));
    assert.match(texts()[2], /: dump RECOVERED for colombia at \S+ after failing since \S+: dumped: \d{8}T\d{6}Z\.dump \(\d+ bytes\)$/);
    assert.equal((await unit(GOOD)).code, 0);
    assert.equal(hook.messages.length, 4, texts().join("\n"));
    assert.match(texts()[3], /: dump RECOVERED for peru at /);
  });

  test("a docker that cannot list containers fails the run without writing anything", async () => {
    const r = await runScript("dump-databases.sh", env(GOOD, { DOCKER: "/bin/false" }));
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /ps' failed; nothing dumped/);
    assert.deepEqual(fs.readdirSync(backupRoot), []);
    assert.equal(fs.existsSync(statusFile), false);
  });

  test("INSTANCES: a configured instance that is not running, and one whose dump fails, fail the run by name; no success recorded", async () => {
    const r = await runScript(
      "dump-databases.sh",
      env([...GOOD, "dead0001 missingdb postgres hp_does_not_exist"], { INSTANCES: "colombia chile peru missingdb" }),
    );
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /error: chile: not dumped: no running PostGIS container/);
    assert.match(r.stderr, /error: not dumped: chile \(no running PostGIS container\), missingdb \(pg_dump failed\)\n$/);
    assert.doesNotMatch(r.stderr, /not dumped: [^\n]*(colombia|peru)/);
    assert.equal(dumps("colombia").length, 1, "the running instances are still dumped");
    assert.equal(dumps("peru").length, 1);
    assert.equal(fs.existsSync(statusFile), false, "no success recorded");
  });

  test("INSTANCES: every configured instance dumped is a success; a running instance that is not configured is dumped too", async () => {
    const r = await runScript("dump-databases.sh", env([...GOOD, "c0ffee03 leftover postgres hp_peru"], { INSTANCES: "peru colombia" }));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /leftover: .*not in INSTANCES/);
    for (const i of ["colombia", "peru", "leftover"]) assert.equal(dumps(i).length, 1, i);
    assert.match(fs.readFileSync(statusFile, "utf8"), / 3 instance\(s\)\n$/);
  });

  test("without INSTANCES it dumps what runs, and says that no list was given (also with an empty INSTANCES_DIR)", async () => {
    const r = await runScript("dump-databases.sh", env(GOOD));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /INSTANCES is not set and \S+ registers no instance/);
    assert.ok(fs.existsSync(statusFile));
    fs.mkdirSync(instancesDir, { recursive: true });
    const empty = await runScript("dump-databases.sh", env(GOOD));
    assert.equal(empty.code, 0, empty.stderr);
    assert.match(empty.stderr, /INSTANCES is not set and \S+ registers no instance/);
  });

  test("INSTANCES_DIR: a registered instance without a running container fails the run by name; unregistered, the run succeeds again", async () => {
    fs.mkdirSync(scratch.path(`case${caseNo}`, "data"));
    for (const instance of ["colombia", "peru", "chile"]) {
      const p = await runScript("prepare-instance-dirs.sh", {
        INSTANCE: instance,
        DATA_ROOT: scratch.path(`case${caseNo}`, "data"),
        DATA_DIRS: "postgis",
        ALLOW_UNMOUNTED: "1",
        INSTANCES_DIR: instancesDir,
      });
      assert.equal(p.code, 0, p.stderr);
    }
    fs.writeFileSync(path.join(instancesDir, "Notes.TXT"), "not an instance");
    fs.writeFileSync(path.join(instancesDir, ".peru.swp"), "");
    const r = await runScript("dump-databases.sh", env([...GOOD, "c0ffee03 leftover postgres hp_peru"]));
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /warning: ignoring 'Notes.TXT' in \S+: not a lowercase DNS label/);
    assert.match(r.stderr, /warning: ignoring '.peru.swp' in \S+: not a lowercase DNS label/);
    assert.match(r.stderr, /configured instances \(registered in \S+\): chile colombia peru\n/);
    assert.match(r.stderr, /leftover: .*not registered in /);
    assert.match(r.stderr, /error: not dumped: chile \(no running PostGIS container\)\n$/);
    assert.equal(dumps("colombia").length, 1, "the running instances are still dumped");
    assert.equal(fs.existsSync(statusFile), false, "no success recorded");

    const u = await runScript("unregister-instance.sh", { INSTANCE: "chile", INSTANCES_DIR: instancesDir });
    assert.equal(u.code, 0, u.stderr);
    const again = await runScript("dump-databases.sh", env(GOOD));
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /configured instances \(registered in \S+\): colombia peru\n/);
    assert.match(fs.readFileSync(statusFile, "utf8"), / 2 instance\(s\)\n$/);
  });

  test("INSTANCES, when set, is the list: INSTANCES_DIR is not read", async () => {
    fs.mkdirSync(instancesDir, { recursive: true });
    fs.writeFileSync(path.join(instancesDir, "chile"), "");
    const r = await runScript("dump-databases.sh", env(GOOD, { INSTANCES: "colombia peru" }));
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /chile|registered in/);
  });

  /** BACKUP_ROOT on a small tmpfs of its own, so that the free-space margin is real. */
  function smallBackupRoot(mib: number): void {
    sh("mount", ["-t", "tmpfs", "-o", `size=${mib}m,mode=0700`, "hp-dump-small", backupRoot]);
  }

  test("a dump that would leave less than MIN_FREE_PERCENT free is refused, by instance name (estimated from its previous dump)", async () => {
    smallBackupRoot(16);
    const dir = path.join(backupRoot, "colombia");
    fs.mkdirSync(dir);
    // The previous dump of colombia: 12 MiB of 16; another one that size would leave nothing.
    fs.writeFileSync(path.join(dir, "20200101T000000Z.dump"), Buffer.concat([Buffer.from("PGDMP"), Buffer.alloc(12 * 1024 * 1024)]));
    const r = await runScript("dump-databases.sh", env(GOOD, { INSTANCES: "colombia peru" }));
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /error: colombia: refusing to dump: its previous dump is \d+ bytes and \S+ has \d+ bytes free of \d+; less than 10% would be left/);
    assert.match(r.stderr, /not dumped: colombia \(less than 10% would be left free\)/);
    assert.deepEqual(files("colombia"), ["20200101T000000Z.dump"], "no new dump, no temp file");
    assert.equal(dumps("peru").length, 1, "peru still fits");
    assert.equal(fs.existsSync(statusFile), false);
  });

  test("a dump that ended inside the margin is deleted and the run fails naming the instance", async () => {
    smallBackupRoot(16);
    const r = await runScript("dump-databases.sh", env(["beef0001 bigone postgres hp_peru big", ...GOOD], { MIN_FREE_PERCENT: "50" }));
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /error: bigone: the dump left less than 50% free on \S+; deleted it/);
    assert.deepEqual(files("bigone"), [], "no dump, no temp file");
    assert.equal(fs.existsSync(statusFile), false);
  });

  test("INSTANCES, INSTANCES_DIR, MIN_FREE_PERCENT and FINDINGS_FILE are validated", async () => {
    for (const extra of <Record<string, string>[]>[{ INSTANCES: "colombia Peru" }, { INSTANCES: "-bad" }, { INSTANCES: "a/b" }, { MIN_FREE_PERCENT: "100" }, { MIN_FREE_PERCENT: "ten" }, { INSTANCES_DIR: "etc/instances" }, { FINDINGS_FILE: "dump.findings" }]) {
      const r = await runScript("dump-databases.sh", env(GOOD, extra));
      assert.equal(r.code, 2, `${JSON.stringify(extra)}: ${r.stderr}`);
      assert.match(r.stderr, /invalid setting: (INSTANCES|MIN_FREE_PERCENT|INSTANCES_DIR|FINDINGS_FILE)/);
      assert.equal(r.stderr.split("\n").filter(Boolean).length, 1, "one line");
    }
    assert.deepEqual(fs.readdirSync(backupRoot), []);
  });

  test("no PostGIS containers: nothing to dump is a success", async () => {
    const r = await runScript("dump-databases.sh", env([]));
    assert.equal(r.code, 0, r.stderr);
    assert.match(fs.readFileSync(statusFile, "utf8"), / 0 instance\(s\)\n$/);
  });
});
