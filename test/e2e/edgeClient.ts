// Clients of the edge for the e2e tier and bench:e2e: a request over TLS to the published 443 for
// a name (SNI and Host), verified against the ACME CA's root; a wait until a name is served; a
// loop of requests that counts what answered and what failed.
import * as https from "node:https";
import type * as tls from "node:tls";
import { dockerTry, waitFor } from "./harness";

/** The edge's container. */
export const EDGE = "housing-portal_edge";

export interface TlsAnswer {
    status: number;
    headers: Record<string, string | string[] | undefined>;
    body: string;
    cert: tls.PeerCertificate;
}

/** A request to 127.0.0.1:443 for `name`, verified against `root`. */
export function edgeRequest(root: string, name: string, method: string, urlPath: string, body?: string): Promise<TlsAnswer> {
    return new Promise((resolve, reject) => {
        const req = https.request({
            host: "127.0.0.1", port: 443, method, path: urlPath, servername: name, ca: root, agent: false,
            headers: { Host: name, Connection: "close" },
        }, (res) => {
            const cert = (res.socket as tls.TLSSocket).getPeerCertificate();
            let text = "";
            res.setEncoding("utf8");
            res.on("data", (c: string) => (text += c));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, cert }));
        });
        req.setTimeout(120_000, () => req.destroy(new Error(`${method} https://${name}${urlPath} timed out`)));
        req.on("error", reject);
        req.end(body);
    });
}

/** Waits until `name` answers 200 over TLS with a certificate that verifies for it (the edge orders it after it starts). */
export async function waitServed(root: string, name: string): Promise<TlsAnswer> {
    let last: unknown;
    return waitFor(`the edge serving https://${name}`, async () => {
        try {
            const a = await edgeRequest(root, name, "GET", "/");
            if (a.status === 200) return a;
            last = `${a.status} ${a.body.slice(0, 200)}`;
        } catch (e) {
            last = e;
        }
        return undefined;
    }, { lastSeen: async () => `${last}\n--- edge logs ---\n${(await dockerTry(["logs", "--tail", "30", EDGE])).stderr}` });
}

/** Requests against `name` (the portal's page and its backend, in turn) until stopped: how many answered 200, and every failure. */
export function loopRequests(root: string, name: string): { stop: () => Promise<{ ok: number; failed: string[] }> } {
    let running = true;
    const failed: string[] = [];
    let ok = 0;
    const loop = (async () => {
        for (let i = 0; running; i++) {
            const urlPath = i % 2 === 0 ? "/" : "/api/health";
            try {
                const a = await edgeRequest(root, name, "GET", urlPath);
                if (a.status === 200) ok++;
                else failed.push(`${urlPath}: ${a.status} ${a.body.slice(0, 100)}`);
            } catch (e) {
                failed.push(`${urlPath}: ${e}`);
            }
        }
    })();
    return { stop: async () => { running = false; await loop; return { ok, failed }; } };
}
