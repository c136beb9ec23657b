// host/edge-routes.sh with a docker shim: the Caddyfile and CA root written on the data root
// (only when changed), the running edge connected to exactly the declared instance networks
// (never off its own), reloaded (waiting for a just-started admin endpoint), a refused Caddyfile
// failing the run, the storage handed to the edge's non-root user (root-owned storage of an edge
// that ran as root included; links never followed), the guard against an unmounted data root,
// and bad settings.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { Scratch, requireHostTier, runScript, writeExecutable } from "./helpers";
import { EDGE_UID, EDGE_USER } from "../../components/edge";

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
const CADDYFILE = "example.org {\n\treverse_proxy housing-portal-peru-nginx:80\n}\n";

describe("host/edge-routes.sh", () => {
  let scratch: Scratch;
  let shim: string;
  before(() => {
    requireHostTier(["base64", "mountpoint", "mktemp"]);
    scratch = new Scratch("edge-routes");
    // The shim keeps the edge's state in $SHIM_STATE: running (a file), networks (one a line),
    // reload-refused / reload-down-N (the admin endpoint answers after N tries); every call in events.
    shim = writeExecutable(scratch.path("docker"), `#!/usr/bin/env bash
set -euo pipefail
s="$SHIM_STATE"
echo "docker $*" >>"$s/events"
case "$1 $2" in
  "container inspect")
    [[ -e "$s/exists" ]] || { echo "Error: No such container: $5" >&2; exit 1; }
    case "$4" in
      "{{.State.Running}}") [[ -e "$s/running" ]] && echo true || echo false ;;
      *) tr '\\n' ' ' <"$s/networks"; echo ;;
    esac ;;
  "network inspect") case "$5" in housing-portal-peru-net) echo "10.9.1.0/24,10.9.1.1 fd00:9:1::/64, " ;; *) echo "10.9.2.0/24,10.9.2.1 " ;; esac ;;
  "network connect") echo "$3" >>"$s/networks" ;;
  "network disconnect") grep -vxF "$3" "$s/networks" >"$s/n" || true; mv "$s/n" "$s/networks" ;;
  "exec housing-portal_edge")
    if [[ -e "$s/reload-refused" ]]; then echo "Error: adapting config using caddyfile: unrecognized directive: bogus" >&2; exit 1; fi
    n="$(cat "$s/reload-down" 2>/dev/null || echo 0)"
    if ((n > 0)); then echo $((n - 1)) >"$s/reload-down"; echo 'Error: sending configuration to instance: dial tcp [::1]:2019: connect: connection refused' >&2; exit 1; fi
    echo "reloaded: $*" >>"$s/reloads" ;;
  *) echo "docker shim: unexpected: docker $*" >&2; exit 2 ;;
esac
`);
  });
  after(() => scratch?.cleanup());

  /** A fresh data root and shim state; the edge exists, runs and is on these networks. */
  function fixture(name: string, edge: { running: boolean; networks: string[] } | undefined) {
    const dataRoot = scratch.path(`${name}-data`);
    const state = scratch.path(`${name}-state`);
    fs.mkdirSync(dataRoot);
    fs.mkdirSync(state);
    fs.writeFileSync(path.join(state, "events"), "");
    if (edge) {
      fs.writeFileSync(path.join(state, "exists"), "");
      if (edge.running) fs.writeFileSync(path.join(state, "running"), "");
      fs.writeFileSync(path.join(state, "networks"), edge.networks.map((n) => `${n}\n`).join(""));
    }
    const env = (more: Record<string, string> = {}) => ({
      EDGE_CONTAINER: "housing-portal_edge", EDGE_NETWORK: "housing-portal_edge-net",
      NETWORKS: "housing-portal-peru-net housing-portal-chile-net", CADDYFILE_B64: b64(CADDYFILE),
      DATA_ROOT: dataRoot, ALLOW_UNMOUNTED: "1", DOCKER: shim, SHIM_STATE: state, ...more,
    });
    const read = (f: string) => fs.readFileSync(path.join(state, f), "utf8").split("\n").filter(Boolean);
    return { dataRoot, state, env, read, exists: (f: string) => fs.existsSync(path.join(state, f)) };
  }

  test("before the edge exists: its directories and Caddyfile on the data root, nothing asked of Docker but whether it runs", async () => {
    const f = fixture("first", undefined);
    const r = await runScript("edge-routes.sh", f.env({ CA_ROOT_B64: b64("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----") }));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.readFileSync(path.join(f.dataRoot, "edge/config/Caddyfile"), "utf8"), CADDYFILE);
    assert.match(fs.readFileSync(path.join(f.dataRoot, "edge/config/acme-ca-root.pem"), "utf8"), /BEGIN CERTIFICATE/);
    assert.equal(fs.statSync(path.join(f.dataRoot, "edge/storage")).mode & 0o777, 0o700, "certificates and keys are their owner's only");
    // Requests from the instance networks' subnets are refused in every site.
    assert.match(fs.readFileSync(path.join(f.dataRoot, "edge/config/instance-networks.caddy"), "utf8"),
      /^@from_instance_networks \{\n\tremote_ip 10\.9\.1\.0\/24 fd00:9:1::\/64 10\.9\.2\.0\/24\n\tnot remote_ip 10\.9\.1\.1 10\.9\.2\.1\n\}\nabort @from_instance_networks\n$/m);
    assert.match(r.stderr, /housing-portal_edge is not running: it reads the Caddyfile when it starts/);
    assert.deepEqual(f.read("events").filter((e) => !e.startsWith("docker network inspect")), ["docker container inspect -f {{.State.Running}} housing-portal_edge"]);
  });

  test("a running edge: joins the declared networks, leaves a removed instance's, keeps its own, reloads; a second run changes nothing", async () => {
    const f = fixture("running", { running: true, networks: ["housing-portal_edge-net", "housing-portal-peru-net", "housing-portal-gone-net"] });
    const r = await runScript("edge-routes.sh", f.env());
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(f.read("networks").sort(), ["housing-portal-chile-net", "housing-portal-peru-net", "housing-portal_edge-net"]);
    assert.deepEqual(f.read("reloads"), ["reloaded: exec housing-portal_edge caddy reload --config /etc/caddy/Caddyfile --adapter caddyfile"]);
    assert.match(r.stderr, /connected housing-portal_edge to housing-portal-chile-net/);
    assert.match(r.stderr, /disconnected housing-portal_edge from housing-portal-gone-net/);
    assert.ok(!f.read("events").some((e) => /restart|stop|rm /.test(e)), "the edge is never restarted");

    const file = path.join(f.dataRoot, "edge/config/Caddyfile");
    const inode = fs.statSync(file).ino;
    const again = await runScript("edge-routes.sh", f.env());
    assert.equal(again.code, 0, again.stderr);
    assert.equal(fs.statSync(file).ino, inode, "an unchanged Caddyfile is not rewritten");
    assert.doesNotMatch(again.stderr, /connected|wrote/);
  });

  test("root-owned storage (an edge that ran as root) is handed to the edge's user; a second run changes nothing; a link pointing outside is not followed", async () => {
    const f = fixture("owner", undefined);
    const storage = path.join(f.dataRoot, "edge/storage");
    const certDir = path.join(storage, "certificates/acme-v02/peru.example.org");
    fs.mkdirSync(certDir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(certDir, "peru.example.org.crt"), "cert");
    fs.writeFileSync(path.join(certDir, "peru.example.org.key"), "key", { mode: 0o600 });
    const outside = scratch.path("owner-outside");
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, "secret"), "not the edge's");
    fs.symlinkSync(outside, path.join(storage, "escape-dir"));
    fs.symlinkSync(path.join(outside, "secret"), path.join(storage, "escape-file"));
    for (const p of [storage, outside, path.join(outside, "secret")]) assert.equal(fs.statSync(p).uid, 0, "the fixture starts root's");

    const r = await runScript("edge-routes.sh", f.env({ STORAGE_OWNER: EDGE_USER }));
    assert.equal(r.code, 0, r.stderr);
    const entries = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true })
      .flatMap((e) => [path.join(dir, e.name), ...(e.isDirectory() ? entries(path.join(dir, e.name)) : [])]);
    const all = [storage, ...entries(storage)];
    assert.ok(all.length >= 8, all.join(" "));
    for (const p of all) {
      const st = fs.lstatSync(p);
      assert.deepEqual([st.uid, st.gid], [EDGE_UID, EDGE_UID], `${p} is not the edge's`);
    }
    assert.equal(fs.statSync(storage).mode & 0o777, 0o700);
    for (const p of [outside, path.join(outside, "secret")]) assert.deepEqual([fs.lstatSync(p).uid, fs.lstatSync(p).gid], [0, 0], `${p} outside the storage was changed`);
    assert.match(r.stderr, new RegExp(`handed ${all.length} entries of .* to ${EDGE_USER}`));

    const ctimes = () => all.map((p) => fs.lstatSync(p, { bigint: true }).ctimeNs);
    const before = ctimes();
    const again = await runScript("edge-routes.sh", f.env({ STORAGE_OWNER: EDGE_USER }));
    assert.equal(again.code, 0, again.stderr);
    assert.doesNotMatch(again.stderr, /handed/);
    assert.deepEqual(ctimes(), before, "a second run touched the storage");
  });

  test("a storage directory that is a symbolic link is refused: nothing is handed to the edge's user", async () => {
    const f = fixture("linked", undefined);
    const outside = scratch.path("linked-outside");
    fs.mkdirSync(outside);
    fs.mkdirSync(path.join(f.dataRoot, "edge"));
    fs.symlinkSync(outside, path.join(f.dataRoot, "edge/storage"));
    const r = await runScript("edge-routes.sh", f.env({ STORAGE_OWNER: EDGE_USER }));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /is a symbolic link; refusing to follow it/);
    assert.equal(fs.statSync(outside).uid, 0);
  });

  test("a just-started edge is waited for until its admin endpoint answers", async () => {
    const f = fixture("starting", { running: true, networks: ["housing-portal_edge-net"] });
    fs.writeFileSync(path.join(f.state, "reload-down"), "3");
    const r = await runScript("edge-routes.sh", f.env());
    assert.equal(r.code, 0, r.stderr);
    assert.equal(f.read("reloads").length, 1);
    assert.equal(f.read("events").filter((e) => e.includes("caddy reload")).length, 4);
  });

  test("a Caddyfile Caddy refuses fails the run at once, naming Caddy's reason", async () => {
    const f = fixture("refused", { running: true, networks: ["housing-portal_edge-net"] });
    fs.writeFileSync(path.join(f.state, "reload-refused"), "");
    const r = await runScript("edge-routes.sh", f.env());
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unrecognized directive: bogus/);
    assert.match(r.stderr, /^edge-routes: error: Caddy refused the Caddyfile; it keeps serving the routes it had$/m);
    assert.equal(f.read("events").filter((e) => e.includes("caddy reload")).length, 1, "not retried");
  });

  test("an unmounted data root is refused unless ALLOW_UNMOUNTED=1; nothing is written", async () => {
    const f = fixture("unmounted", undefined);
    const r = await runScript("edge-routes.sh", f.env({ ALLOW_UNMOUNTED: "0" }));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /is not a mount point: the data volume is not mounted; refusing to keep certificates on the root disk/);
    assert.deepEqual(fs.readdirSync(f.dataRoot), []);
  });

  test("bad settings exit 2 with one line", async () => {
    const f = fixture("bad", undefined);
    for (const more of <Record<string, string>[]>[
      { EDGE_CONTAINER: "" }, { EDGE_NETWORK: "bad name" }, { NETWORKS: "housing-portal_edge-net" }, { NETWORKS: "ok-net ../x" },
      { CADDYFILE_B64: "" }, { NETWORKS: "" , CADDYFILE_B64: "%%%" }, { DATA_ROOT: "relative" }, { ALLOW_UNMOUNTED: "yes" }, { RELOAD_WAIT_SECONDS: "soon" },
      { STORAGE_OWNER: "caddy" }, { STORAGE_OWNER: "10443" }, { STORAGE_OWNER: "1:2:3" },
    ]) {
      const r = await runScript("edge-routes.sh", f.env(more));
      assert.equal(r.code, 2, `${JSON.stringify(more)}: ${r.stderr}`);
      assert.match(r.stderr, /^edge-routes: invalid setting: /);
      assert.equal(r.stderr.split("\n").filter(Boolean).length, 1, r.stderr);
    }
    assert.deepEqual(fs.readdirSync(f.dataRoot), []);
  });
});
