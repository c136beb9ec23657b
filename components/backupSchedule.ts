// When backups run and what the host needs for them: the systemd timers' calendars and the
// settings files of the snapshot, dump and freshness units, delivered over SSH with the host's
// other settings (hostSettings.ts). Pure: unit-tested without mocks.
import { DEFAULT_DATA_ROOT, SnapshotSettings } from "./config";
import { HostFile, HostFileSet, hostScript } from "./hostSettings";
import { readHostFile } from "./hostFiles";
import { BackupUnit, SNAPSHOT_TOKEN_FILE, hostSettingsFile, instanceRegistryDir, systemdUnit } from "./naming";

/** How long before each snapshot the databases are dumped, so the snapshot holds a fresh dump. */
export const DUMP_LEAD_MINUTES = 15;
const MINUTES_PER_DAY = 24 * 60;

/**
 * A systemd OnCalendar value for runs every `everyHours` hours starting at `at` (UTC), shifted by
 * `offsetMinutes` (negative: earlier, wrapping across midnight). everyHours divides 24.
 */
export function onCalendar(everyHours: number, at: string, offsetMinutes = 0): string {
    if (24 % everyHours !== 0) throw new Error(`everyHours must divide 24, got ${everyHours}`);
    const [h, m] = at.split(":").map(Number);
    const start = (((h * 60 + m + offsetMinutes) % MINUTES_PER_DAY) + MINUTES_PER_DAY) % MINUTES_PER_DAY;
    const runs = Array.from({ length: 24 / everyHours }, (_, k) => (start + k * everyHours * 60) % MINUTES_PER_DAY);
    const hours = runs.map((t) => Math.floor(t / 60)).sort((a, b) => a - b);
    const two = (n: number) => String(n).padStart(2, "0");
    return `*-*-* ${hours.map(two).join(",")}:${two(start % 60)}:00 UTC`;
}

/** A systemd unit from host/systemd with its calendar filled in. */
function timerFile(unit: BackupUnit, calendar: string): HostFile {
    const file = `${systemdUnit(unit)}.timer`;
    const text = readHostFile(`systemd/${file}`);
    const placeholder = "OnCalendar=@ON_CALENDAR@";
    if (!text.includes(placeholder)) throw new Error(`host/systemd/${file} has no ${placeholder} line`);
    return { path: `/etc/systemd/system/${file}`, content: text.replace(placeholder, `OnCalendar=${calendar}`), permissions: "0644" };
}

function serviceFile(unit: BackupUnit): HostFile {
    const file = `${systemdUnit(unit)}.service`;
    return { path: `/etc/systemd/system/${file}`, content: readHostFile(`systemd/${file}`), permissions: "0644" };
}

function envFile(unit: BackupUnit, settings: Record<string, string | number>): HostFile {
    const lines = Object.entries(settings).map(([k, v]) => `${k}=${v}`);
    return { path: hostSettingsFile(unit), content: `${lines.join("\n")}\n`, permissions: "0644" };
}

/** Who snapshots the data volume: the host's timer (DigitalOcean), DLM (AWS), or nobody (a volume the stack does not manage). */
export type VolumeSnapshots =
    | { readonly by: "host-timer"; /** The DigitalOcean volume's id. */ readonly volumeId: string; /** What this stack's snapshot names start with. */ readonly prefix: string }
    | { readonly by: "dlm" }
    | { readonly by: "none" };

export interface BackupHostSetupArgs {
    /** Schedule and retention. */
    readonly snapshots: SnapshotSettings;
    /** Who snapshots the volume; the host's freshness check watches what it can see. */
    readonly volumeSnapshots: VolumeSnapshots;
}

/** The files and timers the host needs for its backups: dumps and their freshness always, the snapshot timer where the host takes them. */
export function backupHostSetup(args: BackupHostSetupArgs): HostFileSet {
    const s = args.snapshots;
    const v = args.volumeSnapshots;
    // Every registered instance must be dumped: one that is stopped fails the run, by name.
    const registry = instanceRegistryDir(DEFAULT_DATA_ROOT);
    const files: HostFile[] = [
        hostScript("dump-databases.sh"),
        hostScript("backup-status.sh"),
        serviceFile("dump"),
        timerFile("dump", onCalendar(s.everyHours, s.at, -DUMP_LEAD_MINUTES)),
        envFile("dump", { BACKUP_ROOT: `${DEFAULT_DATA_ROOT}/backups`, RETAIN: s.dumpRetain, INSTANCES_DIR: registry }),
        serviceFile("backup-status"),
        timerFile("backup-status", "hourly"),
        envFile("backup-status", {
            SNAPSHOT_INTERVAL_HOURS: s.everyHours,
            DUMP_INTERVAL_HOURS: s.everyHours,
            // Where DLM (or nobody) takes the snapshots, the host only sees its dumps.
            CHECKS: v.by === "host-timer" ? "snapshot dump" : "dump",
            INSTANCES_DIR: registry,
        }),
    ];
    const enable = [`${systemdUnit("dump")}.timer`, `${systemdUnit("backup-status")}.timer`];
    if (v.by === "host-timer") {
        files.push(
            hostScript("snapshot-volume.sh"),
            serviceFile("snapshot"),
            timerFile("snapshot", onCalendar(s.everyHours, s.at)),
            envFile("snapshot", {
                VOLUME_ID: v.volumeId,
                MOUNT_POINT: DEFAULT_DATA_ROOT,
                RETAIN: s.retain,
                SNAPSHOT_PREFIX: v.prefix,
                TOKEN_FILE: SNAPSHOT_TOKEN_FILE,
            }),
        );
        enable.push(`${systemdUnit("snapshot")}.timer`);
    }
    return { files, enable };
}
