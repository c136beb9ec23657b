// host/nginx-config.sh (an instance's rendered nginx.conf written on the data root, only when it
// changed, readable by nginx's own user; the guard against an unmounted data root; bad settings)
// and host/limit-container-pids.sh against a docker shim (each container's limit set only when it
// differs and read back; a missing container fails the run; bad settings).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { Scratch, requireHostTier, runScript, writeExecutable } from "./helpers";

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
const CONF = "events {}\nhttp {\n  server { listen 80; }\n}";

describe("host/nginx-config.sh", () => {
  let scratch: Scratch;
  before(() => {
    requireHostTier(["base64", "mountpoint", "mktemp", "stat"]);
    scratch = new Scratch("nginx-config");
  });
  after(() => scratch?.cleanup());

  const fixture = (name: string) => {
    const dataRoot = scratch.path(`${name}-data`);
    fs.mkdirSync(dataRoot);
    const dir = path.join(dataRoot, ".housing-portal", "nginx", "peru");
    const env = (more: Record<string, string> = {}) => ({ NGINX_CONF_B64: b64(CONF), CONFIG_DIR: dir, DATA_ROOT: dataRoot, ALLOW_UNMOUNTED: "1", ...more });
    return { dataRoot, dir, file: path.join(dir, "nginx.conf"), env };
  };

  test("writes the config readable by every user, and rewrites it only when it changed", async () => {
    const f = fixture("write");
    const r = await runScript("nginx-config.sh", f.env());
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.readFileSync(f.file, "utf8"), `${CONF}\n`);
    assert.equal(fs.statSync(f.file).mode & 0o777, 0o644, "nginx reads it as its own non-root user");
    assert.equal(fs.statSync(f.dir).mode & 0o777, 0o755);
    const inode = fs.statSync(f.file).ino;
    const again = await runScript("nginx-config.sh", f.env());
    assert.equal(again.code, 0, again.stderr);
    assert.equal(fs.statSync(f.file).ino, inode, "an unchanged config is not rewritten");
    assert.match(again.stderr, /is current/);
    const changed = await runScript("nginx-config.sh", f.env({ NGINX_CONF_B64: b64(`${CONF}\n# changed`) }));
    assert.equal(changed.code, 0, changed.stderr);
    assert.notEqual(fs.statSync(f.file).ino, inode, "a changed config is a new file (renamed into place)");
    assert.match(fs.readFileSync(f.file, "utf8"), /# changed\n$/);
    assert.deepEqual(fs.readdirSync(f.dir), ["nginx.conf"], "no temporary file is left");
  });

  test("an unmounted data root is refused unless ALLOW_UNMOUNTED=1; nothing is written", async () => {
    const f = fixture("unmounted");
    const r = await runScript("nginx-config.sh", f.env({ ALLOW_UNMOUNTED: "0" }));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /is not a mount point: the data volume is not mounted/);
    assert.deepEqual(fs.readdirSync(f.dataRoot), []);
  });

  test("bad settings exit 2 with one line", async () => {
    const f = fixture("bad");
    for (const more of <Record<string, string>[]>[
      { NGINX_CONF_B64: "" }, { NGINX_CONF_B64: "%%%" }, { CONFIG_DIR: "" }, { CONFIG_DIR: "/etc/nginx" },
      { CONFIG_DIR: `${f.dataRoot}/../etc` }, { DATA_ROOT: "relative" }, { ALLOW_UNMOUNTED: "yes" },
    ]) {
      const r = await runScript("nginx-config.sh", f.env(more));
      assert.equal(r.code, 2, `${JSON.stringify(more)}: ${r.stderr}`);
      assert.match(r.stderr, /^nginx-config: invalid setting: /);
      assert.equal(r.stderr.split("\n").filter(Boolean).length, 1, r.stderr);
    }
    assert.deepEqual(fs.readdirSync(f.dataRoot), []);
  });
});

describe("host/limit-container-pids.sh", () => {
  let scratch: Scratch;
  let shim: string;
  before(() => {
    requireHostTier([]);
    scratch = new Scratch("pids");
    // The shim keeps each container's limit in $SHIM_STATE/<name> (absent: no such container; "0": none).
    shim = writeExecutable(scratch.path("docker"), `#!/usr/bin/env bash
set -euo pipefail
s="$SHIM_STATE"
echo "docker $*" >>"$s/events"
case "$1" in
  container) [[ -f "$s/$5" ]] || { echo "Error: No such container: $5" >&2; exit 1; }; cat "$s/$5" ;;
  update) [[ -f "$s/$4" ]] || { echo "Error: No such container: $4" >&2; exit 1; }; echo "$3" >"$s/$4"; echo "$4" ;;
  *) echo "docker shim: unexpected: docker $*" >&2; exit 2 ;;
esac
`);
  });
  after(() => scratch?.cleanup());

  const fixture = (name: string, containers: Record<string, string>) => {
    const state = scratch.path(name);
    fs.mkdirSync(state);
    fs.writeFileSync(path.join(state, "events"), "");
    for (const [c, limit] of Object.entries(containers)) fs.writeFileSync(path.join(state, c), `${limit}\n`);
    const env = (limits: string) => ({ LIMITS: limits, DOCKER: shim, SHIM_STATE: state });
    const limitOf = (c: string) => fs.readFileSync(path.join(state, c), "utf8").trim();
    const updates = () => fs.readFileSync(path.join(state, "events"), "utf8").split("\n").filter((e) => e.startsWith("docker update"));
    return { env, limitOf, updates };
  };

  test("sets each container's limit, only where it differs; a second run changes nothing", async () => {
    const f = fixture("set", { "housing-portal-peru-nginx": "0", "housing-portal-peru-backend": "256" });
    const r = await runScript("limit-container-pids.sh", f.env("housing-portal-peru-nginx=128 housing-portal-peru-backend=256"));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual([f.limitOf("housing-portal-peru-nginx"), f.limitOf("housing-portal-peru-backend")], ["128", "256"]);
    assert.deepEqual(f.updates(), ["docker update --pids-limit 128 housing-portal-peru-nginx"]);
    assert.match(r.stderr, /housing-portal-peru-nginx: at most 128 processes \(was 0\)/);
    const again = await runScript("limit-container-pids.sh", f.env("housing-portal-peru-nginx=128 housing-portal-peru-backend=256"));
    assert.equal(again.code, 0, again.stderr);
    assert.equal(f.updates().length, 1, "nothing updated the second time");
  });

  test("a missing container fails the run, naming it", async () => {
    const f = fixture("missing", {});
    const r = await runScript("limit-container-pids.sh", f.env("housing-portal-gone-nginx=128"));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot read the limits of container housing-portal-gone-nginx/);
  });

  test("bad settings exit 2 with one line, before any docker call", async () => {
    const f = fixture("bad", { "housing-portal-peru-nginx": "0" });
    for (const limits of ["", "housing-portal-peru-nginx", "housing-portal-peru-nginx=0", "housing-portal-peru-nginx=-1", "bad name=5", "housing-portal-peru-nginx=12 x=y"]) {
      const r = await runScript("limit-container-pids.sh", f.env(limits));
      assert.equal(r.code, 2, `${JSON.stringify(limits)}: ${r.stderr}`);
      assert.match(r.stderr, /^limit-container-pids: invalid setting: /);
      assert.equal(r.stderr.split("\n").filter(Boolean).length, 1, r.stderr);
    }
    assert.equal(f.updates().length, 0);
  });
});
