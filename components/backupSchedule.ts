// When backups run and what the host needs for them: the systemd timers' calendars and the
// settings files of the snapshot, dump and freshness units. Pure: unit-tested without mocks.
import { CloudProvider, DEFAULT_DATA_ROOT, SnapshotSettings } from "./config";
import { HostFile } from "./cloudInit";
import { readHostFile } from "./hostFiles";
import { BackupUnit, SNAPSHOT_TOKEN_FILE, hostSettingsFile, installedScriptPath, systemdUnit } from "./naming";

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

function script(name: string): HostFile {
    return { path: installedScriptPath(name), content: readHostFile(name), permissions: "0755" };
}

export interface BackupHostSetupArgs {
    /** Which cloud snapshots the volume: DigitalOcean by the host's timer, AWS by DLM. */
    readonly provider: CloudProvider;
    /** Schedule and retention. */
    readonly snapshots: SnapshotSettings;
    /** The DigitalOcean volume to snapshot (unused on AWS). */
    readonly volumeId: string;
    /** Names this stack's snapshots, so pruning only touches its own. */
    readonly snapshotPrefix: string;
}

/** The files and timers the host needs for its backups; cloud-init installs them. */
export function backupHostSetup(args: BackupHostSetupArgs): { files: HostFile[]; timers: string[] } {
    const s = args.snapshots;
    const files: HostFile[] = [
        script("dump-databases.sh"),
        script("backup-status.sh"),
        serviceFile("dump"),
        timerFile("dump", onCalendar(s.everyHours, s.at, -DUMP_LEAD_MINUTES)),
        envFile("dump", { BACKUP_ROOT: `${DEFAULT_DATA_ROOT}/backups`, RETAIN: s.dumpRetain }),
        serviceFile("backup-status"),
        timerFile("backup-status", "hourly"),
        envFile("backup-status", {
            SNAPSHOT_INTERVAL_HOURS: s.everyHours,
            DUMP_INTERVAL_HOURS: s.everyHours,
            // On AWS, DLM takes the snapshots: the host only sees its dumps.
            CHECKS: args.provider === "digitalocean" ? "snapshot dump" : "dump",
        }),
    ];
    const timers = [`${systemdUnit("dump")}.timer`, `${systemdUnit("backup-status")}.timer`];
    if (args.provider === "digitalocean") {
        files.push(
            script("snapshot-volume.sh"),
            serviceFile("snapshot"),
            timerFile("snapshot", onCalendar(s.everyHours, s.at)),
            envFile("snapshot", {
                VOLUME_ID: args.volumeId,
                MOUNT_POINT: DEFAULT_DATA_ROOT,
                RETAIN: s.retain,
                SNAPSHOT_PREFIX: args.snapshotPrefix,
                TOKEN_FILE: SNAPSHOT_TOKEN_FILE,
            }),
        );
        timers.push(`${systemdUnit("snapshot")}.timer`);
    }
    return { files, timers };
}
