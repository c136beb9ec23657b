// The host key the deploy knows before it first connects: the OpenSSH public key lines accepted
// in host.hostKey, the SSH options that pin one, and no trust on first use anywhere the program
// or its workflows connect. The plan-level checks (user data, connections, the Docker provider)
// are in hosts.test.ts; the options against a real sshd in test/host/ssh-host-key.test.ts.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import * as os from "os";
import { deployedHosts } from "../../components/volumeRecord";
import { HOST_KEY_ALGORITHMS, deployedHostKeyProblem, parsePublicHostKey, pinnedSshOptions, publicHostKeyLine } from "../../components/hostKey";
import { goldenPlan, planBatchRaw, readStackKeys, writeStackConfig } from "./planRun";
import { Problems, validateHost } from "../../components/config";

const ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMemVwqpVLt1uMZ1nT5LwqAfQXVwC4m/8FhBf3VpMCMo";
// ssh-keygen -t ecdsa, and -t rsa -b 1024 (short, to keep the line short: the type is what counts here).
const ECDSA = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBPZ+WNezjHo6m/vJ9IZes9ethRNNW7TjE1byxTEUK6nITccbq3qimhoClkPZy62t14XhCLXB96/zbgvzF7r43k8=";
const RSA = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDhaMiKTwkKOvTDyx2vKtpglxJFl64OjVHvXSXc3kuKmiIJkchZNel8TTRwdce9OWcMxNDqP8hA8jG+jNf0shiw5adGGt/ETjuP41ay5l45J7N3Te8myd1qGAjaiZjUfvJQBmSBE71PYzlgdxJ6RGMA09b9WrHC+YhLDjokBfRztQ==";

test("an OpenSSH public key line is accepted with or without its comment; its blob must be a key of the named type", () => {
    for (const line of [ED25519, `${ED25519} `, `${ED25519} root@host`, `${ED25519} root@host\n`, `${ED25519} a comment with spaces`, ECDSA, RSA]) {
        assert.ok(parsePublicHostKey(line), line);
    }
    assert.equal(publicHostKeyLine(`${ED25519} root@host\n`), ED25519, "the pins compare the bare key");
    for (const bad of [
        "", ED25519.split(" ")[1], `ssh-ed25519`, `ssh-dss ${ED25519.split(" ")[1]}`,
        // The ed25519 blob under another type's name.
        `ssh-rsa ${ED25519.split(" ")[1]}`,
        // A known_hosts line (host name first), two lines, a truncated or padded blob, a private key.
        `203.0.113.7 ${ED25519}`, `${ED25519}\n${ED25519}`, ED25519.slice(0, -4), `${ED25519}=`,
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n-----END OPENSSH PRIVATE KEY-----",
        `${ED25519}\r\n`,
    ]) {
        assert.equal(parsePublicHostKey(bad), undefined, JSON.stringify(bad));
    }
});

test("the pinned options accept exactly the given key: strict checking, no known_hosts file, the key printed by KnownHostsCommand", () => {
    const opts = pinnedSshOptions(`${ED25519} root@host\n`);
    const values = opts.filter((_, i) => i % 2 === 1);
    assert.ok(opts.every((o, i) => (i % 2 === 0 ? o === "-o" : !o.startsWith("-"))), "pairs of -o and one option each");
    assert.deepEqual(values, [
        "StrictHostKeyChecking=yes",
        "UserKnownHostsFile=/dev/null",
        "GlobalKnownHostsFile=/dev/null",
        `KnownHostsCommand=/bin/echo %H ${ED25519}`,
        "HostKeyAlgorithms=ssh-ed25519",
        "ServerAliveInterval=30",
    ]);
    assert.ok(!opts.join(" ").includes("accept-new"));
    assert.match(pinnedSshOptions(RSA).join(" "), /HostKeyAlgorithms=rsa-sha2-512,rsa-sha2-256/, "an RSA key with SHA-2 signatures");
    assert.match(pinnedSshOptions(ECDSA).join(" "), /HostKeyAlgorithms=ecdsa-sha2-nistp256( |$)/);
    assert.throws(() => pinnedSshOptions("not a key"), /not an OpenSSH public key line/);
    assert.deepEqual(Object.keys(HOST_KEY_ALGORITHMS).sort(), ["ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-ed25519", "ssh-rsa"]);
});

function hostProblems(raw: Record<string, unknown>, provider: "digitalocean" | "aws" = "digitalocean"): string[] {
    const problems = new Problems();
    validateHost(raw, provider, problems);
    return problems.lines;
}

test("host.hostKey: required for an existing host; one keyed line when malformed; a private key is never repeated", () => {
    const existing = { address: "203.0.113.7" };
    const missing = hostProblems(existing);
    assert.equal(missing.length, 1, missing.join("\n"));
    assert.match(missing[0], /^host\.hostKey: is required for an existing host \(host\.address\): .*cat \/etc\/ssh\/ssh_host_ed25519_key\.pub.*ssh-keyscan/);
    assert.deepEqual(hostProblems({ ...existing, hostKey: `${ED25519} root@old-staging` }), []);
    for (const hostKey of ["ssh-ed25519", `203.0.113.7 ${ED25519}`, `${ED25519}\n${ED25519}`, 42, ["a"]]) {
        const lines = hostProblems({ ...existing, hostKey });
        assert.equal(lines.length, 1, lines.join("\n"));
        assert.match(lines[0], /^host\.hostKey: must be one OpenSSH public key line "<type> <base64> \[comment\]" \(ssh-ed25519, /);
    }
    const secret = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----\n";
    const [line] = hostProblems({ ...existing, hostKey: secret });
    assert.match(line, /got a private key \(give its public half\)/);
    assert.ok(!line.includes("b3Bl"), "not even a part of the private key");
    // A created host needs none (it gets a generated one) and takes a valid one (a machine created before).
    const created = { sshKeys: ["aa:bb"], sshAllowedCidrs: ["203.0.113.0/24"] };
    assert.deepEqual(hostProblems(created), []);
    assert.deepEqual(hostProblems({ ...created, hostKey: ED25519 }), []);
    assert.match(hostProblems({ ...created, hostKey: "nope" }).join("\n"), /^host\.hostKey: must be one OpenSSH public key line/);
});

/** Files the program, its tools and its workflows consist of (tests excluded: they name what is refused). */
function productFiles(dir: string): string[] {
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) return e.name === "node_modules" ? [] : productFiles(p);
        return /\.(ts|sh|yml|yaml|md|service|timer)$/.test(e.name) ? [p] : [];
    });
}

test("no trust on first use anywhere: no accept-new, no StrictHostKeyChecking=no, in the program, its host scripts, tools, docs or workflows", () => {
    const files = ["index.ts", ...["components", "tools", "host", "policy", "docs", ".github/workflows", "bench"].flatMap(productFiles)];
    assert.ok(files.includes(path.join(".github/workflows", "deploy.yml")));
    const weak = /StrictHostKeyChecking=(accept-new|no\b|off\b)|InsecureIgnoreHostKey/;
    assert.deepEqual(files.filter((f) => weak.test(fs.readFileSync(f, "utf8"))), []);
});

test("the deploy workflow's SSH to the host trusts only the host key the last deploy exported", () => {
    const wf = YAML.parse(fs.readFileSync(".github/workflows/deploy.yml", "utf8"));
    const steps = wf.jobs.up.steps.filter((s: any) => /\bssh\b/.test(s.run ?? ""));
    assert.equal(steps.length, 1, "one step reaches the host over SSH");
    const script: string = steps[0].run;
    assert.match(script, /printf '%s %s\\n' "\$address" "\$\(output hostKey\)" > "\$known_hosts"/);
    const ssh = /on_host\(\) \{ (ssh [^;]*);/.exec(script)![1];
    for (const option of ["StrictHostKeyChecking=yes", 'UserKnownHostsFile="$known_hosts"', "GlobalKnownHostsFile=/dev/null", "BatchMode=yes"]) {
        assert.ok(ssh.includes(`-o ${option}`), option);
    }
});

test("a machine deployed before generated host keys is not replaced unnoticed: plan --deployed refuses it until host.hostKey keeps it", async () => {
    // A stack deployed before host keys also predates hosts: its one host's outputs are at the top level.
    const { hostKey: _key, hosts: _hosts, ...deployedBefore } = goldenPlan("staging").outputs;
    assert.equal(typeof _key, "string", "today's stacks export their host key");
    const mainOf = (outputs: unknown) => (deployedHosts(outputs) as ReadonlyMap<string, Readonly<Record<string, unknown>>>).get("main") ?? {};
    const before = mainOf(deployedBefore);
    assert.match(String(deployedHostKeyProblem(before, { kind: "create" })), /^host\.hostKey: the deployed machine was created before the program generated host keys/);
    assert.equal(deployedHostKeyProblem(before, { kind: "create", hostKey: ED25519 }), undefined, "kept with its own key");
    assert.equal(deployedHostKeyProblem(mainOf(goldenPlan("staging").outputs), { kind: "create" }), undefined, "deployed with the generated key");
    assert.equal(deployedHostKeyProblem({}, { kind: "create" }), undefined, "a new stack");
    assert.equal(deployedHostKeyProblem(before, { kind: "existing", hostKey: ED25519 }), undefined, "an existing host is no machine of the stack's");

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hp-host-key-"));
    process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
    const outputs = path.join(dir, "before.json");
    fs.writeFileSync(outputs, JSON.stringify(deployedBefore));
    const staging = readStackKeys("Pulumi.staging.yaml");
    const [refused, kept] = await planBatchRaw([
        ["--stack", "staging", "--deployed", outputs],
        ["--config-file", writeStackConfig({ ...staging, host: { ...(staging.host as object), hostKey: ED25519 } }, "staging"), "--deployed", outputs],
    ]);
    assert.deepEqual(refused.ok ? [] : refused.problems.map((l) => l.slice(0, l.indexOf(": "))), ["host.hostKey"]);
    assert.ok(kept.ok, kept.ok ? "" : kept.problems.join("\n"));
});
