// The naming module: today's names kept exactly (a changed name is a replaced resource), names of
// different hosts and of host-level services never collide, and no other file composes a name.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import {
    DEFAULT_HOST, EDGE_NAMES, SNAPSHOT_TOKEN_FILE, edgeDirs, cloudNames, hostServiceDockerName, hostSettingsFile, installedScriptPath,
    instanceDockerName, systemdUnit, type InstanceDockerPart,
} from "../../components/naming";
import { ROLES } from "../../components/layout";

const PROJECT_DIR = path.resolve(__dirname, "..", "..");

test("a stack's default host keeps the names of the one-host stacks", () => {
    const n = cloudNames("staging");
    assert.deepEqual(n, {
        machine: "housing-portal-staging",
        dataVolume: "housing-portal-staging-data",
        snapshotPrefix: "housing-portal-staging",
        snapshotTargetTag: { key: "housing-portal-snapshots", value: "staging" },
        alertsTopic: "housing-portal-staging-alerts",
        snapshotAlarms: { createFailed: "housing-portal-staging-snapshot-create-failed", copyFailed: "housing-portal-staging-snapshot-copy-failed" },
        awsTags: { project: "housing-portal", stack: "staging" },
        dropletTags: ["housing-portal", "housing-portal-staging"],
        volumeTags: ["housing-portal", "housing-portal-snapshots-staging"],
        hostRole: "housing-portal-staging-host",
        offsite: { repositoryPath: "housing-portal-staging", hostTag: "housing-portal-staging" },
        label: "staging",
    });
    assert.deepEqual(cloudNames("staging", DEFAULT_HOST), n);
});

test("every name of another host carries the host name, so two hosts of a stack never collide", () => {
    const main = cloudNames("production");
    const eu = cloudNames("production", "eu");
    for (const key of ["machine", "dataVolume", "snapshotPrefix"] as const) {
        assert.notEqual(eu[key], main[key], key);
        assert.match(eu[key], /-eu(-|$)/, key);
    }
    assert.notDeepEqual(eu.snapshotTargetTag, main.snapshotTargetTag, "each volume its own DLM target");
    for (const name of [eu.alertsTopic, eu.snapshotAlarms.createFailed, eu.snapshotAlarms.copyFailed]) assert.match(name, /^housing-portal-production-eu-/);
    assert.notEqual(eu.offsite.hostTag, main.offsite.hostTag, "each host prunes only its own off-site copies");
    assert.notEqual(eu.offsite.repositoryPath, main.offsite.repositoryPath);
});

test("Docker names: an instance's from its name and part; a host-level service's can never equal one", () => {
    const parts: InstanceDockerPart[] = [...ROLES, "net", "postgis-data", "exports"];
    assert.deepEqual(parts.map((p) => instanceDockerName("peru", p)), [
        "housing-portal-peru-postgis", "housing-portal-peru-backend", "housing-portal-peru-nginx",
        "housing-portal-peru-net", "housing-portal-peru-postgis-data", "housing-portal-peru-exports",
    ]);
    assert.equal(hostServiceDockerName("edge"), "housing-portal_edge");
    assert.equal(hostServiceDockerName("edge", "data"), "housing-portal_edge-data");
    assert.deepEqual(EDGE_NAMES, { container: "housing-portal_edge", network: "housing-portal--edge-net" });
    // Docker routes a container's ports through the network that sorts first: the edge's own, before any instance's.
    for (const instance of ["0", "a", "aaa", "colombia", "z9"]) assert.ok(EDGE_NAMES.network < instanceDockerName(instance, "net"), instance);
    assert.deepEqual(edgeDirs("/mnt/data"), { root: "/mnt/data/edge", storage: "/mnt/data/edge/storage", config: "/mnt/data/edge/config" });
    // Instance names are DNS labels: no underscore, so even an instance named after the service differs.
    for (const instance of ["edge", "edge-data", "host"]) {
        for (const p of parts) assert.ok(!instanceDockerName(instance, p).includes("_"));
    }
});

test("host files and units are named from the project", () => {
    assert.equal(installedScriptPath("mount-data-volume.sh"), "/usr/local/sbin/housing-portal-mount-data-volume");
    assert.equal(hostSettingsFile("dump"), "/etc/housing-portal/dump.env");
    assert.equal(SNAPSHOT_TOKEN_FILE, "/etc/housing-portal/do-token");
    for (const unit of ["dump", "snapshot", "backup-status"] as const) {
        assert.ok(fs.existsSync(path.join(PROJECT_DIR, "host", "systemd", `${systemdUnit(unit)}.service`)), unit);
        assert.ok(fs.existsSync(path.join(PROJECT_DIR, "host", "systemd", `${systemdUnit(unit)}.timer`)), unit);
    }
});

test("no file but the naming module composes a physical name", () => {
    // The project's name followed by a separator, alone as a string, or as a host directory.
    const composed = /housing-portal[-_.]|"housing-portal"|\/(etc|var\/lib|run)\/housing-portal/;
    const files = [
        "index.ts",
        ...fs.readdirSync(path.join(PROJECT_DIR, "components")).map((f) => path.join("components", f)),
        ...fs.readdirSync(path.join(PROJECT_DIR, "policy")).map((f) => path.join("policy", f)),
    ].filter((f) => f.endsWith(".ts") && f !== path.join("components", "naming.ts"));
    assert.ok(files.length > 10, "the scan found the sources");
    const offenders = files.flatMap((file) => fs.readFileSync(path.join(PROJECT_DIR, file), "utf8").split("\n")
        .map((line, i) => ({ where: `${file}:${i + 1}`, line }))
        .filter(({ line }) => composed.test(line)));
    assert.deepEqual(offenders, [], "compose these names in components/naming.ts");
});
