// The edge in the golden cloud plans: one per host, the only container that publishes host
// ports (80 and 443), hardened like the others, its certificates on the data volume, its routes
// (every instance's domain to that instance's nginx) delivered to it by host/edge-routes.sh.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import type { PlannedResource } from "../../tools/planner";
import { byName, goldenPlan, ofType } from "./planRun";
import { EDGE_UID, EDGE_USER } from "../../components/edge";

const CONTAINER = "docker:index/container:Container";
const clouds = () => [goldenPlan("staging"), goldenPlan("production")];
const labels = (r: PlannedResource) => Object.fromEntries((r.inputs.labels as { label: string; value: string }[]).map((l) => [l.label, l.value]));
/** The settings of a command line `env K=V ... program`, unquoted. */
function envOf(command: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const m of command.matchAll(/([A-Z_0-9]+)=('([^']*)'|(\S*))/g)) out[m[1]] = m[3] ?? m[4];
    return out;
}

test("one edge per host; in cloud stacks it alone publishes host ports, 80 and 443", () => {
    for (const plan of clouds()) {
        const edges = ofType(plan, CONTAINER).filter((c) => labels(c)["housing-portal.role"] === "edge");
        assert.deepEqual(edges.map((c) => c.inputs.name), ["housing-portal_edge"], plan.stack);
        assert.deepEqual(edges[0].inputs.ports, [{ external: 80, internal: 80 }, { external: 443, internal: 443 }]);
        for (const c of ofType(plan, CONTAINER).filter((x) => x !== edges[0])) assert.equal(c.inputs.ports, undefined, `${plan.stack}: ${c.name} publishes a port`);
        assert.match(byName(plan, "edge").urn, /housing-portal:host:DockerHost\$housing-portal:edge:Edge::edge$/, "a child of its host");
        assert.equal(edges[0].provider, byName(plan, "host-docker").urn, "on the host's engine");
    }
});

test("the edge is hardened: limits, no-new-privileges, NET_BIND_SERVICE only, a read-only root with tmpfs, labelled with its machine", () => {
    for (const plan of clouds()) {
        const c = byName(plan, "edge-caddy");
        assert.equal(c.inputs.memory, 256);
        assert.equal(c.inputs.memorySwap, 256);
        assert.equal(c.inputs.cpus, "1.0");
        assert.deepEqual(c.inputs.securityOpts, ["no-new-privileges:true"]);
        assert.deepEqual(c.inputs.capabilities, { adds: ["NET_BIND_SERVICE"], drops: ["ALL"] });
        assert.equal(c.inputs.readOnly, true);
        assert.deepEqual(Object.keys(c.inputs.tmpfs as object).sort(), ["/config", "/tmp"]);
        for (const options of Object.values(c.inputs.tmpfs as Record<string, string>)) {
            assert.match(options, new RegExp(`(^|,)uid=${EDGE_UID},gid=${EDGE_UID}(,|$)`), "writable by the edge's user");
        }
        assert.equal(c.inputs.uploads, undefined, "nothing uploaded: a read-only root takes no files, and routes are no container input");
        assert.equal(c.inputs.restart, "unless-stopped");
        assert.equal(c.deleteBeforeReplace, true);
        assert.equal(labels(c)["housing-portal.machine"], labels(byName(plan, "colombia-nginx"))["housing-portal.machine"]);
        assert.deepEqual(byName(plan, "edge-image").inputs.triggers, byName(plan, "colombia-nginx-image").inputs.triggers, "pulled again onto a new machine");
        assert.equal(byName(plan, "edge-image").inputs.name, "caddy:2");
    }
});

test("the edge runs as its own non-root uid:gid, binds 80 and 443 through its network namespace's unprivileged-port sysctl, and its storage is handed to that user", () => {
    assert.ok(![0, 101, 999, 70, 1000].includes(EDGE_UID), "a uid no other container or the login user has");
    assert.equal(EDGE_USER, `${EDGE_UID}:${EDGE_UID}`);
    for (const plan of clouds()) {
        const c = byName(plan, "edge-caddy");
        assert.equal(c.inputs.user, EDGE_USER);
        assert.deepEqual(c.inputs.sysctls, { "net.ipv4.ip_unprivileged_port_start": "0", "net.ipv4.tcp_migrate_req": "1" });
        // Bounding set only (the image's caddy binary carries it as a file capability); nothing else.
        assert.deepEqual(c.inputs.capabilities, { adds: ["NET_BIND_SERVICE"], drops: ["ALL"] });
        for (const step of ["edge-config", "edge-routes"]) {
            assert.equal(envOf(String(byName(plan, step).inputs.create)).STORAGE_OWNER, EDGE_USER, `${plan.stack}: ${step}`);
        }
    }
});

test("certificates and the Caddyfile live on the data volume; the edge's own network only, instance networks joined by the routes script", () => {
    for (const plan of clouds()) {
        const c = byName(plan, "edge-caddy");
        assert.deepEqual(c.inputs.mounts, [
            { readOnly: false, source: "/mnt/data/edge/storage", target: "/data", type: "bind" },
            { readOnly: true, source: "/mnt/data/edge/config", target: "/etc/caddy", type: "bind" },
        ]);
        assert.deepEqual((c.inputs.networksAdvanced as { name: string }[]).map((n) => n.name), ["housing-portal--edge-net"]);
        assert.equal(byName(plan, "edge-network").inputs.name, "housing-portal--edge-net");
        const instances = ofType(plan, "housing-portal:portal:PortalInstance").map((r) => r.name);
        for (const step of ["edge-config", "edge-routes"]) {
            const env = envOf(String(byName(plan, step).inputs.create));
            assert.deepEqual(env.NETWORKS.split(" ").sort(), instances.map((i) => `housing-portal-${i}-net`).sort(), `${plan.stack} ${step}`);
            assert.equal(env.STORAGE_DIR, "/mnt/data/edge/storage");
            assert.equal(env.ALLOW_UNMOUNTED, undefined, "a cloud host's edge refuses an unmounted data volume");
            const caddyfile = Buffer.from(env.CADDYFILE_B64, "base64").toString("utf8");
            for (const i of instances) {
                const domain = (plan.outputs.portals as Record<string, { url: string }>)[i].url.replace(/^https:\/\//, "");
                assert.match(caddyfile, new RegExp(`^${domain.replace(/\./g, "\\.")} \\{\\n[^}]*reverse_proxy housing-portal-${i}-nginx:80 `, "m"));
            }
            assert.match(caddyfile, /dir https:\/\/acme-v02\.api\.letsencrypt\.org\/directory/);
        }
        // Written before the container starts, loaded again after it is (re)created.
        assert.ok(c.dependsOn.includes(byName(plan, "edge-config").urn));
        assert.ok(byName(plan, "edge-routes").dependsOn.includes(c.urn));
    }
});

test("the stack outputs list the DNS records to create: each domain an A record to the host's stable address", () => {
    for (const plan of clouds()) {
        const records = plan.outputs.dnsRecords as { name: string; type: string; value: string }[];
        const domains = Object.values(plan.outputs.portals as Record<string, { url: string }>).map((p) => p.url.replace(/^https:\/\//, ""));
        assert.deepEqual(records.map((r) => r.name).sort(), domains.sort());
        for (const r of records) assert.deepEqual([r.type, r.value], ["A", plan.outputs.hostAddress]);
    }
    assert.equal(goldenPlan("dev").outputs.dnsRecords, undefined);
    assert.equal(ofType(goldenPlan("dev"), CONTAINER).some((c) => c.name.startsWith("edge")), false, "dev has no edge: portals on http://localhost:<port>");
});

test("the edge has a healthcheck, is created only once healthy, stops gracefully, and has the kernel hand a reload's queued connections to the new listeners", () => {
    for (const plan of clouds()) {
        const c = byName(plan, "edge-caddy");
        const hc = c.inputs.healthcheck as { tests: string[]; interval: string };
        // Its admin endpoint, from inside the container: Caddy has loaded its config and bound its ports.
        assert.deepEqual(hc.tests, ["CMD", "wget", "-q", "-T", "5", "-O", "/dev/null", "http://localhost:2019/config/"]);
        assert.equal(hc.interval, "5s");
        assert.equal(c.inputs.wait, true);
        assert.ok(Number(c.inputs.waitTimeout) >= 60);
        // Without a grace the provider's delete kills it at once, cutting requests in flight.
        assert.equal(c.inputs.destroyGraceSeconds, 30);
        // Without it a reload resets the connections queued on the old listening sockets (docs/edge.md).
        assert.equal((c.inputs.sysctls as Record<string, string>)["net.ipv4.tcp_migrate_req"], "1");
    }
});
