// The SSH host key a cloud host is known by before the program first connects, and how every
// SSH client of the program pins it. Pure: the same key gives the same options.
//
// A created host gets a key the program generates and installs through cloud-init (cloudInit.ts);
// an existing host's key is given in config (host.hostKey). Either way the deploy never trusts
// whatever answers at the address on first use.

/** The OpenSSH host key types accepted in host.hostKey, with the host key algorithms that present each. */
export const HOST_KEY_ALGORITHMS: Readonly<Record<string, readonly string[]>> = {
    "ssh-ed25519": ["ssh-ed25519"],
    "ecdsa-sha2-nistp256": ["ecdsa-sha2-nistp256"],
    "ecdsa-sha2-nistp384": ["ecdsa-sha2-nistp384"],
    "ecdsa-sha2-nistp521": ["ecdsa-sha2-nistp521"],
    // An RSA key is presented with SHA-2 signatures; OpenSSH 8.8 and later refuse the SHA-1 "ssh-rsa".
    "ssh-rsa": ["rsa-sha2-512", "rsa-sha2-256"],
};

/** A parsed OpenSSH public key line: its type and its base64 key blob (the comment dropped). */
export interface PublicHostKey {
    readonly type: string;
    readonly blob: string;
}

/**
 * Parses one OpenSSH public key line, "<type> <base64> [comment]", as `ssh-keyscan` or
 * /etc/ssh/ssh_host_*_key.pub print it. The blob must decode to a key of the named type.
 * Undefined for anything else (several lines, a private key, a known_hosts line with a host name).
 */
export function parsePublicHostKey(line: string): PublicHostKey | undefined {
    const m = /^([a-z0-9-]+) ([A-Za-z0-9+/]+={0,2})(?: [^\r\n]*)?$/.exec(line.replace(/\n$/, ""));
    if (!m || !Object.prototype.hasOwnProperty.call(HOST_KEY_ALGORITHMS, m[1])) return undefined;
    const blob = Buffer.from(m[2], "base64");
    if (blob.toString("base64") !== m[2]) return undefined;
    const parts = sshStrings(blob);
    // The blob is its own type, then the key's parts (RFC 4253 6.6, RFC 5656 3.1, RFC 8709 4).
    if (parts === undefined || parts[0].toString("latin1") !== m[1]) return undefined;
    const wellFormed = m[1] === "ssh-ed25519" ? parts.length === 2 && parts[1].length === 32
        : m[1] === "ssh-rsa" ? parts.length === 3
        : parts.length === 3 && parts[1].toString("latin1") === m[1].slice("ecdsa-sha2-".length);
    return wellFormed ? { type: m[1], blob: m[2] } : undefined;
}

/** The SSH strings (uint32 length, then bytes) a blob consists of, to its last byte; undefined if it does not. */
function sshStrings(blob: Buffer): Buffer[] | undefined {
    const parts: Buffer[] = [];
    for (let at = 0; at < blob.length;) {
        if (at + 4 > blob.length) return undefined;
        const length = blob.readUInt32BE(at);
        if (at + 4 + length > blob.length) return undefined;
        parts.push(blob.subarray(at + 4, at + 4 + length));
        at += 4 + length;
    }
    return parts.length ? parts : undefined;
}

/** The key as one line "<type> <base64>", without comment or newline: what the pins compare. */
export function publicHostKeyLine(line: string): string {
    const key = parsePublicHostKey(line);
    if (key === undefined) throw new Error("not an OpenSSH public key line");
    return `${key.type} ${key.blob}`;
}

/**
 * The OpenSSH client options that accept exactly this host key, with no state on the machine
 * that connects: no known_hosts file is read or written, the one accepted key comes from the
 * options themselves (KnownHostsCommand prints it, argv-split by ssh, no shell), and any other
 * key, or a server that presents none of this key's type, is refused. For the Docker provider's
 * `sshOpts` and the host tier's test, which imports them.
 */
export function pinnedSshOptions(hostKey: string): string[] {
    const key = parsePublicHostKey(hostKey);
    if (key === undefined) throw new Error("pinnedSshOptions: not an OpenSSH public key line");
    return [
        "-o", "StrictHostKeyChecking=yes",
        "-o", "UserKnownHostsFile=/dev/null",
        "-o", "GlobalKnownHostsFile=/dev/null",
        // %H is the host (and port) ssh looks up: the printed line is the known_hosts line for it.
        "-o", `KnownHostsCommand=/bin/echo %H ${key.type} ${key.blob}`,
        "-o", `HostKeyAlgorithms=${HOST_KEY_ALGORITHMS[key.type].join(",")}`,
        "-o", "ServerAliveInterval=30",
    ];
}

/**
 * One deployed host's outputs (`deployedHosts` in volumeRecord.ts) against its created host's config:
 * a machine deployed before the program generated host keys exports no hostKey, and without
 * host.hostKey the next run would replace it (its user data gains the generated key). Refused
 * before any plan, with the way to keep it; undefined when nothing is wrong.
 */
export function deployedHostKeyProblem(outputs: Readonly<Record<string, unknown>>, host: { readonly kind: "create" | "existing"; readonly hostKey?: string }): string | undefined {
    const deployedMachine = typeof outputs.address === "string" && host.kind === "create";
    if (!deployedMachine || outputs.hostKey !== undefined || host.hostKey !== undefined) return undefined;
    return "host.hostKey: the deployed machine was created before the program generated host keys (its outputs have no hostKey), "
        + "and without its key the next update replaces it; set host.hostKey to the key it has (`cat /etc/ssh/ssh_host_ed25519_key.pub` on its console) "
        + "to keep it, and remove it in a later change to move to a generated key with a host replacement (docs/security.md)";
}
