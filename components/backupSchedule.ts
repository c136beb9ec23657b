// When backups run and what the host needs for them: the systemd timers' calendars and the
// settings files of the snapshot, dump and freshness units, delivered over SSH with the host's
// other settings (hostSettings.ts). Pure: unit-tested without mocks.
import { DEFAULT_DATA_ROOT, OffsiteSettings, SnapshotSettings } from "./config";
import { HostFile, HostFileSet, hostScript } from "./hostSettings";
import { readHostFile } from "./hostFiles";
import {
    ALERT_WEBHOOK_URL_FILE, BackupUnit, OFFSITE_CREDENTIALS_FILE, OFFSITE_PASSWORD_FILE, SNAPSHOT_TOKEN_FILE,
    hostServiceDockerName, hostSettingsFile, instanceRegistryDir, systemdUnit,
} from "./naming";

/** How long before each snapshot the databases are dumped, so the snapshot holds a fresh dump. */
export const DUMP_LEAD_MINUTES = 15;
/** How long after each snapshot the dumps are copied off-site: the dump has had 45 minutes to finish. */
export const OFFSITE_LAG_MINUTES = 30;
/** When, after the first snapshot of a Sunday, the weekly restore check runs: after that copy. */
export const RESTORE_CHECK_LAG_MINUTES = 90;
/** The bound of the freshness check's look at the off-site repository (its unit has 5 minutes). */
export const OFFSITE_LOOKUP_TIMEOUT_SECONDS = 120;
/** The edge's certificate storage on the data volume, copied off-site when it exists. */
export const EDGE_STORAGE_DIR = `${DEFAULT_DATA_ROOT}/edge`;
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

/** A systemd OnCalendar value for a weekly run on Sunday at `at` (UTC) shifted by `offsetMinutes` (wrapping into Monday). */
export function weeklyCalendar(at: string, offsetMinutes = 0): string {
    const [h, m] = at.split(":").map(Number);
    const t = h * 60 + m + offsetMinutes;
    const day = t >= MINUTES_PER_DAY ? "Mon" : "Sun";
    const start = ((t % MINUTES_PER_DAY) + MINUTES_PER_DAY) % MINUTES_PER_DAY;
    const two = (n: number) => String(n).padStart(2, "0");
    return `${day} *-*-* ${two(Math.floor(start / 60))}:${two(start % 60)}:00 UTC`;
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

function envFile(unit: BackupUnit | "alerts", settings: Record<string, string | number>): HostFile {
    const lines = Object.entries(settings).map(([k, v]) => `${k}=${v}`);
    return { path: hostSettingsFile(unit), content: `${lines.join("\n")}\n`, permissions: "0644" };
}

/** Who snapshots the data volume: the host's timer (DigitalOcean), DLM (AWS), or nobody (a volume the stack does not manage). */
export type VolumeSnapshots =
    | { readonly by: "host-timer"; /** The DigitalOcean volume's id. */ readonly volumeId: string; /** What this stack's snapshot names start with. */ readonly prefix: string }
    | { readonly by: "dlm" }
    | { readonly by: "none" };

/** Where the off-site copies of one host go. */
export interface OffsiteHostArgs {
    readonly settings: OffsiteSettings;
    /** The repository's path in the bucket and restic's --host (CloudNames.offsite). */
    readonly repositoryPath: string;
    readonly hostTag: string;
}

/** What every alert names, and the SNS topic it is published to as well (aws). */
export interface AlertHostArgs {
    readonly stack: string;
    readonly hostName: string;
    readonly snsTopicArn?: string;
}

export interface BackupHostSetupArgs {
    /** Schedule and retention. */
    readonly snapshots: SnapshotSettings;
    /** Who snapshots the volume; the host's freshness check watches what it can see. */
    readonly volumeSnapshots: VolumeSnapshots;
    /** The off-site copies. @default none */
    readonly offsite?: OffsiteHostArgs;
    /** Who is told. @default the stack only: failures are logged, and posted nowhere */
    readonly alerts?: AlertHostArgs;
}

/** The restic repository of a host's off-site copies. */
export function offsiteRepository(o: OffsiteHostArgs): string {
    return `s3:${o.settings.endpoint}/${o.settings.bucket}/${o.repositoryPath}`;
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
            OFFSITE_INTERVAL_HOURS: s.everyHours,
            // Where DLM (or nobody) takes the snapshots, the host only sees its dumps.
            CHECKS: [...(v.by === "host-timer" ? ["snapshot"] : []), "dump", ...(args.offsite ? ["offsite"] : []), "restore-check"].join(" "),
            INSTANCES_DIR: registry,
            TIMEOUT_SECONDS: OFFSITE_LOOKUP_TIMEOUT_SECONDS,
        }),
        // Every backup unit's ExecStopPost tells a person once per failure and once per recovery.
        hostScript("alert.sh"),
        envFile("alerts", {
            STACK: args.alerts?.stack ?? "",
            HOST_NAME: args.alerts?.hostName ?? "",
            WEBHOOK_URL_FILE: ALERT_WEBHOOK_URL_FILE,
            ...(args.alerts?.snsTopicArn ? { SNS_TOPIC_ARN: args.alerts.snsTopicArn } : {}),
        }),
        // The weekly proof that the newest dumps restore.
        hostScript("restore-check.sh"),
        serviceFile("restore-check"),
        timerFile("restore-check", weeklyCalendar(s.at, RESTORE_CHECK_LAG_MINUTES)),
        envFile("restore-check", {
            BACKUP_ROOT: `${DEFAULT_DATA_ROOT}/backups`,
            INSTANCES_DIR: registry,
            NETWORK: hostServiceDockerName("restore-check"),
            CONTAINER_PREFIX: hostServiceDockerName("restore-check", ""),
        }),
    ];
    const enable = [`${systemdUnit("dump")}.timer`, `${systemdUnit("backup-status")}.timer`, `${systemdUnit("restore-check")}.timer`];
    if (args.offsite) {
        const o = args.offsite;
        files.push(
            hostScript("offsite-backup.sh"),
            serviceFile("offsite"),
            timerFile("offsite", onCalendar(s.everyHours, s.at, OFFSITE_LAG_MINUTES)),
            envFile("offsite", {
                REPOSITORY: offsiteRepository(o),
                HOST_TAG: o.hostTag,
                BACKUP_ROOT: `${DEFAULT_DATA_ROOT}/backups`,
                EXTRA_PATHS: EDGE_STORAGE_DIR,
                KEEP_DAILY: o.settings.retain.daily,
                KEEP_WEEKLY: o.settings.retain.weekly,
                KEEP_MONTHLY: o.settings.retain.monthly,
                CREDENTIALS_FILE: OFFSITE_CREDENTIALS_FILE,
                PASSWORD_FILE: OFFSITE_PASSWORD_FILE,
            }),
        );
        enable.push(`${systemdUnit("offsite")}.timer`);
    }
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
