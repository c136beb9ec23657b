// Shared helpers of the host tier (`npm run test:host`): running the host scripts for real,
// as root, on loop devices, with everything they create cleaned up in `after` hooks.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export const REPO_ROOT = path.resolve(__dirname, "..", "..");
export const HOST_DIR = path.join(REPO_ROOT, "host");

/** Absolute path of a script in host/. */
export function hostScript(name: string): string {
  return path.join(HOST_DIR, name);
}

function haveCommand(cmd: string): boolean {
  return spawnSync("bash", ["-c", 'command -v "$1" >/dev/null 2>&1', "bash", cmd]).status === 0;
}

/**
 * The host tier runs as root with real loop devices and real tools. When it cannot, it must fail
 * loudly with the reason (never skip): call this from a `before` hook.
 */
export function requireHostTier(tools: string[], opts: { loop?: boolean } = {}): void {
  const problems: string[] = [];
  if (process.platform !== "linux") problems.push(`the host tier needs Linux, this is ${process.platform}`);
  if (typeof process.getuid !== "function" || process.getuid() !== 0) {
    problems.push("the host tier must run as root (it uses losetup, mount, chattr and fsfreeze for real)");
  }
  if (opts.loop && !fs.existsSync("/dev/loop-control")) {
    problems.push("/dev/loop-control is missing: this machine cannot attach loop devices (modprobe loop, or run on a VM/privileged container)");
  }
  const missing = tools.filter((t) => !haveCommand(t));
  if (missing.length) problems.push(`missing tools: ${missing.join(", ")} (run test/host/setup.sh)`);
  if (problems.length) {
    throw new Error(`HOST TIER CANNOT RUN: ${problems.join("; ")}`);
  }
}

/** Does this process hold a Linux capability (by number, see capabilities(7)) in its effective set? */
export function hasCapability(bit: number): boolean {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(fs.readFileSync("/proc/self/status", "utf8"));
  return !!m && ((BigInt(`0x${m[1]}`) >> BigInt(bit)) & 1n) === 1n;
}

/**
 * Growing a mounted ext4 (resize2fs online) needs CAP_SYS_RESOURCE, which some containers drop
 * even for root. Without it the test must fail with the reason, never skip: call this first.
 */
export function requireOnlineResize(): void {
  if (!hasCapability(24)) {
    throw new Error(
      "HOST TIER CANNOT RUN: growing a mounted ext4 needs CAP_SYS_RESOURCE, which this root process lacks " +
        "(see CapEff in /proc/self/status); `npm run test:host:privileged` runs it in a VM whose root has it (test/host/vm/run.sh)",
    );
  }
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** true when the bound (timeoutMs) was hit and the process group was killed */
  timedOut: boolean;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  /** upper bound of the run; the process group is killed after it */
  timeoutMs?: number;
  cwd?: string;
  /** written to standard input, which is then closed (none: stdin is /dev/null) */
  input?: string | Buffer;
}

export interface Started {
  child: ChildProcess;
  done: Promise<RunResult>;
  /** resolves when stderr (so far) matches `re` */
  stderrMatches(re: RegExp): Promise<void>;
}

/**
 * Start a command asynchronously (the test process keeps serving the fake API meanwhile), in
 * its own process group, killed as a group when it outlives `timeoutMs` (an upper bound, not a
 * measurement).
 */
export function start(
  cmd: string,
  args: string[],
  opts: RunOptions = {},
): Started {
  const child = spawn(cmd, args, {
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    detached: true,
  });
  if (opts.input !== undefined) {
    // A process that exits without reading its input closes the pipe: its exit status tells.
    child.stdin!.on("error", () => undefined);
    child.stdin!.end(opts.input);
  }
  let stdout = "";
  let stderr = "";
  let timedOut = false;
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => {
    stderr += d;
    for (const w of waiters.splice(0)) {
      if (w.re.test(stderr)) w.resolve();
      else waiters.push(w);
    }
  });
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      /* already gone */
    }
  }, opts.timeoutMs ?? 120_000);
  const done = new Promise<RunResult>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
  return {
    child,
    done,
    stderrMatches(re: RegExp) {
      if (re.test(stderr)) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        waiters.push({ re, resolve });
        done.then(() => reject(new Error(`process ended before stderr matched ${re}:\n${stderr}`)), reject);
      });
    },
  };
}

/**
 * Wait for a condition: poll `pred` every 100 ms until it holds, and fail with `what` once
 * `deadlineMs` has passed (an upper bound, never a measurement).
 */
export async function waitUntil(pred: () => boolean, deadlineMs: number, what: string): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out after ${deadlineMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Run a command to completion (async). */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return start(cmd, args, opts).done;
}

/** The bin directory of the newest PostgreSQL server from Debian's packages; fails loudly without one. */
export function findPgBin(): string {
  const base = "/usr/lib/postgresql";
  const versions = fs.existsSync(base)
    ? fs.readdirSync(base).filter((v) => fs.existsSync(path.join(base, v, "bin", "initdb"))).sort((a, b) => Number(b) - Number(a))
    : [];
  if (!versions.length) throw new Error("HOST TIER CANNOT RUN: no PostgreSQL server under /usr/lib/postgresql/*/bin (run test/host/setup.sh)");
  return path.join(base, versions[0], "bin");
}

/** Run a host script with a clean, explicit environment (PATH plus `env`). */
export function runScript(name: string, env: Record<string, string>, timeoutMs = 120_000): Promise<RunResult> {
  return run(hostScript(name), [], { env: scriptEnv(env), timeoutMs });
}

export function scriptEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    LANG: "C.UTF-8",
    TMPDIR: os.tmpdir(),
    ...env,
  };
}

/** Synchronous command that must succeed; returns stdout. */
export function sh(cmd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", input: opts.input, env: opts.env ?? process.env });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed (exit ${r.status}, signal ${r.signal}):\n${r.stderr}${r.stdout}`);
  }
  return r.stdout;
}

/** Synchronous command whose failure is tolerated (cleanup); returns the exit status. */
export function trySh(cmd: string, args: string[]): number | null {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return r.error ? -1 : r.status;
}

export function isMountPoint(dir: string): boolean {
  return spawnSync("mountpoint", ["-q", dir]).status === 0;
}

/** `blkid -p -o export` as a map ({} when the device carries no signature). */
export function probe(dev: string): Record<string, string> {
  const r = spawnSync("blkid", ["-p", "-o", "export", dev], { encoding: "utf8" });
  if (r.status === 2) return {};
  if (r.status !== 0) throw new Error(`blkid -p ${dev} failed (exit ${r.status}): ${r.stderr}`);
  const out: Record<string, string> = {};
  for (const line of r.stdout.split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

export function isImmutable(p: string): boolean {
  const out = sh("lsattr", ["-d", p]).trim().split(/\s+/)[0] ?? "";
  return out.includes("i");
}

/**
 * Is the file system at `dir` frozen? Deterministic probe: `fsfreeze -f` on a frozen file system
 * fails with EBUSY; on a thawed one it succeeds, and we thaw it again at once.
 */
export function isFrozen(dir: string): boolean {
  const r = spawnSync("fsfreeze", ["-f", dir], { encoding: "utf8" });
  if (r.status === 0) {
    sh("fsfreeze", ["-u", dir]);
    return false;
  }
  if (/busy/i.test(r.stderr)) return true;
  throw new Error(`cannot tell whether ${dir} is frozen: fsfreeze -f: ${r.stderr}`);
}

export function sha256File(file: string): string {
  return crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

function mountPointsUnder(dir: string): string[] {
  const out: string[] = [];
  for (const line of fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const f = line.split(" ");
    if (f.length < 5) continue;
    const mp = f[4].replace(/\\040/g, " ");
    if (mp === dir || mp.startsWith(dir + "/")) out.push(mp);
  }
  // deepest first
  return out.sort((a, b) => b.length - a.length);
}

/**
 * A scratch directory for one test file, and everything hanging off it: loop devices whose
 * backing files live in it, mounts under it, immutable flags, frozen file systems, processes.
 * `cleanup()` undoes all of it and must run in an `after` hook.
 */
export class Scratch {
  readonly dir: string;
  private readonly deferred: (() => void)[] = [];

  constructor(prefix: string) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `hp-host-${prefix}-`));
    fs.chmodSync(this.dir, 0o755);
  }

  path(...parts: string[]): string {
    return path.join(this.dir, ...parts);
  }

  /** A sparse file of `mib` MiB (zeros), like a brand-new cloud volume. */
  image(name: string, mib = 64): string {
    const file = this.path(name);
    fs.writeFileSync(file, "");
    fs.truncateSync(file, mib * 1024 * 1024);
    return file;
  }

  /** Attach `file` as a new loop device (retried: other test files attach in parallel). */
  attach(file: string): string {
    let last = "";
    for (let i = 0; i < 10; i++) {
      const r = spawnSync("losetup", ["--find", "--show", file], { encoding: "utf8" });
      if (r.status === 0 && r.stdout.trim().startsWith("/dev/")) return r.stdout.trim();
      last = r.stderr;
      spawnSync("sleep", ["0.2"]);
    }
    throw new Error(`losetup --find --show ${file} failed: ${last}`);
  }

  detach(dev: string): void {
    sh("losetup", ["-d", dev]);
  }

  /** Register extra cleanup (runs first, last registered first). */
  defer(fn: () => void): void {
    this.deferred.push(fn);
  }

  cleanup(): void {
    const errors: string[] = [];
    for (const fn of this.deferred.splice(0).reverse()) {
      try {
        fn();
      } catch (e) {
        errors.push(String(e));
      }
    }
    // 1. thaw and unmount everything under the scratch dir (deepest first).
    for (let pass = 0; pass < 3; pass++) {
      const mps = mountPointsUnder(this.dir);
      if (!mps.length) break;
      for (const mp of mps) {
        trySh("fsfreeze", ["-u", mp]);
        if (trySh("umount", [mp]) !== 0) trySh("umount", ["-l", mp]);
      }
    }
    const left = mountPointsUnder(this.dir);
    if (left.length) errors.push(`still mounted: ${left.join(", ")}`);
    // 2. immutable flags (mount-point guards) anywhere in the tree.
    trySh("chattr", ["-R", "-f", "-i", this.dir]);
    // 3. loop devices backed by files in the scratch dir.
    const list = spawnSync("losetup", ["--list", "--noheadings", "--output", "NAME,BACK-FILE"], { encoding: "utf8" });
    for (const line of (list.stdout ?? "").split("\n")) {
      const m = /^(\/dev\/loop\d+)\s+(.*)$/.exec(line.trim());
      if (m && (m[2].startsWith(this.dir + "/") || m[2].startsWith(this.dir + " "))) {
        if (trySh("losetup", ["-d", m[1]]) !== 0) errors.push(`could not detach ${m[1]}`);
      }
    }
    // 4. the files.
    try {
      fs.rmSync(this.dir, { recursive: true, force: true });
    } catch (e) {
      errors.push(`rm -rf ${this.dir}: ${e}`);
    }
    if (errors.length) throw new Error(`cleanup of ${this.dir} was incomplete:\n${errors.join("\n")}`);
  }
}

/** Write an executable bash script. */
export function writeExecutable(file: string, body: string): string {
  fs.writeFileSync(file, body, { mode: 0o755 });
  fs.chmodSync(file, 0o755);
  return file;
}
