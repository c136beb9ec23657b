// The nginx config the program renders for an instance passes a real `nginx -t` (Debian's nginx),
// as root and as nginx's own uid 101 with no capabilities (as in its container), with only
// /var/cache/nginx and /var/run, tmpfs, to write its temporary files and pid to.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { renderNginxConfig } from "../../components/nginxConfig";

test("the rendered nginx config passes nginx -t, as root and as uid 101, writing only to tmpfs at /var/cache/nginx and /var/run", () => {
    const nginx = spawnSync("sh", ["-c", "command -v nginx || ls /usr/sbin/nginx"], { encoding: "utf8" }).stdout.trim();
    assert.ok(nginx, "nginx is not installed: run test/host/setup.sh (Debian's nginx-light)");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hp-nginx-"));
    try {
        fs.chmodSync(dir, 0o755);
        const file = path.join(dir, "nginx.conf");
        fs.writeFileSync(file, renderNginxConfig({ domain: "colombia.example.org", backendHost: "housing-portal-colombia-backend", backendPort: 8000 }), { mode: 0o644 });
        for (const as of ["", "setpriv --reuid=101 --regid=101 --clear-groups"]) {
            // In private mount and network namespaces, as in the container: /var/cache and /var/run
            // are fresh tmpfs (NGINX_TMPFS), and port 80 is unprivileged (UNPRIVILEGED_LOW_PORTS);
            // Debian's compiled-in temporary directory is empty and root's, as in an image.
            // Through a pipe, as in a container: nginx cannot open /dev/stdout on node's socketpairs;
            // the pipe belongs to the user nginx runs as, as the engine hands a container its stdio.
            const run = spawnSync("unshare", ["--mount", "--propagation", "private", "--net", "bash", "-c",
                "sysctl -qw net.ipv4.ip_unprivileged_port_start=0 && install -d /var/lib/nginx && mount -t tmpfs -o size=1m,mode=0755 tmpfs /var/lib/nginx && mount -t tmpfs -o size=8m tmpfs /var/cache && install -d -m 0755 -o 101 -g 101 /var/cache/nginx && mount -t tmpfs -o size=1m,mode=0755,uid=101,gid=101 tmpfs /var/run && "
                + `${as} bash -o pipefail -c '"$0" -t -c "$1" 2>&1 | cat' "$0" "$1"`, nginx, file], { encoding: "utf8" });
            assert.equal(run.status, 0, `nginx -t ${as || "as root"} rejected the rendered config:\n${run.stdout}${run.stderr}`);
            assert.match(run.stdout, /syntax is ok/);
            assert.match(run.stdout, /test is successful/);
        }
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
});
