// The e2e stack's layout, realised on a real engine from the plan: databases, nginx, read-only
// mounts and the isolation between instances.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { sh } from "../host/helpers";
import {
    containerName, docker, dockerTry, E2eStack, engine, passwordOf, psqlTcp, request, requestWhenUp, resource,
} from "./harness";

const stack = new E2eStack("layout");
const [A, B] = stack.instances();

before(() => stack.setup(), { timeout: 900_000 });
after(() => stack.teardown(), { timeout: 300_000 });

test("the e2e stack has two instances to compare", () => {
    assert.ok(A && B && A !== B, `expected two instances in test/e2e/Pulumi.e2e.yaml, got ${stack.instances().join(", ")}`);
});

test("each PostGIS accepts its generated password, has PostGIS, and keeps its files on the loop volume under postgis/<instance>", async () => {
    const volumeDevice = sh("mountpoint", ["-d", stack.dataRoot]).trim();
    assert.equal(fs.realpathSync(stack.volume.link), stack.volume.device);
    assert.equal(volumeDevice, sh("lsblk", ["-dno", "MAJ:MIN", stack.volume.device]).trim(), `${stack.dataRoot} is not the loop volume`);
    for (const instance of stack.instances()) {
        const password = passwordOf(stack.plan!, instance);
        // The backend reaches its database as the program wires it: by the alias on its network.
        const ok = await psqlTcp(containerName(instance, "backend"), "postgis", password, "SELECT postgis_lib_version();");
        assert.equal(ok.code, 0, `${instance}: ${ok.stderr}`);
        assert.match(ok.stdout.trim(), /^3\.\d+\.\d+/);
        const wrong = await psqlTcp(containerName(instance, "backend"), "postgis", `${password}-wrong`, "SELECT 1;");
        assert.notEqual(wrong.code, 0);
        assert.match(wrong.stderr, /password authentication failed/);

        const dataDir = path.join(stack.dataRoot, "postgis", instance);
        const volume = await engine.request("GET", `/volumes/${encodeURIComponent(`housing-portal-${instance}-postgis-data`)}`);
        assert.equal(volume.Options.device, dataDir);
        assert.ok(fs.existsSync(path.join(dataDir, "pgdata", "PG_VERSION")), `no cluster in ${dataDir}/pgdata`);
        assert.ok(fs.readdirSync(path.join(dataDir, "pgdata", "pg_wal")).length > 0, "the WAL is not on the volume");
        assert.equal(fs.statSync(path.join(dataDir, "pgdata", "PG_VERSION")).dev, fs.statSync(stack.dataRoot).dev, "the cluster is not on the loop volume");
        // Nothing of the database is in Docker's own storage on the root disk.
        const inspect = await engine.request("GET", `/containers/${containerName(instance, "postgis")}/json`);
        const dbMount = inspect.Mounts.find((m: { Destination: string }) => m.Destination === "/var/lib/postgresql");
        assert.equal(dbMount.Name, `housing-portal-${instance}-postgis-data`);
        assert.equal(dbMount.RW, true);
    }
});

test("the backend's role owns its database and can do nothing more: no roles, no COPY … PROGRAM, no server files; the superuser's password is not the backend's", async () => {
    for (const instance of stack.instances()) {
        const backend = containerName(instance, "backend");
        const password = passwordOf(stack.plan!, instance);
        const own = await psqlTcp(backend, "postgis", password, "CREATE TABLE role_probe (id int); DROP TABLE role_probe; SELECT rolsuper FROM pg_roles WHERE rolname = current_user;");
        assert.equal(own.code, 0, own.stderr);
        assert.equal(own.stdout.trim(), "f", `${instance}: the backend's role is a superuser`);
        for (const sql of ["CREATE ROLE intruder;", "COPY (SELECT 1) TO PROGRAM 'id';", "SELECT pg_read_file('/etc/passwd');", "ALTER ROLE portal SUPERUSER;"]) {
            const refused = await psqlTcp(backend, "postgis", password, sql);
            assert.notEqual(refused.code, 0, `${instance}: the backend's role could run ${sql}`);
            assert.match(refused.stderr, /permission denied|must be superuser|must have/i, sql);
        }
        const envs = resource(stack.plan!, `${instance}-postgis`).inputs.envs as string[];
        const superuser = envs.find((e) => e.startsWith("POSTGRES_PASSWORD="))!.slice("POSTGRES_PASSWORD=".length);
        assert.notEqual(superuser, password);
        const inspect = await engine.request("GET", `/containers/${backend}/json`);
        assert.ok(!(inspect.Config.Env as string[]).some((e) => e.includes(superuser)), `${instance}: the backend has the superuser's password`);
    }
});

test("nginx passes nginx -t with the rendered config it was given", async () => {
    for (const instance of stack.instances()) {
        const nginx = containerName(instance, "nginx");
        // The plan's host command writes it (host/nginx-config.sh); the container binds that file.
        const create = String(resource(stack.plan!, `${instance}-nginx-config`).inputs.create);
        const b64 = /NGINX_CONF_B64=([A-Za-z0-9+/=]+)/.exec(create)?.[1];
        assert.ok(b64, `the plan writes no nginx.conf: ${create.slice(0, 200)}`);
        assert.equal(await docker(["exec", nginx, "cat", "/etc/nginx/nginx.conf"]), Buffer.from(b64, "base64").toString("utf8").replace(/\n*$/, "\n"));
        const t = await dockerTry(["exec", nginx, "nginx", "-t"]);
        assert.equal(t.code, 0, t.stderr);
        assert.match(t.stderr, /test is successful/);
    }
});

test("nginx serves an export the backend wrote, through the backend's X-Accel-Redirect, and only that way", async () => {
    for (const instance of stack.instances()) {
        const port = stack.instancePort(instance);
        const host = stack.instanceDomain(instance);
        const body = `id,name\n1,${instance}\n`;
        const posted = await requestWhenUp(port, host, "POST", `/api/exports/layout-${instance}.csv`, body);
        assert.equal(posted.status, 201, posted.body);
        // The backend wrote it to the instance's exports directory on the volume ...
        assert.equal(fs.readFileSync(path.join(stack.dataRoot, "exports", instance, `layout-${instance}.csv`), "utf8"), body);
        // ... and nginx serves it from its read-only /exports when the backend says so.
        const got = await request(port, host, "GET", `/api/download/layout-${instance}.csv`);
        assert.equal(got.status, 200);
        assert.equal(got.body, body);
        assert.equal(got.headers["x-accel-redirect"], undefined, "nginx leaked the internal redirect");
        // The internal location is not reachable from outside.
        const direct = await request(port, host, "GET", `/protected/exports/layout-${instance}.csv`);
        assert.equal(direct.status, 404);
    }
});

test("nginx cannot write to any of its read-only mounts", async () => {
    for (const instance of stack.instances()) {
        const declared = resource(stack.plan!, `${instance}-nginx`).inputs.mounts as { target: string; readOnly: boolean }[];
        const readOnly = declared.filter((m) => m.readOnly).map((m) => m.target);
        assert.ok(readOnly.includes("/exports") && readOnly.includes("/images"), `read-only mounts: ${readOnly.join(", ")}`);
        assert.ok(readOnly.includes("/etc/nginx/nginx.conf"), "the config file is bound read-only");
        for (const target of readOnly) {
            // As root in the container (which owns these on the host), so that only the mount's
            // read-only flag refuses: nginx's own uid 101 is refused by their modes first.
            const probe = target.endsWith(".conf") ? `echo probe >> ${target}` : `echo probe > ${target}/.write-probe`;
            const w = await dockerTry(["exec", "--user", "0", containerName(instance, "nginx"), "sh", "-c", probe]);
            assert.notEqual(w.code, 0, `nginx of ${instance} wrote to ${target}`);
            assert.match(w.stderr, /Read-only file system/);
        }
    }
});

test("instances are isolated: no mount of the other's data, no name or route to its database", async () => {
    for (const [mine, other] of [[A, B], [B, A]]) {
        for (const role of ["postgis", "backend", "nginx"] as const) {
            const c = await engine.request("GET", `/containers/${containerName(mine, role)}/json`);
            for (const m of c.Mounts as { Source: string; Name?: string }[]) {
                const what = `${containerName(mine, role)} mounts ${m.Name ?? m.Source}`;
                assert.ok(!(m.Name ?? "").includes(`-${other}-`), what);
                assert.ok(!m.Source.split("/").includes(other), what);
                // <dataRoot>/<kind>/<instance>, or the instance's rendered config file in a directory named after it.
                const parts = m.Source.split("/");
                if (m.Source.startsWith(stack.dataRoot)) assert.equal(parts.at(parts.at(-1) === "nginx.conf" ? -2 : -1), mine, what);
            }
            assert.deepEqual(Object.keys(c.NetworkSettings.Networks), [`housing-portal-${mine}-net`]);
        }
        const backend = containerName(mine, "backend");
        const password = passwordOf(stack.plan!, other);
        // By name: the other instance's database is not on this network.
        const byName = await psqlTcp(backend, containerName(other, "postgis"), password, "SELECT 1;");
        assert.notEqual(byName.code, 0);
        assert.match(byName.stderr, /could not translate host name|Name or service not known/);
        // By address: the other instance's network is not routed to this one. The same probe
        // reaches this instance's own database by its address (so a failure below is the route's).
        const ipOf = async (instance: string) => {
            const c = await engine.request("GET", `/containers/${containerName(instance, "postgis")}/json`);
            const ip = c.NetworkSettings.Networks[`housing-portal-${instance}-net`].IPAddress;
            assert.match(ip, /^\d+\.\d+\.\d+\.\d+$/);
            return ip as string;
        };
        const own = await psqlTcp(backend, await ipOf(mine), passwordOf(stack.plan!, mine), "SELECT 1;");
        assert.equal(own.code, 0, `${backend} cannot reach its own database by address: ${own.stderr}`);
        const ip = await ipOf(other);
        // Docker drops packets between bridge networks: no answer ever comes. The connect bound is
        // far above any local round trip (even on a busy machine), not a figure that could pass a
        // reachable database off as unreachable.
        const byIp = await psqlTcp(backend, ip, password, "SELECT 1;", 20);
        assert.notEqual(byIp.code, 0, `${backend} reached ${other}'s database at ${ip}`);
        assert.match(byIp.stderr, /timeout expired|No route to host|Network is unreachable/, `${backend} -> ${ip}: not a routing failure: ${byIp.stderr}`);
        // And the other instance's export is not served by this instance's nginx.
        const got = await request(stack.instancePort(mine), stack.instanceDomain(mine), "GET", `/api/download/layout-${other}.csv`);
        assert.equal(got.status, 404);
    }
    // Only nginx publishes a port, on loopback-reachable host ports from the config.
    for (const instance of stack.instances()) {
        for (const role of ["postgis", "backend"] as const) {
            const c = await engine.request("GET", `/containers/${containerName(instance, role)}/json`);
            assert.deepEqual(c.HostConfig.PortBindings ?? {}, {}, `${role} of ${instance} publishes a port`);
        }
    }
});

test("every container runs with its memory and CPU limits, no-new-privileges and only its capabilities; PostGIS with its shared memory", async () => {
    const MB = 1024 * 1024;
    for (const c of stack.plan!.resources.filter((r) => r.type === "docker:index/container:Container")) {
        const inspect = await engine.request("GET", `/containers/${encodeURIComponent(String(c.inputs.name))}/json`);
        const hc = inspect.HostConfig;
        assert.equal(hc.Memory, (c.inputs.memory as number) * MB, `${c.name} memory`);
        assert.equal(hc.MemorySwap, hc.Memory, `${c.name}: no swap beyond the limit`);
        assert.equal(hc.NanoCpus, Number(c.inputs.cpus) * 1e9, `${c.name} cpus`);
        assert.deepEqual(hc.SecurityOpt, ["no-new-privileges:true"], c.name);
        assert.equal(hc.Privileged, false, c.name);
        const caps = c.inputs.capabilities as { adds: string[]; drops: string[] };
        assert.deepEqual([hc.CapDrop, [...(hc.CapAdd ?? [])].sort()], [["ALL"], [...caps.adds].sort()], `${c.name} capabilities`);
        if (c.name.endsWith("-postgis")) assert.equal(hc.ShmSize, 256 * MB, `${c.name} shm`);
        assert.equal(inspect.State.Running, true, `${c.name} runs with them`);
    }
});

/** The process limit the plan's `<instance>-pids` command sets for a container (host/limit-container-pids.sh). */
function plannedPidsLimit(container: string): number {
    const limits = stack.plan!.resources.filter((r) => r.name.endsWith("-pids")).map((r) => /LIMITS='?([^']*)'?/.exec(String(r.inputs.create))?.[1] ?? "");
    const pair = limits.flatMap((l) => l.split(" ")).find((p) => p.startsWith(`${container}=`));
    assert.ok(pair, `no -pids command limits ${container}`);
    return Number(pair.slice(container.length + 1));
}

/** uid and command of every process in a container, as the host's ps sees them. */
async function processesOf(container: string): Promise<{ uid: number; comm: string }[]> {
    const top = await engine.request("GET", `/containers/${encodeURIComponent(container)}/top?ps_args=${encodeURIComponent("-o pid,uid,comm")}`);
    const uid = top.Titles.indexOf("UID"), comm = top.Titles.indexOf("COMMAND");
    return (top.Processes as string[][]).map((p) => ({ uid: Number(p[uid]), comm: p[comm] }));
}

test("every container has its process limit; nginx runs as uid 101 on a read-only root with its tmpfs and no capabilities; PostGIS's server runs as postgres", async () => {
    for (const c of stack.plan!.resources.filter((r) => r.type === "docker:index/container:Container")) {
        const name = String(c.inputs.name);
        const inspect = await engine.request("GET", `/containers/${encodeURIComponent(name)}/json`);
        assert.equal(inspect.HostConfig.PidsLimit, plannedPidsLimit(name), `${name} process limit`);
        assert.equal(inspect.State.Running, true, `${name} runs with it`);
    }
    for (const instance of stack.instances()) {
        const nginx = containerName(instance, "nginx");
        const inspect = await engine.request("GET", `/containers/${nginx}/json`);
        assert.equal(inspect.Config.User, "101:101");
        assert.equal(inspect.HostConfig.ReadonlyRootfs, true);
        assert.deepEqual(Object.keys(inspect.HostConfig.Tmpfs).sort(), ["/var/cache/nginx", "/var/run"]);
        assert.deepEqual(inspect.HostConfig.CapAdd ?? [], []);
        assert.equal(inspect.HostConfig.Sysctls["net.ipv4.ip_unprivileged_port_start"], "0");
        const procs = await processesOf(nginx);
        assert.ok(procs.length >= 2 && procs.every((p) => p.uid === 101), `nginx's processes: ${JSON.stringify(procs)}`);
        // The config is the file on the data volume, bound read-only; the root takes no writes.
        const conf = inspect.Mounts.find((m: { Destination: string }) => m.Destination === "/etc/nginx/nginx.conf");
        assert.equal(conf.Source, path.join(stack.dataRoot, ".housing-portal", "nginx", instance, "nginx.conf"));
        assert.equal(conf.RW, false);
        for (const probe of ["echo x > /etc/nginx/probe", "echo x > /etc/nginx/nginx.conf"]) {
            const write = await dockerTry(["exec", nginx, "sh", "-c", probe]);
            assert.notEqual(write.code, 0, `${nginx}: ${probe} succeeded`);
        }
        const served = await request(stack.instancePort(instance), stack.instanceDomain(instance), "GET", "/");
        assert.equal(served.status, 200, `${instance}'s nginx serves`);
        // PostGIS's entrypoint starts as root to hand its directories over; the server itself does not run as root.
        const pg = await processesOf(containerName(instance, "postgis"));
        const servers = pg.filter((p) => p.comm === "postgres");
        assert.ok(servers.length > 0 && servers.every((p) => p.uid !== 0), `PostGIS's processes: ${JSON.stringify(pg)}`);
    }
});

test("a process that forks without end in one backend stops at its limit; both instances keep serving", async () => {
    const backend = containerName(A, "backend");
    const limit = plannedPidsLimit(backend);
    // Children block on a pipe and leave when it closes: no sleeps, and all of them are gone afterwards.
    const bomb = [
        "import os, errno",
        "r, w = os.pipe()",
        "n = 0",
        "while n < 100000:",
        "    try:",
        "        pid = os.fork()",
        "    except OSError as e:",
        "        print('refused', n, errno.errorcode[e.errno]); break",
        "    if pid == 0:",
        "        os.close(w); os.read(r, 1); os._exit(0)",
        "    n += 1",
        "os.close(w)",
        "while n:",
        "    os.wait(); n -= 1",
    ].join("\n");
    const run = await dockerTry(["exec", backend, "python3", "-c", bomb]);
    assert.equal(run.code, 0, `${run.stdout}${run.stderr}`);
    const m = /^refused (\d+) (\w+)$/m.exec(run.stdout);
    assert.ok(m, `the fork loop was never refused: ${run.stdout}`);
    assert.equal(m[2], "EAGAIN");
    assert.ok(Number(m[1]) < limit, `${m[1]} processes forked with a limit of ${limit}`);
    const other = await request(stack.instancePort(B), stack.instanceDomain(B), "GET", `/api/download/layout-${B}.csv`);
    assert.equal(other.status, 200, "the other instance stopped serving");
    const same = await requestWhenUp(stack.instancePort(A), stack.instanceDomain(A), "GET", `/api/download/layout-${A}.csv`);
    assert.equal(same.status, 200, "the limited backend no longer serves");
});

test("a backend that allocates past its memory limit is killed by the kernel; the other instance keeps serving", async () => {
    const backend = containerName(A, "backend");
    const limitMb = stack.plan!.resources.find((r) => r.name === `${A}-backend`)!.inputs.memory as number;
    // Touch every page, so the memory is really used, not only reserved.
    const hog = await dockerTry(["exec", backend, "python3", "-c", `b = bytearray(${limitMb * 2} * 1024 * 1024)\nfor i in range(0, len(b), 4096): b[i] = 1\nprint("survived")`]);
    assert.equal(hog.code, 137, `expected the OOM killer (137), got ${hog.code}: ${hog.stdout}${hog.stderr}`);
    assert.doesNotMatch(hog.stdout, /survived/);
    const other = await request(stack.instancePort(B), stack.instanceDomain(B), "GET", `/api/download/layout-${B}.csv`);
    assert.equal(other.status, 200, "the other instance stopped serving");
    // The limited backend itself still serves: only the process that went over was killed.
    const same = await requestWhenUp(stack.instancePort(A), stack.instanceDomain(A), "GET", `/api/download/layout-${A}.csv`);
    assert.equal(same.status, 200);
});
