// A fake of the parts of the DigitalOcean API that host/snapshot-volume.sh uses, served on
// 127.0.0.1 by the test process. It records every request, keeps a snapshot store, paginates
// like the real API (links.pages.next), and can be told to fail or to hang.
//
//   POST   /v2/volumes/:volume_id/snapshots   {"name": ...}  -> 201 {"snapshot": {...}}
//   GET    /v2/volumes/:volume_id/snapshots?page=&per_page=  -> 200 {"snapshots": [...], "links": {...}, "meta": {...}}
//   DELETE /v2/snapshots/:id                                 -> 204
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeSnapshot {
  id: string;
  name: string;
  created_at: string;
  resource_id: string;
  resource_type: "volume" | "droplet";
  regions: string[];
  min_disk_size: number;
  size_gigabytes: number;
  tags: string[];
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
  authorization: string | undefined;
}

/** "hold": like "ok", but the answer waits until releaseHeld() (a create that takes as long as the test wants) */
export type Mode = "ok" | "error" | "hang" | "hold";

export class FakeDoApi {
  readonly token: string;
  snapshots: FakeSnapshot[] = [];
  readonly requests: RecordedRequest[] = [];
  createMode: Mode = "ok";
  listMode: Mode = "ok";
  deleteMode: Mode = "ok";
  /** the most snapshots one page holds, whatever per_page asks for (forces pagination) */
  pageSize = 200;
  /** misbehave: list every volume's snapshots under any volume (tests the script's own filter) */
  listAllVolumes = false;
  /** when set, one line per request is appended here (shared with the docker shim, for ordering) */
  eventsFile: string | undefined;
  /** called synchronously when a create request arrives, before it is answered */
  onCreate: (() => void) | undefined;

  private readonly held: (() => void)[] = [];
  private server: http.Server | undefined;
  private readonly waiters: { pred: (r: RecordedRequest) => boolean; resolve: (r: RecordedRequest) => void }[] = [];
  url = "";

  constructor(token = `fake-token-${crypto.randomBytes(8).toString("hex")}`) {
    this.token = token;
  }

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    const addr = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${addr.port}`;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    const s = this.server;
    this.server = undefined;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** Answer the create requests held back by createMode "hold" (as "ok" would have). */
  releaseHeld(): void {
    for (const answer of this.held.splice(0)) answer();
  }

  /** Forget the recorded requests and reset the modes (the store stays as it is). */
  reset(): void {
    this.requests.length = 0;
    this.createMode = this.listMode = this.deleteMode = "ok";
    this.pageSize = 200;
    this.listAllVolumes = false;
    this.onCreate = undefined;
    this.held.length = 0;
  }

  add(s: Partial<FakeSnapshot> & { id: string; name: string; created_at: string; resource_id: string }): void {
    this.snapshots.push({ resource_type: "volume", regions: ["fra1"], min_disk_size: 10, size_gigabytes: 1.5, tags: [], ...s });
  }

  waitForRequest(pred: (r: RecordedRequest) => boolean): Promise<RecordedRequest> {
    const hit = this.requests.find(pred);
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve) => this.waiters.push({ pred, resolve }));
  }

  private record(r: RecordedRequest): void {
    this.requests.push(r);
    if (this.eventsFile) fs.appendFileSync(this.eventsFile, `api ${r.method} ${r.path}\n`);
    for (const w of this.waiters.splice(0)) {
      if (w.pred(r)) w.resolve(r);
      else this.waiters.push(w);
    }
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const u = new URL(req.url ?? "/", this.url);
      const raw = Buffer.concat(chunks).toString("utf8");
      let body: unknown = undefined;
      if (raw) {
        try {
          body = JSON.parse(raw);
        } catch {
          body = raw;
        }
      }
      const rec: RecordedRequest = {
        method: req.method ?? "",
        path: u.pathname,
        query: Object.fromEntries(u.searchParams),
        body,
        authorization: req.headers.authorization,
      };
      this.record(rec);
      const send = (status: number, payload?: unknown) => {
        const text = payload === undefined ? "" : JSON.stringify(payload);
        res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
        res.end(text);
      };
      if (req.headers.authorization !== `Bearer ${this.token}`) {
        return send(401, { id: "unauthorized", message: "Unable to authenticate you." });
      }
      let m: RegExpExecArray | null;
      if ((m = /^\/v2\/volumes\/([^/]+)\/snapshots$/.exec(u.pathname))) {
        const volumeId = decodeURIComponent(m[1]);
        if (req.method === "POST") return this.create(volumeId, body, send);
        if (req.method === "GET") return this.list(volumeId, u, send);
      }
      if ((m = /^\/v2\/snapshots\/([^/]+)$/.exec(u.pathname)) && req.method === "DELETE") {
        return this.remove(decodeURIComponent(m[1]), send);
      }
      send(404, { id: "not_found", message: "The resource you were accessing could not be found." });
    });
  }

  private create(volumeId: string, body: unknown, send: (s: number, p?: unknown) => void): void {
    this.onCreate?.();
    if (this.createMode === "hang") return; // never answer
    if (this.createMode === "hold") {
      this.held.push(() => this.createOk(volumeId, body, send));
      return;
    }
    if (this.createMode === "error") return send(500, { id: "server_error", message: "Server was unable to give you a response." });
    this.createOk(volumeId, body, send);
  }

  private createOk(volumeId: string, body: unknown, send: (s: number, p?: unknown) => void): void {
    const name = (body as { name?: unknown } | undefined)?.name;
    if (typeof name !== "string" || !name) return send(422, { id: "unprocessable_entity", message: "name is required" });
    const snap: FakeSnapshot = {
      id: crypto.randomUUID(),
      name,
      created_at: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
      resource_id: volumeId,
      resource_type: "volume",
      regions: ["fra1"],
      min_disk_size: 10,
      size_gigabytes: 0,
      tags: [],
    };
    this.snapshots.push(snap);
    send(201, { snapshot: snap });
  }

  private list(volumeId: string, u: URL, send: (s: number, p?: unknown) => void): void {
    if (this.listMode === "hang") return;
    if (this.listMode === "error") return send(503, { id: "service_unavailable", message: "try again" });
    const all = this.snapshots.filter((s) => this.listAllVolumes || s.resource_id === volumeId);
    const perPage = Math.min(Math.max(Number(u.searchParams.get("per_page") ?? 20) || 20, 1), this.pageSize);
    const page = Math.max(Number(u.searchParams.get("page") ?? 1) || 1, 1);
    const items = all.slice((page - 1) * perPage, page * perPage);
    const last = Math.max(Math.ceil(all.length / perPage), 1);
    const link = (p: number) => `${this.url}/v2/volumes/${volumeId}/snapshots?page=${p}&per_page=${perPage}`;
    const pages: Record<string, string> = {};
    if (page < last) Object.assign(pages, { next: link(page + 1), last: link(last) });
    if (page > 1) Object.assign(pages, { first: link(1), prev: link(page - 1) });
    send(200, { snapshots: items, links: { pages }, meta: { total: all.length } });
  }

  private remove(id: string, send: (s: number, p?: unknown) => void): void {
    if (this.deleteMode === "hang") return;
    if (this.deleteMode === "error") return send(500, { id: "server_error", message: "nope" });
    const i = this.snapshots.findIndex((s) => s.id === id);
    if (i < 0) return send(404, { id: "not_found", message: "The resource you were accessing could not be found." });
    this.snapshots.splice(i, 1);
    send(204);
  }
}
