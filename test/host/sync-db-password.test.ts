// host/sync-db-password.sh against a real PostgreSQL (Debian's packages): a throwaway cluster,
// trusted on its unix socket and scram-sha-256 on 127.0.0.1, and a `docker` shim that runs
// `docker exec -i <container> sh -c ...` locally with the container's POSTGRES_* settings.
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

describe("host/sync-db-password.sh against a real PostgreSQL", () => {
  let scratch: Scratch;
  let pgBin: string;
  let sock: string;
  let port: number;

  const asPostgres = (cmd: string, args: string[]) => sh("runuser", ["-u", "postgres", "--", path.join(pgBin, cmd), ...args]);
  const psqlSocket = (sql: string) => sh(path.join(pgBin, "psql"), ["-X", "-h", sock, "-p", String(port), "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-Atc", sql]);
  /** Logs in as portal over TCP with a password, as the backend does. */
  const loginWith = (password: string) => spawnSync(path.join(pgBin, "psql"), ["-X", "-h", "127.0.0.1", "-p", String(port), "-U", "portal", "-d", "portal", "-Atc", "SELECT 1"], {
    encoding: "utf8", env: { ...process.env, PGPASSWORD: password, PGCONNECT_TIMEOUT: "5" },
  });

  before(async () => {
    requireHostTier(["runuser"]);
    pgBin = findPgBin();
    port = await freePort();
    scratch = new Scratch("sync-password");
    sock = scratch.path("pgsock");
    const dataDir = scratch.path("pgdata");
    fs.mkdirSync(sock);
    fs.mkdirSync(dataDir);
    sh("chown", ["postgres:postgres", sock, dataDir]);
    asPostgres("initdb", ["-D", dataDir, "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"]);
    scratch.defer(() => asPostgres("pg_ctl", ["-D", dataDir, "-m", "immediate", "-w", "-t", "60", "stop"]));
    asPostgres("pg_ctl", ["-D", dataDir, "-l", path.join(dataDir, "server.log"), "-w", "-t", "60",
      "-o", `-k ${sock} -c listen_addresses=127.0.0.1 -p ${port} -c fsync=off`, "start"]);
    // The user was initialised with another password than the one the container now declares.
    psqlSocket("CREATE ROLE portal LOGIN PASSWORD 'initialised-with-this'");
    psqlSocket("CREATE DATABASE portal OWNER portal");

    writeExecutable(scratch.path("docker"), `#!/usr/bin/env bash
# docker shim: "exec -i <container> sh -c SCRIPT" runs SCRIPT here with the container's settings.
# SHIM_FAILS: how many first calls answer as a container that is still starting.
set -euo pipefail
args="$*"; printf '%s\\n' "\${args//$'\\n'/ }" >>"$SHIM_ARGS" # one line a call
[[ "$1" == exec && "$2" == -i && "$4" == sh && "$5" == -c ]] || { echo "shim: unexpected: docker $*" >&2; exit 2; }
calls=$(($(wc -l <"$SHIM_ARGS")))
if ((calls <= SHIM_FAILS)); then echo "Error response from daemon: container $3 is restarting" >&2; exit 1; fi
mapfile -t settings <"$SHIM_CONTAINER_ENV"
exec env -i PATH="$SHIM_PGBIN:/usr/bin:/bin" PGHOST="$SHIM_PGHOST" PGPORT="$SHIM_PGPORT" "\${settings[@]}" sh -c "$6"
`);
  });

  after(() => scratch?.cleanup());

  let caseNo = 0;
  /** The script's settings; `container` is the PostGIS container's environment, one KEY=value a line. */
  function env(container: string[], extra: Record<string, string> = {}) {
    caseNo++;
    const containerEnv = scratch.path(`container-${caseNo}.env`);
    fs.writeFileSync(containerEnv, container.join("\n") + "\n");
    return {
      CONTAINER: "housing-portal-colombia-postgis", WAIT_SECONDS: "30",
      DOCKER: scratch.path("docker"), SHIM_ARGS: scratch.path(`args-${caseNo}.log`), SHIM_FAILS: "0",
      SHIM_PGBIN: pgBin, SHIM_PGHOST: sock, SHIM_PGPORT: String(port), SHIM_CONTAINER_ENV: containerEnv, ...extra,
    };
  }
  const calls = (e: { SHIM_ARGS: string }) => fs.readFileSync(e.SHIM_ARGS, "utf8").trim().split("\n");

  test("gives the role the container's declared password, which never appears in arguments or output", async () => {
    const declared = "Declared0Password0From0Pulumi012";
    assert.equal(loginWith(declared).status, 2, "the declared password must not work before the run");
    const e = env(["POSTGRES_USER=portal", "POSTGRES_DB=portal", `POSTGRES_PASSWORD=${declared}`]);
    const r = await runScript("sync-db-password.sh", e);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /has its declared password/);
    const ok = loginWith(declared);
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.stdout.trim(), "1");
    assert.notEqual(loginWith("initialised-with-this").status, 0, "the old password still works");
    for (const text of [r.stdout, r.stderr, ...calls(e)]) assert.ok(!text.includes(declared), "the password leaked");
    // A second run changes nothing and succeeds.
    const again = await runScript("sync-db-password.sh", env(["POSTGRES_USER=portal", "POSTGRES_DB=portal", `POSTGRES_PASSWORD=${declared}`]));
    assert.equal(again.code, 0, again.stderr);
    assert.equal(loginWith(declared).status, 0);
  });

  test("a password with quotes, backslashes and spaces is set exactly (psql quotes it)", async () => {
    const tricky = String.raw`it's a "tricky" \one; --`;
    const r = await runScript("sync-db-password.sh", env(["POSTGRES_USER=portal", "POSTGRES_DB=portal", `POSTGRES_PASSWORD=${tricky}`]));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(loginWith(tricky).status, 0);
  });

  test("waits while the container is still starting, boundedly", async () => {
    const declared = "Second0Declared0Password00000000";
    const e = env(["POSTGRES_USER=portal", "POSTGRES_DB=portal", `POSTGRES_PASSWORD=${declared}`], { SHIM_FAILS: "2" });
    const r = await runScript("sync-db-password.sh", e);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(calls(e).length, 3, "two refusals, then the statement");
    assert.equal(loginWith(declared).status, 0);

    const never = env(["POSTGRES_USER=portal", "POSTGRES_DB=portal", "POSTGRES_PASSWORD=x"], { SHIM_FAILS: "1000", WAIT_SECONDS: "1" });
    const gaveUp = await runScript("sync-db-password.sh", never);
    assert.equal(gaveUp.code, 1);
    assert.match(gaveUp.stderr, /within 1s; last answer: .*restarting/);
    assert.equal(loginWith(declared).status, 0, "a failed run leaves the password as it was");
  });

  test("a container without POSTGRES_PASSWORD fails at once, changing nothing", async () => {
    const e = env(["POSTGRES_USER=portal", "POSTGRES_DB=portal"]);
    const r = await runScript("sync-db-password.sh", e);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /POSTGRES_PASSWORD is not set in the container/);
    assert.equal(calls(e).length, 1, "no retry for a missing setting");
    assert.equal(loginWith("Second0Declared0Password00000000").status, 0);
  });

  test("settings are validated", async () => {
    for (const bad of [{ CONTAINER: "" }, { CONTAINER: "a b" }, { WAIT_SECONDS: "soon" }]) {
      const r = await runScript("sync-db-password.sh", { ...env(["POSTGRES_USER=portal"]), ...bad });
      assert.equal(r.code, 2, JSON.stringify(bad));
      assert.match(r.stderr, /invalid setting/);
    }
  });
});
