// tools/hostReplacement.ts: which previews replace the host's machine, as the deploy workflow
// asks before `pulumi up`; bad input is one line and exit 2.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PreviewError, machineReplacements, runHostReplacement, stepOutputs, urnParts } from "../../tools/hostReplacement";
import { PROJECT_DIR } from "./planRun";

const URN = (type: string, name: string, parent = "housing-portal:host:DockerHost") => `urn:pulumi:staging::housing-portal::${parent}$${type}::${name}`;
const DROPLET = URN("digitalocean:index/droplet:Droplet", "host-droplet");
const INSTANCE = URN("aws:ec2/instance:Instance", "host-instance");

/** A preview document in the shape `pulumi preview --json` prints (config, steps, diagnostics, duration, changeSummary). */
function preview(steps: { op: string; urn: string; replaceReasons?: string[] }[]) {
    return {
        config: {}, diagnostics: [], duration: 1000, changeSummary: { same: 40, replace: steps.filter((s) => s.op === "replace").length },
        steps: steps.map((s) => ({ ...s, provider: "urn:pulumi:staging::housing-portal::pulumi:providers:digitalocean::default", oldState: { type: urnParts(s.urn).type }, newState: { type: urnParts(s.urn).type } })),
    };
}

test("a preview that replaces the Droplet or the EC2 instance names it with its cloud and reasons", () => {
    const doReplace = preview([
        { op: "same", urn: URN("digitalocean:index/volume:Volume", "data-volume", "housing-portal:storage:DataVolume") },
        { op: "create-replacement", urn: DROPLET, replaceReasons: ["image"] },
        { op: "replace", urn: DROPLET, replaceReasons: ["image"] },
        { op: "replace", urn: URN("docker:index/container:Container", "peru-backend", "housing-portal:portal:PortalInstance") },
        { op: "delete-replacement", urn: DROPLET },
    ]);
    assert.deepEqual(machineReplacements(doReplace), [{ name: "host-droplet", host: "main", type: "digitalocean:index/droplet:Droplet", cloud: "digitalocean", reasons: ["image"] }]);
    assert.equal(stepOutputs(machineReplacements(doReplace)), "host-replaced=true\ncloud=digitalocean\nmachines=host-droplet\nhosts=main\n");
    const aws = preview([{ op: "replace", urn: INSTANCE, replaceReasons: ["ami"] }]);
    assert.equal(stepOutputs(machineReplacements(aws)), "host-replaced=true\ncloud=aws\nmachines=host-instance\nhosts=main\n");
});

test("on a stack of several hosts, each replaced machine names its host", () => {
    const two = preview([
        { op: "replace", urn: URN("digitalocean:index/droplet:Droplet", "host-south-droplet", "housing-portal:host:DockerHost"), replaceReasons: ["image"] },
        { op: "replace", urn: DROPLET, replaceReasons: ["image"] },
    ]);
    assert.deepEqual(machineReplacements(two).map((m) => m.host), ["south", "main"]);
    assert.equal(stepOutputs(machineReplacements(two)), "host-replaced=true\ncloud=digitalocean\nmachines=host-south-droplet,host-droplet\nhosts=south,main\n");
    assert.throws(() => machineReplacements(preview([{ op: "replace", urn: URN("digitalocean:index/droplet:Droplet", "bastion-droplet") }])), /a machine whose name is not its host's/);
});

test("updates in place, other replacements and a preview with nothing to do replace no machine", () => {
    const resized = preview([
        { op: "update", urn: DROPLET },
        { op: "replace", urn: URN("docker:index/container:Container", "peru-backend", "housing-portal:portal:PortalInstance") },
        { op: "create", urn: URN("digitalocean:index/firewall:Firewall", "host-port-chile") },
    ]);
    assert.deepEqual(machineReplacements(resized), []);
    assert.equal(stepOutputs([]), "host-replaced=false\n");
    assert.deepEqual(machineReplacements({ config: {}, changeSummary: { same: 40 }, duration: 1 }), [], "no steps: nothing to do");
    assert.throws(() => machineReplacements({ resources: [] }), PreviewError);
    assert.throws(() => machineReplacements(preview([{ op: "replace", urn: "host-droplet" }])), /not a resource URN/);
});

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
        execFile(process.execPath, ["--import", "tsx", path.join(PROJECT_DIR, "tools", "hostReplacement.ts"), ...args], { cwd: PROJECT_DIR }, (err, stdout, stderr) => {
            resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr });
        });
    });
}

test("the command prints the workflow's step outputs; a file that is not a preview is one line and exit 2", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hp-preview-"));
    const good = path.join(dir, "preview.json");
    fs.writeFileSync(good, JSON.stringify(preview([{ op: "replace", urn: DROPLET, replaceReasons: ["userData"] }])));
    const broken = path.join(dir, "broken.json");
    fs.writeFileSync(broken, "Previewing update (staging)\n");
    const [ok, notJson] = await Promise.all([cli([good]), cli([broken])]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, "host-replaced=true\ncloud=digitalocean\nmachines=host-droplet\nhosts=main\n");
    assert.match(ok.stderr, /the preview replaces host-droplet \(digitalocean:index\/droplet:Droplet\) for userData/);
    assert.equal(notJson.code, 2);
    assert.match(notJson.stderr, /^hostReplacement: .*broken\.json: not JSON\n$/, "one line, no stack trace");
    assert.throws(() => runHostReplacement([path.join(dir, "nope.json")]), /nope\.json: no such file$/);
    assert.throws(() => runHostReplacement([]), /: usage: tsx tools\/hostReplacement\.ts PREVIEW\.json/);
    assert.throws(() => runHostReplacement([good, good]), /: usage: /);
    fs.rmSync(dir, { recursive: true, force: true });
});
