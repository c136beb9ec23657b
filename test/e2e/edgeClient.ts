// Clients of the edge for the e2e tier and bench:e2e: a request over TLS to the published 443 for
// a name (SNI and Host), verified against the ACME CA's root; a wait until a name is served; a
// loop of requests that counts what answered and what failed.
import * as https from "node:https";
import type * as tls from "node:tls";
import { containerName, docker, dockerTry, engine, waitFor, type E2eStack, type Keys } from "./harness";
import type { Engine } from "./realise";

/** The edge's container. */
export const EDGE = "housing-portal_edge";

export interface TlsAnswer {
    status: number;
    headers: Record<string, string | string[] | undefined>;
    body: string;
    cert: tls.PeerCertificate;
}

/** Where this machine's edge publishes 443. */
export const EDGE_ADDRESS = "127.0.0.1";

/** A request to `address`:443 (default this machine's edge) for `name`, verified against `root`. */
export function edgeRequest(root: string, name: string, method: string, urlPath: string, body?: string, address = EDGE_ADDRESS): Promise<TlsAnswer> {
    return new Promise((resolve, reject) => {
        const req = https.request({
            host: address, port: 443, method, path: urlPath, servername: name, ca: root, agent: false,
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

/**
 * Waits until `name` answers 200 over TLS with a certificate that verifies for it (the edge orders
 * it after it starts); `address` and `on`: another host's edge and its engine (for the logs).
 */
export async function waitServed(root: string, name: string, address = EDGE_ADDRESS, on: Engine = engine): Promise<TlsAnswer> {
    let last: unknown;
    return waitFor(`the edge at ${address} serving https://${name}`, async () => {
        try {
            const a = await edgeRequest(root, name, "GET", "/", undefined, address);
            if (a.status === 200) return a;
            last = `${a.status} ${a.body.slice(0, 200)}`;
        } catch (e) {
            last = e;
        }
        return undefined;
    }, { lastSeen: async () => `${last}\n--- edge logs ---\n${(await dockerTry(["logs", "--tail", "30", EDGE], undefined, undefined, on)).stderr}` });
}

/** What a request loop counted: how many answered 200, and each failure. */
export interface LoopCount {
    ok: number;
    failed: string[];
}

/** Requests against `name` (the portal's page and its backend, in turn) until stopped: how many answered 200, and every failure. */
export function loopRequests(root: string, name: string, address = EDGE_ADDRESS): { stop: () => Promise<LoopCount> } {
    let running = true;
    const failed: string[] = [];
    let ok = 0;
    const loop = (async () => {
        for (let i = 0; running; i++) {
            const urlPath = i % 2 === 0 ? "/" : "/api/health";
            try {
                const a = await edgeRequest(root, name, "GET", urlPath, undefined, address);
                if (a.status === 200) ok++;
                else failed.push(`${urlPath}: ${a.status} ${a.body.slice(0, 100)}`);
            } catch (e) {
                failed.push(`${urlPath}: ${e}`);
            }
        }
    })();
    return { stop: async () => { running = false; await loop; return { ok, failed }; } };
}

/** What changing an image did while requests looped through the edge. */
export interface ImageChange {
    counted: LoopCount;
    /** The container before and after (Engine API inspect). */
    before: any;
    after: any;
    /** The new container was healthy before the old one was sent its stop signal. */
    startedFirst: boolean;
    /** The old container had been stopped before the new one started. */
    deletedFirst: boolean;
    /** The signals the old container was sent, in order (SIGKILL alone: it was killed at once). */
    stopSignals: number[];
    /** The two containers' events, in order (for a failure's message). */
    events: string[];
}

/**
 * Realises `instance`'s `role` image changed to `image` while requests loop against its domain
 * through the edge, waits until it is served, and realises the stack's plan again (the old image).
 */
export async function changeImageUnderLoad(stack: E2eStack, keys: Keys, root: string, instance: string, role: "backend" | "nginx", image: string): Promise<ImageChange> {
    const previous = stack.plan!;
    const domain = stack.instanceDomain(instance, keys);
    const changed: Keys = { ...keys, instances: keys.instances.map((i: { name: string; images?: object }) => (i.name === instance ? { ...i, images: { ...i.images, [role]: image } } : i)) };
    const plan = await stack.planOf(changed);
    const before = await engine.request("GET", `/containers/${containerName(instance, role)}/json`);
    const since = Math.floor(Date.now() / 1000) - 1;
    const loop = loopRequests(root, domain);
    let counted: LoopCount;
    try {
        const actions = await stack.realisePlan(plan, previous);
        if (!actions.some((a) => a.name === `${instance}-${role}` && a.action === "replaced")) throw new Error(`${instance}-${role} was not replaced`);
        await waitServed(root, domain);
    } finally {
        counted = await loop.stop();
    }
    const after = await engine.request("GET", `/containers/${containerName(instance, role)}/json`);
    const events = (await docker(["events", "--since", String(since), "--until", String(Math.floor(Date.now() / 1000) + 1), "--format", "{{.Actor.ID}} {{.Action}}{{with .Actor.Attributes.signal}} {{.}}{{end}}",
        "--filter", "type=container", "--filter", `container=${before.Id}`, "--filter", `container=${after.Id}`])).trim().split("\n");
    const at = (id: string, action: string) => events.indexOf(`${id} ${action}`);
    const healthy = at(after.Id, "health_status: healthy");
    const started = at(after.Id, "start");
    const kills = events.filter((e) => e.startsWith(`${before.Id} kill `));
    const stopped = events.indexOf(kills[0]);
    await stack.realisePlan(previous, plan);
    await waitServed(root, domain);
    return {
        counted, before, after, events,
        stopSignals: kills.map((e) => Number(e.split(" ").at(-1))),
        startedFirst: healthy >= 0 && stopped > healthy,
        deletedFirst: stopped >= 0 && started > stopped,
    };
}
