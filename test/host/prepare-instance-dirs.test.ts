// host/prepare-instance-dirs.sh: creates $DATA_ROOT/<kind>/<instance> on a real mount (tmpfs),
// validates the instance name, refuses a DATA_ROOT that is not a mount point, registers the
// instance in INSTANCES_DIR, and (with DOCKER_VOLUME) makes sure a `docker` shim, which keeps its
// volumes in a small JSON state file, has the PostGIS volume bound to the instance's directory.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, beforeEach, describe, test } from "node:test";
import { Scratch, requireHostTier, runScript, sh, writeExecutable } from "./helpers";

const KINDS = "imports exports images drone tiles postgis backups media staticfiles docs drone-viewer".split(" ");

describe("host/prepare-instance-dirs.sh", () => {
  let scratch: Scratch;
  let dataRoot: string;
  let instancesDir: string;
  const prepare = (env: Record<string, string>) => runScript("prepare-instance-dirs.sh", { INSTANCES_DIR: instancesDir, ...env });

  before(() => {
    requireHostTier(["mount", "mountpoint"]);
    scratch = new Scratch("prepare");
    dataRoot = scratch.path("data");
    fs.mkdirSync(dataRoot);
    sh("mount", ["-t", "tmpfs", "-o", "size=16m", "hp-test-data", dataRoot]);
    instancesDir = scratch.path("etc", "housing-portal", "instances");
  });
  after(() => scratch?.cleanup());

  test("creates every kind's directory for the instance, postgis 0700; a second run changes nothing", async () => {
    const r = await prepare({ DATA_ROOT: dataRoot, INSTANCE: "colombia" });
    assert.equal(r.code, 0, r.stderr);
    for (const kind of KINDS) {
      assert.ok(fs.statSync(path.join(dataRoot, kind, "colombia")).isDirectory(), `${kind}/colombia`);
    }
    assert.equal(fs.statSync(path.join(dataRoot, "postgis", "colombia")).mode & 0o777, 0o700);

    fs.writeFileSync(path.join(dataRoot, "images", "colombia", "a.jpg"), "x");
    const again = await prepare({ DATA_ROOT: dataRoot, INSTANCE: "colombia" });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /nothing to do/);
    assert.equal(fs.readFileSync(path.join(dataRoot, "images", "colombia", "a.jpg"), "utf8"), "x");

    // A second instance sits beside the first; POSTGIS_OWNER sets the owner of its postgis dir.
    const peru = await prepare({ DATA_ROOT: dataRoot, INSTANCE: "peru", POSTGIS_OWNER: "999:999" });
    assert.equal(peru.code, 0, peru.stderr);
    const st = fs.statSync(path.join(dataRoot, "postgis", "peru"));
    assert.equal(st.uid, 999);
    assert.equal(st.gid, 999);
    assert.deepEqual(fs.readdirSync(path.join(dataRoot, "postgis")).sort(), ["colombia", "peru"]);
  });

  test("rejects an instance name that is not a lowercase DNS label, creating nothing", async () => {
    const before = fs.readdirSync(dataRoot).sort();
    for (const bad of ["", "Colombia", "-peru", "peru-", "a_b", "a.b", "../etc", "a/b", "x".repeat(64), "per u"]) {
      const r = await prepare({ DATA_ROOT: dataRoot, INSTANCE: bad });
      assert.equal(r.code, 2, `${JSON.stringify(bad)} must be rejected: ${r.stderr}`);
      assert.match(r.stderr, /INSTANCE/);
    }
    assert.deepEqual(fs.readdirSync(dataRoot).sort(), before);
    const ok = await prepare({ DATA_ROOT: dataRoot, INSTANCE: "x".repeat(63) });
    assert.equal(ok.code, 0, "63 characters is a valid label");
  });

  test("refuses a DATA_ROOT that is not a mount point unless ALLOW_UNMOUNTED=1", async () => {
    const plain = scratch.path("root-disk");
    fs.mkdirSync(plain);
    const r = await prepare({ DATA_ROOT: plain, INSTANCE: "paraguay" });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not a mount point/);
    assert.deepEqual(fs.readdirSync(plain), [], "nothing landed on the root disk");
    assert.equal(fs.existsSync(path.join(instancesDir, "paraguay")), false, "a refused run registers nothing");

    const allowed = await prepare({ DATA_ROOT: plain, INSTANCE: "paraguay", ALLOW_UNMOUNTED: "1" });
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.ok(fs.statSync(path.join(plain, "postgis", "paraguay")).isDirectory());
  });

  test("registers the instance: an empty marker INSTANCES_DIR/<instance>, mode 0644 in a 0755 directory; a second run keeps it", async () => {
    const dir = scratch.path("registry", "instances");
    const r = await prepare({ DATA_ROOT: dataRoot, INSTANCE: "bolivia", INSTANCES_DIR: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /registered bolivia in /);
    const marker = path.join(dir, "bolivia");
    assert.equal(fs.statSync(marker).size, 0);
    assert.ok(fs.statSync(marker).isFile());
    assert.equal(fs.statSync(marker).mode & 0o777, 0o644);
    assert.equal(fs.statSync(dir).mode & 0o777, 0o755);

    fs.chmodSync(marker, 0o600);
    const again = await prepare({ DATA_ROOT: dataRoot, INSTANCE: "bolivia", INSTANCES_DIR: dir });
    assert.equal(again.code, 0, again.stderr);
    assert.doesNotMatch(again.stderr, /registered/);
    assert.equal(fs.statSync(marker).mode & 0o777, 0o644, "the mode is put right");
    const chile = await prepare({ DATA_ROOT: dataRoot, INSTANCE: "chile", INSTANCES_DIR: dir + "/" });
    assert.equal(chile.code, 0, chile.stderr);
    assert.deepEqual(fs.readdirSync(dir).sort(), ["bolivia", "chile"]);

    for (const bad of ["relative/instances", "/"]) {
      const b = await prepare({ DATA_ROOT: dataRoot, INSTANCE: "bolivia", INSTANCES_DIR: bad });
      assert.equal(b.code, 2, `${bad}: ${b.stderr}`);
      assert.match(b.stderr, /^prepare-instance-dirs: invalid setting: INSTANCES_DIR/);
    }
  });

  describe("DOCKER_VOLUME: the PostGIS volume bound to the instance's directory", () => {
    let shim: string;
    let state: string;
    let events: string;
    const NAME = "housing-portal-peru-postgis-data";
    const pgdir = () => path.join(dataRoot, "postgis", "peru");

    before(() => {
      shim = writeExecutable(
        scratch.path("docker"),
        `#!/usr/bin/env bash
# docker shim: the engine's volumes in $SHIM_STATE, {"<name>": {"Driver", "Options", "Labels", "Mountpoint"}}.
set -euo pipefail
printf 'docker %s\n' "$*" >>"$SHIM_EVENTS"
[[ "\${SHIM_FAIL:-}" != 1 ]] || { echo "Cannot connect to the Docker daemon" >&2; exit 1; }
[[ -f "$SHIM_STATE" ]] || echo '{}' >"$SHIM_STATE"
case "$1 \${2:-}" in
  "volume ls")
    [[ "$*" == "volume ls -q" ]] || { echo "shim: unexpected: $*" >&2; exit 2; }
    jq -r 'keys[]' "$SHIM_STATE" ;;
  "volume inspect")
    [[ $# == 3 ]] || { echo "shim: unexpected: $*" >&2; exit 2; }
    jq -e --arg n "$3" 'has($n)' "$SHIM_STATE" >/dev/null || { echo "Error response from daemon: get $3: no such volume" >&2; exit 1; }
    jq --arg n "$3" '[.[$n] + {Name: $n, Scope: "local"}]' "$SHIM_STATE" ;;
  "volume create")
    shift 2
    driver=local; opts='{}'; labels='{}'
    while (($# > 1)); do
      case "$1" in
        --driver) driver="$2" ;;
        --opt) opts="$(jq -c --arg kv "$2" '. + {($kv | split("=")[0]): ($kv | split("=")[1:] | join("="))}' <<<"$opts")" ;;
        --label) labels="$(jq -c --arg kv "$2" '. + {($kv | split("=")[0]): ($kv | split("=")[1:] | join("="))}' <<<"$labels")" ;;
        *) echo "shim: unexpected: $1" >&2; exit 2 ;;
      esac
      shift 2
    done
    jq --arg n "$1" --arg d "$driver" --argjson o "$opts" --argjson l "$labels" \
      '.[$n] = {Driver: $d, Options: $o, Labels: $l, Mountpoint: ("/var/lib/docker/volumes/" + $n + "/_data")}' "$SHIM_STATE" >"$SHIM_STATE.new"
    mv "$SHIM_STATE.new" "$SHIM_STATE"
    echo "$1" ;;
  *) echo "shim: unsupported: docker $*" >&2; exit 2 ;;
esac
`,
      );
    });

    let caseNo = 0;
    beforeEach(() => {
      caseNo++;
      state = scratch.path(`volumes${caseNo}.json`);
      events = scratch.path(`docker-events${caseNo}.log`);
    });
    const run = (extra: Record<string, string> = {}) =>
      prepare({ DATA_ROOT: dataRoot, INSTANCE: "peru", DOCKER: shim, DOCKER_VOLUME: NAME, SHIM_STATE: state, SHIM_EVENTS: events, ...extra });
    const calls = () => (fs.existsSync(events) ? fs.readFileSync(events, "utf8").split("\n").filter(Boolean) : []);
    const volumes = () => JSON.parse(fs.readFileSync(state, "utf8"));
    const seed = (vols: Record<string, unknown>) => fs.writeFileSync(state, JSON.stringify(vols));

    test("missing: created with exactly the bind options and labels; a second run leaves it untouched", async () => {
      seed({ "housing-portal-colombia-postgis-data": { Driver: "local", Options: null, Labels: null, Mountpoint: "/x" } });
      const r = await run();
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`created Docker volume ${NAME} bound to ${pgdir()}`));
      assert.ok(calls().includes(
        `docker volume create --driver local --opt type=none --opt o=bind --opt device=${pgdir()} ` +
          `--label housing-portal.instance=peru --label housing-portal.role=postgis ${NAME}`,
      ), calls().join("\n"));
      assert.deepEqual(volumes()[NAME], {
        Driver: "local",
        Options: { type: "none", o: "bind", device: pgdir() },
        Labels: { "housing-portal.instance": "peru", "housing-portal.role": "postgis" },
        Mountpoint: `/var/lib/docker/volumes/${NAME}/_data`,
      });
      assert.ok(fs.statSync(pgdir()).isDirectory(), "the directory exists before the volume is bound to it");

      const before = fs.readFileSync(state, "utf8");
      const n = calls().length;
      const again = await run();
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, new RegExp(`Docker volume ${NAME} is bound to ${pgdir()}`));
      assert.deepEqual(calls().slice(n), ["docker volume ls -q", `docker volume inspect ${NAME}`], "no create, no remove");
      assert.equal(fs.readFileSync(state, "utf8"), before, "untouched");
    });

    test("present and right (the device with a trailing slash, other labels): untouched", async () => {
      seed({ [NAME]: { Driver: "local", Options: { type: "none", o: "bind", device: pgdir() + "/" }, Labels: { owner: "pulumi" }, Mountpoint: "/v" } });
      const before = fs.readFileSync(state, "utf8");
      const r = await run();
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`Docker volume ${NAME} is bound to ${pgdir()}`));
      assert.deepEqual(calls(), ["docker volume ls -q", `docker volume inspect ${NAME}`], "checked, not created");
      assert.equal(fs.readFileSync(state, "utf8"), before);
    });

    test("present with another device, as a plain volume, or with another driver: exit 1 naming the volume and both paths", async () => {
      const cases: [string, Record<string, unknown>, RegExp][] = [
        ["another device", { Driver: "local", Options: { type: "none", o: "bind", device: "/srv/old/peru" }, Mountpoint: "/v" }, /data in \/srv\/old\/peru\)/],
        ["a plain volume", { Driver: "local", Options: null, Mountpoint: `/var/lib/docker/volumes/${NAME}/_data` }, new RegExp(`data in /var/lib/docker/volumes/${NAME}/_data\\)`)],
        ["another driver", { Driver: "rexray/ebs", Options: { type: "none", o: "bind", device: "/mnt/data/postgis/peru" }, Mountpoint: "/v" }, /driver rexray\/ebs, .*data in \/mnt\/data\/postgis\/peru\)/],
      ];
      for (const [what, vol, actual] of cases) {
        seed({ [NAME]: vol });
        const before = fs.readFileSync(state, "utf8");
        const r = await run();
        assert.equal(r.code, 1, `${what}: ${r.stderr}`);
        assert.match(r.stderr, new RegExp(`error: Docker volume ${NAME} exists but is not bound to ${pgdir()} \\(`), what);
        assert.match(r.stderr, actual, what);
        assert.match(r.stderr, /instead of on the data volume/);
        assert.equal(fs.readFileSync(state, "utf8"), before, `${what}: the volume is left as it is`);
      }
      assert.ok(!calls().some((c) => c.startsWith("docker volume create")));
    });

    test("a docker that cannot list volumes fails the run", async () => {
      const r = await run({ SHIM_FAIL: "1" });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`volume ls' failed: cannot check Docker volume ${NAME}`));
    });

    test("DOCKER_VOLUME unset: no docker call at all", async () => {
      const r = await prepare({ DATA_ROOT: dataRoot, INSTANCE: "peru", DOCKER: shim, SHIM_STATE: state, SHIM_EVENTS: events });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(calls(), []);
    });

    test("a bad DOCKER_VOLUME, or one without postgis in DATA_DIRS, exits 2 with one line and no docker call", async () => {
      for (const extra of <Record<string, string>[]>[
        { DOCKER_VOLUME: "a" },
        { DOCKER_VOLUME: "-peru" },
        { DOCKER_VOLUME: "peru data" },
        { DOCKER_VOLUME: "../peru" },
        { DATA_DIRS: "images media" },
      ]) {
        const r = await run(extra);
        assert.equal(r.code, 2, `${JSON.stringify(extra)}: ${r.stderr}`);
        assert.match(r.stderr, /^prepare-instance-dirs: invalid setting: DOCKER_VOLUME/);
        assert.equal(r.stderr.split("\n").filter(Boolean).length, 1);
      }
      assert.deepEqual(calls(), []);
    });
  });
});
