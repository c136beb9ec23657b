// The cloud-init user-data of a cloud Docker host. Pure: the same arguments give the same text.
// Order matters: the data volume is mounted before Docker is installed, and Docker is made to
// require that mount, so no container ever writes its data to the root disk.
import { readHostFile } from "./hostFiles";
import { DOCKER_MOUNT_DROP_IN, installedScriptPath } from "./naming";

/** A file cloud-init writes on the host. */
export interface HostFile {
    readonly path: string;
    readonly content: string;
    readonly permissions: string;
}

/** The host scripts every cloud host has, whatever its backups. */
export const BASE_SCRIPTS = ["mount-data-volume.sh", "prepare-instance-dirs.sh", "host-ready.sh", "write-secret.sh"];

export interface CloudInitArgs {
    /** The volume's stable device path (by-id). */
    readonly devicePath: string;
    /** Where the volume is mounted. */
    readonly dataRoot: string;
    /** The SSH user that drives Docker; added to the docker group unless it is root. */
    readonly sshUser: string;
    /** More files to write (backup units, their settings). */
    readonly files: readonly HostFile[];
    /** systemd units to enable and start once Docker runs. */
    readonly enableUnits: readonly string[];
}

/** Renders `#cloud-config` user-data. */
export function renderCloudInit(args: CloudInitArgs): string {
    const files: HostFile[] = [
        ...BASE_SCRIPTS.map((s) => ({ path: installedScriptPath(s), content: readHostFile(s), permissions: "0755" })),
        {
            // Docker starts only with the data volume mounted (after a reboot, too).
            path: DOCKER_MOUNT_DROP_IN,
            content: `[Unit]\nRequiresMountsFor=${args.dataRoot}\n`,
            permissions: "0644",
        },
        ...args.files,
    ];
    const lines = [
        "#cloud-config",
        "# Rendered by housing-portal infra. A change here replaces the host; the data volume is re-attached, never formatted.",
        "write_files:",
        ...files.flatMap((f) => [
            `  - path: ${f.path}`,
            `    permissions: "${f.permissions}"`,
            "    owner: root:root",
            "    encoding: b64",
            `    content: ${Buffer.from(f.content, "utf8").toString("base64")}`,
        ]),
        "runcmd:",
        // 1. The volume first: wait for the attachment, format only a blank device, mount, fstab.
        //    On failure the rest of runcmd is skipped and cloud-init reports an error, which
        //    stops the program's readiness gate: no Docker, no containers, nothing on the root disk.
        `  - DEVICE=${args.devicePath} MOUNT_POINT=${args.dataRoot} WAIT_SECONDS=900 ${installedScriptPath("mount-data-volume.sh")} || exit 1`,
        // 2. Docker only after the mount; the drop-in above keeps that order on every boot.
        "  - [sh, -c, \"apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y docker.io jq curl\"]",
        "  - [systemctl, daemon-reload]",
        "  - [systemctl, enable, --now, docker.service]",
        ...(args.sshUser === "root" ? [] : [`  - [usermod, -aG, docker, ${args.sshUser}]`]),
        ...args.enableUnits.map((u) => `  - [systemctl, enable, --now, ${u}]`),
        "",
    ];
    return lines.join("\n");
}
