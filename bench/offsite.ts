// npm run bench:offsite [-- --sizes 50,500]   (root: it runs a throwaway PostgreSQL as postgres)
// The off-site copy's cost, from one run: for a seeded database of each size (MB of table data),
// host/offsite-backup.sh against npm's s3rver over TLS on loopback, first with one dump, then
// again after 1 % of the rows changed and were dumped anew (the dump step keeps both). Prints the
// wall time and the bytes restic added (its own count) and the bucket grew by, as ratios to the
// dump's size; once with pg_dump's default compression (what dump-databases.sh writes) and once
// uncompressed (-Z0), to show what compression costs deduplication. Asserts nothing.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { findPgBin, run, scriptEnv, sh } from "../test/host/helpers";
import { FakeS3, loopbackCertificate } from "../test/host/offsite-fixture";

function parseSizes(argv: string[]): number[] {
    const i = argv.indexOf("--sizes");
    const sizes = i >= 0 ? argv[i + 1].split(",").map(Number) : [50, 500];
    if (sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error("--sizes takes whole numbers of MB, e.g. 50,500");
    return sizes;
}

/** Bytes of every file under dir. */
function bytesUnder(dir: string): number {
    let total = 0;
    const walk = (d: string) => {
        for (const e of fs.readdirSync(d, { withFileTypes: true })) {
            const p = path.join(d, e.name);
            if (e.isDirectory()) walk(p);
            else total += fs.statSync(p).size;
        }
    };
    if (fs.existsSync(dir)) walk(dir);
    return total;
}

const mb = (b: number) => (b / 1024 / 1024).toFixed(1);

async function main(): Promise<void> {
    if (process.getuid?.() !== 0) throw new Error("bench:offsite runs a throwaway PostgreSQL as the postgres user: run it as root");
    const sizes = parseSizes(process.argv.slice(2));
    const pgBin = findPgBin();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hp-bench-offsite-"));
    fs.chmodSync(dir, 0o755);
    const pg = (cmd: string, args: string[]) => sh("runuser", ["-u", "postgres", "--", path.join(pgBin, cmd), ...args]);
    const sock = path.join(dir, "sock");
    const data = path.join(dir, "pgdata");
    fs.mkdirSync(sock);
    fs.mkdirSync(data);
    sh("chown", ["postgres:postgres", sock, data]);
    pg("initdb", ["-D", data, "-U", "postgres", "-A", "trust", "--no-sync"]);
    pg("pg_ctl", ["-D", data, "-l", path.join(data, "server.log"), "-w", "-o", `-k ${sock} -c listen_addresses='' -c fsync=off -c full_page_writes=off`, "start"]);
    const tls = loopbackCertificate(dir);
    const s3 = new FakeS3(path.join(dir, "s3"), tls, "bench");
    await s3.start();
    const progress = (s: string) => process.stderr.write(`[bench:offsite] ${s}\n`);
    const out: string[] = [
        "housing-portal off-site copy: cost of restic copies (npm run bench:offsite)",
        `${new Date().toISOString()} · ${os.cpus().length} CPUs · restic ${spawnSync("restic", ["version"], { encoding: "utf8" }).stdout.split(" ")[1]} · s3rver over TLS on loopback · PostgreSQL ${path.basename(path.dirname(pgBin))}`,
        "Rows: id and 3 md5 texts. Each copy follows a new dump (the dump step keeps the earlier ones): first; after 1 % more",
        "rows were appended; after 1 % of the rows (every 100th) were rewritten, spread over the whole table.",
        "added = restic's data_added (after its own deduplication and compression); bucket = growth of the stored objects.",
        "",
        "    size MB  dump      copy                        dump MB   time s  added MB    ratio  bucket MB",
    ];
    try {
        for (const size of sizes) {
            for (const variant of [{ name: "-Fc", args: [] as string[] }, { name: "-Fc -Z0", args: ["-Z0"] }]) {
                const db = `bench_${size}_${variant.args.length}`;
                const psql = (sql: string) => sh(path.join(pgBin, "psql"), ["-X", "-h", sock, "-U", "postgres", "-d", db, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql]);
                sh(path.join(pgBin, "createdb"), ["-h", sock, "-U", "postgres", db]);
                progress(`${size} MB ${variant.name}: seeding`);
                const rows = Math.round((size * 1024 * 1024) / 140);
                psql(`CREATE TABLE t (id int PRIMARY KEY, a text, b text, c text);
                      INSERT INTO t SELECT g, md5(g::text), md5((g * 7)::text), md5((g * 13)::text) FROM generate_series(1, ${rows}) g;`);
                psql("VACUUM ANALYZE t");
                const backups = path.join(dir, `backups-${db}`, "portal");
                fs.mkdirSync(backups, { recursive: true });
                const etc = path.join(dir, `etc-${db}`);
                fs.mkdirSync(etc);
                fs.writeFileSync(path.join(etc, "credentials"), "AWS_ACCESS_KEY_ID=S3RVER\nAWS_SECRET_ACCESS_KEY=bench\n", { mode: 0o600 });
                fs.writeFileSync(path.join(etc, "password"), "bench\n", { mode: 0o600 });
                const settings = {
                    REPOSITORY: s3.repository(db), HOST_TAG: "bench", CREDENTIALS_FILE: path.join(etc, "credentials"), PASSWORD_FILE: path.join(etc, "password"),
                    BACKUP_ROOT: path.dirname(backups), EXTRA_PATHS: "", CACERT: tls.cert, CACHE_DIR: path.join(etc, "cache"), CHECK_EVERY_DAYS: "0",
                    STATUS_FILE: path.join(etc, "ok"), CHECK_STATUS_FILE: path.join(etc, "check"), LOCK_FILE: path.join(etc, "lock"), TIMEOUT_SECONDS: "3600",
                };
                const dump = (name: string) => {
                    const file = path.join(backups, name);
                    sh(path.join(pgBin, "pg_dump"), ["-Fc", ...variant.args, "-h", sock, "-U", "postgres", "-d", db, "-f", file]);
                    return fs.statSync(file).size;
                };
                const copy = async () => {
                    const before = bytesUnder(path.join(s3.directory, "bench", db));
                    const t0 = process.hrtime.bigint();
                    const r = await run(path.resolve(__dirname, "..", "host", "offsite-backup.sh"), [], { env: scriptEnv(settings), timeoutMs: 3_600_000 });
                    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
                    if (r.code !== 0) throw new Error(`offsite-backup.sh failed:\n${r.stderr}`);
                    const added = Number(/, (\d+) bytes added/.exec(r.stderr)?.[1] ?? NaN);
                    return { seconds, added, bucket: bytesUnder(path.join(s3.directory, "bench", db)) - before };
                };
                const row = (what: string, dumpBytes: number, c: { seconds: number; added: number; bucket: number }) => out.push([
                    String(size).padStart(8), variant.name.padEnd(8), what.padEnd(26), mb(dumpBytes).padStart(8), c.seconds.toFixed(1).padStart(7),
                    mb(c.added).padStart(9), (c.added / dumpBytes).toFixed(3).padStart(7), mb(c.bucket).padStart(10),
                ].join("  "));
                progress(`${size} MB ${variant.name}: first copy`);
                const d1 = dump("20261201T021500Z.dump");
                row("first copy", d1, await copy());
                // New survey rows: 1 % more, appended.
                psql(`INSERT INTO t SELECT g, md5(g::text), md5((g * 7)::text), md5((g * 13)::text) FROM generate_series(${rows + 1}, ${Math.round(rows * 1.01)}) g;`);
                progress(`${size} MB ${variant.name}: after 1 % appended`);
                const d2 = dump("20261202T021500Z.dump");
                row("after 1 % rows appended", d2, await copy());
                // The worst case for chunk deduplication: 1 % of the rows rewritten, spread evenly.
                psql("UPDATE t SET a = md5(a || 'changed') WHERE id % 100 = 0;");
                progress(`${size} MB ${variant.name}: after 1 % updated`);
                const d3 = dump("20261203T021500Z.dump");
                row("after 1 % rows updated", d3, await copy());
            }
        }
        out.push("", "ratio = bytes added / the size of that copy's new dump.");
        process.stdout.write(`${out.join("\n")}\n`);
    } finally {
        s3.stop();
        pg("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]);
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

main().catch((e) => {
    process.stderr.write(`${e instanceof Error ? e.message : e}\n`);
    process.exit(1);
});
