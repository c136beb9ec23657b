// The nginx config the program renders for an instance passes a real `nginx -t` (Debian's nginx).
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { renderNginxConfig } from "../../components/nginxConfig";

test("the rendered nginx config passes nginx -t", () => {
    const nginx = spawnSync("sh", ["-c", "command -v nginx || ls /usr/sbin/nginx"], { encoding: "utf8" }).stdout.trim();
    assert.ok(nginx, "nginx is not installed: run test/host/setup.sh (Debian's nginx-light)");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hp-nginx-"));
    try {
        const file = path.join(dir, "nginx.conf");
        fs.writeFileSync(file, renderNginxConfig({ domain: "colombia.example.org", backendHost: "housing-portal-colombia-backend", backendPort: 8000 }));
        // Through a pipe, as in a container: nginx cannot open /dev/stdout on node's socketpairs.
        const run = spawnSync("bash", ["-o", "pipefail", "-c", `"$0" -t -c "$1" 2>&1 | cat`, nginx, file], { encoding: "utf8" });
        assert.equal(run.status, 0, `nginx -t rejected the rendered config:\n${run.stdout}`);
        assert.match(run.stdout, /syntax is ok/);
        assert.match(run.stdout, /test is successful/);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
});
