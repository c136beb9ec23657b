// PortalInstance through the offline plan, layout by layout: what the program declares for
// every instance's containers, volumes and network.
import { test } from "node:test";
import * as crypto from "crypto";
import * as assert from "node:assert/strict";
import { PlanDocument, PlannedResource } from "../../tools/planner";
import { fakePassword } from "../../tools/planMocks";
import { diffPlans } from "../../tools/planDiff";
import { renderNginxConfig } from "../../components/nginxConfig";
import { readHostFile } from "../../components/hostFiles";
import { byName, goldenPlan, ofType, ownedBy, planBatch, readStackKeys, writeStackConfig } from "./planRun";
import { APPLIED_BY_REPLACEMENT_ONLY, IN_PLACE_CONTAINER_INPUTS, START_BEFORE_STOP } from "../../components/portalInstance";
import { REPLACEMENT_RULES } from "../../tools/replacementRules";
import { dataLossGate } from "../../tools/dataLossGate";
import * as fs from "node:fs";

const CONTAINER = "docker:index/container:Container";
const e2eKeys = readStackKeys("test/e2e/Pulumi.e2e.yaml");
const third = { name: "paraguay", domain: "paraguay.e2e.test", port: 18083 };

// dev (with the skeleton checkout) and staging are the committed golden plans (plan.test.ts checks
// them against a fresh run); the e2e config and its variants are planned in one child process.
const plans = (async () => {
    // Staging's machine is full (two instances; capacity.ts refuses a third): the two-host latam's south has room.
    const withInstance = (stack: string, host?: string) => {
        const keys = readStackKeys(`Pulumi.${stack}.yaml`);
        return ["--config-file", writeStackConfig({ ...keys, instances: [...(keys.instances as object[]), { name: "bolivia", domain: "bolivia.example.org", ...(host ? { host } : {}) }] }, stack)];
    };
    // A stack deployed before generated host keys upgrades by pinning its machine's own key (docs/security.md).
    const staging = readStackKeys("Pulumi.staging.yaml");
    const stagingKeptHost = ["--config-file", writeStackConfig({ ...staging, host: { ...(staging.host as object), hostKey: String(goldenPlan("staging").outputs.hostKey) } }, "staging")];
    const [dataVolume, withThird, newImage, latamWithThird, productionWithThird, biggerDatabase, revealed, biggerBackend, stagingUpgraded, withAlias] = await planBatch([
        ["--config-file", "test/e2e/Pulumi.e2e.yaml"],
        ["--config-file", writeStackConfig({ ...e2eKeys, instances: [...(e2eKeys.instances as object[]), third] }, "e2e")],
        ["--config-file", writeStackConfig({
            ...e2eKeys,
            instances: (e2eKeys.instances as any[]).map((i) => (i.name === "peru" ? { ...i, images: { backend: "housing-portal-e2e/backend:2" } } : i)),
        }, "e2e")],
        withInstance("latam", "south"),
        withInstance("production"),
        ["--config-file", writeStackConfig({
            ...e2eKeys,
            instances: (e2eKeys.instances as any[]).map((i) => (i.name === "peru" ? { ...i, resources: { postgis: { memoryMb: 3072, cpus: 2 } } } : i)),
        }, "e2e")],
        ["--config-file", "test/e2e/Pulumi.e2e.yaml", "--reveal-secrets"],
        ["--config-file", writeStackConfig({
            ...e2eKeys,
            instances: (e2eKeys.instances as any[]).map((i) => (i.name === "peru" ? { ...i, resources: { backend: { memoryMb: 1024 } } } : i)),
        }, "e2e")],
        stagingKeptHost,
        ["--config-file", writeStackConfig({
            ...e2eKeys,
            instances: (e2eKeys.instances as any[]).map((i) => (i.name === "peru" ? { ...i, aliases: ["www.peru.e2e.test"] } : i)),
        }, "e2e")],
    ]);
    const cloudWithThird = [[goldenPlan("latam"), latamWithThird, "edge-south"], [goldenPlan("production"), productionWithThird, "edge"]] as const;
    return { dev: goldenPlan("dev"), dataVolume, staging: goldenPlan("staging"), withThird, newImage, cloudWithThird, biggerDatabase, revealed, biggerBackend, stagingUpgraded, withAlias };
})();

function container(plan: PlanDocument, instance: string, role: string): PlannedResource {
    return byName(plan, `${instance}-${role}`);
}

const SEED_TARGETS: Record<string, [string, boolean][]> = {
    backend: [["/imports", false], ["/exports", false], ["/images", false], ["/drone", false]],
    nginx: [["/media", false], ["/staticfiles", false], ["/etc/nginx/nginx.conf", true], ["/data", false], ["/images", true],
        ["/docs", true], ["/drone-viewer", true], ["/drone", true], ["/exports", true]],
    postgis: [["/var/lib/postgresql", false]],
};

/** [target, readOnly] of a container's mounts and uploads. */
function targets(c: PlannedResource): [string, boolean][] {
    const mounts = ((c.inputs.mounts as any[]) ?? []).map((m): [string, boolean] => [m.target, m.readOnly === true]);
    const uploads = ((c.inputs.uploads as any[]) ?? []).map((u): [string, boolean] => [u.file, true]);
    return [...mounts, ...uploads].sort();
}

test("each instance has its own network, PostGIS, backend and nginx, named from the instance", async () => {
    const { dev, dataVolume } = await plans;
    for (const plan of [dev, dataVolume]) {
        for (const inst of ["colombia", "peru"]) {
            const owned = ownedBy(plan, inst);
            const names = owned.filter((r) => r.type === CONTAINER).map((r) => String(r.inputs.name)).sort();
            // PostGIS by its fixed name, and nginx too where it publishes a host port (both local
            // stacks); the backend by its own and a digest of what replaces it, but in the
            // checkout layout (dev) by its fixed name.
            assert.equal(names.length, 3);
            assert.match(names[0], new RegExp(`^housing-portal-${inst}-backend${plan === dev ? "" : "-[0-9a-f]{10}"}$`));
            assert.equal(names[1], `housing-portal-${inst}-nginx`);
            assert.equal(names[2], `housing-portal-${inst}-postgis`);
            const net = owned.find((r) => r.type === "docker:index/network:Network")!;
            assert.equal(net.inputs.name, `housing-portal-${inst}-net`);
            for (const c of owned.filter((r) => r.type === CONTAINER)) {
                assert.deepEqual((c.inputs.networksAdvanced as any[]).map((n) => n.name), [net.inputs.name], `${c.name} on its own network only`);
            }
        }
    }
});

test("every container mounts exactly the seed's targets with the seed's read-only flags", async () => {
    const { dev, dataVolume } = await plans;
    for (const plan of [dev, dataVolume]) {
        for (const inst of ["colombia", "peru"]) {
            for (const role of ["postgis", "backend", "nginx"]) {
                assert.deepEqual(targets(container(plan, inst, role)), [...SEED_TARGETS[role]].sort(), `${plan.stack} ${inst} ${role}`);
            }
        }
    }
});

test("dev: sources are absolute paths in the checkout; exports and PostGIS are the instance's named volumes", async () => {
    const { dev } = await plans;
    const backend = container(dev, "peru", "backend");
    const mounts = Object.fromEntries((backend.inputs.mounts as any[]).map((m) => [m.target, m]));
    assert.equal(mounts["/imports"].source, "/housing-portal-infra/test/fixtures/imports/peru".replace("/housing-portal-infra", process.cwd()));
    assert.deepEqual([mounts["/exports"].type, mounts["/exports"].source], ["volume", "housing-portal-peru-exports"]);
    const nginx = container(dev, "peru", "nginx");
    const conf = (nginx.inputs.mounts as any[]).find((m) => m.target === "/etc/nginx/nginx.conf");
    assert.equal(conf.source, `${process.cwd()}/test/fixtures/housing_portal/nginx/dev.conf`);
    assert.equal(conf.readOnly, true);
    for (const c of ofType(dev, CONTAINER)) {
        for (const m of c.inputs.mounts as any[]) {
            if (m.type === "bind") assert.ok(m.source.startsWith("/"), `${c.name}: ${m.source} must be absolute`);
        }
    }
});

test("data-volume: binds live under <dataRoot>/<kind>/<instance>; nginx.conf is the rendered one", async () => {
    const { dataVolume } = await plans;
    for (const inst of ["colombia", "peru"]) {
        for (const role of ["backend", "nginx"]) {
            for (const m of container(dataVolume, inst, role).inputs.mounts as any[]) {
                assert.equal(m.type, "bind");
                if (m.target === "/etc/nginx/nginx.conf") continue;
                assert.match(m.source, new RegExp(`^/mnt/housing-portal-e2e/[a-z-]+/${inst}$`));
            }
        }
        // Not uploaded (the root file system is read-only): written on the data volume by the
        // host, before nginx is created, and bound read-only; its hash labels the container.
        const nginx = container(dataVolume, inst, "nginx");
        assert.equal(nginx.inputs.uploads, undefined);
        const conf = renderNginxConfig({ domain: `${inst}.e2e.test`, backendHost: `housing-portal-${inst}-backend`, backendPort: 8000 });
        const dir = `/mnt/housing-portal-e2e/.housing-portal/nginx/${inst}`;
        assert.deepEqual((nginx.inputs.mounts as any[]).find((m) => m.target === "/etc/nginx/nginx.conf"),
            { type: "bind", source: `${dir}/nginx.conf`, target: "/etc/nginx/nginx.conf", readOnly: true });
        const write = byName(dataVolume, `${inst}-nginx-config`);
        assert.equal(write.inputs.stdin, readHostFile("nginx-config.sh"));
        const create = write.inputs.create as string;
        assert.ok(create.includes(`CONFIG_DIR=${dir} `), create);
        assert.ok(create.includes(`NGINX_CONF_B64=${Buffer.from(conf, "utf8").toString("base64")} `) || create.includes(`NGINX_CONF_B64='${Buffer.from(conf, "utf8").toString("base64")}' `), "the rendered config, base64");
        assert.ok(nginx.dependsOn.includes(write.urn), "nginx is created after its config is written");
        const labels = Object.fromEntries((nginx.inputs.labels as any[]).map((l) => [l.label, l.value]));
        assert.equal(labels["housing-portal.config-sha256"], crypto.createHash("sha256").update(conf).digest("hex"));
    }
});

test("a changed nginx config rewrites the file and replaces nginx (it binds the file it was created with); nothing else of the instance", async () => {
    const { dataVolume, withAlias } = await plans;
    const diff = diffPlans(dataVolume, withAlias);
    const changes = Object.fromEntries(diff.changed.map((c) => [c.resource.name, c]));
    assert.deepEqual(Object.keys(changes).filter((n) => !n.startsWith("edge-")).sort(), ["peru-nginx", "peru-nginx-config", "peru-pids"]);
    assert.equal(changes["peru-nginx"].replaced, true);
    assert.deepEqual(changes["peru-nginx"].reasons, ["labels"]);
});

test("PostGIS has a dedicated volume: retained on delete, bound to postgis/<instance> on the data volume", async () => {
    const { dev, dataVolume, staging } = await plans;
    for (const plan of [dev, dataVolume, staging]) {
        for (const inst of ["colombia", "peru"]) {
            const vol = byName(plan, `${inst}-postgis-data`);
            assert.equal(vol.retainOnDelete, true, `${plan.stack} ${inst}: retainOnDelete`);
            assert.equal(vol.protect, plan.stack === "staging", `${plan.stack} ${inst}: protect only in cloud stacks`);
            const users = ofType(plan, CONTAINER).filter((c) => (c.inputs.mounts as any[]).some((m) => m.source === vol.inputs.name));
            assert.deepEqual(users.map((c) => c.inputs.name), [`housing-portal-${inst}-postgis`], "mounted by its PostGIS only");
            if (plan.stack !== "dev") {
                const root = plan.stack === "staging" ? "/mnt/data" : "/mnt/housing-portal-e2e";
                assert.deepEqual(vol.inputs.driverOpts, { device: `${root}/postgis/${inst}`, o: "bind", type: "none" });
            }
        }
    }
});

test("PostGIS keeps its cluster in PGDATA on the dedicated volume, never at the image's own VOLUME path", async () => {
    const { dev, dataVolume, staging } = await plans;
    for (const plan of [dev, dataVolume, staging]) {
        for (const inst of ["colombia", "peru"]) {
            const envs = container(plan, inst, "postgis").inputs.envs as string[];
            const pgdata = envs.filter((e) => e.startsWith("PGDATA=")).map((e) => e.slice("PGDATA=".length));
            assert.equal(pgdata.length, 1, `${plan.stack} ${inst}: one PGDATA`);
            // Under the dedicated mount, and not /var/lib/postgresql/data: images before 18 declare
            // that path a VOLUME, and the engine would put an anonymous volume on the root disk there.
            assert.ok(pgdata[0].startsWith("/var/lib/postgresql/"), pgdata[0]);
            assert.notEqual(pgdata[0].replace(/\/+$/, ""), "/var/lib/postgresql/data");
        }
    }
});

test("only nginx publishes a port, the instance's own", async () => {
    const { dev, dataVolume } = await plans;
    for (const plan of [dev, dataVolume]) {
        for (const [inst, port] of [["colombia", plan.stack === "dev" ? 8000 : 18081], ["peru", plan.stack === "dev" ? 8001 : 18082]] as const) {
            assert.equal(container(plan, inst, "postgis").inputs.ports, undefined);
            assert.equal(container(plan, inst, "backend").inputs.ports, undefined);
            assert.deepEqual(container(plan, inst, "nginx").inputs.ports, [{ external: port, internal: 80 }]);
        }
    }
});

test("containers restart unless stopped, rotate logs, have healthchecks and labels, and are stopped gracefully before they are removed", async () => {
    const { dataVolume } = await plans;
    for (const c of ofType(dataVolume, CONTAINER)) {
        assert.equal(c.inputs.restart, "unless-stopped");
        assert.equal(c.inputs.logDriver, "json-file");
        assert.deepEqual(c.inputs.logOpts, { "max-file": "5", "max-size": "10m" });
        assert.ok(((c.inputs.healthcheck as any).tests as string[]).length > 1, `${c.name} healthcheck`);
        // Without a grace the provider's delete is a forced removal: SIGKILL, no checkpoint, requests cut.
        assert.ok(Number(c.inputs.destroyGraceSeconds) >= 30, `${c.name} is killed when removed`);
        const labels = Object.fromEntries((c.inputs.labels as any[]).map((l) => [l.label, l.value]));
        assert.equal(labels["housing-portal.instance"], c.name.split("-")[0]);
        assert.equal(labels["housing-portal.role"], c.name.split("-")[1]);
    }
    assert.equal(byName(dataVolume, "colombia-network").deleteBeforeReplace, true);
});

test("PostGIS is replaced delete-first under its fixed name (never two servers on one data directory); backend and nginx start before they stop, but an nginx with a host port goes first", async () => {
    const { dataVolume, staging } = await plans;
    for (const plan of [dataVolume, staging]) {
        for (const inst of ["colombia", "peru"]) {
            const pg = container(plan, inst, "postgis");
            assert.equal(pg.deleteBeforeReplace, true);
            assert.equal(pg.inputs.name, `housing-portal-${inst}-postgis`);
            assert.equal(pg.inputs.wait, undefined, "nothing waits on a database that is the only one");
            // The local stack's nginx publishes a host port, which two containers cannot share.
            const nginx = container(plan, inst, "nginx");
            if (plan.stack !== "staging") {
                assert.ok(nginx.inputs.ports, "the local stack's nginx publishes its port");
                assert.equal(nginx.deleteBeforeReplace, true);
                assert.equal(nginx.inputs.name, `housing-portal-${inst}-nginx`);
                assert.equal(nginx.inputs.wait, undefined);
            }
            for (const role of START_BEFORE_STOP.filter((r) => r !== "nginx" || plan.stack === "staging")) {
                const c = container(plan, inst, role);
                assert.equal(c.deleteBeforeReplace, false, `${c.name}: Pulumi's create-before-delete`);
                // Created only once healthy: the old one is removed after that.
                assert.equal(c.inputs.wait, true);
                assert.ok(Number(c.inputs.waitTimeout) >= 60);
                assert.ok((c.inputs.healthcheck as any).tests.length > 1);
                // Both generations carry the stable name on the instance's network (the edge's and nginx's upstream).
                const [net] = c.inputs.networksAdvanced as { name: string; aliases: string[] }[];
                assert.ok(net.aliases.includes(`housing-portal-${inst}-${role}`), `${c.name}: ${net.aliases}`);
            }
            assert.equal(container(plan, inst, "nginx").inputs.stopSignal, "SIGQUIT", "nginx's graceful stop");
        }
    }
    // The checkout layout binds the checkout by absolute path: fixed names, or the plan would depend on where it lies.
    const { dev } = await plans;
    for (const c of ofType(dev, CONTAINER)) {
        assert.equal(c.deleteBeforeReplace, true, `${c.name}: delete-first in the checkout layout`);
        assert.match(String(c.inputs.name), /^housing-portal-[a-z]+-(postgis|backend|nginx)$/, `${c.name}: its fixed name`);
    }
    // The edge and nginx reach them by the stable names only.
    const b64 = /NGINX_CONF_B64='?([A-Za-z0-9+/=]+)/.exec(String(byName(dataVolume, "peru-nginx-config").inputs.create))![1];
    const conf = Buffer.from(b64, "base64").toString("utf8");
    assert.match(conf, /set \$backend_upstream http:\/\/housing-portal-peru-backend:8000;/);
    assert.match(String(byName(staging, "edge-routes").inputs.create), /./);
});

test("a start-before-stop container's name changes with every input that replaces it, and with no input the provider updates in place", async () => {
    const { dataVolume, newImage, biggerBackend } = await plans;
    // The program's list of in-place inputs is the provider's (a replacing one there would leave two containers one name).
    const rule = REPLACEMENT_RULES["docker:index/container:Container"].replacement;
    assert.equal(rule.kind, "on-any-input-except");
    for (const k of IN_PLACE_CONTAINER_INPUTS) assert.ok(rule.kind === "on-any-input-except" && rule.inPlace.includes(k), `${k} replaces the container`);
    for (const role of START_BEFORE_STOP) {
        const c = container(dataVolume, "peru", role);
        for (const k of Object.keys(c.inputs)) {
            const updatable: boolean = rule.kind === "on-any-input-except" && rule.inPlace.includes(k)
                && !(APPLIED_BY_REPLACEMENT_ONLY as readonly string[]).includes(k);
            assert.equal((IN_PLACE_CONTAINER_INPUTS as readonly string[]).includes(k), updatable, `${role}.${k}: in the name's digest exactly when it replaces (or only a replacement applies it)`);
        }
    }
    // A new image: a new name, replaced create-first; nginx (which reaches the backend by its alias) is untouched.
    const name = (p: PlanDocument, role: string) => container(p, "peru", role).inputs.name;
    assert.notEqual(name(newImage, "backend"), name(dataVolume, "backend"));
    const diff = diffPlans(dataVolume, newImage);
    assert.deepEqual(diff.changed.filter((c) => c.resource.type === CONTAINER).map((c) => [c.resource.name, c.replaced, c.resource.deleteBeforeReplace]), [["peru-backend", true, false]]);
    // More memory: the same name, updated in place.
    assert.equal(name(biggerBackend, "backend"), name(dataVolume, "backend"));
    assert.deepEqual(diffPlans(dataVolume, biggerBackend).changed.map((c) => [c.resource.name, c.replaced]), [["peru-backend", false]]);
    // The other instance keeps its names.
    assert.equal(container(newImage, "colombia", "backend").inputs.name, container(dataVolume, "colombia", "backend").inputs.name);
});

test("every container is limited in memory (no swap beyond it) and CPUs, never gains privileges; PostGIS gets shared memory", async () => {
    const { dataVolume } = await plans;
    const expected: Record<string, { memory: number; cpus: string }> = { postgis: { memory: 1024, cpus: "1.5" }, backend: { memory: 768, cpus: "1.0" }, nginx: { memory: 128, cpus: "0.5" } };
    const containers = ofType(dataVolume, CONTAINER);
    assert.equal(containers.length, 6);
    for (const c of containers) {
        const role = c.name.split("-")[1];
        assert.deepEqual([c.inputs.memory, c.inputs.memorySwap, c.inputs.cpus], [expected[role].memory, expected[role].memory, expected[role].cpus], c.name);
        assert.deepEqual(c.inputs.securityOpts, ["no-new-privileges:true"], c.name);
        assert.equal(c.inputs.privileged, undefined, c.name);
        assert.equal(c.inputs.shmSize, role === "postgis" ? 256 : undefined, c.name);
        const caps = c.inputs.capabilities as { adds: string[]; drops: string[] };
        assert.deepEqual(caps.drops, ["ALL"], c.name);
        const base = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"];
        assert.deepEqual([...caps.adds].sort(), role === "nginx" ? [] : base, c.name);
        for (const risky of ["NET_RAW", "MKNOD", "SYS_CHROOT", "SETFCAP", "SYS_ADMIN"]) assert.ok(!caps.adds.includes(risky), `${c.name} keeps ${risky}`);
    }
    // One instance's limits fit the example machines with room for the host: 2 on 4 GiB, 3 on 8 GiB.
    const perInstance = Object.values(expected).reduce((sum, l) => sum + l.memory, 0);
    assert.ok(2 * perInstance <= 4096 - 200 && 3 * perInstance <= 8192 - 200, `${perInstance} MB per instance`);
});

test("an instance's own resources change only its own container: a new CPU limit replaces it, and its database login runs again", async () => {
    const { dataVolume, biggerDatabase } = await plans;
    const pg = byName(biggerDatabase, "peru-postgis");
    assert.deepEqual([pg.inputs.memory, pg.inputs.memorySwap, pg.inputs.cpus], [3072, 3072, "2"]);
    const changed = biggerDatabase.resources.filter((r) => JSON.stringify(r) !== JSON.stringify(dataVolume.resources.find((b) => b.urn === r.urn)));
    assert.deepEqual(changed.map((r) => r.name).sort(), ["peru-db-login", "peru-pids", "peru-postgis"]);
    // cpus is ForceNew in the Docker provider (memory is not): the container is replaced, gets a
    // new id, and the login command triggered by that id runs again on the new container.
    const diff = diffPlans(dataVolume, biggerDatabase);
    assert.deepEqual(diff.changed.map((c) => [c.resource.name, c.reasons]).sort(), [["peru-db-login", ["triggers"]], ["peru-pids", ["triggers"]], ["peru-postgis", ["cpus"]]]);
});

test("the database password is generated, secret, and reaches the containers only through their environment", async () => {
    const { dataVolume } = await plans;
    const text = JSON.stringify(dataVolume);
    for (const inst of ["colombia", "peru"]) {
        assert.ok(byName(dataVolume, `${inst}-db-password`).type === "random:index/randomPassword:RandomPassword");
        // The value the plan's mock generates must appear nowhere, not even inside a longer string.
        for (const password of [`${inst}-db-password`, `${inst}-db-superuser-password`]) {
            const generated = fakePassword(password, byName(dataVolume, password).inputs);
            assert.equal(generated.length, 32);
            assert.ok(!text.includes(generated), `${password} leaked`);
        }
        for (const role of ["postgis", "backend"]) {
            const envs = container(dataVolume, inst, role).inputs.envs as string[];
            assert.ok(envs.includes("[secret]"), `${role} gets the password as a secret`);
            assert.ok(!envs.some((e) => /PASSWORD=|DATABASE_URL=/.test(e)), "no plain password variable");
        }
        assert.equal(container(dataVolume, inst, "nginx").inputs.envs, undefined, "nginx gets no credentials");
    }
    assert.equal((dataVolume.outputs.databasePasswords as unknown), "[secret]");
});

test("the backend reaches its own PostGIS by container name; start order is PostGIS, backend, nginx", async () => {
    const { dataVolume } = await plans;
    const backend = container(dataVolume, "peru", "backend");
    assert.ok((backend.inputs.envs as string[]).includes("POSTGRES_HOST=housing-portal-peru-postgis"));
    assert.ok(backend.dependsOn.includes(container(dataVolume, "peru", "postgis").urn));
    assert.ok(container(dataVolume, "peru", "nginx").dependsOn.includes(backend.urn));
    const dirs = byName(dataVolume, "peru-dirs");
    for (const role of ["postgis", "backend", "nginx"]) {
        assert.ok(container(dataVolume, "peru", role).dependsOn.includes(dirs.urn), `${role} waits for its directories`);
    }
    assert.ok(byName(dataVolume, "peru-postgis-data").dependsOn.includes(dirs.urn));
});

test("each (re)created PostGIS gets its declared roles from host/sync-db-roles.sh before the backend starts", async () => {
    const { dev, dataVolume, staging } = await plans;
    for (const plan of [dev, dataVolume, staging]) {
        for (const inst of ["colombia", "peru"]) {
            const login = byName(plan, `${inst}-db-login`);
            const postgis = container(plan, inst, "postgis");
            assert.equal(login.inputs.stdin, readHostFile("sync-db-roles.sh"), `${plan.stack}: the script is sent as it is in host/`);
            assert.match(String(login.inputs.create), new RegExp(`CONTAINER=housing-portal-${inst}-postgis bash -s$`));
            assert.ok(!String(login.inputs.create).includes("PASSWORD"), "no password on the command line");
            assert.ok(login.dependsOn.includes(postgis.urn), `${plan.stack}: waits for its PostGIS`);
            // Runs again whenever the container is replaced (a new id), e.g. after a password change.
            assert.ok((login.inputs.triggers as string[]).some((t) => t.startsWith(`${inst}-postgis`)), `${plan.stack}: triggered by the container's id`);
            assert.ok(container(plan, inst, "backend").dependsOn.includes(login.urn), `${plan.stack}: the backend waits for it`);
        }
    }
});

test("adding an instance adds only its resources; every existing resource stays byte-identical", async () => {
    const { dataVolume, withThird } = await plans;
    const after = new Map(withThird.resources.map((r) => [r.urn, JSON.stringify(r)]));
    for (const r of dataVolume.resources) assert.equal(after.get(r.urn), JSON.stringify(r), `${r.name} changed`);
    const added = withThird.resources.filter((r) => !dataVolume.resources.some((x) => x.urn === r.urn));
    assert.ok(added.length > 0);
    for (const r of added) assert.ok(r.name === "paraguay" || r.name.startsWith("paraguay-"), `unexpected new resource ${r.name}`);
});

test("cloud stacks too: adding an instance adds its resources, changes only the edge's routes, and never its container", async () => {
    const { cloudWithThird } = await plans;
    for (const [before, after, edge] of cloudWithThird) {
        const now = new Map(after.resources.map((r) => [r.urn, JSON.stringify(r)]));
        // The two runs of host/edge-routes.sh of the instance's host get the new Caddyfile and network; a reload, not a restart.
        const changed = before.resources.filter((r) => now.get(r.urn) !== JSON.stringify(r)).map((r) => r.name).sort();
        assert.deepEqual(changed, [`${edge}-config`, `${edge}-routes`], `${before.stack}: changed`);
        assert.ok(now.has(byName(before, `${edge}-caddy`).urn) && now.get(byName(before, `${edge}-caddy`).urn) === JSON.stringify(byName(before, `${edge}-caddy`)), "the edge's container is byte-identical");
        const added = after.resources.filter((r) => !before.resources.some((x) => x.urn === r.urn)).map((r) => r.name);
        assert.ok(added.includes("bolivia-postgis"), `${before.stack}: ${added.join(", ")}`);
        for (const n of added) assert.match(n, /^bolivia(-|$)/, `${before.stack}: unexpected new resource ${n}`);
        assert.match(String(byName(after, `${edge}-routes`).inputs.create), /NETWORKS='[^']*housing-portal-bolivia-net'/);
    }
});

test("changing one instance's image changes only that instance", async () => {
    const { dataVolume, newImage } = await plans;
    const before = new Map(dataVolume.resources.map((r) => [r.urn, JSON.stringify(r)]));
    const changed = newImage.resources.filter((r) => before.get(r.urn) !== JSON.stringify(r)).map((r) => r.name).sort();
    // The process limits are set again on the new container.
    assert.deepEqual(changed, ["peru-backend", "peru-backend-image", "peru-pids"]);
});

test("two database roles: PostGIS's superuser with its own password, the backend's role with another, which the backend alone logs in with", async () => {
    const { revealed, staging } = await plans;
    for (const inst of ["colombia", "peru"]) {
        const env = (role: string) => Object.fromEntries((container(revealed, inst, role).inputs.envs as string[]).map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
        const postgis = env("postgis");
        const backend = env("backend");
        assert.equal(postgis.POSTGRES_USER, "postgres");
        assert.equal(postgis.PORTAL_DB_USER, "portal");
        assert.equal(backend.POSTGRES_USER, "portal", "the backend logs in as its own role");
        assert.equal(backend.POSTGRES_PASSWORD, postgis.PORTAL_DB_PASSWORD);
        assert.notEqual(postgis.POSTGRES_PASSWORD, postgis.PORTAL_DB_PASSWORD, "the superuser's password is separate");
        assert.ok(!Object.values(backend).some((v) => v.includes(postgis.POSTGRES_PASSWORD)), "the backend never has the superuser's password");
        assert.match(postgis.POSTGRES_PASSWORD, /^[A-Za-z0-9]{32}$/);
    }
    // Both generated, both masked in the reviewed plans.
    assert.ok(byName(staging, "colombia-db-superuser-password") && byName(staging, "colombia-db-password"));
    assert.ok((container(staging, "colombia", "postgis").inputs.envs as string[]).filter((e) => e === "[secret]").length === 2);
});

test("a stack deployed before start-before-stop: its first pulumi up replaces each backend and nginx once, create-first, updates PostGIS in place, replaces the edge's container once, and touches no data", async () => {
    // Deployed before generated host keys too: it keeps its machine with host.hostKey.
    const head = (await plans).stagingUpgraded;
    const deployed = JSON.parse(fs.readFileSync("test/fixtures/deployed-before-start-before-stop/staging.json", "utf8")).resources as PlannedResource[];
    const before: PlanDocument = { ...head, resources: head.resources.map((r) => deployed.find((d) => d.urn === r.urn) ?? r) };
    const diff = diffPlans(before, head);
    assert.deepEqual([diff.added, diff.removed], [[], []]);
    const how = (c: (typeof diff.changed)[number]) => (!c.replaced ? "updated in place" : c.resource.deleteBeforeReplace ? "replaced delete-first" : "replaced create-first");
    assert.deepEqual(diff.changed.map((c) => `${c.resource.name}: ${how(c)}`).sort(), [
        "colombia-backend: replaced create-first", "colombia-nginx: replaced create-first", "colombia-postgis: updated in place",
        "edge-caddy: replaced delete-first", "edge-routes: replaced create-first",
        "peru-backend: replaced create-first", "peru-nginx: replaced create-first", "peru-postgis: updated in place",
    ]);
    // PostGIS: only the grace of its stop, which the provider keeps in its state (no restart).
    for (const pg of ["colombia-postgis", "peru-postgis"]) assert.deepEqual(diff.changed.find((c) => c.resource.name === pg)!.fields, ["destroyGraceSeconds"]);
    // The edge: one restart for its new sysctls and user (its routes run again on the new container).
    assert.deepEqual(diff.changed.find((c) => c.resource.name === "edge-caddy")!.reasons, ["sysctls", "user"]);
    const gate = dataLossGate([{ stack: "staging", removed: diff.removed, replaced: diff.changed.filter((c) => c.replaced).map((c) => ({ before: c.before, reasons: c.reasons })) }], []);
    assert.equal(gate.passed, true);
    assert.deepEqual(gate.findings, []);
});

test("each instance's containers get their process limits from one host command, run again whenever one of them is recreated", async () => {
    const { dataVolume } = await plans;
    for (const inst of ["colombia", "peru"]) {
        const pids = byName(dataVolume, `${inst}-pids`);
        assert.equal(pids.inputs.stdin, readHostFile("limit-container-pids.sh"));
        const ids = ["postgis", "backend", "nginx"].map((role) => container(dataVolume, inst, role));
        // The containers' current names: backend's and nginx's generational ones.
        const [pg, be, ng] = ids.map((c) => String(c.inputs.name));
        assert.match(be, new RegExp(`^housing-portal-${inst}-backend-[0-9a-f]{10}$`));
        assert.ok(String(pids.inputs.create).includes(`LIMITS='${pg}=256 ${be}=256 ${ng}=128'`), String(pids.inputs.create));
        assert.deepEqual([...pids.dependsOn].sort(), ids.map((c) => c.urn).sort());
        assert.equal((pids.inputs.triggers as unknown[]).length, 3, "triggered by the three containers' ids");
    }
});
