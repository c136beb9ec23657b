// host/sync-db-roles.sh against a real PostgreSQL with PostGIS (Debian's packages): throwaway
// clusters, trusted on their unix socket and scram-sha-256 on 127.0.0.1, and a `docker` shim
// that runs `docker exec [-e K=V]... <container> sh -c ...` locally with the container's settings.
// One cluster is initialised as the image does now (superuser "postgres", the database owned by
// it); the other as before the roles were split (the bootstrap superuser is the backend's role
// "portal" and owns every object): the script migrates it.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { Scratch, findPgBin, requireHostTier, runScript, sh, writeExecutable } from "./helpers";

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

const SUPERUSER_PASSWORD = "Superuser0Password0From0Pulumi01";
const APP_PASSWORD = "Backend0Password0From0Pulumi0123";

interface Cluster {
  readonly sock: string;
  readonly port: number;
  /** SQL as `user` over the socket (trust); stdout, or throws with stderr. */
  sql(sql: string, user?: string): string;
  /** Logs in over TCP with a password, as the backend does; the psql result. */
  login(user: string, password: string, sql?: string): ReturnType<typeof spawnSync>;
}

describe("host/sync-db-roles.sh against a real PostgreSQL", () => {
  let scratch: Scratch;
  let pgBin: string;
  let fresh: Cluster;
  let old: Cluster;
  let odd: Cluster;

  const asPostgres = (cmd: string, args: string[]) => sh("runuser", ["-u", "postgres", "--", path.join(pgBin, cmd), ...args]);

  /** A cluster whose bootstrap superuser is `bootstrap`, with the database portal owned by `owner`. */
  async function cluster(name: string, bootstrap: string): Promise<Cluster> {
    const port = await freePort();
    const sock = scratch.path(`${name}-sock`);
    const dataDir = scratch.path(`${name}-data`);
    fs.mkdirSync(sock);
    fs.mkdirSync(dataDir);
    sh("chown", ["postgres:postgres", sock, dataDir]);
    asPostgres("initdb", ["-D", dataDir, "-U", bootstrap, "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"]);
    scratch.defer(() => asPostgres("pg_ctl", ["-D", dataDir, "-m", "immediate", "-w", "-t", "60", "stop"]));
    asPostgres("pg_ctl", ["-D", dataDir, "-l", path.join(dataDir, "server.log"), "-w", "-t", "60",
      "-o", `-k ${sock} -c listen_addresses=127.0.0.1 -p ${port} -c fsync=off`, "start"]);
    const c: Cluster = {
      sock, port,
      sql: (sql, user = bootstrap) => sh(path.join(pgBin, "psql"), ["-X", "-h", sock, "-p", String(port), "-U", user, "-d", "portal", "-v", "ON_ERROR_STOP=1", "-Atc", sql]).trim(),
      login: (user, password, sql = "SELECT 1") => spawnSync(path.join(pgBin, "psql"), ["-X", "-q", "-h", "127.0.0.1", "-p", String(port), "-U", user, "-d", "portal", "-v", "ON_ERROR_STOP=1", "-Atc", sql], {
        encoding: "utf8", env: { ...process.env, PGPASSWORD: password, PGCONNECT_TIMEOUT: "5" },
      }),
    };
    sh(path.join(pgBin, "psql"), ["-X", "-h", sock, "-p", String(port), "-U", bootstrap, "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", "CREATE DATABASE portal"]);
    return c;
  }

  before(async () => {
    requireHostTier(["runuser"]);
    pgBin = findPgBin();
    scratch = new Scratch("sync-roles");
    writeExecutable(scratch.path("docker"), `#!/usr/bin/env bash
# docker shim: "exec [-e K=V]... <container> sh -c SCRIPT" runs SCRIPT here with the container's
# settings and the -e ones. SHIM_FAILS: how many first calls answer as a container still starting.
set -euo pipefail
args="$*"; printf '%s\\n' "\${args//$'\\n'/ }" >>"$SHIM_ARGS" # one line a call
[[ "$1" == exec ]] || { echo "shim: unexpected: docker $*" >&2; exit 2; }
shift
extra=()
while [[ "$1" == -e ]]; do extra+=("$2"); shift 2; done
[[ "$2" == sh && "$3" == -c ]] || { echo "shim: unexpected: docker exec ... $*" >&2; exit 2; }
calls=$(($(wc -l <"$SHIM_ARGS")))
if ((calls <= SHIM_FAILS)); then echo "Error response from daemon: container $1 is restarting" >&2; exit 1; fi
mapfile -t settings <"$SHIM_CONTAINER_ENV"
exec env -i PATH="$SHIM_PGBIN:/usr/bin:/bin" PGHOST="$SHIM_PGHOST" PGPORT="$SHIM_PGPORT" "\${settings[@]}" "\${extra[@]}" sh -c "$4"
`);
    // As the image initialises a data directory now: POSTGRES_USER=postgres, POSTGRES_DB=portal.
    fresh = await cluster("fresh", "postgres");
    fresh.sql("CREATE EXTENSION postgis");
    // As before the split: POSTGRES_USER was the backend's role, so "portal" is the bootstrap
    // superuser and owns the schema, the tables (with their sequences), a view, a function, a type.
    old = await cluster("old", "portal");
    old.sql(`ALTER ROLE portal PASSWORD 'initialised-with-this';
      CREATE EXTENSION postgis;
      CREATE SCHEMA app;
      CREATE TYPE app.kind AS ENUM ('house', 'flat');
      CREATE TABLE app.homes (id serial PRIMARY KEY, kind app.kind NOT NULL, geom geometry(Point, 4326));
      CREATE TABLE public.notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body text);
      CREATE VIEW app.flats AS SELECT id FROM app.homes WHERE kind = 'flat';
      CREATE FUNCTION app.home_count() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM app.homes';
      INSERT INTO app.homes (kind, geom) VALUES ('house', ST_SetSRID(ST_MakePoint(-74.08, 4.6), 4326)), ('flat', NULL);
      INSERT INTO public.notes (body) VALUES ('kept');`, "portal");
    // Neither the superuser nor a bootstrap superuser of the backend's name.
    odd = await cluster("odd", "admin");
  });

  after(() => scratch?.cleanup());

  let caseNo = 0;
  /** The script's settings for a container on `c`, whose environment is the declared one with `overrides`. */
  function env(c: Cluster, overrides: Record<string, string | undefined> = {}, extra: Record<string, string> = {}) {
    caseNo++;
    const declared: Record<string, string | undefined> = {
      POSTGRES_USER: "postgres", POSTGRES_PASSWORD: SUPERUSER_PASSWORD, POSTGRES_DB: "portal",
      PORTAL_DB_USER: "portal", PORTAL_DB_PASSWORD: APP_PASSWORD, ...overrides,
    };
    const containerEnv = scratch.path(`container-${caseNo}.env`);
    fs.writeFileSync(containerEnv, Object.entries(declared).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`).join("\n") + "\n");
    return {
      CONTAINER: "housing-portal-colombia-postgis", WAIT_SECONDS: "30",
      DOCKER: scratch.path("docker"), SHIM_ARGS: scratch.path(`args-${caseNo}.log`), SHIM_FAILS: "0",
      SHIM_PGBIN: pgBin, SHIM_PGHOST: c.sock, SHIM_PGPORT: String(c.port), SHIM_CONTAINER_ENV: containerEnv, ...extra,
    };
  }
  const calls = (e: { SHIM_ARGS: string }) => fs.readFileSync(e.SHIM_ARGS, "utf8").trim().split("\n");
  const attributes = (c: Cluster, role: string) => c.sql(`SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = '${role}'`, "postgres");
  /** What the backend's role may not do, each answered with an error. */
  const refusedToBackend = (c: Cluster) => {
    for (const sql of ["CREATE ROLE intruder", "COPY (SELECT 1) TO PROGRAM 'true'", "CREATE DATABASE other", "ALTER ROLE portal SUPERUSER", "SELECT pg_read_file('/etc/passwd')"]) {
      const r = c.login("portal", APP_PASSWORD, sql);
      assert.notEqual(r.status, 0, `the backend's role could: ${sql}`);
      assert.match(String(r.stderr), /permission denied|must be superuser|must have|not allowed/i, sql);
    }
  };

  test("a new database: the backend's role is created, owns the database, and is no superuser; passwords never appear", async () => {
    const e = env(fresh);
    const r = await runScript("sync-db-roles.sh", e);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /the superuser and the backend's role are as declared/);
    assert.equal(attributes(fresh, "portal"), "f|f|f|f|f|t");
    assert.equal(fresh.sql("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'portal'", "postgres"), "portal");
    const login = fresh.login("portal", APP_PASSWORD, "CREATE TABLE public.made_by_backend (id int); SELECT current_user");
    assert.equal(login.status, 0, String(login.stderr));
    assert.equal(String(login.stdout).trim(), "portal");
    refusedToBackend(fresh);
    assert.equal(fresh.login("postgres", SUPERUSER_PASSWORD).status, 0, "the superuser has its own password");
    assert.notEqual(fresh.login("portal", SUPERUSER_PASSWORD).status, 0, "the two passwords are separate");
    // PostGIS stays the superuser's: its objects belong to the extension.
    assert.equal(fresh.sql("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'spatial_ref_sys'", "postgres"), "postgres");
    for (const text of [r.stdout, r.stderr, ...calls(e)]) {
      assert.ok(!text.includes(APP_PASSWORD) && !text.includes(SUPERUSER_PASSWORD), "a password leaked");
    }
    const again = await runScript("sync-db-roles.sh", env(fresh));
    assert.equal(again.code, 0, again.stderr);
    assert.doesNotMatch(again.stderr, /migrating/);
  });

  test("a database from before the split is migrated: its bootstrap superuser becomes postgres, portal the backend's role owning every object, rows kept", async () => {
    const r = await runScript("sync-db-roles.sh", env(old));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /migrating: the bootstrap superuser portal becomes postgres, portal the backend's role/);
    assert.equal(old.sql("SELECT rolname FROM pg_roles WHERE oid = 10", "postgres"), "postgres");
    assert.equal(attributes(old, "portal"), "f|f|f|f|f|t");
    assert.equal(old.sql("SELECT count(*) FROM pg_roles WHERE rolname = 'housing_portal_migrate'", "postgres"), "0", "the temporary superuser is gone");
    const owners = old.sql(`SELECT string_agg(what || '=' || owner, ' ' ORDER BY what) FROM (
        SELECT 'schema app' AS what, pg_get_userbyid(nspowner) AS owner FROM pg_namespace WHERE nspname = 'app'
        UNION ALL SELECT 'relation ' || relname, pg_get_userbyid(relowner) FROM pg_class
          WHERE relname IN ('homes', 'homes_id_seq', 'notes', 'notes_id_seq', 'flats', 'spatial_ref_sys')
        UNION ALL SELECT 'function home_count', pg_get_userbyid(proowner) FROM pg_proc WHERE proname = 'home_count'
        UNION ALL SELECT 'type kind', pg_get_userbyid(typowner) FROM pg_type WHERE typname = 'kind'
        UNION ALL SELECT 'database', pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'portal') o`, "postgres");
    assert.equal(owners, [
        "database=portal", "function home_count=portal", "relation flats=portal", "relation homes=portal", "relation homes_id_seq=portal",
        "relation notes=portal", "relation notes_id_seq=portal", "relation spatial_ref_sys=postgres", "schema app=portal", "type kind=portal",
    ].join(" "));
    // The backend works on its data as before, sequences included, and can do nothing more.
    const work = old.login("portal", APP_PASSWORD, `INSERT INTO app.homes (kind) VALUES ('flat'); INSERT INTO public.notes (body) VALUES ('new');
      SELECT app.home_count() || ' ' || (SELECT count(*) FROM app.flats) || ' ' || (SELECT string_agg(body, ',' ORDER BY id) FROM public.notes) || ' ' ||
        (SELECT round(ST_X(geom)::numeric, 2) FROM app.homes WHERE id = 1)`);
    assert.equal(work.status, 0, String(work.stderr));
    assert.equal(String(work.stdout).trim(), "3 2 kept,new -74.08");
    assert.notEqual(old.login("portal", "initialised-with-this").status, 0, "the old password is gone");
    refusedToBackend(old);
    // Migrated once: the next run only sets the passwords.
    const again = await runScript("sync-db-roles.sh", env(old));
    assert.equal(again.code, 0, again.stderr);
    assert.doesNotMatch(again.stderr, /migrating/);
  });

  test("a rotated password, with quotes, backslashes and spaces, is set exactly (psql quotes it)", async () => {
    const tricky = String.raw`it's a "tricky" \one; --`;
    const r = await runScript("sync-db-roles.sh", env(fresh, { PORTAL_DB_PASSWORD: tricky }));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fresh.login("portal", tricky).status, 0);
    assert.notEqual(fresh.login("portal", APP_PASSWORD).status, 0);
    assert.equal((await runScript("sync-db-roles.sh", env(fresh))).code, 0);
    assert.equal(fresh.login("portal", APP_PASSWORD).status, 0);
  });

  test("waits while the container is still starting, boundedly", async () => {
    const e = env(fresh, {}, { SHIM_FAILS: "2" });
    const r = await runScript("sync-db-roles.sh", e);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(calls(e).length, 3, "two refusals, then the statements");
    const gaveUp = await runScript("sync-db-roles.sh", env(fresh, {}, { SHIM_FAILS: "1000", WAIT_SECONDS: "1" }));
    assert.equal(gaveUp.code, 1);
    assert.match(gaveUp.stderr, /within 1s; last answer: .*restarting/);
  });

  test("a missing or clashing setting in the container, or a database with neither role, fails at once, changing nothing", async () => {
    for (const [overrides, message] of [
      [{ PORTAL_DB_PASSWORD: undefined }, /PORTAL_DB_PASSWORD is not set in the container/],
      [{ POSTGRES_PASSWORD: undefined }, /POSTGRES_PASSWORD is not set in the container/],
      [{ PORTAL_DB_USER: "postgres" }, /PORTAL_DB_USER must not be the superuser POSTGRES_USER/],
    ] as const) {
      const e = env(fresh, overrides);
      const r = await runScript("sync-db-roles.sh", e);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, message);
      assert.equal(calls(e).length, 1, "no retry for a missing setting");
    }
    assert.equal(fresh.login("portal", APP_PASSWORD).status, 0, "the roles are as they were");
    const e = env(odd);
    const r = await runScript("sync-db-roles.sh", e);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /neither the superuser postgres nor a bootstrap superuser named portal/);
    assert.equal(calls(e).length, 1);
  });

  test("settings are validated", async () => {
    for (const bad of [{ CONTAINER: "" }, { CONTAINER: "a b" }, { WAIT_SECONDS: "soon" }]) {
      const r = await runScript("sync-db-roles.sh", { ...env(fresh), ...bad });
      assert.equal(r.code, 2, JSON.stringify(bad));
      assert.match(r.stderr, /invalid setting/);
    }
  });
});
