// host/block-container-metadata.sh for real, in network namespaces this test creates: a
// "container" namespace routed through a "host" namespace (forwarding, with Docker's FORWARD →
// DOCKER-USER jump) to a "metadata" namespace that answers on 169.254.169.254:80. Before the
// script the container reads the metadata; after it the container is refused at once while the
// host itself still reads it; a second run adds nothing.
import assert from "node:assert/strict";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { HOST_DIR, Scratch, requireHostTier, run, sh, start, trySh, type Started } from "./helpers";

const METADATA = "169.254.169.254";
const tag = String(process.pid % 100000);
const NS = { container: `hp-md-c-${tag}`, host: `hp-md-h-${tag}`, metadata: `hp-md-m-${tag}` };

const inNs = (ns: string, cmd: string, args: string[]) => sh("ip", ["netns", "exec", ns, cmd, ...args]);

describe("host/block-container-metadata.sh, in network namespaces", () => {
  let scratch: Scratch;
  let server: Started;

  /** What a client in `ns` gets from the metadata address: the body, or curl's exit status. */
  const fetch = async (ns: string) => {
    // --max-time bounds a hang; a refusal ends at once.
    const r = await run("ip", ["netns", "exec", ns, "curl", "-sS", "--max-time", "20", `http://${METADATA}/user-data`], { timeoutMs: 60_000 });
    return { code: r.code, body: r.stdout, stderr: r.stderr };
  };
  const script = () => run("ip", ["netns", "exec", NS.host, "bash", path.join(HOST_DIR, "block-container-metadata.sh")], { timeoutMs: 60_000 });

  before(async () => {
    requireHostTier(["ip", "iptables", "curl", "node"]);
    scratch = new Scratch("metadata");
    scratch.defer(() => {
      for (const ns of Object.values(NS)) trySh("ip", ["netns", "delete", ns]);
    });
    for (const ns of Object.values(NS)) sh("ip", ["netns", "add", ns]);
    // container (10.77.0.2) -- host (10.77.0.1 | 169.254.0.1) -- metadata (169.254.169.254)
    sh("ip", ["link", "add", `hpc${tag}`, "netns", NS.container, "type", "veth", "peer", "name", `hph${tag}`, "netns", NS.host]);
    sh("ip", ["link", "add", `hpm${tag}`, "netns", NS.metadata, "type", "veth", "peer", "name", `hpn${tag}`, "netns", NS.host]);
    inNs(NS.container, "ip", ["addr", "add", "10.77.0.2/24", "dev", `hpc${tag}`]);
    inNs(NS.host, "ip", ["addr", "add", "10.77.0.1/24", "dev", `hph${tag}`]);
    inNs(NS.host, "ip", ["addr", "add", "169.254.0.1/16", "dev", `hpn${tag}`]);
    inNs(NS.metadata, "ip", ["addr", "add", `${METADATA}/16`, "dev", `hpm${tag}`]);
    for (const [ns, dev] of [[NS.container, `hpc${tag}`], [NS.host, `hph${tag}`], [NS.host, `hpn${tag}`], [NS.metadata, `hpm${tag}`]]) {
      inNs(ns, "ip", ["link", "set", dev, "up"]);
      inNs(ns, "ip", ["link", "set", "lo", "up"]);
    }
    inNs(NS.container, "ip", ["route", "add", "default", "via", "10.77.0.1"]);
    inNs(NS.metadata, "ip", ["route", "add", "10.77.0.0/24", "via", "169.254.0.1"]);
    inNs(NS.host, "sysctl", ["-q", "-w", "net.ipv4.ip_forward=1"]);
    // What Docker sets up: FORWARD jumps to DOCKER-USER first, which returns.
    inNs(NS.host, "iptables", ["-w", "-N", "DOCKER-USER"]);
    inNs(NS.host, "iptables", ["-w", "-A", "DOCKER-USER", "-j", "RETURN"]);
    inNs(NS.host, "iptables", ["-w", "-I", "FORWARD", "1", "-j", "DOCKER-USER"]);
    server = start("ip", ["netns", "exec", NS.metadata, process.execPath, "-e",
      `require("http").createServer((q, s) => s.end("ssh_keys: the host's key\\n")).listen(80, "${METADATA}", () => console.error("listening"))`,
    ], { timeoutMs: 600_000 });
    scratch.defer(() => {
      try {
        process.kill(-server.child.pid!, "SIGTERM");
      } catch {
        /* already gone */
      }
    });
    await server.stderrMatches(/listening/);
  });
  after(() => scratch?.cleanup());

  test("a container reads the metadata service until the script runs; then it is refused at once, and the host is not", async () => {
    const before = await fetch(NS.container);
    assert.equal(before.code, 0, before.stderr);
    assert.match(before.body, /the host's key/);

    const r = await script();
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /containers refused at 169\.254\.169\.254 \(DOCKER-USER\)/);

    const after = await fetch(NS.container);
    assert.equal(after.code, 7, `curl: ${after.code} ${after.stderr}`); // 7: could not connect (refused)
    assert.equal(after.body, "");
    const host = await fetch(NS.host);
    assert.equal(host.code, 0, `the host's own processes keep the service: ${host.stderr}`);
  });

  test("a second run adds nothing: one rule, at the top of DOCKER-USER, before Docker's RETURN", async () => {
    const again = await script();
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /already refused/);
    const rules = inNs(NS.host, "iptables", ["-w", "-S", "DOCKER-USER"]).trim().split("\n").filter((l) => l.startsWith("-A"));
    assert.equal(rules.length, 2, rules.join("\n"));
    assert.match(rules[0], /^-A DOCKER-USER -d 169\.254\.169\.254\/32 .*-j REJECT/);
    assert.equal(rules[1], "-A DOCKER-USER -j RETURN");
  });

  test("a bad setting exits 2 and changes nothing", async () => {
    const r = await run("ip", ["netns", "exec", NS.host, "env", "METADATA_ADDRESS=metadata; reboot", "bash", path.join(HOST_DIR, "block-container-metadata.sh")], { timeoutMs: 60_000 });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /invalid setting: METADATA_ADDRESS must be an IPv4 address/);
  });
});

