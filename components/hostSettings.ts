// The host's settings after its first boot: scripts, systemd units and settings files, as one
// bundle that host/apply-host-files.sh installs over SSH. Pure: the same settings give the same
// text. The bundle is the content of a command's standard input, so a change to any file updates
// that command and nothing else; the machine's user data never holds these files (a change
// there replaces the machine).
import { readHostFile } from "./hostFiles";
import { METADATA_BLOCK_UNIT, installedScriptPath } from "./naming";

/** A file the program installs on the host. */
export interface HostFile {
    readonly path: string;
    readonly content: string;
    /** Octal, e.g. "0644". */
    readonly permissions: string;
}

/** Files to install and the units to enable on the host. */
export interface HostFileSet {
    readonly files: readonly HostFile[];
    /** systemd units (timers) to enable and start. */
    readonly enable: readonly string[];
}

/** The script that installs the bundle; itself installed over SSH before each apply. */
export const APPLY_SCRIPT = "apply-host-files.sh";

/** Scripts every cloud host gets with its settings, whatever its backups. */
const SETTINGS_SCRIPTS = ["write-secret.sh", "grow-data-volume.sh", "release-data-volume.sh", "unregister-instance.sh"];

/** A script from host/, installed executable. */
export function hostScript(name: string): HostFile {
    return { path: installedScriptPath(name), content: readHostFile(name), permissions: "0755" };
}

/**
 * What a created host gets besides its backups: containers refused at the metadata service, whose
 * user data holds the host's SSH key (docs/security.md). Not on an existing host, whose other
 * containers are not the program's to cut off.
 */
export const CREATED_HOST_SETTINGS: HostFileSet = {
    files: [
        hostScript("block-container-metadata.sh"),
        { path: `/etc/systemd/system/${METADATA_BLOCK_UNIT}`, content: readHostFile(`systemd/${METADATA_BLOCK_UNIT}`), permissions: "0644" },
    ],
    enable: [METADATA_BLOCK_UNIT],
};

/** Two sets as one: the files of both, the units of both. */
export function joinHostFileSets(a: HostFileSet, b: HostFileSet): HostFileSet {
    return { files: [...a.files, ...b.files], enable: [...a.enable, ...b.enable] };
}

/** The standard input of host/apply-host-files.sh: every file of the set (and the scripts every host gets), base64-encoded. */
export function renderHostBundle(set: HostFileSet): string {
    const files = [...SETTINGS_SCRIPTS.map(hostScript), ...set.files]
        .map((f) => ({ path: f.path, mode: f.permissions, content: Buffer.from(f.content, "utf8").toString("base64") }));
    return `${JSON.stringify({ files, enable: set.enable }, null, 1)}\n`;
}
