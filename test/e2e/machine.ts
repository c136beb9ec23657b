// The machine an existing-host plan reaches over SSH (`host.address`), for the e2e tier: THIS
// machine, but every remote command runs in a private mount namespace of its own where the
// program's host directories are bind-mounted from scratch directories of the test's work dir
// (test/e2e/machine/enter.sh), and systemctl is a stand-in that records its calls
// (test/e2e/machine/systemctl.sh). Docker on the machine is this machine's engine.
//
// What the tier has to create or change outside its scratch directories for that (the mount
// targets a bind mount needs, the data root the existing host's volume is mounted at) is
// recorded in CLAIMS_FILE before it is done, and undone by `releaseClaims`, or by cleanup.sh
// after a run that was killed.
import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { isImmutable, isMountPoint, run, trySh, type RunResult } from "../host/helpers";
import type { RemoteMachine } from "./realise";

/** The host directories the program installs into; on the machine, each is a scratch directory. */
export const MACHINE_DIRS = ["/usr/local/sbin", "/etc/systemd/system", "/etc/housing-portal", "/var/lib/housing-portal"] as const;
/** What the tier created or changed outside its scratch directories, one `dir PATH` or `mutable PATH` a line. */
export const CLAIMS_FILE = "/var/tmp/housing-portal-e2e-claims";
const ENTER = path.join(__dirname, "machine", "enter.sh");
const SYSTEMCTL_STAND_IN = path.join(__dirname, "machine", "systemctl.sh");
/** Only loopback: the tier never sends anything anywhere else. */
const LOOPBACK = ["127.0.0.1", "::1", "localhost"];

type Claim = { kind: "dir" | "mutable"; path: string };

function claim(c: Claim): void {
    fs.appendFileSync(CLAIMS_FILE, `${c.kind} ${c.path}\n`);
}

function readClaims(): Claim[] {
    if (!fs.existsSync(CLAIMS_FILE)) return [];
    return fs.readFileSync(CLAIMS_FILE, "utf8").split("\n").filter(Boolean).map((line) => {
        const m = /^(dir|mutable) (\/.+)$/.exec(line);
        if (!m) throw new Error(`${CLAIMS_FILE}: cannot read the line ${JSON.stringify(line)}`);
        return { kind: m[1] as Claim["kind"], path: m[2] };
    });
}

/** Creates `dir` and its missing parents, each claimed before it is made. */
function makeClaimedDir(dir: string): void {
    const missing: string[] = [];
    for (let d = dir; !fs.existsSync(d); d = path.dirname(d)) missing.unshift(d);
    for (const d of missing) {
        claim({ kind: "dir", path: d });
        fs.mkdirSync(d, { mode: 0o755 });
    }
}

/**
 * Undoes every claim, the latest first: a directory the tier made is removed when it is empty
 * and nothing is mounted on it; a directory that was mutable is made mutable again (the mount
 * script guards a bare mount point with chattr +i). What cannot be undone stays claimed.
 */
export function releaseClaims(errors: string[]): void {
    const left: Claim[] = [];
    for (const c of readClaims().reverse()) {
        if (!fs.existsSync(c.path)) continue;
        if (isMountPoint(c.path)) {
            errors.push(`${c.path} is still a mount point`);
            left.unshift(c);
            continue;
        }
        trySh("chattr", ["-f", "-i", c.path]);
        if (c.kind === "dir") {
            try {
                fs.rmdirSync(c.path);
            } catch (e) {
                errors.push(`rmdir ${c.path} (made by the e2e tier): ${e}`);
                left.unshift(c);
            }
        }
    }
    if (left.length) fs.writeFileSync(CLAIMS_FILE, left.map((c) => `${c.kind} ${c.path}\n`).join(""));
    else fs.rmSync(CLAIMS_FILE, { force: true });
}

/**
 * Why the existing host's data root (fixed at /mnt/data) cannot become the e2e volume's mount
 * point, or undefined when it can: absent, or an empty directory with nothing mounted on it.
 * Anything else is someone's.
 */
function dataRootProblem(dir: string): string | undefined {
    const st = fs.lstatSync(dir, { throwIfNoEntry: false });
    if (st === undefined) return undefined;
    const why = (what: string) => `the existing-host stack mounts the e2e data volume at its fixed data root ${dir}, which must be absent or an empty directory that is not a mount point; ${dir} ${what}`;
    if (!st.isDirectory()) return why("exists and is not a directory");
    if (isMountPoint(dir)) {
        const source = spawnSync("findmnt", ["-n", "-o", "SOURCE", "--mountpoint", dir], { encoding: "utf8" }).stdout.trim();
        return why(`is a mount point (${source || "unknown source"} is mounted there)`);
    }
    const entries = fs.readdirSync(dir);
    if (entries.length) return why(`is not empty (it holds ${entries.slice(0, 5).join(", ")}${entries.length > 5 ? ", ..." : ""})`);
    return undefined;
}

/** The data root, checked by dataRootProblem: made when absent, or marked to be made mutable again. */
function claimDataRoot(dir: string): void {
    if (!fs.existsSync(dir)) return makeClaimedDir(dir);
    if (!isImmutable(dir)) claim({ kind: "mutable", path: dir });
}

/** The machine at `host` (loopback), reached as `user`: this machine, its host directories in `work`/machine. */
export class Machine implements RemoteMachine {
    readonly port = 22;
    readonly root: string;
    /** Where the systemctl stand-in records its calls, one line of arguments each. */
    readonly systemctlLog: string;
    /** Whether this machine claimed anything (its teardown then releases the claims). */
    claimed = false;

    constructor(readonly host: string, readonly user: string, work: string) {
        this.root = path.join(work, "machine");
        this.systemctlLog = path.join(this.root, "systemctl.log");
    }

    /** The scratch directory (or file) that plays `hostPath` on the machine. */
    scratch(hostPath: string): string {
        return path.join(this.root, hostPath);
    }

    /**
     * Fails loudly, changing nothing, when this machine cannot play the host with its data root
     * at `dataRoot`; then claims the data root and makes the scratch directories and stand-in.
     */
    prepare(dataRoot: string): void {
        const problems: string[] = [];
        if (!LOOPBACK.includes(this.host)) problems.push(`the machine must be a loopback address, not ${this.host}`);
        // sudo: a cloud image has it, and the program's command lines for a non-root SSH user start with it.
        for (const tool of ["unshare", "mount", "findmnt", "getent", "stat", "sudo"]) {
            if (spawnSync("sh", ["-c", 'command -v "$1"', "sh", tool]).status !== 0) problems.push(`${tool} is missing (test/e2e/setup.sh installs it)`);
        }
        if (fs.existsSync(CLAIMS_FILE)) problems.push(`${CLAIMS_FILE} is left from an earlier run (run test/e2e/cleanup.sh)`);
        const dataRootRefused = dataRootProblem(dataRoot);
        if (dataRootRefused) problems.push(dataRootRefused);
        if (problems.length) throw new Error(`E2E TIER CANNOT RUN: ${problems.join("; ")}. Nothing was changed.`);
        this.claimed = true;
        claimDataRoot(dataRoot);
        for (const dir of MACHINE_DIRS) fs.mkdirSync(this.scratch(dir), { recursive: true, mode: 0o755 });
        fs.copyFileSync(SYSTEMCTL_STAND_IN, this.scratch("/usr/local/sbin/systemctl"));
        fs.chmodSync(this.scratch("/usr/local/sbin/systemctl"), 0o755);
        fs.writeFileSync(this.systemctlLog, "");
        // A bind mount needs its target: a directory this machine lacks is made (empty) and claimed.
        for (const dir of MACHINE_DIRS) makeClaimedDir(dir);
    }

    run(commandLine: string, stdin: string | undefined, timeoutMs: number): Promise<RunResult> {
        return run("unshare", ["--mount", "--propagation", "private", "--", "bash", ENTER, this.root, this.user, commandLine], {
            input: stdin ?? "", timeoutMs,
        });
    }

    /** The systemctl calls so far, one string of arguments each. */
    systemctlCalls(): string[] {
        return fs.readFileSync(this.systemctlLog, "utf8").split("\n").filter(Boolean);
    }
}
