// Every policy with a compliant and a violating resource, and the committed cloud plans pass all.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "fs";
import {
    ResourceView, bindMountsInsideDataRoot, checkAll, containersHardened, dataVolumesProtected, dlmTargetTagOnDataVolume, ebsEncrypted,
    containersPidsLimited, firewallWebAndSshOnly, noPlaintextSecrets, noPublishedDatabaseOrBackendPorts, onlyEdgePublishesPorts, postgisVolumeDedicated, sshNotOpenToWorld,
} from "../../policy/rules";
import { MASK, type PlanDocument } from "../../tools/planner";

const ROOT = "/mnt/data";
const res = (type: string, props: Record<string, any>, protect = false, name = "r"): ResourceView => ({ type, name, props, protect });
const container = (role: string, props: Record<string, any>, name = `c-${role}`) =>
    res("docker:index/container:Container", { labels: [{ label: "housing-portal.role", value: role }], ...props }, false, name);
const pgMount = (source: string) => ({ type: "volume", source, target: "/var/lib/postgresql" });

test("data volumes must be protected", () => {
    for (const type of ["digitalocean:index/volume:Volume", "aws:ebs/volume:Volume"]) {
        assert.deepEqual(dataVolumesProtected.check(res(type, {}, true), ROOT), []);
        assert.equal(dataVolumesProtected.check(res(type, {}, false), ROOT).length, 1);
    }
    const pgVolume = (protect: boolean) => res("docker:index/volume:Volume", { labels: [{ label: "housing-portal.role", value: "postgis" }] }, protect);
    assert.deepEqual(dataVolumesProtected.check(pgVolume(true), ROOT), []);
    assert.match(dataVolumesProtected.check(pgVolume(false), ROOT)[0], /must be protected/);
});

test("containers: a memory limit, no-new-privileges, not privileged, no Docker socket", () => {
    const good = { memory: 128, securityOpts: ["no-new-privileges:true"], capabilities: { drops: ["ALL"], adds: ["SETUID"] }, mounts: [{ type: "bind", source: "/mnt/data/images/peru", target: "/images" }] };
    assert.deepEqual(containersHardened.check(container("backend", good), ROOT), []);
    const one = (props: Record<string, any>, why: RegExp) => {
        const problems = containersHardened.check(container("backend", { ...good, ...props }), ROOT);
        assert.equal(problems.length, 1, JSON.stringify(problems));
        assert.match(problems[0], why);
    };
    one({ memory: undefined }, /no memory limit/);
    one({ memory: 0 }, /no memory limit/);
    one({ securityOpts: [] }, /no-new-privileges/);
    one({ privileged: true }, /must not be privileged/);
    one({ capabilities: undefined }, /drop all capabilities/);
    one({ capabilities: { drops: ["NET_RAW"] } }, /drop all capabilities/);
    one({ mounts: [{ type: "bind", source: "/var/run/docker.sock", target: "/var/run/docker.sock" }] }, /Docker socket/);
    one({ volumes: [{ hostPath: "/run/docker.sock", containerPath: "/docker.sock" }] }, /Docker socket/);
    for (const which of ["nginx", "edge"]) {
        const own = which === "edge" ? { user: "10443:10443" } : {};
        assert.deepEqual(containersHardened.check(container(which, { ...good, ...own, readOnly: true }), ROOT), [], which);
        assert.deepEqual(containersHardened.check(container(which, { ...good, ...own }), ROOT).filter((p) => !/read-only root/.test(p)), [], which);
        assert.match(containersHardened.check(container(which, { ...good, ...own }), ROOT).join(), /must run on a read-only root file system/, which);
    }
});

test("every container is named by a host command that sets its process limit", () => {
    const c = (name: string) => res("docker:index/container:Container", { name }, false, name);
    const limits = (create: string) => res("command:remote:Command", { create }, false, "pids");
    assert.deepEqual(containersPidsLimited.check([c("a-nginx"), c("a-backend"), limits("env LIMITS='a-nginx=128 a-backend=256' bash -s")]), []);
    assert.deepEqual(containersPidsLimited.check([c("edge"), limits("sudo env LIMITS=edge=256 bash -s")]), []);
    assert.deepEqual(containersPidsLimited.check([c("a-nginx"), c("a-backend"), limits("env LIMITS=a-nginx=128 bash -s")]),
        ["a-backend (a-backend) has no process limit: no host command sets one (host/limit-container-pids.sh)"]);
    assert.equal(containersPidsLimited.check([c("a-nginx")]).length, 1);
});

test("containers: the edge runs as a non-root user", () => {
    const good = { memory: 256, securityOpts: ["no-new-privileges:true"], capabilities: { drops: ["ALL"], adds: ["NET_BIND_SERVICE"] }, readOnly: true };
    for (const user of ["10443:10443", "10443", "caddy", "caddy:caddy"]) assert.deepEqual(containersHardened.check(container("edge", { ...good, user }), ROOT), [], user);
    for (const user of [undefined, "", "0", "0:0", "root", "root:10443", "00:0"]) {
        const problems = containersHardened.check(container("edge", { ...good, user }), ROOT);
        assert.equal(problems.length, 1, `${user}: ${JSON.stringify(problems)}`);
        assert.match(problems[0], /^c-edge must run as a non-root user/);
    }
});

test("EBS must be encrypted", () => {
    assert.deepEqual(ebsEncrypted.check(res("aws:ebs/volume:Volume", { encrypted: true }), ROOT), []);
    assert.match(ebsEncrypted.check(res("aws:ebs/volume:Volume", {}), ROOT)[0], /encrypted: true/);
});

test("no bind mount with a relative or out-of-data-root source", () => {
    const bind = (source: string) => container("backend", { mounts: [{ type: "bind", source, target: "/images" }] });
    assert.deepEqual(bindMountsInsideDataRoot.check(bind("/mnt/data/images/peru"), ROOT), []);
    for (const bad of ["../images", "images", "/etc", "/mnt/data/../etc", "/mnt/database"]) {
        assert.equal(bindMountsInsideDataRoot.check(bind(bad), ROOT).length, 1, bad);
    }
    assert.equal(bindMountsInsideDataRoot.check(container("nginx", { volumes: [{ hostPath: "./x", containerPath: "/x" }] }), ROOT).length, 1);
    const vol = (device: string) => res("docker:index/volume:Volume", { driverOpts: { type: "none", o: "bind", device } });
    assert.deepEqual(bindMountsInsideDataRoot.check(vol("/mnt/data/postgis/peru"), ROOT), []);
    assert.match(bindMountsInsideDataRoot.check(vol("/var/lib/pg"), ROOT)[0], /on the block volume/);
});

test("a PostGIS container's data volume is dedicated to it", () => {
    const pgA = container("postgis", { mounts: [pgMount("a-data")] }, "a-postgis");
    const pgB = container("postgis", { mounts: [pgMount("b-data")] }, "b-postgis");
    assert.deepEqual(postgisVolumeDedicated.check([pgA, pgB]), []);
    const snooper = container("backend", { mounts: [{ type: "volume", source: "a-data", target: "/peek" }] }, "b-backend");
    assert.match(postgisVolumeDedicated.check([pgA, pgB, snooper])[0], /b-backend mounts a-data, the database volume of a-postgis/);
    const onBind = container("postgis", { mounts: [{ type: "bind", source: "/mnt/data/x", target: "/var/lib/postgresql" }] });
    assert.equal(postgisVolumeDedicated.check([onBind]).length, 1);
});

test("no published port on PostGIS or the backend", () => {
    assert.deepEqual(noPublishedDatabaseOrBackendPorts.check(container("nginx", { ports: [{ internal: 80, external: 8001 }] }), ROOT), []);
    assert.deepEqual(noPublishedDatabaseOrBackendPorts.check(container("postgis", {}), ROOT), []);
    for (const role of ["postgis", "backend"]) {
        assert.equal(noPublishedDatabaseOrBackendPorts.check(container(role, { ports: [{ internal: 5432, external: 5432 }] }), ROOT).length, 1);
    }
});

test("SSH must not be open to the world, by one CIDR or by several that cover it together", () => {
    const fw = (sources: string[], portRange = "22") => [res("digitalocean:index/firewall:Firewall", { inboundRules: [{ protocol: "tcp", portRange, sourceAddresses: sources }] })];
    assert.deepEqual(sshNotOpenToWorld.check(fw(["203.0.113.0/24"])), []);
    assert.deepEqual(sshNotOpenToWorld.check(fw(["0.0.0.0/0"], "443")), []);
    assert.equal(sshNotOpenToWorld.check(fw(["0.0.0.0/0"])).length, 1);
    assert.equal(sshNotOpenToWorld.check(fw(["::/0"], "1-65535")).length, 1);
    // What the literal match missed: halves, a host-bits /0, an IPv6 spelling of ::/0.
    assert.match(sshNotOpenToWorld.check(fw(["0.0.0.0/1", "128.0.0.0/1"]))[0], /opens SSH to the world \(its sources together cover all of IPv4\)/);
    assert.equal(sshNotOpenToWorld.check(fw(["1.2.3.4/0"])).length, 1);
    assert.equal(sshNotOpenToWorld.check(fw(["::0/0"])).length, 1);
    // Two rules of one firewall that each open half.
    const split = res("digitalocean:index/firewall:Firewall", { inboundRules: [
        { protocol: "tcp", portRange: "22", sourceAddresses: ["0.0.0.0/1"] }, { protocol: "tcp", portRange: "20-30", sourceAddresses: ["128.0.0.0/1"] }] });
    assert.equal(sshNotOpenToWorld.check([split]).length, 1);
    const sg = (rule: Record<string, unknown>) => [res("aws:ec2/securityGroup:SecurityGroup", { ingress: [rule] })];
    assert.deepEqual(sshNotOpenToWorld.check(sg({ protocol: "tcp", fromPort: 22, toPort: 22, cidrBlocks: ["198.51.100.0/24"] })), []);
    assert.equal(sshNotOpenToWorld.check(sg({ protocol: "tcp", fromPort: 22, toPort: 22, cidrBlocks: ["0.0.0.0/0"] })).length, 1);
    assert.equal(sshNotOpenToWorld.check(sg({ protocol: "-1", fromPort: 0, toPort: 0, ipv6CidrBlocks: ["::/0"] })).length, 1);
    // Separate ingress-rule resources of one security group: their union counts; another group's do not add to it.
    const rule = (group: string, cidrIpv4: string) => res("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", { securityGroupId: group, ipProtocol: "tcp", fromPort: 22, toPort: 22, cidrIpv4 });
    assert.equal(sshNotOpenToWorld.check([rule("sg-1", "0.0.0.0/1"), rule("sg-1", "128.0.0.0/1")]).length, 1);
    assert.deepEqual(sshNotOpenToWorld.check([rule("sg-1", "0.0.0.0/1"), rule("sg-2", "128.0.0.0/1")]), []);
});

test("on a cloud host only the edge publishes host ports; dev's nginx may", () => {
    const on = (machine: string | undefined, role: string, ports: unknown[] | undefined) => res("docker:index/container:Container", {
        labels: [{ label: "housing-portal.role", value: role }, ...(machine === undefined ? [] : [{ label: "housing-portal.machine", value: machine }])],
        ...(ports === undefined ? {} : { ports }),
    }, false, `c-${role}`);
    const web = [{ internal: 80, external: 8001 }];
    assert.deepEqual(onlyEdgePublishesPorts.check(on("droplet-1", "edge", [{ internal: 443, external: 443 }]), ROOT), []);
    assert.deepEqual(onlyEdgePublishesPorts.check(on("droplet-1", "nginx", undefined), ROOT), []);
    assert.deepEqual(onlyEdgePublishesPorts.check(on("droplet-1", "nginx", []), ROOT), []);
    assert.deepEqual(onlyEdgePublishesPorts.check(on("local", "nginx", web), ROOT), [], "dev publishes nginx on localhost");
    assert.match(onlyEdgePublishesPorts.check(on("droplet-1", "nginx", web), ROOT)[0], /c-nginx publishes host ports on a cloud host; only the edge may/);
    // A preview of a new machine does not know its id yet: that is a cloud host too.
    assert.equal(onlyEdgePublishesPorts.check(on(undefined, "backend", web), ROOT).length, 1);
});

test("the firewall opens tcp 80 and 443 and SSH, nothing else", () => {
    const world = ["0.0.0.0/0", "::/0"];
    const fw = (rules: unknown[]) => res("digitalocean:index/firewall:Firewall", { inboundRules: rules });
    const ok = fw([
        { protocol: "tcp", portRange: "80", sourceAddresses: world }, { protocol: "tcp", portRange: "443", sourceAddresses: world },
        { protocol: "tcp", portRange: "22", sourceAddresses: ["203.0.113.0/24"] },
    ]);
    assert.deepEqual(firewallWebAndSshOnly.check(ok, ROOT), []);
    assert.match(firewallWebAndSshOnly.check(fw([{ protocol: "tcp", portRange: "8001", sourceAddresses: world }]), ROOT)[0], /opens tcp 8001-8001; a host opens only tcp 80 and 443 \(the edge\) and 22 \(SSH\)/);
    assert.equal(firewallWebAndSshOnly.check(fw([{ protocol: "tcp", portRange: "5432", sourceAddresses: ["203.0.113.0/24"] }]), ROOT).length, 1);
    assert.equal(firewallWebAndSshOnly.check(fw([{ protocol: "tcp", portRange: "20-30", sourceAddresses: ["203.0.113.0/24"] }]), ROOT).length, 1);
    assert.equal(firewallWebAndSshOnly.check(fw([{ protocol: "udp", portRange: "443", sourceAddresses: world }]), ROOT).length, 1);
    const rule = (fromPort: number, cidrIpv4: string) => res("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", { ipProtocol: "tcp", fromPort, toPort: fromPort, cidrIpv4 });
    assert.deepEqual(firewallWebAndSshOnly.check(rule(443, "0.0.0.0/0"), ROOT), []);
    assert.deepEqual(firewallWebAndSshOnly.check(rule(22, "198.51.100.0/24"), ROOT), []);
    assert.equal(firewallWebAndSshOnly.check(rule(8001, "0.0.0.0/0"), ROOT).length, 1);
    const group = res("aws:ec2/securityGroup:SecurityGroup", { ingress: [{ protocol: "tcp", fromPort: 0, toPort: 65535, cidrBlocks: ["0.0.0.0/0"] }] });
    assert.equal(firewallWebAndSshOnly.check(group, ROOT).length, 1);
});

test("the DLM target tag must be on the data volume", () => {
    const policy = res("aws:dlm/lifecyclePolicy:LifecyclePolicy", { policyDetails: { targetTags: { "housing-portal-snapshots": "production" } } }, false, "dlm");
    const tagged = res("aws:ebs/volume:Volume", { tags: { "housing-portal-snapshots": "production" } });
    const other = res("aws:ebs/volume:Volume", { tags: { "housing-portal-snapshots": "staging" } });
    assert.deepEqual(dlmTargetTagOnDataVolume.check([policy, tagged]), []);
    assert.match(dlmTargetTagOnDataVolume.check([policy, other])[0], /which no EBS volume in the stack carries/);
});

test("the committed cloud plans (staging, production, the two-host latam) pass every policy; a broken plan does not", () => {
    for (const stack of ["staging", "production", "latam"]) {
        const plan: PlanDocument = JSON.parse(fs.readFileSync(`plans/${stack}.json`, "utf8"));
        const views = plan.resources.filter((r) => r.custom).map((r) => ({ type: r.type, name: r.name, props: r.inputs, protect: r.protect, secretMask: MASK }));
        assert.deepEqual(checkAll(views), [], stack);
        const volume = stack === "latam" ? "data-south-volume" : "data-volume";
        const broken = views.map((v) => (v.name === volume ? { ...v, protect: false } : v));
        assert.deepEqual(checkAll(broken), [`data-volumes-protected: ${volume} holds portal data and must be protected (resource option protect: true)`]);
        // A plaintext secret in a committed plan fails it.
        const leaked = views.map((v) => (v.name === "peru-backend" ? { ...v, props: { ...v.props, envs: [...(v.props.envs as string[]), "DJANGO_SECRET_KEY=hunter2"] } } : v));
        assert.deepEqual(checkAll(leaked), ["no-plaintext-secrets: peru-backend sets DJANGO_SECRET_KEY in plain text: a secret reaches a container only as a Pulumi secret (config set --secret, or a generated password)"]);
    }
});

test("no plaintext secrets: secret-looking variables and settings must be Pulumi secrets; no command line holds one", () => {
    const plan = (type: string, props: Record<string, any>) => ({ ...res(type, props, false, "r"), secretMask: MASK });
    const c = (envs: string[]) => noPlaintextSecrets.check(plan("docker:index/container:Container", { envs }), ROOT);
    assert.deepEqual(c(["PORTAL_INSTANCE=peru", MASK, "POSTGRES_USER=portal", "DJANGO_SETTINGS_MODULE=config.settings"]), []);
    for (const name of ["POSTGRES_PASSWORD", "DJANGO_SECRET_KEY", "GITHUB_TOKEN", "MAPBOX_API_KEY", "SSH_PRIVATE_KEY", "AWS_CREDENTIALS"]) {
        assert.match(c([`${name}=x`])[0], new RegExp(`sets ${name} in plain text`), name);
    }
    const cmd = (props: Record<string, any>) => noPlaintextSecrets.check(plan("command:remote:Command", props), ROOT);
    assert.deepEqual(cmd({ create: "sudo env DATA_ROOT=/mnt/data INSTANCE=peru bash -s", stdin: MASK, connection: MASK }), []);
    assert.deepEqual(cmd({ create: "env A=1 bash -s", connection: { host: "h", user: "deploy", privateKey: MASK } }), []);
    assert.match(cmd({ create: "env API_TOKEN=abc bash -s" })[0], /sets API_TOKEN on its create command line in plain text/);
    assert.match(cmd({ delete: "env PGPASSWORD='a b' x" })[0], /sets PGPASSWORD on its delete command line/);
    assert.match(cmd({ create: MASK })[0], /has a secret on its create command line/);
    assert.match(cmd({ create: "true", connection: { host: "h", privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----" } })[0], /SSH privateKey in plain text/);
    assert.match(noPlaintextSecrets.check(plan("command:local:Command", { create: "true", environment: { SNAPSHOT_TOKEN: "dop_v1_x" } }), ROOT)[0], /passes SNAPSHOT_TOKEN in plain text/);
    assert.deepEqual(noPlaintextSecrets.check(plan("command:local:Command", { create: "true", environment: { SNAPSHOT_TOKEN: MASK } }), ROOT), []);
    // Where secrets are not marked (CrossGuard's hooks) the rule cannot judge, and checkAll does not run it.
    const unmarked = res("docker:index/container:Container", { envs: ["POSTGRES_PASSWORD=decrypted"] });
    assert.deepEqual(checkAll([unmarked]).filter((v) => v.startsWith("no-plaintext-secrets")), []);
    assert.equal(checkAll([{ ...unmarked, secretMask: MASK }]).filter((v) => v.startsWith("no-plaintext-secrets")).length, 1);
});
