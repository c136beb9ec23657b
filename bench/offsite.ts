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
        "Rows: id, and 3 md5 texts (about 100 bytes of hex); 1 % change = every 100th row rewritten, then a new dump.",
        "added = restic's data_added (after its own deduplication and compression); bucket = growth of the stored objects.",
        "",
        "   size MB  dump    dump MB  first s  first added MB  ratio  bucket MB  |  1% s  1% added MB  ratio  bucket MB",
    ];
    try {
        for (const size of sizes) {
            const db = `bench_${size}`;
            const psql = (sql: string) => sh(path.join(pgBin, "psql"), ["-X", "-h", sock, "-U", "postgres", "-d", db, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql]);
            sh(path.join(pgBin, "createdb"), ["-h", sock, "-U", "postgres", db]);
            progress(`seeding ${size} MB`);
            const rows = Math.round((size * 1024 * 1024) / 140);
            psql(`CREATE TABLE t (id int PRIMARY KEY, a text, b text, c text);
                  INSERT INTO t SELECT g, md5(g::text), md5((g * 7)::text), md5((g * 13)::text) FROM generate_series(1, ${rows}) g;`);
            for (const variant of [{ name: "-Fc", args: [] as string[] }, { name: "-Fc -Z0", args: ["-Z0"] }]) {
                const backups = path.join(dir, `backups-${size}-${variant.args.length}`, "portal");
                fs.mkdirSync(backups, { recursive: true });
                const repo = `${size}-${variant.args.length}`;
                const etc = path.join(dir, `etc-${repo}`);
                fs.mkdirSync(etc);
                fs.writeFileSync(path.join(etc, "credentials"), "AWS_ACCESS_KEY_ID=S3RVER\nAWS_SECRET_ACCESS_KEY=bench\n", { mode: 0o600 });
                fs.writeFileSync(path.join(etc, "password"), "bench\n", { mode: 0o600 });
                const settings = {
                    REPOSITORY: s3.repository(repo), HOST_TAG: "bench", CREDENTIALS_FILE: path.join(etc, "credentials"), PASSWORD_FILE: path.join(etc, "password"),
                    BACKUP_ROOT: path.dirname(backups), EXTRA_PATHS: "", CACERT: tls.cert, CACHE_DIR: path.join(etc, "cache"), CHECK_EVERY_DAYS: "0",
                    STATUS_FILE: path.join(etc, "ok"), CHECK_STATUS_FILE: path.join(etc, "check"), LOCK_FILE: path.join(etc, "lock"), TIMEOUT_SECONDS: "3600",
                };
                const dump = (name: string) => {
                    const file = path.join(backups, name);
                    sh(path.join(pgBin, "pg_dump"), ["-Fc", ...variant.args, "-h", sock, "-U", "postgres", "-d", db, "-f", file]);
                    return fs.statSync(file).size;
                };
                const copy = async () => {
                    const before = bytesUnder(path.join(s3.directory, "bench", repo));
                    const t0 = process.hrtime.bigint();
                    const r = await run(path.resolve(__dirname, "..", "host", "offsite-backup.sh"), [], { env: scriptEnv(settings), timeoutMs: 3_600_000 });
                    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
                    if (r.code !== 0) throw new Error(`offsite-backup.sh failed:\n${r.stderr}`);
                    const added = Number(/, (\d+) bytes added/.exec(r.stderr)?.[1] ?? NaN);
                    return { seconds, added, bucket: bytesUnder(path.join(s3.directory, "bench", repo)) - before };
                };
                progress(`${size} MB ${variant.name}: first copy`);
                const size1 = dump("20261201T021500Z.dump");
                const first = await copy();
                psql("UPDATE t SET a = md5(a || 'changed') WHERE id % 100 = 0;");
                progress(`${size} MB ${variant.name}: copy after a 1 % change`);
                dump("20261202T021500Z.dump");
                const second = await copy();
                psql("UPDATE t SET a = md5(a || 'changed') WHERE id % 100 = 0;"); // back to a fresh change for the next variant
                out.push([
                    String(size).padStart(10), variant.name.padEnd(8), mb(size1).padStart(7), first.seconds.toFixed(1).padStart(8),
                    mb(first.added).padStart(15), (first.added / size1).toFixed(3).padStart(6), mb(first.bucket).padStart(10), " |",
                    second.seconds.toFixed(1).padStart(5), mb(second.added).padStart(12), (second.added / size1).toFixed(3).padStart(6), mb(second.bucket).padStart(10),
                ].join(" "));
            }
        }
        out.push("", "ratio = bytes added / the size of one dump.");
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
