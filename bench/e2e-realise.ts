// `npm run bench:e2e`: how long realising the e2e stack's plan on this machine's Docker engine
// takes for 1 and for 5 instances, from one run. Run through test/e2e/run.sh, which sets the
// engine and the images up and cleans up afterwards.
//
// For each size: a fresh loop volume mounted by host/mount-data-volume.sh, the plan made
// (not timed), then timed: the realiser creating every network, volume and container, and the
// time until every database answers and every backend is healthy. The ratio 5/1 tells how well
// creation runs in parallel: 1.0 is perfectly parallel, 5.0 is one instance after another.
// Then the downtime of a host replacement as the program performs it: from the old host's
// host/release-data-volume.sh to every portal answering again on a bare engine (detach, attach,
// the mount script, the realiser, the databases and backends up).
// Then the edge, against Pebble: requests per second and p99 latency through the edge over TLS
// against straight to nginx over HTTP (autocannon, the same run, the ratio); the requests that
// failed while an instance was added and while an instance's nginx, backend and PostGIS images
// changed; the time from realising a new instance to its first HTTPS 200; and what a PostGIS
// image change costs (from the realise to the database answering again).
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import autocannon from "autocannon";
import { containerName, docker, E2eStack, IMAGES, MORE_IMAGES, removeLabelled, waitBackend, waitDatabase, type Keys } from "../test/e2e/harness";
import { loopRequests, waitServed } from "../test/e2e/edgeClient";
import { Pebble } from "../test/e2e/pebble";
import { runScript } from "../test/host/helpers";

interface Figure {
    instances: number;
    resources: number;
    realiseMs: number;
    readyMs: number;
}

function keysWith(base: Keys, count: number): Keys {
    const instances = Array.from({ length: count }, (_, i) => ({ name: `bench${i + 1}`, domain: `bench${i + 1}.e2e.test`, port: 18101 + i }));
    return { ...base, instances };
}

async function measure(count: number): Promise<Figure> {
    const stack = new E2eStack(`bench${count}`);
    try {
        await stack.prepareVolume();
        const keys = keysWith(stack.keys, count);
        const plan = await stack.planOf(keys);
        const start = performance.now();
        await stack.realisePlan(plan);
        const realised = performance.now();
        await stack.waitReady(plan);
        const ready = performance.now();
        return { instances: count, resources: plan.resources.filter((r) => r.custom).length, realiseMs: realised - start, readyMs: ready - start };
    } finally {
        await stack.teardown();
    }
}

/** Host replacement downtime for `count` instances, with the steps' shares. */
async function measureReplacement(count: number): Promise<{ instances: number; releaseMs: number; downMs: number }> {
    const stack = new E2eStack(`replace${count}`);
    try {
        await stack.prepareVolume();
        const plan = await stack.planOf(keysWith(stack.keys, count));
        await stack.realisePlan(plan);
        await stack.waitReady(plan);
        const start = performance.now();
        const released = await runScript("release-data-volume.sh", { MOUNT_POINT: stack.dataRoot, SYSTEMCTL: "true", DOCKER: "docker" });
        if (released.code !== 0) throw new Error(`release-data-volume.sh failed:\n${released.stderr}`);
        const releaseMs = performance.now() - start;
        await removeLabelled();
        await stack.volume.detach();
        await stack.volume.attach();
        await stack.volume.mount();
        await stack.realisePlan(plan);
        await stack.waitReady(plan);
        return { instances: count, releaseMs, downMs: performance.now() - start };
    } finally {
        await stack.teardown();
    }
}

interface Load {
    rps: number;
    p99Ms: number;
    errors: number;
}

/** autocannon against one URL for a few seconds: mean requests per second, p99 latency. */
async function load(opts: { url: string; host: string; servername?: string }): Promise<Load> {
    const r = await autocannon({
        url: opts.url, connections: 16, duration: 8, headers: { host: opts.host }, ...(opts.servername ? { servername: opts.servername } : {}),
    });
    return { rps: r.requests.average, p99Ms: r.latency.p99, errors: r.errors + r.non2xx };
}

interface EdgeFigures {
    direct: Load;
    viaEdge: Load;
    failed: { step: string; ok: number; failed: number }[];
    firstHttpsMs: number;
    nginxChangeMs: number;
    backendChangeMs: number;
    postgisChangeMs: number;
}

async function measureEdge(): Promise<EdgeFigures> {
    const stack = new E2eStack("bench-edge");
    const pebble = new Pebble(path.join(stack.work, "pebble"));
    try {
        await pebble.start();
        const keys: Keys = { ...stack.keys, edge: pebble.edgeSettings() };
        const [a] = stack.instances();
        const domain = stack.instanceDomain(a, keys);
        await stack.setup(keys);
        for (const i of stack.instances()) await waitServed(pebble.root, stack.instanceDomain(i, keys));
        const direct = await load({ url: `http://127.0.0.1:${stack.instancePort(a, keys)}/`, host: domain });
        const viaEdge = await load({ url: "https://127.0.0.1:443/", host: domain, servername: domain });

        const failed: EdgeFigures["failed"] = [];
        /** Realises `next` while requests loop against instance a through the edge; returns the ms to `until`. */
        const during = async (step: string, next: Keys, until: () => Promise<unknown>): Promise<number> => {
            const previous = stack.plan!;
            const plan = await stack.planOf(next);
            const loop = loopRequests(pebble.root, domain);
            const start = performance.now();
            try {
                await stack.realisePlan(plan, previous);
                await until();
                return performance.now() - start;
            } finally {
                const c = await loop.stop();
                failed.push({ step, ok: c.ok, failed: c.failed.length });
            }
        };
        const withImage = (role: string, image: string): Keys => ({
            ...keys, instances: keys.instances.map((i: { name: string; images?: object }) => (i.name === a ? { ...i, images: { ...i.images, [role]: image } } : i)),
        });
        const c = { name: "chile", domain: "chile.e2e.test", port: 18089 };
        const firstHttpsMs = await during("instance chile added", { ...keys, instances: [...keys.instances, c] }, async () => {
            await waitServed(pebble.root, c.domain);
        });
        await during("chile removed", keys, async () => undefined);
        const nginxChangeMs = await during(`${a}'s nginx image changed`, withImage("nginx", MORE_IMAGES.nginx2), () => waitServed(pebble.root, domain));
        const backendChangeMs = await during(`${a}'s backend image changed`, withImage("backend", MORE_IMAGES.backend2), () => waitBackend(containerName(a, "backend")));
        // Another tag of the same PostGIS build: the container is replaced, its data stays.
        await docker(["tag", IMAGES.postgis, "housing-portal-e2e/postgis:15-bench"]);
        const postgisChangeMs = await during(`${a}'s PostGIS image changed`, withImage("postgis", "housing-portal-e2e/postgis:15-bench"), () => waitDatabase(containerName(a, "postgis")));
        return { direct, viaEdge, failed, firstHttpsMs, nginxChangeMs, backendChangeMs, postgisChangeMs };
    } finally {
        try {
            await stack.teardown();
        } finally {
            await pebble.stop();
            await docker(["image", "rm", "housing-portal-e2e/postgis:15-bench"]).catch(() => undefined);
        }
    }
}

async function main(): Promise<void> {
    const figures: Figure[] = [];
    for (const count of [1, 5]) figures.push(await measure(count));
    const replacement = await measureReplacement(2);
    const edge = await measureEdge();
    const [one, five] = figures;
    const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    console.log(`# e2e realise timings (${new Date().toISOString()}, ${process.platform} ${process.arch})`);
    console.log("| instances | resources | realise (create and start) | until every database and backend answers |");
    console.log("|---|---|---|---|");
    for (const f of figures) console.log(`| ${f.instances} | ${f.resources} | ${s(f.realiseMs)} | ${s(f.readyMs)} |`);
    console.log("");
    console.log(`ratio 5/1, realise: ${(five.realiseMs / one.realiseMs).toFixed(2)}x (1.0 = fully parallel, 5.0 = serial)`);
    console.log(`ratio 5/1, until ready: ${(five.readyMs / one.readyMs).toFixed(2)}x`);
    console.log("");
    console.log(`host replacement, ${replacement.instances} instances: portals down ${s(replacement.downMs)}, of which releasing the volume (containers and Docker stopped, unmounted) ${s(replacement.releaseMs)}`);
    console.log("(on a cloud the new machine's boot and the attachment calls come on top; the machine is created before the old one releases the volume)");
    console.log("");
    console.log("the edge (Caddy, TLS, certificates from Pebble), autocannon, 16 connections, 8 s each, GET / of one instance:");
    console.log("| path | requests/s | p99 latency | errors |");
    console.log("|---|---|---|---|");
    console.log(`| straight to nginx, HTTP | ${edge.direct.rps.toFixed(0)} | ${edge.direct.p99Ms} ms | ${edge.direct.errors} |`);
    console.log(`| through the edge, HTTPS | ${edge.viaEdge.rps.toFixed(0)} | ${edge.viaEdge.p99Ms} ms | ${edge.viaEdge.errors} |`);
    console.log(`ratio edge/direct: requests/s ${(edge.viaEdge.rps / edge.direct.rps).toFixed(2)}x, p99 ${(edge.viaEdge.p99Ms / Math.max(edge.direct.p99Ms, 1)).toFixed(2)}x`);
    console.log("");
    console.log("requests looping against one instance through the edge (one at a time), while:");
    for (const f of edge.failed) console.log(`- ${f.step}: ${f.ok} answered 200, ${f.failed} failed`);
    console.log(`a new instance: from its realise to its first HTTPS 200 (certificate ordered and issued): ${s(edge.firstHttpsMs)}`);
    console.log(`an nginx image change (delete-first here: this stack's nginx publishes a host port): from the realise to the new nginx serving: ${s(edge.nginxChangeMs)}`);
    console.log(`a backend image change (start before stop): from the realise to the new backend serving, healthy, and the old one removed: ${s(edge.backendChangeMs)}`);
    console.log(`a PostGIS image change: from the realise to that database answering again: ${s(edge.postgisChangeMs)}`);
}

main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.stack ?? e.message : String(e));
    process.exit(1);
});
