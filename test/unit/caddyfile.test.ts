// The edge's Caddyfile, rendered without mocks: one site per instance (domain and aliases) to its
// nginx, HSTS, HTTP-01 only, the CA directory, contact and extra root as configured, and no site
// for a name nobody configured.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { EDGE_PATHS, renderCaddyfile } from "../../components/caddyfile";

const sites = [
    { instance: "colombia", names: ["colombia.example.org", "www.colombia.example.org"], upstream: "housing-portal-colombia-nginx:80" },
    { instance: "peru", names: ["peru.example.org"], upstream: "housing-portal-peru-nginx:80" },
];

/** The top-level blocks of a Caddyfile: the text before each `{` at column 0, and the block's body. */
function blocks(text: string): { head: string; body: string }[] {
    const out: { head: string; body: string }[] = [];
    const re = /^([^\s#][^\n{]*)?\{\n([\s\S]*?)^\}$/gm;
    for (const m of text.matchAll(re)) out.push({ head: (m[1] ?? "").trim(), body: m[2] });
    return out;
}

test("one site per instance, its domain and aliases, proxied to its own nginx with HSTS", () => {
    const text = renderCaddyfile({ caUrl: "https://acme.example.org/directory", sites });
    const found = blocks(text);
    assert.equal(found[0].head, "", "the global options come first");
    assert.deepEqual(found.slice(1).map((b) => b.head), ["colombia.example.org, www.colombia.example.org", "peru.example.org"]);
    for (const [i, b] of found.slice(1).entries()) {
        assert.match(b.body, new RegExp(`^\\treverse_proxy ${sites[i].upstream} \\{$`, "m"));
        assert.match(b.body, /^\theader Strict-Transport-Security "max-age=31536000"$/m);
        assert.match(b.body, /^\theader X-Frame-Options DENY$/m);
        assert.match(b.body, /^\timport \/etc\/caddy\/instance-networks\.caddy$/m, "requests from instance networks are refused");
        assert.equal((b.body.match(/reverse_proxy/g) ?? []).length, 1, "one upstream, the instance's own");
    }
    // No catch-all, no on-demand certificates: an unknown name matches no site and gets no certificate.
    assert.doesNotMatch(text, /^(:443|:80|https?:\/\/|\*)/m);
    assert.doesNotMatch(text, /on_demand/);
});

test("certificates: ACME HTTP-01 from the configured directory, with its contact and extra root; stored on the data volume's mount", () => {
    const plain = renderCaddyfile({ caUrl: "https://acme-v02.api.letsencrypt.org/directory", sites });
    const global = blocks(plain)[0].body;
    assert.match(global, /^\t\tdir https:\/\/acme-v02\.api\.letsencrypt\.org\/directory$/m);
    assert.match(global, /^\t\tdisable_tlsalpn_challenge$/m);
    assert.match(global, new RegExp(`^\\t\\troot ${EDGE_PATHS.storage}$`, "m"));
    assert.doesNotMatch(global, /email|trusted_roots/);
    assert.match(global, /^\t\tprotocols h1 h2$/m, "no HTTP/3: the firewall opens TCP only");
    const full = blocks(renderCaddyfile({ caUrl: "https://127.0.0.1:14000/dir", email: "ops@example.org", caRoot: true, sites }))[0].body;
    assert.match(full, /^\t\temail ops@example\.org$/m);
    assert.match(full, /^\t\ttrusted_roots \/etc\/caddy\/acme-ca-root\.pem$/m);
});

test("the same arguments give the same text (an unchanged config is no change and no reload)", () => {
    const args = { caUrl: "https://acme.example.org/directory", email: "ops@example.org", sites };
    assert.equal(renderCaddyfile(args), renderCaddyfile({ ...args, sites: sites.map((s) => ({ ...s })) }));
    assert.notEqual(renderCaddyfile(args), renderCaddyfile({ ...args, sites: sites.slice(0, 1) }));
});
