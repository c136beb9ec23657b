// The e2e tier's ACME CA: Debian's pebble, with pebble-challtestsrv as its DNS (every name
// resolves to 127.0.0.1, where the edge publishes 80 and 443, unless `resolve` points it at
// another host's address, as the two-host stack's), so certificates are issued with
// real HTTP-01 validation and nothing leaves the machine. Pebble's listener needs a certificate
// of its own (the package ships none): a CA and a leaf made here with openssl. Two roots matter:
// the listener's CA, which the edge trusts for the ACME directory (edge.caRootPem), and the root
// Pebble signs issued certificates with (/roots/0), new at every start, which clients verify
// against. The edge reaches Pebble at the address of the engine's default bridge (docker0),
// an address of this machine.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as path from "node:path";
import { after } from "node:test";
import { waitFor, WaitAborted } from "./harness";

/** Where the tier records the pids of the processes it started (cleanup.sh stops them after a killed run). */
const STATE_DIR = "/run/housing-portal-e2e";
const ACME_PORT = 14000;
const MANAGEMENT_PORT = 15000;
const DNS_ADDRESS = "127.0.0.1:8053";
const DNS_MANAGEMENT = "127.0.0.1:8055";

/** The IPv4 address of the engine's default bridge: the edge container reaches this machine there. */
export function bridgeAddress(): string {
    const r = spawnSync("ip", ["-4", "-o", "addr", "show", "dev", "docker0"], { encoding: "utf8" });
    const m = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(r.stdout ?? "");
    if (r.status !== 0 || !m) throw new Error(`E2E TIER CANNOT RUN: the engine has no default bridge docker0 to reach the ACME CA on: ${r.stderr}`);
    return m[1];
}

function openssl(args: string[], cwd: string): void {
    const r = spawnSync("openssl", args, { cwd, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${r.stderr}`);
}

/** GET over TLS from Pebble's management listener (verified against its listener CA). */
function management(urlPath: string, ca: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
        const req = https.request({ host: "127.0.0.1", port: MANAGEMENT_PORT, path: urlPath, method: "GET", ca, servername: "localhost" }, (res) => {
            let body = "";
            res.setEncoding("utf8");
            res.on("data", (c: string) => (body += c));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.setTimeout(30_000, () => req.destroy(new Error(`pebble ${urlPath} timed out`)));
        req.on("error", reject);
        req.end();
    });
}

/** POSTs to pebble-challtestsrv's management API (plain HTTP on loopback). */
function dnsManagement(urlPath: string, body: unknown): Promise<void> {
    const [host, port] = DNS_MANAGEMENT.split(":");
    const data = Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
        const req = http.request({ host, port: Number(port), path: urlPath, method: "POST", headers: { "Content-Type": "application/json", "Content-Length": data.length } }, (res) => {
            let text = "";
            res.setEncoding("utf8");
            res.on("data", (c: string) => (text += c));
            res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error(`pebble-challtestsrv ${urlPath}: ${res.statusCode} ${text}`))));
        });
        req.setTimeout(30_000, () => req.destroy(new Error(`pebble-challtestsrv ${urlPath} timed out`)));
        req.on("error", reject);
        req.end(data);
    });
}

export class Pebble {
    private readonly procs: ChildProcess[] = [];
    /** Everything Pebble printed: each ACME request is a line. */
    log = "";
    /** The CA of Pebble's listener (the edge's edge.caRootPem). */
    listenerCa = "";
    /** The root that signs issued certificates (/roots/0), fetched after the start. */
    root = "";
    readonly directory: string;

    constructor(readonly dir: string, readonly address = bridgeAddress()) {
        this.directory = `https://${address}:${ACME_PORT}/dir`;
    }

    /** The edge settings of a stack that orders its certificates here. */
    edgeSettings(): { caUrl: string; email: string; caRootPem: string } {
        return { caUrl: this.directory, email: "ops@e2e.test", caRootPem: this.listenerCa };
    }

    /**
     * Points `name` at `address` in challtestsrv's DNS, which Pebble validates against (every
     * other name resolves to 127.0.0.1): another host's edge, or an instance that moved there.
     */
    async resolve(name: string, address: string): Promise<void> {
        await dnsManagement("/add-a", { host: `${name}.`, addresses: [address] });
    }

    /** New orders Pebble has received so far. */
    orders(): number {
        return (this.log.match(/POST \/order-plz/g) ?? []).length;
    }

    async start(): Promise<void> {
        fs.mkdirSync(this.dir, { recursive: true });
        openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=housing-portal e2e pebble listener CA"], this.dir);
        fs.writeFileSync(path.join(this.dir, "leaf.ext"), `subjectAltName=IP:127.0.0.1,IP:${this.address},DNS:localhost\nextendedKeyUsage=serverAuth\n`);
        openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=localhost"], this.dir);
        openssl(["x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "leaf.pem", "-days", "2", "-extfile", "leaf.ext"], this.dir);
        this.listenerCa = fs.readFileSync(path.join(this.dir, "ca.pem"), "utf8");
        const config = {
            pebble: {
                listenAddress: `${this.address}:${ACME_PORT}`,
                managementListenAddress: `127.0.0.1:${MANAGEMENT_PORT}`,
                certificate: path.join(this.dir, "leaf.pem"),
                privateKey: path.join(this.dir, "leaf.key"),
                // Where the edge publishes HTTP and HTTPS: HTTP-01 is validated against it for real.
                httpPort: 80,
                tlsPort: 443,
                ocspResponderURL: "",
                externalAccountBindingRequired: false,
            },
        };
        fs.writeFileSync(path.join(this.dir, "pebble.json"), JSON.stringify(config));
        fs.mkdirSync(STATE_DIR, { recursive: true });
        this.spawn("pebble-challtestsrv", ["-dns01", DNS_ADDRESS, "-management", DNS_MANAGEMENT, "-http01", "", "-https01", "", "-tlsalpn01", "",
            "-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""], {});
        // Validation at once (no random sleep), and no nonce rejected on purpose.
        this.spawn("pebble", ["-config", path.join(this.dir, "pebble.json"), "-dnsserver", DNS_ADDRESS], { PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0" });
        let last = "";
        this.root = await waitFor("pebble answering /roots/0", async () => {
            for (const p of this.procs) if (p.exitCode !== null) throw new WaitAborted(`${p.spawnfile} exited (${p.exitCode}):\n${this.log}`);
            try {
                const r = await management("/roots/0", this.listenerCa);
                if (r.status === 200 && r.body.includes("BEGIN CERTIFICATE")) return r.body;
                last = `${r.status} ${r.body}`;
            } catch (e) {
                last = String(e);
            }
            return undefined;
        }, { lastSeen: () => last });
    }

    private spawn(cmd: string, args: string[], env: Record<string, string>): void {
        const p = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
        const keep = (c: Buffer) => (this.log += c.toString("utf8"));
        p.stdout!.on("data", keep);
        p.stderr!.on("data", keep);
        this.procs.push(p);
        fs.writeFileSync(path.join(STATE_DIR, `${cmd}.pid`), String(p.pid));
    }

    async stop(): Promise<void> {
        for (const p of this.procs.splice(0)) {
            if (p.exitCode === null) {
                const exited = new Promise((res) => p.once("exit", res));
                p.kill("SIGTERM");
                await exited;
            }
            fs.rmSync(path.join(STATE_DIR, `${p.spawnfile}.pid`), { force: true });
        }
    }
}

/** A test file's after hook for its stack and its Pebble: the stack torn down, then Pebble stopped, even when the teardown fails. */
export function afterStackAndPebble(stack: { teardown(): Promise<void> }, pebble: Pebble): void {
    after(async () => {
        try {
            await stack.teardown();
        } finally {
            await pebble.stop();
        }
    }, { timeout: 300_000 });
}
