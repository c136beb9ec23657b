// The edge's Caddyfile: one site per instance (its domain and aliases) proxied to that
// instance's nginx, certificates by ACME HTTP-01. Caddy itself redirects HTTP to HTTPS (308,
// path and query kept), answers the HTTP-01 challenges and renews; it sets HSTS and
// X-Frame-Options on every response (nginx's add_header is lost in every location that adds its
// own). The seed's other settings (the 20 MB body limit, gzip, the 120 s read timeout to the
// backend) stay in the instance's nginx (nginxConfig.ts), so each is set once. Pure.

/** Where the edge's container sees its files (the host side is edgeDirs() on the data volume). */
export const EDGE_PATHS = {
    /** The Caddyfile's directory, bound read-only: a reload re-reads the file. */
    config: "/etc/caddy",
    /** Caddy's storage: certificates, keys, the ACME account. */
    storage: "/data",
} as const;
/** The Caddyfile's name in EDGE_PATHS.config. */
export const CADDYFILE = "Caddyfile";
/** The extra CA root's file name in EDGE_PATHS.config (edge.caRootPem). */
export const EDGE_CA_ROOT = "acme-ca-root.pem";
/**
 * The file in EDGE_PATHS.config that refuses requests from the instance networks, written by
 * host/edge-routes.sh from their subnets (known only on the engine). The edge is on every
 * instance's network to reach its nginx; without this, a container of one instance could ask
 * the edge, over its own network, for another instance's portal.
 */
export const EDGE_INSTANCE_NETWORKS = "instance-networks.caddy";

/** How long the edge holds a request while an instance's nginx is not accepting connections (being replaced). */
export const UPSTREAM_TRY_SECONDS = 30;

export interface EdgeSite {
    /** The instance: named in a comment only. */
    readonly instance: string;
    /** The instance's domain, then its aliases: the site's addresses and certificates. */
    readonly names: readonly string[];
    /** nginx on the instance's network, `host:port`. */
    readonly upstream: string;
}

export interface CaddyfileArgs {
    /** The ACME directory URL. */
    readonly caUrl: string;
    /** The ACME account's contact email. @default none */
    readonly email?: string;
    /** Whether EDGE_CA_ROOT holds a root to trust for the ACME directory's TLS. @default false */
    readonly caRoot?: boolean;
    /** One site per instance, in the order given. */
    readonly sites: readonly EdgeSite[];
}

/** The Caddyfile. The same arguments give the same text, so an unchanged config is no reload. */
export function renderCaddyfile(args: CaddyfileArgs): string {
    const issuer = [
        `dir ${args.caUrl}`,
        ...(args.email === undefined ? [] : [`email ${args.email}`]),
        ...(args.caRoot ? [`trusted_roots ${EDGE_PATHS.config}/${EDGE_CA_ROOT}`] : []),
        // HTTP-01 only: the firewall's port 80 is the one way a CA validates.
        "disable_tlsalpn_challenge",
    ];
    const sites = args.sites.map((s) => `# ${s.instance}
${s.names.join(", ")} {
\t# Nothing on an instance network is a client of the edge (users come through the published ports).
\timport ${EDGE_PATHS.config}/${EDGE_INSTANCE_NETWORKS}
\theader Strict-Transport-Security "max-age=31536000"
\theader X-Frame-Options DENY
\treverse_proxy ${s.upstream} {
\t\t# nginx being replaced or not up yet: the request waits for it instead of failing.
\t\tlb_try_duration ${UPSTREAM_TRY_SECONDS}s
\t\tlb_try_interval 250ms
\t}
}
`);
    return `# Rendered by housing-portal infra. Do not edit on the host: run pulumi up.
{
\tstorage file_system {
\t\troot ${EDGE_PATHS.storage}
\t}
\tcert_issuer acme {
${issuer.map((l) => `\t\t${l}`).join("\n")}
\t}
\t# TCP only: the firewall opens 80 and 443/tcp (no HTTP/3 over UDP).
\tservers {
\t\tprotocols h1 h2
\t}
}

${sites.join("\n")}`;
}
