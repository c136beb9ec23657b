// The user data the program renders, read by Debian's cloud-init itself: its schema validation
// (`cloud-init schema`) and its write_files decoding, for each cloud stack and for the first boot
// a machine created before generated host keys keeps. The unit tier parses it with the yaml
// library; this tier asks the program that runs it on the first boot.
import { after, before, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { REPO_ROOT, hostScript, requireHostTier, run } from "./helpers";

// Debian's python3, which has cloud-init's modules (a python3 earlier on PATH may not).
const PYTHON = "/usr/bin/python3";
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "hp-cloud-init-"));

before(() => requireHostTier(["cloud-init", PYTHON]));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** The machine's user data in a stack's plan, secrets revealed (the plan's stand-ins, no real key). */
async function plannedUserData(stack: string): Promise<string> {
    const r = await run(process.execPath, ["--import", "tsx", path.join(REPO_ROOT, "tools", "plan.ts"), "--stack", stack, "--json", "--reveal-secrets"], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    const plan = JSON.parse(r.stdout) as { resources: { type: string; inputs: Record<string, unknown> }[] };
    const machine = plan.resources.find((x) => x.type === "digitalocean:index/droplet:Droplet" || x.type === "aws:ec2/instance:Instance");
    assert.ok(machine, `${stack}: a machine`);
    return String(machine.inputs.userData);
}

const cases: [string, () => Promise<string>][] = [
    ["staging (DigitalOcean, generated host key)", () => plannedUserData("staging")],
    ["production (AWS, generated host key)", () => plannedUserData("production")],
    ["a first boot kept from before generated host keys", async () => fs.readFileSync(path.join(REPO_ROOT, "test/fixtures/deployed-before-host-keys/staging-user-data.yaml"), "utf8")],
];

for (const [what, userData] of cases) {
    test(`cloud-init accepts the user data and writes the files from host/: ${what}`, async () => {
        const file = path.join(scratch, `${what.replace(/\W+/g, "-")}.yaml`);
        fs.writeFileSync(file, await userData());
        const schema = await run("cloud-init", ["schema", "--config-file", file], { timeoutMs: 60_000 });
        assert.equal(schema.code, 0, `cloud-init schema: ${schema.stdout}${schema.stderr}`);
        assert.match(schema.stdout, /Valid cloud-config/);
        const decoded = await run(PYTHON, [path.join(__dirname, "cloud-init", "written-files.py"), file], { timeoutMs: 60_000 });
        assert.equal(decoded.code, 0, decoded.stderr);
        const files = JSON.parse(decoded.stdout) as Record<string, string>;
        assert.equal(files["/usr/local/sbin/housing-portal-mount-data-volume"], fs.readFileSync(hostScript("mount-data-volume.sh"), "utf8"));
        assert.equal(files["/etc/systemd/system/docker.service.d/housing-portal-data.conf"], "[Unit]\nRequiresMountsFor=/mnt/data\n");
    });
}
