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
import { performance } from "node:perf_hooks";
import { E2eStack, removeLabelled, type Keys } from "../test/e2e/harness";
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

async function main(): Promise<void> {
    const figures: Figure[] = [];
    for (const count of [1, 5]) figures.push(await measure(count));
    const replacement = await measureReplacement(2);
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
}

main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.stack ?? e.message : String(e));
    process.exit(1);
});
