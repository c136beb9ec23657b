// The SSH options the program gives the Docker provider (components/hostKey.ts, imported, not
// copied) against real sshd servers on loopback: they connect to the server that presents the
// pinned host key, and refuse one that presents another key or none of the pinned key's type,
// with no known_hosts state on this machine. Weakening the options (accept-new, no pinned key,
// StrictHostKeyChecking=no) makes the refusals connect, and this test fail.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as net from "node:net";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { pinnedSshOptions } from "../../components/hostKey";
import { Scratch, requireHostTier, run, sh, start, type Started } from "./helpers";

const SSHD = "/usr/sbin/sshd";

/** A free loopback port (the kernel's pick; sshd binds it right after). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

describe("the pinned host key of the Docker provider's SSH options, against a real sshd", () => {
  let scratch: Scratch;
  const servers: Started[] = [];
  let clientKey: string;
  /** The public key line (with its comment and newline, as ssh-keygen writes it) of each host key. */
  const publicKey: Record<string, string> = {};
  const ports: Record<string, number> = {};

  /** A throwaway host key of this type, as ssh-keygen writes it. */
  const hostKey = (name: string, type: "ed25519" | "ecdsa"): string => {
    const file = scratch.path(`host_${name}`);
    sh("ssh-keygen", ["-q", "-t", type, "-N", "", "-C", `${name}@test-sshd`, "-f", file]);
    publicKey[name] = fs.readFileSync(`${file}.pub`, "utf8");
    return file;
  };

  /** An sshd on a loopback port that presents only the given host key and lets the test's key in as root. */
  const startServer = async (name: string, keyFile: string) => {
    const port = await freePort();
    const config = scratch.path(`sshd_${name}.conf`);
    fs.writeFileSync(config, [
      `Port ${port}`, "ListenAddress 127.0.0.1", `HostKey ${keyFile}`, `PidFile ${scratch.path(`sshd_${name}.pid`)}`,
      `AuthorizedKeysFile ${scratch.path("authorized_keys")}`, "StrictModes no", "UsePAM no",
      "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password", "",
    ].join("\n"));
    const server = start(SSHD, ["-D", "-e", "-f", config], { timeoutMs: 600_000 });
    servers.push(server);
    await server.stderrMatches(/Server listening on 127\.0\.0\.1 port/);
    ports[name] = port;
  };

  /** ssh as the Docker provider runs it: its options for `pinned`, then this test's login (no config file of this machine's). */
  const connect = (server: string, pinned: string) => run("ssh", [
    ...pinnedSshOptions(pinned),
    "-F", "/dev/null", "-i", clientKey, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=30",
    "-p", String(ports[server]), "root@127.0.0.1", "echo", "connected",
  ], { timeoutMs: 120_000 });

  before(async () => {
    requireHostTier(["ssh", "ssh-keygen", SSHD]);
    scratch = new Scratch("ssh-host-key");
    scratch.defer(() => {
      for (const s of servers) {
        try {
          process.kill(-s.child.pid!, "SIGTERM");
        } catch {
          /* already gone */
        }
      }
    });
    // sshd's privilege separation directory, which the packaged service would create.
    fs.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
    clientKey = scratch.path("client");
    sh("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "deploy@test", "-f", clientKey]);
    fs.copyFileSync(`${clientKey}.pub`, scratch.path("authorized_keys"));
    await startServer("pinned", hostKey("pinned", "ed25519"));
    await startServer("impostor", hostKey("impostor", "ed25519"));
    await startServer("ecdsa-only", hostKey("ecdsa-only", "ecdsa"));
  });
  after(() => scratch?.cleanup());

  test("connects to the server that presents the pinned key, given as the .pub line (comment, newline) or bare", async () => {
    for (const pinned of [publicKey.pinned, publicKey.pinned.split(" ").slice(0, 2).join(" ")]) {
      const r = await connect("pinned", pinned);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), "connected");
    }
  });

  test("refuses a server that presents another key of the same type at the same address", async () => {
    const r = await connect("impostor", publicKey.pinned);
    assert.equal(r.code, 255, `connected to the impostor:\n${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/);
    assert.doesNotMatch(r.stdout, /connected/);
  });

  test("refuses a server that presents no key of the pinned key's type", async () => {
    const r = await connect("ecdsa-only", publicKey.pinned);
    assert.equal(r.code, 255, `connected to a server without the pinned key:\n${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /no matching host key type|Host key verification failed/);
  });

  test("each server is refused under the other's key: the pin, not the address, decides", async () => {
    const r = await connect("pinned", publicKey.impostor);
    assert.equal(r.code, 255, r.stderr);
    const ok = await connect("impostor", publicKey.impostor);
    assert.equal(ok.code, 0, ok.stderr);
  });
});
