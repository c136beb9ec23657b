// host/restore-check.sh against real PostgreSQL servers (Debian's, with PostGIS): a `docker` shim
// turns `docker run` of the throwaway container into a fresh cluster in a scratch directory
// (listening only on a unix socket), `docker exec` into running the command against it, and
// `docker rm -f` into stopping and deleting it. The dumps are real `pg_dump -Fc` files of a source
// database, with counts in the format dump-databases.sh records (its own test checks that format).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, beforeEach, describe, test } from "node:test";
import { Scratch, findPgBin, requireHostTier, runScript, sh, writeExecutable } from "./helpers";
import { WebhookReceiver, runAsUnit } from "./offsite-fixture";

describe("host/restore-check.sh with throwaway PostgreSQL servers behind a docker shim", () => {
  let scratch: Scratch;
  let pgBin: string;
  let state: string;
  let backupRoot: string;
  let caseDir: string;
  let n = 0;

  before(() => {
    requireHostTier(["runuser", "flock", "timeout", "od"]);
    pgBin = findPgBin();
    scratch = new Scratch("restore-check");
    state = scratch.path("shim");
    fs.mkdirSync(state);
    sh("chown", ["postgres:postgres", state]);
    scratch.defer(() => {
      for (const c of fs.readdirSync(state).filter((f) => f.startsWith("c-"))) {
        sh("runuser", ["-u", "postgres", "--", path.join(pgBin, "pg_ctl"), "-D", path.join(state, c, "data"), "-m", "immediate", "-w", "stop"]);
      }
    });
    writeExecutable(scratch.path("docker"), `#!/usr/bin/env bash
# docker shim: a "container" is a PostgreSQL cluster in $SHIM_STATE/c-<name>, on a unix socket there.
set -euo pipefail
printf 'docker %s\\n' "$*" >>"$SHIM_STATE/calls.log"
pg() { runuser -u postgres -- "$SHIM_PGBIN/$@"; }
case "$1" in
  network)
    case "$2" in
      inspect) [[ -e "$SHIM_STATE/net-$3" ]] ;;
      create) printf '%s\\n' "$*" >"$SHIM_STATE/net-\${*: -1}" ;;
      *) exit 2 ;;
    esac ;;
  ps) [[ "$*" == *"label=housing-portal.instance=$SHIM_RUNNING"* ]] && echo "$SHIM_IMAGE" || true ;;
  inspect) [[ -e "$SHIM_STATE/c-\${*: -1}/data/postmaster.pid" ]] && echo true || echo false ;;
  rm)
    c="$SHIM_STATE/c-\${*: -1}"
    if [[ -d "$c" ]]; then
      [[ ! -e "$c/data/postmaster.pid" ]] || pg pg_ctl -D "$c/data" -m immediate -w stop >/dev/null
      rm -rf "$c"
    fi ;;
  run)
    shift; name=""; db=""
    while (($#)); do
      case "$1" in
        --name) name="$2"; shift 2 ;;
        -e) [[ "$2" == POSTGRES_DB=* ]] && db="\${2#POSTGRES_DB=}"; shift 2 ;;
        -d) shift ;;
        --*) shift 2 ;;
        *) image="$1"; shift ;;
      esac
    done
    [[ -n "\${POSTGRES_PASSWORD:-}" ]] || { echo "shim: POSTGRES_PASSWORD is not in the environment" >&2; exit 1; }
    [[ "$image" == "$SHIM_IMAGE" ]] || { echo "shim: unknown image $image" >&2; exit 1; }
    c="$SHIM_STATE/c-$name"
    mkdir -p "$c/data" "$c/sock"; chown -R postgres:postgres "$c"
    pg initdb -D "$c/data" -U postgres -A trust --no-sync >/dev/null
    pg pg_ctl -D "$c/data" -l "$c/log" -w -o "-k $c/sock -c listen_addresses='' -c fsync=off" start >/dev/null
    "$SHIM_PGBIN/createdb" -h "$c/sock" -U postgres "$db"
    echo "$name" ;;
  exec)
    shift; [[ "$1" != -i ]] || shift
    c="$SHIM_STATE/c-$1"; shift
    [[ -d "$c" ]] || { echo "Error: No such container" >&2; exit 1; }
    args=()
    while (($#)); do if [[ "$1" == -h ]]; then shift 2; else args+=("$1"); shift; fi; done
    exec env PGHOST="$c/sock" PATH="$SHIM_PGBIN:$PATH" "\${args[@]}" ;;
  *) echo "shim: unsupported: docker $*" >&2; exit 2 ;;
esac
`);

    // The source: a PostGIS database whose dump every case restores.
    const src = scratch.path("src");
    fs.mkdirSync(path.join(src, "sock"), { recursive: true });
    sh("chown", ["-R", "postgres:postgres", src]);
    const pg = (cmd: string, args: string[]) => sh("runuser", ["-u", "postgres", "--", path.join(pgBin, cmd), ...args]);
    pg("initdb", ["-D", path.join(src, "data"), "-U", "postgres", "-A", "trust", "--no-sync"]);
    scratch.defer(() => pg("pg_ctl", ["-D", path.join(src, "data"), "-m", "immediate", "-w", "stop"]));
    pg("pg_ctl", ["-D", path.join(src, "data"), "-l", path.join(src, "log"), "-w", "-o", `-k ${path.join(src, "sock")} -c listen_addresses='' -c fsync=off`, "start"]);
    const psql = (sql: string) => sh(path.join(pgBin, "psql"), ["-X", "-h", path.join(src, "sock"), "-U", "postgres", "-d", "portal", "-v", "ON_ERROR_STOP=1", "-At", "-c", sql]);
    sh(path.join(pgBin, "createdb"), ["-h", path.join(src, "sock"), "-U", "postgres", "portal"]);
    psql(`CREATE EXTENSION postgis;
          CREATE TABLE properties (id int PRIMARY KEY, geom geometry(Point, 4326));
          INSERT INTO properties SELECT i, ST_SetSRID(ST_MakePoint(i / 100.0, i / 100.0), 4326) FROM generate_series(1, 500) i;
          CREATE TABLE surveys (id int PRIMARY KEY); INSERT INTO surveys SELECT generate_series(1, 40);`);
    const postgis = psql("SELECT extversion FROM pg_extension WHERE extname = 'postgis'").trim();
    sh(path.join(pgBin, "pg_dump"), ["-Fc", "-h", path.join(src, "sock"), "-U", "postgres", "-d", "portal", "-f", scratch.path("good.dump")]);
    fs.writeFileSync(scratch.path("good.counts"), `tables\t3\npostgis\t${postgis}\nrows\tpublic.properties\t500\nrows\tpublic.spatial_ref_sys\t${psql("SELECT count(*) FROM spatial_ref_sys").trim()}\nrows\tpublic.surveys\t40\n`);
  });
  after(() => scratch?.cleanup());
  beforeEach(() => {
    caseDir = scratch.path(`case${++n}`);
    backupRoot = path.join(caseDir, "backups");
    fs.mkdirSync(backupRoot, { recursive: true });
    fs.rmSync(path.join(state, "calls.log"), { force: true });
  });

  const put = (instance: string, ts: string, dump: Buffer, counts?: string) => {
    fs.mkdirSync(path.join(backupRoot, instance), { recursive: true });
    fs.writeFileSync(path.join(backupRoot, instance, `${ts}.dump`), dump);
    if (counts !== undefined) fs.writeFileSync(path.join(backupRoot, instance, `${ts}.counts`), counts);
  };
  const good = () => fs.readFileSync(scratch.path("good.dump"));
  const counts = () => fs.readFileSync(scratch.path("good.counts"), "utf8");
  const check = (extra: Record<string, string> = {}) => runScript("restore-check.sh", {
    BACKUP_ROOT: backupRoot, INSTANCES_DIR: path.join(caseDir, "instances"), STATUS_FILE: path.join(caseDir, "restore-check.last-success"),
    RESULT_DIR: caseDir, LOCK_FILE: path.join(caseDir, "lock"), DOCKER: scratch.path("docker"), READY_TIMEOUT_SECONDS: "60",
    NETWORK: "housing-portal_restore-check", CONTAINER_PREFIX: "housing-portal_restore-check-",
    SHIM_STATE: state, SHIM_PGBIN: pgBin, SHIM_IMAGE: "postgis/postgis:16-3.4", SHIM_RUNNING: "colombia", ...extra,
  }, 300_000);
  const result = (i: string) => fs.readFileSync(path.join(caseDir, `restore-check.${i}.result`), "utf8");
  const containersLeft = () => fs.readdirSync(state).filter((f) => f.startsWith("c-"));

  test("the newest dump restores into a throwaway server of the instance's image on an internal network and matches its counts; the container is gone after", async () => {
    put("colombia", "20261129T021500Z", Buffer.from("PGDMP an older, broken dump: not the newest, not checked"));
    put("colombia", "20261201T021500Z", good(), counts());
    const r = await check({ INSTANCES: "colombia" });
    assert.equal(r.code, 0, r.stderr);
    assert.match(result("colombia"), /^\S+ ok 20261201T021500Z\.dump restored; 3 tables; PostGIS 3\.[0-9.]+; rows of 3 tables as counted\n$/);
    assert.match(fs.readFileSync(path.join(caseDir, "restore-check.last-success"), "utf8"), /^\S+ colombia\n$/);
    assert.match(r.stderr, /done: the newest dumps of colombia restore and match their counts/);
    assert.deepEqual(containersLeft(), [], "the throwaway server is removed");
    const calls = fs.readFileSync(path.join(state, "calls.log"), "utf8");
    assert.match(fs.readFileSync(path.join(state, "net-housing-portal_restore-check"), "utf8"), /--internal/);
    const run = calls.split("\n").find((l) => l.startsWith("docker run "))!;
    for (const opt of ["--network housing-portal_restore-check", "--cap-drop ALL", "--security-opt no-new-privileges:true", "--memory 1024m", "postgis/postgis:16-3.4"]) assert.ok(run.includes(opt), `${opt} in: ${run}`);
    assert.ok(!/POSTGRES_PASSWORD=[0-9a-f]/.test(calls), "the password is never on a command line");
  });

  test("a truncated dump, a count that differs and a missing dump each fail by instance name; the others still pass; no success is recorded", async () => {
    const whole = good();
    put("colombia", "20261201T021500Z", whole.subarray(0, Math.floor(whole.length / 2)), counts());
    put("peru", "20261201T021500Z", good(), counts().replace("rows\tpublic.surveys\t40", "rows\tpublic.surveys\t41"));
    put("chile", "20261201T021500Z", good(), counts());
    fs.mkdirSync(path.join(caseDir, "instances"));
    for (const i of ["chile", "colombia", "paraguay", "peru"]) fs.writeFileSync(path.join(caseDir, "instances", i), "");
    const r = await check({ IMAGE: "postgis/postgis:16-3.4" });
    assert.equal(r.code, 1, r.stderr);
    const last = r.stderr.trim().split("\n").at(-1)!;
    assert.match(last, /^restore-check: error: restore check failed: colombia \(pg_restore of 20261201T021500Z\.dump failed \(exit 1\): .*\), paraguay \(no dump in \S+\/paraguay\), peru \(20261201T021500Z\.dump restored, but: public\.surveys has 40 rows, the dump step counted 41\)$/);
    assert.doesNotMatch(last, /chile/);
    assert.match(result("chile"), /^\S+ ok /);
    assert.match(result("colombia"), /^\S+ failed pg_restore of 20261201T021500Z\.dump failed/);
    assert.ok(!fs.existsSync(path.join(caseDir, "restore-check.last-success")));
    assert.deepEqual(containersLeft(), []);
  });

  test("a dump without recorded counts is checked for the restore and PostGIS only, with a warning; no image to take fails by name", async () => {
    put("colombia", "20261201T021500Z", good());
    const r = await check({ INSTANCES: "colombia" });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: colombia: 20261201T021500Z\.dump has no recorded counts/);
    put("peru", "20261201T021500Z", good(), counts());
    const noImage = await check({ INSTANCES: "peru" });
    assert.equal(noImage.code, 1);
    assert.match(noImage.stderr, /restore check failed: peru \(no running PostGIS container to take the image from \(set IMAGE\)\)$/m);
  });

  test("as the unit runs it, with its alert: A fails, B fails while A still fails, A recovers, B recovers: one message each, naming the instance", async () => {
    const hook = new WebhookReceiver();
    await hook.start();
    scratch.defer(() => hook.stop());
    fs.writeFileSync(path.join(caseDir, "url"), `${hook.url}\n`, { mode: 0o600 });
    const whole = good();
    const truncated = whole.subarray(0, Math.floor(whole.length / 2));
    let ts = 20261201;
    const unit = async (colombia: Buffer, peru: Buffer) => {
      ts++; // a newer dump of each, as the dump step would have written
      put("colombia", `${ts}T021500Z`, colombia, counts());
      put("peru", `${ts}T021500Z`, peru, counts());
      const settings = {
        BACKUP_ROOT: backupRoot, INSTANCES: "colombia peru", STATUS_FILE: path.join(caseDir, "restore-check.last-success"),
        RESULT_DIR: caseDir, LOCK_FILE: path.join(caseDir, "lock"), DOCKER: scratch.path("docker"), READY_TIMEOUT_SECONDS: "60",
        IMAGE: "postgis/postgis:16-3.4", SHIM_STATE: state, SHIM_PGBIN: pgBin, SHIM_IMAGE: "postgis/postgis:16-3.4", SHIM_RUNNING: "colombia",
      };
      const { run, alert } = await runAsUnit("restore-check.sh", "restore-check", settings, {
        STACK: "production", HOST_NAME: "main", MACHINE: "ip-10-0-0-1", WEBHOOK_URL_FILE: path.join(caseDir, "url"), STATE_DIR: path.join(caseDir, "alerts"),
      }, caseDir);
      assert.equal(alert.code, 0, alert.stderr);
      return run;
    };
    const texts = () => hook.messages.map((m) => m.text);
    assert.equal((await unit(whole, whole)).code, 0);
    assert.equal((await unit(truncated, whole)).code, 1);
    assert.equal(hook.messages.length, 1, texts().join("\n"));
    assert.match(texts()[0], /^housing-portal production\/main \(ip-10-0-0-1\): restore-check FAILED for colombia since \S+ \(last success: \S+\): pg_restore of \d{8}T021500Z\.dump failed/);
    assert.equal((await unit(truncated, truncated)).code, 1);
    assert.equal(hook.messages.length, 2, texts().join("\n"));
    assert.match(texts()[1], /: restore-check FAILED for peru since /);
    assert.equal((await unit(whole, truncated)).code, 1);
    assert.equal(hook.messages.length, 3, texts().join("\n"));
    assert.match(texts()[2], /: restore-check RECOVERED for colombia at \S+ after failing since \S+: passed: \d{8}T021500Z\.dump restored; 3 tables; /);
    assert.equal((await unit(whole, whole)).code, 0);
    assert.equal(hook.messages.length, 4, texts().join("\n"));
    assert.match(texts()[3], /: restore-check RECOVERED for peru at /);
    assert.deepEqual(containersLeft(), []);
  });

  test("bad settings exit 2", async () => {
    const bad: Record<string, string>[] = [{ BACKUP_ROOT: "backups" }, { INSTANCES: "Colombia" }, { NETWORK: "bad name" }, { MEMORY_MB: "0" }, { READY_TIMEOUT_SECONDS: "x" }, { FINDINGS_FILE: "findings" }];
    for (const extra of bad) {
      const r = await check(extra);
      assert.equal(r.code, 2, JSON.stringify(extra));
      assert.match(r.stderr, /invalid setting/);
    }
  });
});
