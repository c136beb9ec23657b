#!/usr/bin/env bash
# housing-portal: an encrypted, deduplicated off-site copy of the dumps with restic, to
# S3-compatible object storage (DigitalOcean Spaces, S3, any endpoint), with retention.
#
# Installed on the host as /usr/local/sbin/housing-portal-offsite-backup and run by
# housing-portal-offsite.timer after each dump. What it does (ACTION=backup, the default):
#   1. opens the repository (restic cat config) and creates it when the bucket holds none yet;
#   2. clears stale locks (restic unlock): a run killed by its bound leaves its lock behind, and
#      a locked repository cannot be pruned;
#   3. restic backup of BACKUP_ROOT (the finished dumps and their row counts; the dump step's
#      .partial files are excluded) and of each of EXTRA_PATHS that exists (the edge's
#      certificate storage; a missing one is skipped and logged, never an error), tagged
#      housing-portal, under --host HOST_TAG (stable across replaced machines);
#   4. restic forget --prune with KEEP_DAILY / KEEP_WEEKLY / KEEP_MONTHLY, for HOST_TAG only (all
#      its snapshots as one group, whatever their paths);
#   5. every CHECK_EVERY_DAYS days, restic check --read-data-subset CHECK_READ_DATA_SUBSET;
#   6. records success in STATUS_FILE (and the check's in CHECK_STATUS_FILE).
# restic does not bound a run whose server dies mid-transfer (it retries for many minutes): every
# restic call runs under `timeout` (TIMEOUT_SECONDS). Any failure ends the run non-zero without
# recording success; the unit's ExecStopPost then alerts (alert.sh).
# ACTION=latest prints the time of the newest snapshot of HOST_TAG as seconds since the epoch
# (nothing when there is none), for the freshness check.
#
# The secrets never appear on a command line or in the environment of other processes: the
# repository password is handed to restic as a file (RESTIC_PASSWORD_FILE), the access key is
# read from CREDENTIALS_FILE (AWS_ACCESS_KEY_ID=... and AWS_SECRET_ACCESS_KEY=... lines, nothing
# else) into restic's environment only.
#
# Settings (environment):
#   REPOSITORY            required. s3:https://<endpoint>/<bucket>[/<path>].
#   CREDENTIALS_FILE      default /etc/housing-portal/offsite-credentials (root-only).
#   PASSWORD_FILE         default /etc/housing-portal/offsite-password (root-only).
#   BACKUP_ROOT           default /mnt/data/backups. Must exist.
#   EXTRA_PATHS           default /mnt/data/edge. Space-separated absolute paths, each copied
#                         when it exists.
#   HOST_TAG              required. restic's --host: the snapshots this host makes and prunes.
#   KEEP_DAILY            default 7.   KEEP_WEEKLY  default 4.   KEEP_MONTHLY  default 6.
#                         (whole numbers >= 0, not all 0)
#   TIMEOUT_SECONDS       default 3600. Upper bound of each restic call.
#   CHECK_EVERY_DAYS      default 7 (0: never). How often restic check runs.
#   CHECK_READ_DATA_SUBSET default 5%. What share of the data each check downloads and verifies.
#   CACERT                default empty. A CA certificate for the endpoint (restic --cacert).
#   CACHE_DIR             default /var/cache/housing-portal/restic.
#   STATUS_FILE           default /var/lib/housing-portal/offsite.last-success.
#   CHECK_STATUS_FILE     default /var/lib/housing-portal/offsite-check.last-success.
#   LOCK_FILE             default /run/lock/housing-portal-offsite-backup.lock.
#   RESTIC                default restic.
#   ACTION                default backup; or latest.
#
# Exit status: 0 on success; 1 on a failure; 2 on a bad setting.
set -euo pipefail

readonly PROG=offsite-backup
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
usage_error() { printf '%s: invalid setting: %s\n' "$PROG" "$*" >&2; exit 2; }
is_whole() { [[ "$1" =~ ^[0-9]+$ ]]; }

REPOSITORY="${REPOSITORY:-}"
CREDENTIALS_FILE="${CREDENTIALS_FILE:-/etc/housing-portal/offsite-credentials}"
PASSWORD_FILE="${PASSWORD_FILE:-/etc/housing-portal/offsite-password}"
BACKUP_ROOT="${BACKUP_ROOT:-/mnt/data/backups}"
EXTRA_PATHS="${EXTRA_PATHS-/mnt/data/edge}"
HOST_TAG="${HOST_TAG:-}"
KEEP_DAILY="${KEEP_DAILY:-7}"
KEEP_WEEKLY="${KEEP_WEEKLY:-4}"
KEEP_MONTHLY="${KEEP_MONTHLY:-6}"
TIMEOUT_SECONDS="${TIMEOUT_SECONDS:-3600}"
CHECK_EVERY_DAYS="${CHECK_EVERY_DAYS:-7}"
CHECK_READ_DATA_SUBSET="${CHECK_READ_DATA_SUBSET:-5%}"
CACERT="${CACERT:-}"
CACHE_DIR="${CACHE_DIR:-/var/cache/housing-portal/restic}"
STATUS_FILE="${STATUS_FILE:-/var/lib/housing-portal/offsite.last-success}"
CHECK_STATUS_FILE="${CHECK_STATUS_FILE:-/var/lib/housing-portal/offsite-check.last-success}"
LOCK_FILE="${LOCK_FILE:-/run/lock/housing-portal-offsite-backup.lock}"
RESTIC="${RESTIC:-restic}"
ACTION="${ACTION:-backup}"

[[ "$ACTION" == backup || "$ACTION" == latest ]] || usage_error "ACTION must be backup or latest, got '$ACTION'"
[[ "$REPOSITORY" =~ ^s3:https?://[^/[:space:]]+/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^[:space:]]*)?$ ]] ||
  usage_error "REPOSITORY must be s3:https://<endpoint>/<bucket>[/<path>], got '$REPOSITORY'"
[[ "$HOST_TAG" =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || usage_error "HOST_TAG must be letters, digits, '.', '_' or '-', got '$HOST_TAG'"
for v in CREDENTIALS_FILE PASSWORD_FILE BACKUP_ROOT CACHE_DIR STATUS_FILE CHECK_STATUS_FILE LOCK_FILE; do
  [[ "${!v}" == /* ]] || usage_error "$v must be an absolute path, got '${!v}'"
done
for p in $EXTRA_PATHS; do [[ "$p" == /* ]] || usage_error "EXTRA_PATHS must be absolute paths, got '$p'"; done
for v in KEEP_DAILY KEEP_WEEKLY KEEP_MONTHLY CHECK_EVERY_DAYS; do
  is_whole "${!v}" || usage_error "$v must be a whole number >= 0, got '${!v}'"
done
((10#$KEEP_DAILY + 10#$KEEP_WEEKLY + 10#$KEEP_MONTHLY > 0)) || usage_error "KEEP_DAILY, KEEP_WEEKLY and KEEP_MONTHLY are all 0: every copy would be deleted"
is_count() { is_whole "$1" && ((10#$1 >= 1)); }
is_count "$TIMEOUT_SECONDS" || usage_error "TIMEOUT_SECONDS must be a whole number >= 1, got '$TIMEOUT_SECONDS'"
[[ "$CHECK_READ_DATA_SUBSET" =~ ^([0-9]{1,2}(\.[0-9]+)?%|100%|[0-9]+/[0-9]+)$ ]] || usage_error "CHECK_READ_DATA_SUBSET must be a percentage like 5% or n/t, got '$CHECK_READ_DATA_SUBSET'"
[[ -z "$CACERT" || -f "$CACERT" ]] || usage_error "CACERT names no file: '$CACERT'"

for tool in "$RESTIC" timeout flock jq; do
  command -v "$tool" >/dev/null 2>&1 || die "required tool '$tool' is not installed"
done
[[ -s "$PASSWORD_FILE" ]] || die "no repository password in $PASSWORD_FILE (written by pulumi up from offsite.password)"
[[ -s "$CREDENTIALS_FILE" ]] || die "no access key in $CREDENTIALS_FILE (written by pulumi up from offsite.accessKeyId and offsite.secretAccessKey)"

# Only the two keys, never `source`: the file is data, not a script.
AWS_ACCESS_KEY_ID="" AWS_SECRET_ACCESS_KEY=""
while IFS= read -r line || [[ -n "$line" ]]; do
  case "$line" in
    AWS_ACCESS_KEY_ID=*) AWS_ACCESS_KEY_ID="${line#*=}" ;;
    AWS_SECRET_ACCESS_KEY=*) AWS_SECRET_ACCESS_KEY="${line#*=}" ;;
    '') ;;
    *) die "$CREDENTIALS_FILE may hold only AWS_ACCESS_KEY_ID= and AWS_SECRET_ACCESS_KEY= lines" ;;
  esac
done <"$CREDENTIALS_FILE"
[[ -n "$AWS_ACCESS_KEY_ID" && -n "$AWS_SECRET_ACCESS_KEY" ]] || die "$CREDENTIALS_FILE lacks AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY"
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
export RESTIC_REPOSITORY="$REPOSITORY" RESTIC_PASSWORD_FILE="$PASSWORD_FILE" RESTIC_CACHE_DIR="$CACHE_DIR"
unset RESTIC_PASSWORD RESTIC_PASSWORD_COMMAND

umask 077
mkdir -p "$CACHE_DIR"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

common=()
[[ -z "$CACERT" ]] || common+=(--cacert "$CACERT")

# restic CALL...: one bounded restic call; its stdout in $work/out, its stderr logged.
restic_bounded() {
  local rc=0
  timeout -k 10 "$TIMEOUT_SECONDS" "$RESTIC" "$1" "${common[@]}" "${@:2}" >"$work/out" 2>"$work/err" 9>&- || rc=$?
  if ((rc != 0)); then
    sed "s/^/$PROG: restic $1: /" "$work/err" | tail -n 20 >&2
    ((rc == 124 || rc == 137)) && log "restic $1 did not finish within TIMEOUT_SECONDS (${TIMEOUT_SECONDS}s); killed"
  fi
  return "$rc"
}

if [[ "$ACTION" == latest ]]; then
  restic_bounded snapshots --json --latest 1 --host "$HOST_TAG" --tag housing-portal ||
    die "cannot list the snapshots of $HOST_TAG in $REPOSITORY"
  jq -r 'map(.time) | max // empty' "$work/out" | { read -r t || exit 0; date -u -d "$t" +%s; }
  exit 0
fi

mkdir -p "$(dirname "$LOCK_FILE")"
exec 9>>"$LOCK_FILE"
flock -n 9 || die "another off-site run holds $LOCK_FILE"
[[ -d "$BACKUP_ROOT" ]] || die "$BACKUP_ROOT does not exist (is the data volume mounted?)"

# 1. The repository, created on first use only when the bucket holds none.
if ! restic_bounded cat config; then
  if grep -qiE 'key does not exist|NoSuchKey|NoSuchBucket|bucket does not exist' "$work/err"; then
    log "no repository at $REPOSITORY yet: creating it"
    restic_bounded init || die "restic init failed; nothing copied"
  else
    die "cannot open the repository at $REPOSITORY (wrong password or key, or unreachable); nothing copied"
  fi
fi

# 2. A run killed by its bound left a lock that would block forget --prune.
restic_bounded unlock || die "restic unlock failed; nothing copied"

# 3. The copy.
paths=("$BACKUP_ROOT")
for p in $EXTRA_PATHS; do
  if [[ -e "$p" ]]; then paths+=("$p"); else log "$p does not exist; not copied"; fi
done
restic_bounded backup --json --host "$HOST_TAG" --tag housing-portal --exclude '.*.partial' "${paths[@]}" ||
  die "restic backup of ${paths[*]} failed; no success recorded"
summary="$(jq -c 'select(.message_type == "summary")' "$work/out" | tail -n 1)"
[[ -n "$summary" ]] || summary='{}'
snapshot="$(jq -r '.snapshot_id // "?"' <<<"$summary")"
log "copied ${paths[*]}: snapshot $snapshot, $(jq -r '"\(.total_bytes_processed // 0) bytes processed, \(.data_added // 0) bytes added"' <<<"$summary")"

# 4. Retention, for this host's snapshots only.
# Grouped by host alone: the paths change when the edge's directory appears, and a group per set
# of paths would keep the policy's count in each.
restic_bounded forget --prune --host "$HOST_TAG" --tag housing-portal --group-by host \
  --keep-daily "$KEEP_DAILY" --keep-weekly "$KEEP_WEEKLY" --keep-monthly "$KEEP_MONTHLY" ||
  die "restic forget --prune failed (the copy $snapshot was made); no success recorded"

# 5. The periodic check of the repository's integrity.
record() { # record FILE: its mtime is the time of success
  local tmp
  mkdir -p "$(dirname "$1")"
  tmp="$(mktemp "$1.XXXXXX")"
  printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$2" >"$tmp"
  chmod 0644 "$tmp"
  mv -f "$tmp" "$1"
}
if ((10#$CHECK_EVERY_DAYS > 0)); then
  if [[ ! -f "$CHECK_STATUS_FILE" ]] || (($(date +%s) - $(stat -c %Y "$CHECK_STATUS_FILE") >= 10#$CHECK_EVERY_DAYS * 86400 - 3600)); then
    restic_bounded check --read-data-subset "$CHECK_READ_DATA_SUBSET" || die "restic check found a problem in $REPOSITORY; no success recorded"
    record "$CHECK_STATUS_FILE" "restic check --read-data-subset $CHECK_READ_DATA_SUBSET"
    log "restic check passed (read $CHECK_READ_DATA_SUBSET of the data)"
  fi
fi

record "$STATUS_FILE" "snapshot $snapshot"
log "done: snapshot $snapshot in $REPOSITORY; kept daily $KEEP_DAILY, weekly $KEEP_WEEKLY, monthly $KEEP_MONTHLY"
