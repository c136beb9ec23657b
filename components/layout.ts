// The portal's storage layout: the mount tables of every container, as data, and the names that
// every instance's host directories get. This is the contract with the portal (see
// docs/architecture.md, "Where each fact lives"); the components read it and never restate it.
import * as path from "path";
import { instanceDockerName, nginxConfigDir } from "./naming";

/**
 * The containers of one portal instance: the one list every per-role table is keyed by (images,
 * healthchecks, mounts, container names), so a new role is a compile error until each covers it.
 */
export const ROLES = ["postgis", "backend", "nginx"] as const;
export type Role = (typeof ROLES)[number];

/** Where every PostGIS container keeps its data: the mount point of its dedicated volume. */
export const POSTGIS_DATA_TARGET = "/var/lib/postgresql";

/**
 * The top-level directories of the data root. Each instance owns `<dataRoot>/<kind>/<instance>`, so
 * no container of one instance can see another's files, while the volume keeps the layout that the
 * seed describes (`imports/ exports/ images/ …`).
 */
export const DATA_KINDS = [
    "imports", "exports", "images", "drone", "tiles", "postgis", "backups",
    "media", "staticfiles", "docs", "drone-viewer",
] as const;
export type DataKind = (typeof DATA_KINDS)[number];

/**
 * Where a mount's host side comes from in the checkout layout (paths relative to projectRoot).
 * Data folders get a subfolder per instance (`../images/<instance>`), so instances never share
 * data; the checkout's code (nginx config, docs, viewer pages, static files) is the same for all.
 */
type CheckoutSource =
    | { readonly checkoutPath: string; readonly perInstance: boolean }
    | { readonly namedVolume: "exports" | "postgis" };

/** Where a mount's host side comes from in the data-volume layout. */
type DataVolumeSource =
    | { readonly dataDir: DataKind }                   // bind mount of <dataRoot>/<kind>/<instance>
    | { readonly namedVolumeOn: DataKind }             // named volume whose data lives in that directory
    | { readonly rendered: "nginx.conf" };             // a file the program renders, the host writes (nginxConfigDir) and it binds

export interface MountRow {
    /** What the portal calls this piece of storage. */
    readonly what: string;
    /** Path inside the container. */
    readonly target: string;
    /** The seed's `:ro` flag. */
    readonly readOnly: boolean;
    readonly checkout: CheckoutSource;
    readonly dataVolume: DataVolumeSource;
}

/** ⚑ The mount tables, from the seed. Read-only flags are exactly the seed's `:ro` ones. */
export const MOUNT_TABLE: Readonly<Record<Role, readonly MountRow[]>> = {
    backend: [
        { what: "imports", target: "/imports", readOnly: false, checkout: { checkoutPath: "../imports", perInstance: true }, dataVolume: { dataDir: "imports" } },
        { what: "exports", target: "/exports", readOnly: false, checkout: { namedVolume: "exports" }, dataVolume: { dataDir: "exports" } },
        { what: "images", target: "/images", readOnly: false, checkout: { checkoutPath: "../images", perInstance: true }, dataVolume: { dataDir: "images" } },
        { what: "drone", target: "/drone", readOnly: false, checkout: { checkoutPath: "../drone", perInstance: true }, dataVolume: { dataDir: "drone" } },
    ],
    nginx: [
        { what: "media", target: "/media", readOnly: false, checkout: { checkoutPath: "./backend/media", perInstance: true }, dataVolume: { dataDir: "media" } },
        { what: "staticfiles", target: "/staticfiles", readOnly: false, checkout: { checkoutPath: "./backend/staticfiles", perInstance: false }, dataVolume: { dataDir: "staticfiles" } },
        { what: "nginx config", target: "/etc/nginx/nginx.conf", readOnly: true, checkout: { checkoutPath: "./nginx/dev.conf", perInstance: false }, dataVolume: { rendered: "nginx.conf" } },
        { what: "tiles", target: "/data", readOnly: false, checkout: { checkoutPath: "../tiles", perInstance: true }, dataVolume: { dataDir: "tiles" } },
        { what: "images", target: "/images", readOnly: true, checkout: { checkoutPath: "../images", perInstance: true }, dataVolume: { dataDir: "images" } },
        { what: "docs html", target: "/docs", readOnly: true, checkout: { checkoutPath: "./docs/_build/html", perInstance: false }, dataVolume: { dataDir: "docs" } },
        { what: "drone viewer pages", target: "/drone-viewer", readOnly: true, checkout: { checkoutPath: "./drone", perInstance: false }, dataVolume: { dataDir: "drone-viewer" } },
        { what: "drone", target: "/drone", readOnly: true, checkout: { checkoutPath: "../drone", perInstance: true }, dataVolume: { dataDir: "drone" } },
        { what: "exports", target: "/exports", readOnly: true, checkout: { namedVolume: "exports" }, dataVolume: { dataDir: "exports" } },
    ],
    postgis: [
        // The mount point for every PostGIS image; PGDATA is set to a directory under it (POSTGIS_PGDATA).
        { what: "postgis data", target: POSTGIS_DATA_TARGET, readOnly: false, checkout: { namedVolume: "postgis" }, dataVolume: { namedVolumeOn: "postgis" } },
    ],
};

/**
 * The PostGIS data directory, on the dedicated volume at /var/lib/postgresql. Images before 18
 * declare `VOLUME /var/lib/postgresql/data`: the engine puts an anonymous volume on the root
 * disk there, over our mount, so the cluster must live in another directory of the volume.
 */
export const POSTGIS_PGDATA = `${POSTGIS_DATA_TARGET}/pgdata`;

/** A mount with its host side resolved for one instance. */
export interface ResolvedMount {
    readonly role: Role;
    readonly what: string;
    readonly target: string;
    readonly readOnly: boolean;
    /** bind: an absolute host path; volume: a Docker volume name. */
    readonly type: "bind" | "volume";
    readonly source: string;
    /** The file at `source` is one the program renders (the host writes it before the container starts). @default none */
    readonly rendered?: "nginx.conf";
}

/** Everything that decides where one instance's storage lives: a portal checkout (dev), or a data root. */
export type LayoutContext =
    | { readonly kind: "checkout"; /** Absolute path of the portal checkout. */ readonly projectRoot: string }
    | { readonly kind: "data-volume"; /** Absolute data root, the block volume's mount point on cloud hosts. */ readonly dataRoot: string };

/** How the stack lays out host storage. */
export type LayoutKind = LayoutContext["kind"];

/** The Docker volume that a named-volume mount refers to. */
export function volumeName(instance: string, what: "exports" | "postgis"): string {
    return instanceDockerName(instance, what === "postgis" ? "postgis-data" : "exports");
}

/** `<dataRoot>/<kind>/<instance>`: the one directory of that kind that the instance owns. */
export function instanceDataDir(dataRoot: string, kind: DataKind, instance: string): string {
    return path.posix.join(dataRoot, kind, instance);
}

/** Resolves one role's mount table for an instance. Pure: touches no file system. */
export function resolveMounts(role: Role, instance: string, ctx: LayoutContext): ResolvedMount[] {
    return MOUNT_TABLE[role].map((row): ResolvedMount => {
        const base = { role, what: row.what, target: row.target, readOnly: row.readOnly };
        if (ctx.kind === "checkout") {
            const src = row.checkout;
            if ("namedVolume" in src) return { ...base, type: "volume", source: volumeName(instance, src.namedVolume) };
            return { ...base, type: "bind", source: path.resolve(ctx.projectRoot, checkoutPath(src, instance)) };
        }
        const src = row.dataVolume;
        if ("rendered" in src) return { ...base, type: "bind", source: `${nginxConfigDir(ctx.dataRoot, instance)}/${src.rendered}`, rendered: src.rendered };
        if ("namedVolumeOn" in src) return { ...base, type: "volume", source: volumeName(instance, "postgis") };
        return { ...base, type: "bind", source: instanceDataDir(ctx.dataRoot, src.dataDir, instance) };
    });
}

/** Every mount of an instance, all roles, in table order. */
export function instanceMounts(instance: string, ctx: LayoutContext): ResolvedMount[] {
    return ROLES.flatMap((role) => resolveMounts(role, instance, ctx));
}

function checkoutPath(src: { checkoutPath: string; perInstance: boolean }, instance: string): string {
    return src.perInstance ? `${src.checkoutPath}/${instance}` : src.checkoutPath;
}

/** The paths (relative to projectRoot) that the checkout layout binds for these instances: they must exist. */
export function checkoutBindPaths(instances: readonly string[]): string[] {
    const paths = ROLES.flatMap((role) => MOUNT_TABLE[role].map((row) => row.checkout))
        .flatMap((src) => ("checkoutPath" in src ? instances.map((i) => checkoutPath(src, i)) : []));
    return [...new Set(paths)];
}
