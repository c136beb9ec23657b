// The change-impact matrix (tools/changeMatrix.ts): each typical change, planned against its
// stack's golden plan, adds, updates, replaces and deletes exactly the expected resources, its
// cascade included, and gets the expected verdict from the data-loss gate. docs/changes.md is
// what tools/changesDoc.ts makes of these plans.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { CHANGE_IDS, CHANGE_MATRIX, ChangeId, KEY_EFFECTS, configKeyPaths, matrixJobs } from "../../tools/changeMatrix";
import { CHANGES_DOC, MatrixResult, matrixResults, renderChangesDoc } from "../../tools/changesDoc";
import { cascadeLine, plannedActions, renderDiffComment } from "../../tools/planDiff";
import { nodesOf } from "../../tools/planCascade";
import { planBatchRaw } from "./planRun";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hp-matrix-test-"));
process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
const results = planBatchRaw(matrixJobs(dir)).then(matrixResults);
const resultOf = async (id: ChangeId): Promise<MatrixResult> => (await results).find((r) => r.id === id)!;

const each = (instances: readonly string[], parts: readonly string[]) => instances.flatMap((i) => parts.map((p) => `${i}-${p}`));
/** What an instance has on the host's engine and as host commands that a new machine makes again. */
const ON_A_NEW_ENGINE = ["dirs", "network", "postgis-image", "backend-image", "nginx-image", "postgis", "backend", "nginx-config", "nginx", "db-login", "pids"];
/** An instance's every resource, its component included. */
const instance = (name: string) => [name, ...each([name], [...ON_A_NEW_ENGINE, "registration", "postgis-data", "db-password", "db-superuser-password"])];
/** The edge's resources that a new machine makes again. */
const EDGE_ON_A_NEW_ENGINE = ["edge-network", "edge-image", "edge-caddy", "edge-config", "edge-routes", "edge-pids"];
/** The edge's routes: its two runs of host/edge-routes.sh, updated in place (a reload, never its container). */
const ROUTES = ["edge-config", "edge-routes"];
const STAGING = ["colombia", "peru"];
/** A second host, b, on DigitalOcean: its machine, volume, snapshots, backups and edge, every name carrying "-b". */
const HOST_B = [
    "host-b", ...each(["host-b"], ["docker", "droplet", "firewall", "grow-volume", "host-key", "ip", "ip-assignment", "ready", "release-volume", "settings", "tag", "tools"]),
    "data-b", "data-b-attachment", "data-b-volume", "snapshots-b", "snapshots-b-api-token",
    "backups-b", ...each(["backups-b"], ["alert-webhook", "offsite-credentials", "offsite-password", "packages"]),
    "edge-b", ...each(["edge-b"], ["caddy", "config", "image", "network", "pids", "routes"]),
];
const PRODUCTION = ["colombia", "paraguay", "peru"];
/** A replaced Droplet and everything that follows from it. */
/** The host commands of the off-site copies and alerts, which a new machine runs again (secrets, restic). */
const BACKUP_COMMANDS = ["backups-offsite-credentials", "backups-offsite-password", "backups-packages"];
const DROPLET_REPLACED = ["host-droplet", "data-attachment", "host-ip-assignment", "host-ready", "host-tools", "host-settings", "host-release-volume",
    "host-grow-volume", "snapshots-api-token", ...BACKUP_COMMANDS, "backups-alert-webhook", ...each(STAGING, ON_A_NEW_ENGINE), ...EDGE_ON_A_NEW_ENGINE];
/** A replaced EC2 instance and everything that follows from it. */
const INSTANCE_REPLACED = ["host-instance", "data-attachment", "host-eip-association", "host-ready", "host-tools", "host-settings", "host-release-volume",
    "host-grow-volume", ...BACKUP_COMMANDS, ...each(PRODUCTION, ON_A_NEW_ENGINE), ...EDGE_ON_A_NEW_ENGINE];

interface Expected {
    readonly added?: readonly string[];
    readonly updated?: readonly string[];
    readonly replaced?: readonly string[];
    readonly deleted?: readonly string[];
    /** The causes of the cascade: the changes nothing else changed explains. */
    readonly causes: readonly string[];
    /** The gate's verdict: what it blocks (empty: it passes) and what it says is retained. */
    readonly blocked?: readonly string[];
    readonly retained?: readonly string[];
    /** The keys the deployed-volume check refuses before any plan (components/volumeRecord.ts). */
    readonly refused?: readonly string[];
}

const EXPECTED: Readonly<Record<ChangeId, Expected>> = {
    "snapshots-retain": { updated: ["host-settings"], causes: ["host-settings"] },
    "snapshots-schedule": { updated: ["host-settings"], causes: ["host-settings"] },
    "snapshots-dump-retain": { updated: ["host-settings"], causes: ["host-settings"] },
    "snapshots-copy": { updated: ["snapshots-policy"], deleted: ["snapshots-copy-failed"], causes: ["snapshots-policy"] },
    "volume-size": { updated: ["data-volume", "host-grow-volume"], causes: ["data-volume"] },
    // The device path on DigitalOcean carries the volume's name: the first boot changes, so the machine is replaced too.
    "volume-name": { replaced: [...DROPLET_REPLACED, "data-volume"], causes: ["data-volume", "host-droplet"], blocked: ["data-volume"], refused: ["volume.name"] },
    // On AWS the device path carries the volume's id: a new volume means a new machine.
    "volume-from-snapshot": { replaced: [...INSTANCE_REPLACED, "data-volume"], causes: ["data-volume"], blocked: ["data-volume"], refused: ["volume.fromSnapshot"] },
    "volume-kms-key": { added: ["snapshots-dlm-kms"], replaced: [...INSTANCE_REPLACED, "data-volume"], causes: ["data-volume"], blocked: ["data-volume"], refused: ["volume.kmsKeyId"] },
    "host-size": { updated: ["host-droplet"], causes: ["host-droplet"] },
    "host-size-aws": { updated: ["host-instance"], causes: ["host-instance"] },
    "host-image": { replaced: DROPLET_REPLACED, causes: ["host-droplet"] },
    "host-image-aws": { replaced: INSTANCE_REPLACED, causes: ["host-instance"] },
    // The registrations' connection (a secret input, compared by its digest) leads to the new address.
    "host-region": { updated: ["host-docker", "colombia-registration", "peru-registration"], replaced: [...DROPLET_REPLACED, "data-volume", "host-ip"], causes: ["data-volume", "host-droplet", "host-ip"], blocked: ["host-ip", "data-volume"], refused: ["host.region"] },
    "host-zone-aws": { replaced: [...INSTANCE_REPLACED, "data-volume"], causes: ["data-volume"], blocked: ["data-volume"], refused: ["host.availabilityZone"] },
    // A non-root user is added to the docker group at first boot: a new machine; every command line gains sudo.
    "host-ssh-user": { updated: ["host-docker", "colombia-registration", "peru-registration"], replaced: DROPLET_REPLACED, causes: ["host-droplet"] },
    "host-ssh-keys": { replaced: DROPLET_REPLACED, causes: ["host-droplet"] },
    "host-ssh-cidrs": { updated: ["host-firewall"], causes: ["host-firewall"] },
    "host-ssh-cidrs-aws": { updated: ["host-ingress-ssh-0"], causes: ["host-ingress-ssh-0"] },
    "instance-added": { added: instance("chile"), updated: ROUTES, causes: ["edge-config"] },
    "instance-removed": { deleted: instance("peru"), updated: ROUTES, causes: ["edge-config"], retained: ["peru-postgis-data"] },
    "instance-renamed": { added: instance("lima"), deleted: instance("peru"), updated: ROUTES, causes: ["edge-config"], retained: ["peru-postgis-data"] },
    // nginx's rendered config is rewritten on the host, and nginx replaced (its config's hash is a label).
    "instance-domain": { replaced: ["peru-nginx", "peru-pids"], updated: [...ROUTES, "peru-nginx-config"], causes: ["peru-nginx-config", "edge-config"] },
    "instance-aliases": { replaced: ["peru-nginx", "peru-pids"], updated: [...ROUTES, "peru-nginx-config"], causes: ["peru-nginx-config", "edge-config"] },
    "instance-image": { replaced: ["peru-backend-image", "peru-backend", "peru-pids"], causes: ["peru-backend-image"] },
    "instance-backend-env": { replaced: ["peru-backend", "peru-pids"], causes: ["peru-backend"] },
    // A secret's value is masked in the plan; a new secret name shows, and recreates the backend with it.
    "instance-backend-secret": { replaced: ["peru-backend", "peru-pids"], causes: ["peru-backend"] },
    "instance-memory": { updated: ["peru-postgis"], causes: ["peru-postgis"] },
    "instance-cpus": { replaced: ["peru-postgis", "peru-db-login", "peru-pids"], causes: ["peru-postgis"] },
    "stack-images": { replaced: ["colombia-backend-image", "colombia-backend", "colombia-pids", "peru-backend-image", "peru-backend", "peru-pids"], causes: ["colombia-backend-image", "peru-backend-image"] },
    "edge-ca": { updated: ROUTES, causes: ["edge-config"] },
    // Everything of the new host, and nothing of the first one changes.
    "host-added": { added: HOST_B, causes: [] },
    // peru is made again on b (another provider is another engine; its first start is empty until
    // the runbook restores its dump), unregistered on main, and main's edge drops its route. Its
    // database volume is protected, so the gate blocks until acknowledged; on main it is retained.
    "instance-moved": {
        added: [...HOST_B, "peru-registration-b"], deleted: ["peru-registration"], updated: ROUTES,
        replaced: [...each(["peru"], ON_A_NEW_ENGINE), "peru-postgis-data"],
        causes: ["edge-config", "peru-backend-image", "peru-dirs", "peru-network", "peru-nginx-image", "peru-postgis-image"], blocked: ["peru-postgis-data"],
    },
    // Records only: one per name, at the address the host already has; nothing else changes.
    "dns-zone": { added: ["dns", ...STAGING.map((i) => `dns-${i}.staging.housing-portal.org`)], causes: [] },
    "dns-zone-aws": { added: ["dns", ...PRODUCTION.map((i) => `dns-${i}.housing-portal.org`)], causes: [] },
    "program-host-script": { updated: ["host-settings"], causes: ["host-settings"] },
    "program-first-boot-script": { replaced: DROPLET_REPLACED, causes: ["host-droplet"] },
};

const sorted = (names: readonly string[] | undefined) => [...(names ?? [])].sort();

test("the matrix holds at least 15 typical changes, and every config key says what a change to it does", () => {
    assert.ok(CHANGE_IDS.length >= 15, `${CHANGE_IDS.length} changes`);
    assert.deepEqual(Object.keys(KEY_EFFECTS).sort(), configKeyPaths().sort(), "every key of the config's own key lists, and no other");
    const referenced = new Set(Object.values(KEY_EFFECTS).flatMap((e) => ("rows" in e ? e.rows : [])));
    for (const id of CHANGE_IDS) assert.ok(referenced.has(id) || CHANGE_MATRIX[id].key === "program version", `${id} is under no key`);
});

for (const id of CHANGE_IDS) {
    test(`${id}: ${CHANGE_MATRIX[id].change} (${CHANGE_MATRIX[id].stack}) adds, updates, replaces and deletes exactly what is expected; the gate agrees`, async () => {
        const { diff, gate, refusedBeforePlan } = await resultOf(id);
        const expected = EXPECTED[id];
        assert.deepEqual({
            added: sorted(diff.added.map((r) => r.name)),
            updated: sorted(diff.changed.filter((c) => !c.replaced).map((c) => c.resource.name)),
            replaced: sorted(diff.changed.filter((c) => c.replaced).map((c) => c.resource.name)),
            deleted: sorted(diff.removed.map((r) => r.name)),
        }, { added: sorted(expected.added), updated: sorted(expected.updated), replaced: sorted(expected.replaced), deleted: sorted(expected.deleted) });
        assert.deepEqual(sorted(diff.cascades.map((r) => r.change.resource.name)), sorted(expected.causes), "the causes");
        const changedCount = diff.changed.length;
        assert.equal(diff.cascades.flatMap(nodesOf).length, changedCount, "every change sits in exactly one cascade");
        assert.deepEqual(sorted(gate.findings.filter((f) => f.verdict === "blocked").map((f) => f.resource.name)), sorted(expected.blocked));
        assert.deepEqual(sorted(gate.findings.filter((f) => f.verdict === "retained").map((f) => f.resource.name)), sorted(expected.retained));
        assert.equal(gate.passed, (expected.blocked ?? []).length === 0);
        assert.deepEqual(sorted(refusedBeforePlan), sorted(expected.refused), "refused before any plan");
    });
}

test("the host-image change prints its full cascade from the replaced Droplet; the gate fails on nothing", async () => {
    const { diff, head, gate } = await resultOf("host-image");
    assert.equal(cascadeLine(head, diff.cascades[0]),
        "host-droplet replaced (image) → data-attachment, host-ip-assignment replaced → host-ready, backups-packages run again → edge-image pulled again → "
        + "edge-network recreated → host-tools, edge-config, host-settings, backups-alert-webhook, backups-offsite-credentials, backups-offsite-password run again "
        + "→ edge-caddy recreated → host-grow-volume, host-release-volume, "
        + "snapshots-api-token, edge-pids, edge-routes run again → per portal instance (colombia, peru): 3 images pulled again, 4 commands run again, "
        + "1 network recreated, 3 containers recreated");
    const comment = renderDiffComment([{ stack: "staging", diff, plan: head }], gate);
    assert.match(comment, /\*\*Data-loss gate: passed\.\*\* Nothing that holds data or identity is deleted or replaced\./);
    assert.match(comment, /<details><summary>The cascade from host-droplet \(41 resources\)<\/summary>\n\n- `\+-` host-droplet replaced \(image\)\n {2}- `\+-` data-attachment replaced \(dropletId\)\n/);
    assert.match(comment, /- on host-droplet's new engine, kept as they are: colombia-postgis-data, peru-postgis-data \(a record of a directory on the data volume/);
    assert.deepEqual(diff.warnings, [], "every engine object is made again or recreated");
});

test("a retention change prints one update and no replacement", async () => {
    const { diff, head } = await resultOf("snapshots-retain");
    const comment = renderDiffComment([{ stack: "staging", diff, plan: head }]);
    assert.match(comment, /### staging: 0 to add, 1 to change, 0 to replace, 0 to remove\n\nWhat follows from each change:\n\n- host-settings runs again in place \(stdin\)\n/);
    assert.doesNotMatch(comment, /`\+-`/);
});

test("what a realiser must do with each resource is exactly the diff's prediction (the host-replacement and image-update drills)", async () => {
    for (const id of ["host-image", "instance-image"] as const) {
        const { base, head } = await resultOf(id);
        const actions = plannedActions(base, head);
        assert.deepEqual(sorted([...actions].filter(([, a]) => a === "replace").map(([urn]) => head.resources.find((r) => r.urn === urn)!.name)), sorted(EXPECTED[id].replaced), id);
        assert.deepEqual([...actions.values()].filter((a) => a === "update" || a === "create" || a === "delete"), [], `${id}: nothing else changes`);
    }
});

test("docs/changes.md is what tools/changesDoc.ts generates from these plans (npm run changes:update)", async () => {
    const expected = renderChangesDoc(await results);
    assert.equal(fs.readFileSync(CHANGES_DOC, "utf8"), expected, "docs/changes.md is stale: run npm run changes:update");
    assert.match(expected, /\| <a id="host-image"><\/a>a newer machine image \(staging\) \| `host.image` \| \+0 ~0 \+-41 -0: host-droplet replaced \(image\)/);
    assert.match(expected, /\| <a id="instance-removed"><\/a>.*\| passes \(`peru-postgis-data` retained\) \|/);
});
