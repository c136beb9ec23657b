// The cloud-init user-data of a cloud Docker host: only what its first boot needs. Pure: the
// same arguments give the same text. Order matters: the data volume is mounted before Docker is
// installed, and Docker is made to require that mount, so no container ever writes its data to
// the root disk. Everything after the first boot (backup units, their settings) arrives over SSH
// (hostSettings.ts): user data runs once, and a change to it replaces the machine. Its one secret
// is the host's SSH host key pair, so the program knows the key before it first connects.
import { gzip } from "pako";
import * as YAML from "yaml";
import { hostScriptCommandLine } from "./hostFiles";
import { HostFile, hostScript } from "./hostSettings";
import { DOCKER_MOUNT_DROP_IN, installedScriptPath } from "./naming";

/**
 * The host scripts a first boot needs: mounting the volume. The others run over SSH (fed on
 * standard input, or installed with the host's settings), so changing them never replaces the machine.
 */
export const BASE_SCRIPTS = ["mount-data-volume.sh"];

/** Who the program logs in as, and how that user comes to exist on the machine. */
export type SshLogin =
    /** root, with the cloud's keys. */
    | { readonly kind: "root" }
    /** The image's own default user (an AMI's "ubuntu"), with the key pair's key. */
    | { readonly kind: "image-user"; readonly user: string }
    /**
     * A user cloud-init creates as its default user: the cloud's keys (DigitalOcean's registered
     * ones) go to it instead of root, with passwordless sudo; root's SSH login is disabled.
     */
    | { readonly kind: "deploy-user"; readonly user: string };

export interface CloudInitArgs {
    /** The volume's stable device path (by-id). */
    readonly devicePath: string;
    /** Where the volume is mounted. */
    readonly dataRoot: string;
    /** The SSH user that drives Docker; a non-root one is added to the docker group. */
    readonly login: SshLogin;
    /**
     * The host's SSH host key pair (ED25519, OpenSSH format), installed as its only host key, so
     * the program knows the key before it first connects. A secret: it makes the user data one.
     * @default none: cloud-init generates the host keys (a machine created before the program generated them)
     */
    readonly hostKey?: HostKeyPair;
}

/** An ED25519 SSH host key pair in OpenSSH's formats. */
export interface HostKeyPair {
    /** The private key, "-----BEGIN OPENSSH PRIVATE KEY-----...". */
    readonly privateKey: string;
    /** The public key line, "ssh-ed25519 AAAA...". */
    readonly publicKey: string;
}

/** The login for a cloud's machine: DigitalOcean creates a non-root user; an AMI brings its own. */
export function sshLoginFor(provider: "digitalocean" | "aws", sshUser: string): SshLogin {
    if (sshUser === "root") return { kind: "root" };
    return provider === "digitalocean" ? { kind: "deploy-user", user: sshUser } : { kind: "image-user", user: sshUser };
}

/** Renders `#cloud-config` user-data: built as data and serialised by the yaml library, so no value can change its structure. */
export function renderCloudInit(args: CloudInitArgs): string {
    const files: HostFile[] = [
        ...BASE_SCRIPTS.map(hostScript),
        {
            // Docker starts only with the data volume mounted (after a reboot, too).
            path: DOCKER_MOUNT_DROP_IN,
            content: `[Unit]\nRequiresMountsFor=${args.dataRoot}\n`,
            permissions: "0644",
        },
    ];
    const mount = hostScriptCommandLine({ DEVICE: args.devicePath, MOUNT_POINT: args.dataRoot, WAIT_SECONDS: "900" }, false, installedScriptPath("mount-data-volume.sh"));
    const runcmd: (string | string[])[] = [
        // 1. The volume first: wait for the attachment, format only a blank device, mount, fstab.
        //    On failure the rest of runcmd is skipped and cloud-init reports an error, which
        //    stops the program's readiness gate: no Docker, no containers, nothing on the root disk.
        //    (A line, not a list: `|| exit 1` needs the shell; its values are shell-quoted.)
        `${mount} || exit 1`,
        // 2. Docker only after the mount; the drop-in above keeps that order on every boot.
        ["sh", "-c", "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y docker.io jq curl"],
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "--now", "docker.service"],
        ...(args.login.kind === "root" ? [] : [["usermod", "-aG", "docker", args.login.user]]),
    ];
    const deployUser = args.login.kind === "deploy-user" ? {
        system_info: { default_user: { name: args.login.user, gecos: "housing-portal deploy", shell: "/bin/bash", lock_passwd: true, sudo: "ALL=(ALL) NOPASSWD:ALL" } },
        users: ["default"],
        // Root's authorized keys then only say to log in as the deploy user; no password logins.
        disable_root: true,
        ssh_pwauth: false,
    } : {};
    const hostKey = args.hostKey === undefined ? {} : {
        // The given pair is the host's only key: the image's keys are deleted, and with ssh_keys
        // given cloud-init generates none (cc_ssh; an empty ssh_genkeytypes fails its schema).
        ssh_deletekeys: true,
        ssh_keys: { ed25519_private: args.hostKey.privateKey, ed25519_public: args.hostKey.publicKey.trim() },
    };
    const doc = new YAML.Document({
        ...deployUser,
        ...hostKey,
        // Compressed, to fit EC2's limit; a machine that keeps its first boot from before generated
        // host keys (no hostKey here) keeps it byte for byte, files base64-encoded only.
        write_files: files.map((f) => ({
            path: f.path, permissions: f.permissions, owner: "root:root",
            ...(args.hostKey === undefined
                ? { encoding: "b64", content: Buffer.from(f.content, "utf8").toString("base64") }
                : { encoding: "gz+b64", content: compressedFileContent(f.content) }),
        })),
        runcmd,
    });
    // Each command of runcmd on one line, as cloud-init's examples write them.
    for (const command of (doc.get("runcmd") as YAML.YAMLSeq).items) if (YAML.isSeq(command)) command.flow = true;
    return [
        "#cloud-config",
        "# Rendered by housing-portal infra for the first boot. A change here replaces the host; the data volume is re-attached, never formatted.",
        doc.toString({ lineWidth: 0 }),
    ].join("\n");
}

/**
 * The largest user data each cloud takes, in bytes before its base64 transport: EC2's 16 KB
 * (the mount script alone, base64-encoded, exceeded it) and DigitalOcean's 64 KiB.
 */
export const USER_DATA_LIMIT_BYTES = { aws: 16 * 1024, digitalocean: 64 * 1024 } as const;

/**
 * A file's content for cloud-init's `gz+b64` encoding. pako, pinned in the lockfile, makes the
 * bytes: Node's own zlib may compress differently from one Node release to the next, and a
 * different byte in the user data replaces the machine.
 */
function compressedFileContent(content: string): string {
    return Buffer.from(gzip(Buffer.from(content, "utf8"), { level: 9 })).toString("base64");
}
