// Under `pulumi up` the program validates with the same module as the offline plan, and bad
// config ends the run before any resource is registered, with a RunError (no stack trace).
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as path from "path";

const CHILD = path.join(__dirname, "programUnderBadConfig.ts");

test("bad config stops the program before any resource is registered", () => {
    const config = {
        "housing-portal:provider": "local",
        "housing-portal:dataRoot": "relative/data",
        "housing-portal:instances": JSON.stringify([{ name: "Bad_Name", domain: "x.example.org", port: 80 }]),
    };
    // The runtime also reports the error on its way out; the child's first line is its verdict.
    const child = spawnSync(process.execPath, ["--import", "tsx", CHILD, JSON.stringify(config)], { encoding: "utf8" });
    const out = JSON.parse(child.stdout);
    assert.equal(out.error, "RunError", "a RunError makes Pulumi print the message without a stack trace");
    assert.match(out.message, /^dataRoot: must be an absolute host path/m);
    assert.match(out.message, /^instances\[0\]\.name: must be a lowercase DNS label/m);
    assert.equal(out.registered, 0, "nothing half-applied");
});
