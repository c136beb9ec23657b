// Under `pulumi up` (components/settings.ts): Pulumi's config map holds every namespace, and the
// program refuses an unknown one as the offline plan does, before any resource is registered.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as path from "path";

const CHILD = path.join(__dirname, "programUnderBadConfig.ts");

test("an unknown namespace in Pulumi's config map stops the program with a \"did you mean\"", () => {
    const config = {
        "housing-portal:provider": "local",
        "housing-portal:dataRoot": "/srv/portal",
        "housing-portal:instances": JSON.stringify([{ name: "colombia", domain: "colombia.example.org", port: 8001 }]),
        "housingportal:images": JSON.stringify({ nginx: "nginx:1.27" }),
        "aws:region": "eu-central-1",
        "docker:host": "unix:///var/run/docker.sock",
    };
    const child = spawnSync(process.execPath, ["--import", "tsx", CHILD, JSON.stringify(config)], { encoding: "utf8" });
    const out = JSON.parse(child.stdout);
    assert.equal(out.error, "RunError", child.stderr);
    assert.deepEqual(out.message.split("\n").slice(1), ["housingportal:images: unknown namespace; did you mean housing-portal:images?"], "only the namespace: aws: and docker: are the providers' own");
    assert.equal(out.registered, 0, "nothing half-applied");
});
