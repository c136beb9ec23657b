// Loopback stand-ins for the off-site copy and the alerts, shared by the host tier and the e2e
// drills: an S3-compatible server (npm's s3rver) over TLS with a throwaway certificate for
// 127.0.0.1 (restic's chunked uploads break over plain http with it), which can be told to die
// in the middle of an upload; and a webhook receiver that records every message posted to it.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo, Socket } from "node:net";
import * as path from "node:path";
import { type RunResult, runScript, writeExecutable } from "./helpers";

// s3rver ships no types: only its constructor, callback and configureBuckets are used.
interface S3rverApp {
  callback(): (req: http.IncomingMessage, res: http.ServerResponse) => void;
  configureBuckets(): Promise<void>;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require("s3rver") as new (opts: Record<string, unknown>) => S3rverApp;

/** A key and self-signed certificate for 127.0.0.1 in `dir`. */
export function loopbackCertificate(dir: string): { key: string; cert: string } {
  const key = path.join(dir, "s3-key.pem");
  const cert = path.join(dir, "s3-cert.pem");
  const r = spawnSync("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2",
    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
  ], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`openssl req failed: ${r.stderr}`);
  return { key, cert };
}

export class FakeS3 {
  private server?: https.Server;
  private readonly sockets = new Set<Socket>();
  /** When set, the server dies at the next upload of a data pack: every connection is cut and it stops listening. */
  dieOnUpload = false;
  /** How many times it died mid-upload. */
  deaths = 0;
  port = 0;

  constructor(readonly directory: string, readonly tls: { key: string; cert: string }, readonly bucket: string) {}

  async start(port = 0): Promise<void> {
    fs.mkdirSync(this.directory, { recursive: true });
    const app = new S3rver({ silent: true, directory: this.directory, configureBuckets: [{ name: this.bucket, configs: [] }] });
    await app.configureBuckets();
    const handle = app.callback();
    this.server = https.createServer({ key: fs.readFileSync(this.tls.key), cert: fs.readFileSync(this.tls.cert) }, (req, res) => {
      if (this.dieOnUpload && req.method === "PUT" && /\/data\//.test(req.url ?? "")) {
        this.dieOnUpload = false;
        this.deaths++;
        this.stop();
        return;
      }
      handle(req, res);
    });
    this.server.on("connection", (s: Socket) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once("error", reject);
      this.server!.listen(port, "127.0.0.1", () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Stops listening and cuts every connection, like a server that died. */
  stop(): void {
    this.server?.close();
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    this.server = undefined;
  }

  /** The restic repository URL of `prefix` in the bucket. */
  repository(prefix: string): string {
    return `s3:https://127.0.0.1:${this.port}/${this.bucket}/${prefix}`;
  }

  /** Every stored object's bytes under the bucket (to look for plaintext). */
  storedBytes(): Buffer {
    const out: Buffer[] = [];
    const walk = (d: string) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else out.push(fs.readFileSync(p));
      }
    };
    walk(path.join(this.directory, this.bucket));
    return Buffer.concat(out);
  }
}

/** A webhook on loopback that records the JSON body of every POST. */
export class WebhookReceiver {
  private server?: http.Server;
  readonly messages: { text: string; content: string }[] = [];
  /** Answer with this status (a failing webhook). */
  status = 200;
  port = 0;

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      let body = "";
      req.setEncoding("utf8").on("data", (d: string) => (body += d)).on("end", () => {
        if (req.method === "POST" && this.status === 200) this.messages.push(JSON.parse(body));
        res.writeHead(this.status).end();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", () => resolve()));
    this.port = (this.server.address() as AddressInfo).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook/secret-token`;
  }

  stop(): void {
    this.server?.close();
    this.server?.closeAllConnections();
  }
}

let invocations = 0;

/**
 * One run of a backup unit as systemd runs it: the script with FINDINGS_FILE and INVOCATION_ID
 * from the unit, then host/alert.sh as its ExecStopPost with the same invocation, SERVICE_RESULT
 * from the script's exit status, and the script's log where its journalctl shim finds it.
 */
export async function runAsUnit(
  script: string,
  check: string,
  env: Record<string, string>,
  alertEnv: Record<string, string>,
  dir: string,
  timeoutMs = 300_000,
): Promise<{ run: RunResult; alert: RunResult }> {
  const id = `unit-invocation-${++invocations}`;
  const findings = path.join(dir, `${check}.findings`);
  const r = await runScript(script, { ...env, FINDINGS_FILE: findings, INVOCATION_ID: id }, timeoutMs);
  const log = path.join(dir, `${id}.log`);
  fs.writeFileSync(log, r.stderr + r.stdout);
  const journalctl = writeExecutable(path.join(dir, `journalctl-${id}`), `#!/usr/bin/env bash\n[[ "$*" == *"_SYSTEMD_INVOCATION_ID=${id}"* ]] && cat '${log}'\n`);
  const alert = await runScript("alert.sh", {
    CHECK: check, FINDINGS_FILE: findings, INVOCATION_ID: id, JOURNALCTL: journalctl,
    SERVICE_RESULT: r.code === 0 ? "success" : "exit-code", EXIT_CODE: "exited", EXIT_STATUS: String(r.code),
    ...alertEnv,
  });
  return { run: r, alert };
}
