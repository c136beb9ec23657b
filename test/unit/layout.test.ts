// The mount tables against the seed, resolved for both layouts, and the rendered nginx config.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import {
    DATA_KINDS, LayoutContext, MOUNT_TABLE, checkoutBindPaths, instanceMounts, resolveMounts, volumeName,
} from "../../components/layout";
import { renderNginxConfig, renderNginxHttp, renderNginxServer } from "../../components/nginxConfig";
import { instanceDockerName } from "../../components/naming";

// The seed's tables, written out independently of components/layout.ts: target → read-only.
const SEED: Record<string, Record<string, boolean>> = {
    backend: { "/imports": false, "/exports": false, "/images": false, "/drone": false },
    nginx: {
        "/media": false, "/staticfiles": false, "/etc/nginx/nginx.conf": true, "/data": false, "/images": true,
        "/docs": true, "/drone-viewer": true, "/drone": true, "/exports": true,
    },
    postgis: { "/var/lib/postgresql": false },
};
// The seed's dev (checkout) host sides, per target.
const SEED_DEV: Record<string, Record<string, string>> = {
    backend: { "/imports": "../imports", "/exports": "exports", "/images": "../images", "/drone": "../drone" },
    nginx: {
        "/media": "./backend/media", "/staticfiles": "./backend/staticfiles", "/etc/nginx/nginx.conf": "./nginx/dev.conf",
        "/data": "../tiles", "/images": "../images", "/docs": "./docs/_build/html", "/drone-viewer": "./drone",
        "/drone": "../drone", "/exports": "exports",
    },
};

const checkout: LayoutContext = { kind: "checkout", projectRoot: "/src/housing_portal" };
const dataVolume: LayoutContext = { kind: "data-volume", dataRoot: "/mnt/data" };

test("the mount table holds exactly the seed's targets and read-only flags", () => {
    for (const [role, expected] of Object.entries(SEED)) {
        const rows = MOUNT_TABLE[role as keyof typeof MOUNT_TABLE];
        assert.deepEqual(Object.fromEntries(rows.map((r) => [r.target, r.readOnly])), expected, role);
    }
});

test("only the backend writes imports, exports, images and drone", () => {
    for (const m of instanceMounts("colombia", dataVolume)) {
        if (["/imports", "/exports", "/images", "/drone"].includes(m.target)) {
            assert.equal(m.readOnly, m.role !== "backend", `${m.role} ${m.target}`);
        }
    }
});

test("checkout layout: the seed's relative paths under projectRoot, a subfolder per instance for data", () => {
    for (const role of ["backend", "nginx"] as const) {
        for (const m of resolveMounts(role, "peru", checkout)) {
            const seed: string = SEED_DEV[role][m.target];
            if (m.type === "volume") {
                assert.equal(seed, "exports");
                assert.equal(m.source, "housing-portal-peru-exports");
                continue;
            }
            assert.equal(m.type, "bind");
            assert.ok(m.source.startsWith("/src/"), `absolute: ${m.source}`);
            const rel = seed.replace(/^\.\//, "");
            const base = rel.startsWith("../") ? `/src/${rel.slice(3)}` : `/src/housing_portal/${rel}`;
            assert.ok(m.source === base || m.source === `${base}/peru`, `${m.target}: ${m.source} from ${seed}`);
        }
    }
    const [pg] = resolveMounts("postgis", "peru", checkout);
    assert.deepEqual([pg.type, pg.source, pg.target], ["volume", "housing-portal-peru-postgis-data", "/var/lib/postgresql"]);
});

test("checkoutBindPaths lists every bound path once per instance", () => {
    const paths = checkoutBindPaths(["colombia", "peru"]);
    for (const p of ["../images/colombia", "../images/peru", "../imports/peru", "../tiles/colombia", "./nginx/dev.conf", "./docs/_build/html", "./drone", "./backend/staticfiles", "./backend/media/peru"]) {
        assert.ok(paths.includes(p), p);
    }
    assert.equal(paths.length, new Set(paths).size);
});

test("data-volume layout: every bind is <dataRoot>/<kind>/<instance>, PostGIS a volume, nginx.conf rendered", () => {
    const mounts = instanceMounts("colombia", dataVolume);
    for (const m of mounts) {
        if (m.type === "bind" && m.rendered === undefined) assert.match(m.source, new RegExp(`^/mnt/data/(${DATA_KINDS.join("|")})/colombia$`), m.target);
    }
    // The rendered config: a file the host writes in the program's own directory, bound read-only.
    const rendered = mounts.filter((m) => m.rendered !== undefined);
    assert.deepEqual(rendered.map((m) => [m.role, m.type, m.source, m.target, m.readOnly]),
        [["nginx", "bind", "/mnt/data/.housing-portal/nginx/colombia/nginx.conf", "/etc/nginx/nginx.conf", true]]);
    const volumes = mounts.filter((m) => m.type === "volume");
    assert.deepEqual(volumes.map((m) => [m.role, m.source, m.target]), [["postgis", "housing-portal-colombia-postgis-data", "/var/lib/postgresql"]]);
});

test("no mount of one instance touches another's data", () => {
    for (const ctx of [checkout, dataVolume]) {
        const a = instanceMounts("colombia", ctx).filter((m) => !isSharedCode(m.what) || m.rendered !== undefined);
        const b = instanceMounts("peru", ctx).filter((m) => !isSharedCode(m.what) || m.rendered !== undefined);
        const bSources = new Set(b.map((m) => m.source));
        for (const m of a) {
            assert.ok(!bSources.has(m.source), `${ctx.kind}: ${m.source} is shared`);
            assert.ok(!m.source.includes("peru"), `${ctx.kind}: ${m.source}`);
        }
    }
});

/** The checkout's code, the same for every instance in dev (never instance data). */
function isSharedCode(what: string): boolean {
    return ["nginx config", "docs html", "drone viewer pages", "staticfiles"].includes(what);
}

test("names come from the instance name", () => {
    assert.equal(instanceDockerName("peru", "backend"), "housing-portal-peru-backend");
    assert.equal(volumeName("peru", "postgis"), "housing-portal-peru-postgis-data");
    assert.equal(volumeName("peru", "exports"), "housing-portal-peru-exports");
});

test("the rendered nginx config names the domain, the backend upstream and the protected aliases", () => {
    const conf = renderNginxConfig({ domain: "peru.example.org", backendHost: "housing-portal-peru-backend", backendPort: 8000 });
    assert.match(conf, /server_name peru\.example\.org;/);
    assert.match(conf, /set \$backend_upstream http:\/\/housing-portal-peru-backend:8000;/);
    assert.match(conf, /proxy_pass \$backend_upstream;/);
    for (const [url, dir] of [["exports", "/exports/"], ["images", "/images/"], ["drone", "/drone/"]]) {
        assert.match(conf, new RegExp(`location \\^~ /protected/${url}/ \\{\\s*internal;\\s*alias ${dir};`), url);
    }
    assert.match(conf, /location \^~ \/drone-viewer\/ \{[^}]*alias \/drone-viewer\/;/);
    assert.match(conf, /location \^~ \/staticfiles\/ \{\s*alias \/staticfiles\/;/);
    assert.match(conf, /alias \/docs\/dev\/;/);
    // While a backend is replaced its name has two addresses for a moment: nginx sees the new one
    // within a second, and a refused connection (the old one, stopping) goes to the next address.
    assert.match(conf, /resolver 127\.0\.0\.11 valid=1s ipv6=off;/);
    assert.match(conf, /proxy_next_upstream error timeout;/);
    assert.match(conf, /proxy_connect_timeout 5s;/);
    assert.equal(conf, renderNginxConfig({ domain: "peru.example.org", backendHost: "housing-portal-peru-backend", backendPort: 8000 }));
    assert.doesNotMatch(conf, /colombia/);
    // Balanced braces: a cheap structural check; nginx -t runs in the host tier.
    assert.equal((conf.match(/{/g) ?? []).length, (conf.match(/}/g) ?? []).length);
});

test("a server block renders apart from the http {} wrapper, and several share one wrapper", () => {
    const peru = { domain: "peru.example.org", backendHost: "housing-portal-peru-backend", backendPort: 8000 };
    const chile = { domain: "chile.example.org", backendHost: "housing-portal-chile-backend", backendPort: 8000 };
    const server = renderNginxServer(peru);
    assert.match(server, /^ {2}server \{\n {4}listen 80;\n {4}server_name peru\.example\.org;/);
    assert.match(server, /\n {2}\}\n$/, "the block closes itself");
    assert.doesNotMatch(server, /http \{|events|worker_processes/, "nothing of the wrapper");
    assert.equal(renderNginxConfig(peru), renderNginxHttp("for peru.example.org", [server]), "one instance: its block in the wrapper");
    const both = renderNginxHttp("for two portals", [server, renderNginxServer(chile)]);
    assert.equal((both.match(/^http \{$/gm) ?? []).length, 1);
    assert.deepEqual([...both.matchAll(/server_name (\S+);/g)].map((m) => m[1]), ["peru.example.org", "chile.example.org"]);
    assert.equal((both.match(/{/g) ?? []).length, (both.match(/}/g) ?? []).length);
});
