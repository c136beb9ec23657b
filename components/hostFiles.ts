// The files under host/ that run on the Docker host. They are read at plan time, so the
// program ships exactly the scripts that `npm run test:host` tests, never a copy inlined here.
import * as fs from "fs";
import * as path from "path";

/** The project's host/ directory. */
export const HOST_DIR = path.resolve(__dirname, "..", "host");

/** The text of a file under host/, e.g. "mount-data-volume.sh" or a unit under "systemd/". */
export function readHostFile(relativePath: string): string {
    return fs.readFileSync(path.join(HOST_DIR, relativePath), "utf8");
}

/** Quotes a value for a POSIX shell command line. */
export function shellQuote(value: string): string {
    return /^[A-Za-z0-9_./:=@%+-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * The command line that runs a program on the host with its settings in the environment:
 * `[sudo] env KEY=value … <program>`, by default `bash -s`, a script fed on standard input.
 * Settings go on the command line because sshd drops most client environment variables.
 */
export function hostScriptCommandLine(env: Readonly<Record<string, string>>, useSudo: boolean, program = "bash -s"): string {
    const settings = Object.keys(env).sort().map((k) => `${k}=${shellQuote(env[k])}`);
    return [...(useSudo ? ["sudo"] : []), "env", ...settings, program].join(" ");
}
