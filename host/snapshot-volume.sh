#!/usr/bin/env bash
# housing-portal: take a consistent DigitalOcean snapshot of the data volume, then prune old ones.
#
# Installed on the host as /usr/local/sbin/housing-portal-snapshot-volume and run by
# housing-portal-snapshot.timer. DigitalOcean has no scheduled volume snapshots, so this is it.
#
# What it does, in order:
#   1. refuses to run unless MOUNT_POINT is a mount point (fsfreeze on a plain directory would
#      freeze the root file system);
#   2. pre-snapshot step: a CHECKPOINT in every running PostGIS container (label
#      housing-portal.role=postgis), then PRE_SNAPSHOT_COMMAND if set;
#   3. records who freezes in FREEZE_STATE_FILE (this run's pid and start time, and systemd's
#      INVOCATION_ID), starts a watchdog in a session of its own (setsid), then sync and
#      fsfreeze -f MOUNT_POINT;
#   4. POST /v2/volumes/$VOLUME_ID/snapshots {"name": "$SNAPSHOT_PREFIX-<UTC timestamp>"};
#   5. fsfreeze -u. The thaw ALWAYS runs (EXIT/INT/TERM/HUP trap): on success, API error,
#      API timeout or signal. Every API call is bounded by curl --max-time. Where no trap can
#      run (SIGKILL), the watchdog thaws: it polls once a second and thaws when this run is
#      gone, and in any case once the freeze is FREEZE_MAX_SECONDS old; it exits when this run
#      has thawed. A freeze that the watchdog ended early fails the run: the snapshot was not
#      taken while frozen, so no success is recorded and nothing is pruned;
#   6. writes the success time to STATUS_FILE (atomically: temp file + rename);
#   7. prunes: lists the volume's snapshots (all pages) and deletes those that this script made,
#      beyond the newest RETAIN by created_at: resource_id VOLUME_ID and a name of exactly
#      "$SNAPSHOT_PREFIX-<yyyymmdd>-<hhmmss>". An operator's "$SNAPSHOT_PREFIX-before-migration"
#      and a neighbouring prefix's "$SNAPSHOT_PREFIX-eu-<yyyymmdd>-<hhmmss>" are never pruned.
#      Nothing is pruned when the create failed.
#
# Settings (environment):
#   VOLUME_ID                required. The DigitalOcean volume id.
#   TOKEN_FILE               default /etc/housing-portal/do-token. Root-only file holding a token
#                            with the block-storage snapshot scopes. Never put on a command line.
#   API_URL                  default https://api.digitalocean.com (plain http only for 127.0.0.1/localhost).
#   MOUNT_POINT              default /mnt/data.
#   RETAIN                   default 7. How many of this volume's own snapshots to keep (>= 1).
#   SNAPSHOT_PREFIX          default hp-data. Letters, digits, '.', '_', '-'.
#   STATUS_FILE              default /var/lib/housing-portal/snapshot.last-success. Must not be on MOUNT_POINT.
#   API_TIMEOUT_SECONDS      default 60. Upper bound of each API request (curl --max-time).
#   CONNECT_TIMEOUT_SECONDS  default 10. curl --connect-timeout.
#   CHECKPOINT_TIMEOUT_SECONDS default 120. Upper bound of each PostGIS CHECKPOINT.
#   PRE_SNAPSHOT_COMMAND     optional. Extra shell command run after the CHECKPOINTs, before the freeze.
#   DOCKER                   default docker. The docker client (tests put a shim here).
#   LOCK_FILE                default /run/lock/housing-portal-snapshot-volume.lock.
#   FREEZE_MAX_SECONDS       default 120. The watchdog thaws a freeze older than this, even while
#                            the run lives (>= 1).
#   FREEZE_STATE_FILE        default /run/housing-portal/snapshot-volume.freeze. Who froze; must
#                            not be on MOUNT_POINT.
#   ACTION                   default snapshot. "thaw-own" is the unit's ExecStopPost: it thaws
#                            MOUNT_POINT only when FREEZE_STATE_FILE names this unit invocation
#                            ($INVOCATION_ID, set by systemd), never another run's freeze.
#
# Exit status: 0 when the snapshot was created, the status recorded and pruning done; non-zero on
# any failure. A failed CHECKPOINT does not stop the (crash-consistent) snapshot, but the run
# still exits non-zero and does not record success.
set -euo pipefail

readonly PROG=snapshot-volume
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
usage_error() { printf '%s: invalid setting: %s\n' "$PROG" "$*" >&2; exit 2; }
is_count() { [[ "$1" =~ ^[0-9]+$ ]] && ((10#$1 >= 1)); } # a whole number >= 1

VOLUME_ID="${VOLUME_ID:-}"
TOKEN_FILE="${TOKEN_FILE:-/etc/housing-portal/do-token}"
API_URL="${API_URL:-https://api.digitalocean.com}"
MOUNT_POINT="${MOUNT_POINT:-/mnt/data}"
RETAIN="${RETAIN:-7}"
SNAPSHOT_PREFIX="${SNAPSHOT_PREFIX:-hp-data}"
STATUS_FILE="${STATUS_FILE:-/var/lib/housing-portal/snapshot.last-success}"
API_TIMEOUT_SECONDS="${API_TIMEOUT_SECONDS:-60}"
CONNECT_TIMEOUT_SECONDS="${CONNECT_TIMEOUT_SECONDS:-10}"
CHECKPOINT_TIMEOUT_SECONDS="${CHECKPOINT_TIMEOUT_SECONDS:-120}"
PRE_SNAPSHOT_COMMAND="${PRE_SNAPSHOT_COMMAND:-}"
DOCKER="${DOCKER:-docker}"
LOCK_FILE="${LOCK_FILE:-/run/lock/housing-portal-snapshot-volume.lock}"
FREEZE_MAX_SECONDS="${FREEZE_MAX_SECONDS:-120}"
FREEZE_STATE_FILE="${FREEZE_STATE_FILE:-/run/housing-portal/snapshot-volume.freeze}"
ACTION="${ACTION:-snapshot}"
INVOCATION_ID="${INVOCATION_ID:-}"

# ---- who froze: FREEZE_STATE_FILE ------------------------------------------------------------
# key=value lines: token (unique per run), invocation (systemd's INVOCATION_ID, or empty), pid,
# start (the pid's start time, so a reused pid is not taken for the run), mount, since; the
# watchdog appends expired=<epoch> when it ended the freeze early.
state_get() { # state_get KEY
  sed -n "s/^$1=//p" "$FREEZE_STATE_FILE" 2>/dev/null | head -n1
}
proc_start() { # proc_start PID: its start time (clock ticks since boot); nothing when gone or a zombie
  local stat rest f
  { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 0
  rest="${stat##*) }" # the command name may hold spaces and parentheses
  read -ra f <<<"$rest"
  [[ "${f[0]}" == Z ]] || printf '%s' "${f[19]}"
}
wd_log() { printf '%s: watchdog: %s\n' snapshot-volume "$*" >&2; }
# The watchdog runs as its own `bash -c` in its own session, so that a SIGKILL of the run, or of
# its process group, does not take it along. It keeps the lock fd (9) open: no new run starts
# until the freeze is over.
watchdog() { # watchdog OWNER_PID OWNER_START TOKEN MOUNT STATE_FILE MAX_SECONDS
  local pid="$1" start="$2" token="$3" mp="$4" FREEZE_STATE_FILE="$5" max="$6" deadline nap=""
  trap '[[ -n "$nap" ]] && kill "$nap" 2>/dev/null; exit 0' TERM # the run thawed, or systemd ends the unit (ExecStopPost then thaws)
  trap '' HUP INT
  deadline=$((SECONDS + max))
  while :; do
    sleep 1 >/dev/null 2>&1 9>&- &
    nap=$!
    wait "$nap" || true
    nap=""
    # Thawed by its run (or its ExecStopPost): the state no longer names this freeze.
    [[ "$(state_get token)" == "$token" ]] || exit 0
    if [[ "$(proc_start "$pid")" != "$start" ]]; then
      if fsfreeze -u "$mp" 2>/dev/null; then
        wd_log "the snapshot run (pid $pid) died while $mp was frozen; thawed it"
      else
        wd_log "the snapshot run (pid $pid) died; $mp was not frozen any more"
      fi
      rm -f "$FREEZE_STATE_FILE"
      exit 0
    fi
    if ((SECONDS >= deadline)); then
      # First tell the run (it checks this before it counts its snapshot as consistent), then thaw.
      [[ -f "$FREEZE_STATE_FILE" ]] && printf 'expired=%s\n' "$(date +%s)" >>"$FREEZE_STATE_FILE"
      if fsfreeze -u "$mp" 2>/dev/null; then
        wd_log "$mp frozen for more than ${max}s; thawed it (the snapshot run, pid $pid, will not count its snapshot as consistent)"
      else
        wd_log "$mp frozen for more than ${max}s, but fsfreeze -u failed (already thawed?)"
      fi
      exit 0
    fi
  done
}

# ---- ACTION=thaw-own: the unit's ExecStopPost --------------------------------------------------
# Runs after the unit's processes are gone (a SIGKILL after TimeoutStartSec takes the watchdog
# too). It thaws only the freeze of its own invocation: a run that lost the lock must not thaw
# the freeze of the run that holds it.
if [[ "$ACTION" == thaw-own ]]; then
  [[ "$FREEZE_STATE_FILE" == /* ]] || usage_error "FREEZE_STATE_FILE must be an absolute path"
  [[ "$INVOCATION_ID" =~ ^[A-Za-z0-9_-]+$ ]] || usage_error "ACTION=thaw-own needs INVOCATION_ID (systemd sets it for ExecStopPost), got '$INVOCATION_ID'"
  if [[ ! -f "$FREEZE_STATE_FILE" ]]; then
    log "thaw-own: no freeze recorded; nothing to thaw"
    exit 0
  fi
  owner="$(state_get invocation)"
  frozen_mp="$(state_get mount)"
  if [[ "$owner" != "$INVOCATION_ID" ]]; then
    log "thaw-own: the freeze of $frozen_mp belongs to ${owner:+invocation $owner}${owner:-a run outside systemd} (pid $(state_get pid)), not to invocation $INVOCATION_ID; leaving it alone"
    exit 0
  fi
  if mountpoint -q "$frozen_mp" && fsfreeze -u "$frozen_mp" 2>/dev/null; then
    log "thaw-own: thawed $frozen_mp, frozen by this invocation"
  else
    log "thaw-own: $frozen_mp, frozen by this invocation, is not frozen any more"
  fi
  rm -f "$FREEZE_STATE_FILE"
  exit 0
fi
[[ "$ACTION" == snapshot ]] || usage_error "ACTION must be snapshot or thaw-own, got '$ACTION'"

# ---- validate settings -------------------------------------------------------------------
[[ "$VOLUME_ID" =~ ^[A-Za-z0-9-]+$ ]] || usage_error "VOLUME_ID is required (letters, digits, '-'), got '$VOLUME_ID'"
is_count "$RETAIN" || usage_error "RETAIN must be a whole number >= 1, got '$RETAIN'"
RETAIN=$((10#$RETAIN))
[[ "$SNAPSHOT_PREFIX" =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || usage_error "SNAPSHOT_PREFIX may only contain letters, digits, '.', '_', '-', got '$SNAPSHOT_PREFIX'"
for v in API_TIMEOUT_SECONDS CONNECT_TIMEOUT_SECONDS CHECKPOINT_TIMEOUT_SECONDS FREEZE_MAX_SECONDS; do
  is_count "${!v}" || usage_error "$v must be a whole number of seconds >= 1, got '${!v}'"
done
[[ "$MOUNT_POINT" == /* ]] || usage_error "MOUNT_POINT must be an absolute path"
[[ "$STATUS_FILE" == /* ]] || usage_error "STATUS_FILE must be an absolute path"
[[ "$FREEZE_STATE_FILE" == /* ]] || usage_error "FREEZE_STATE_FILE must be an absolute path"
[[ "$INVOCATION_ID" =~ ^[A-Za-z0-9_-]*$ ]] || usage_error "INVOCATION_ID has unexpected characters"
API_URL="${API_URL%/}"
case "$API_URL" in
  https://*) ;;
  http://127.0.0.1:* | http://127.0.0.1 | http://localhost:* | http://localhost) ;;
  *) usage_error "API_URL must be https:// (plain http only for 127.0.0.1/localhost), got '$API_URL'" ;;
esac

for tool in curl jq fsfreeze mountpoint flock sync timeout setsid; do
  command -v "$tool" >/dev/null 2>&1 || die "required tool '$tool' is not installed"
done

mkdir -p "$(dirname "$LOCK_FILE")"
exec 9>>"$LOCK_FILE"
flock -n 9 || die "another snapshot run holds $LOCK_FILE"

# ---- preconditions: all before any freeze --------------------------------------------------
mountpoint -q "$MOUNT_POINT" || die "$MOUNT_POINT is not a mount point; refusing to freeze or snapshot (fsfreeze would hit the root file system)"
[[ -r "$TOKEN_FILE" ]] || die "TOKEN_FILE $TOKEN_FILE is missing or unreadable"
if [[ -n "$(find "$TOKEN_FILE" -maxdepth 0 -perm /077 2>/dev/null)" ]]; then
  log "warning: $TOKEN_FILE is readable by group or others; it should be mode 0600, owned by root"
fi
token="$(tr -d '[:space:]' <"$TOKEN_FILE")"
[[ -n "$token" ]] || die "TOKEN_FILE $TOKEN_FILE is empty"

umask 077
work="$(mktemp -d "${TMPDIR:-/tmp}/hp-snapshot.XXXXXX")"
mp_dev="$(stat -c %d "$MOUNT_POINT")"
[[ "$(stat -c %d "$work")" != "$mp_dev" ]] || die "the temp dir $work is on $MOUNT_POINT; set TMPDIR elsewhere (it must stay writable while the volume is frozen)"
status_dir="$(dirname "$STATUS_FILE")"
mkdir -p "$status_dir"
[[ "$(stat -c %d "$status_dir")" != "$mp_dev" ]] || die "STATUS_FILE $STATUS_FILE must not be on $MOUNT_POINT"
state_dir="$(dirname "$FREEZE_STATE_FILE")"
mkdir -p "$state_dir"
[[ "$(stat -c %d "$state_dir")" != "$mp_dev" ]] || die "FREEZE_STATE_FILE $FREEZE_STATE_FILE must not be on $MOUNT_POINT (it is written while the volume is frozen)"
printf 'header = "Authorization: Bearer %s"\nheader = "Content-Type: application/json"\n' "$token" >"$work/curl.conf"
unset token

frozen=0
freeze_ended_early=0
curl_pid=""
watchdog_pid=""
token=""
# Is the freeze still this run's own? Not when the watchdog (expired=) or this invocation's
# ExecStopPost (state removed) ended it.
freeze_ours() { [[ -n "$token" && "$(state_get token)" == "$token" && -z "$(state_get expired)" ]]; }
drop_state() { # the state file and the watchdog, once this run's freeze is over
  if [[ -n "$token" && "$(state_get token)" == "$token" ]]; then rm -f "$FREEZE_STATE_FILE"; fi
  if [[ -n "$watchdog_pid" ]]; then kill "$watchdog_pid" 2>/dev/null || true; fi
  token=""
  watchdog_pid=""
}
ended_early() {
  frozen=0
  freeze_ended_early=1
  log "error: the freeze of $MOUNT_POINT was ended by someone else before this run thawed it (the watchdog after FREEZE_MAX_SECONDS=${FREEZE_MAX_SECONDS}s, or the unit's ExecStopPost)"
}
thaw() {
  if ((frozen)); then
    if ! freeze_ours; then
      ended_early
    elif fsfreeze -u "$MOUNT_POINT"; then
      frozen=0
      log "thawed $MOUNT_POINT"
    elif ! freeze_ours; then # ended meanwhile
      ended_early
    else
      log "error: fsfreeze -u $MOUNT_POINT failed; run it by hand (the watchdog thaws it after FREEZE_MAX_SECONDS=${FREEZE_MAX_SECONDS}s)"
    fi
  fi
  # Still frozen: the watchdog stays, it is the last resort.
  ((frozen)) || drop_state
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  if [[ -n "$curl_pid" ]]; then kill "$curl_pid" 2>/dev/null || true; fi
  thaw
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted by SIGINT"; exit 130' INT
trap 'log "interrupted by SIGTERM"; exit 143' TERM
trap 'log "interrupted by SIGHUP"; exit 129' HUP

# api METHOD PATH [BODY] -> response body in $work/body, HTTP status in $api_status; returns
# non-zero on a transport error, timeout or non-2xx status. curl runs in the background and is
# waited for, so that a signal interrupts the wait at once (and the trap thaws).
api() {
  local method="$1" path="$2" body="${3:-}" rc=0
  local args=(--silent --show-error --config "$work/curl.conf" --request "$method"
    --connect-timeout "$CONNECT_TIMEOUT_SECONDS" --max-time "$API_TIMEOUT_SECONDS"
    --output "$work/body" --write-out '%{http_code}' --proto "=https,http")
  [[ -n "$body" ]] && args+=(--data "$body")
  : >"$work/body"
  # 9>&-: a curl orphaned by a SIGKILL of this run must not keep holding the lock.
  curl "${args[@]}" "$API_URL$path" >"$work/status" 2>"$work/curl.err" 9>&- &
  curl_pid=$!
  wait "$curl_pid" || rc=$?
  curl_pid=""
  api_status="$(cat "$work/status" 2>/dev/null || true)"
  if ((rc != 0)); then
    log "$method $path: curl failed (exit $rc$( ((rc == 28)) && printf ', timed out after %ss' "$API_TIMEOUT_SECONDS")): $(head -c 300 "$work/curl.err" | tr '\n' ' ')"
    return 1
  fi
  if [[ ! "$api_status" =~ ^2[0-9][0-9]$ ]]; then
    log "$method $path: HTTP $api_status: $(head -c 300 "$work/body" | tr '\n' ' ')"
    return 1
  fi
}

failed=0

# ---- 2. pre-snapshot step --------------------------------------------------------------------
checkpoint_all() {
  local ids id n=0
  if ! ids="$("$DOCKER" ps -q --filter label=housing-portal.role=postgis)"; then
    log "error: '$DOCKER ps' failed; no CHECKPOINT ran (the snapshot will only be crash-consistent)"
    return 1
  fi
  local bad=0
  for id in $ids; do
    n=$((n + 1))
    # shellcheck disable=SC2016 # expanded inside the container
    if timeout "$CHECKPOINT_TIMEOUT_SECONDS" "$DOCKER" exec "$id" sh -c 'psql -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c CHECKPOINT' </dev/null >/dev/null; then
      log "CHECKPOINT done in PostGIS container $id"
    else
      log "error: CHECKPOINT failed in PostGIS container $id"
      bad=1
    fi
  done
  log "pre-snapshot: $n PostGIS container(s)"
  return "$bad"
}
checkpoint_all || failed=1
if [[ -n "$PRE_SNAPSHOT_COMMAND" ]]; then
  bash -c "$PRE_SNAPSHOT_COMMAND" 9>&- || { log "error: PRE_SNAPSHOT_COMMAND failed"; failed=1; }
fi

# ---- 3-5. freeze, create, thaw ----------------------------------------------------------------
name="$SNAPSHOT_PREFIX-$(date -u +%Y%m%d-%H%M%S)"
create_body="$(jq -cn --arg name "$name" '{name: $name}')"

# Who freezes, then the watchdog, then the freeze: a run killed at any point is covered.
# (This run holds the lock, and the watchdog of an earlier run holds it until that freeze is
# over, so a state file found here is a leftover.)
[[ -f "$FREEZE_STATE_FILE" ]] && log "replacing a leftover $FREEZE_STATE_FILE (pid $(state_get pid), since $(state_get since))"
my_start="$(proc_start "$$")"
[[ -n "$my_start" ]] || die "cannot read the start time of this process from /proc/$$/stat"
new_token="${INVOCATION_ID:-manual}-$$-$my_start"
tmp_state="$(mktemp "$FREEZE_STATE_FILE.XXXXXX")"
printf 'token=%s\ninvocation=%s\npid=%s\nstart=%s\nmount=%s\nsince=%s\n' \
  "$new_token" "$INVOCATION_ID" "$$" "$my_start" "$MOUNT_POINT" "$(date +%s)" >"$tmp_state"
chmod 0644 "$tmp_state"
mv -f "$tmp_state" "$FREEZE_STATE_FILE"
token="$new_token"
watchdog_src="$(declare -f state_get proc_start wd_log watchdog); watchdog \"\$@\""
setsid bash -c "$watchdog_src" snapshot-volume-watchdog "$$" "$my_start" "$token" "$MOUNT_POINT" \
  "$FREEZE_STATE_FILE" "$FREEZE_MAX_SECONDS" </dev/null >/dev/null &
watchdog_pid=$!

sync
fsfreeze -f "$MOUNT_POINT" || die "fsfreeze -f $MOUNT_POINT failed"
frozen=1
log "froze $MOUNT_POINT (the watchdog thaws it if this run dies, and after ${FREEZE_MAX_SECONDS}s in any case)"
create_ok=0
api POST "/v2/volumes/$VOLUME_ID/snapshots" "$create_body" && create_ok=1
thaw
((frozen == 0)) || die "the volume is still frozen"

if ((!create_ok)); then
  die "creating snapshot $name of volume $VOLUME_ID failed; nothing pruned"
fi
new_id="$(jq -r '.snapshot.id // empty' "$work/body" 2>/dev/null || true)"
[[ "$new_id" =~ ^[A-Za-z0-9-]+$ ]] || die "the API accepted the snapshot but returned no usable snapshot id; nothing pruned"
log "created snapshot $name ($new_id) of volume $VOLUME_ID"
if ((freeze_ended_early)); then
  die "snapshot $name ($new_id) is not consistent: the freeze ended before the API accepted it, so it is only crash-consistent (kept, as PostgreSQL recovers from its WAL); no success recorded, nothing pruned"
fi

# ---- 6. status --------------------------------------------------------------------------------
if ((failed)); then
  log "not recording success in $STATUS_FILE because the pre-snapshot step failed"
else
  tmp_status="$(mktemp "$STATUS_FILE.XXXXXX")"
  printf '%s %s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$new_id" "$name" >"$tmp_status"
  chmod 0644 "$tmp_status"
  sync "$tmp_status"
  mv -f "$tmp_status" "$STATUS_FILE"
  log "recorded success in $STATUS_FILE"
fi

# ---- 7. prune -----------------------------------------------------------------------------------
: >"$work/all.json"
page=1
while :; do
  if ! api GET "/v2/volumes/$VOLUME_ID/snapshots?per_page=200&page=$page"; then
    die "listing the snapshots of volume $VOLUME_ID failed; nothing pruned"
  fi
  jq -e '.snapshots | type == "array"' "$work/body" >/dev/null 2>&1 || die "unexpected snapshot list (page $page); nothing pruned"
  jq -c '.snapshots[]' "$work/body" >>"$work/all.json"
  next="$(jq -r '.links.pages.next // empty' "$work/body")"
  [[ -n "$next" ]] || break
  page=$((page + 1))
  ((page <= 100)) || die "more than 100 pages of snapshots; nothing pruned"
done

# Own snapshots: this volume, and exactly the names this script makes ("$prefix-" plus a
# timestamp, nothing else: a prefix match alone would also take an operator's snapshots and a
# longer neighbouring prefix's); newest first by created_at, then name.
jq -s --arg vol "$VOLUME_ID" --arg prefix "$SNAPSHOT_PREFIX-" '
  map(select((.resource_id | tostring) == $vol and (.name | type) == "string"
    and (.name | startswith($prefix)) and (.name[($prefix | length):] | test("^[0-9]{8}-[0-9]{6}$"))))
  | unique_by(.id) | sort_by(.created_at, .name) | reverse' "$work/all.json" >"$work/own.json"
own_count="$(jq 'length' "$work/own.json")"
if ! jq -e --arg id "$new_id" 'any(.[]; (.id | tostring) == $id)' "$work/own.json" >/dev/null; then
  die "the new snapshot $new_id is not in the volume's snapshot list yet; nothing pruned this time"
fi
mapfile -t doomed < <(jq -r --argjson keep "$RETAIN" --arg new "$new_id" '.[$keep:][] | (.id | tostring) | select(. != $new)' "$work/own.json")
log "$own_count snapshot(s) of $VOLUME_ID named $SNAPSHOT_PREFIX-<yyyymmdd>-<hhmmss>; keeping the newest $RETAIN, deleting ${#doomed[@]}"
for id in "${doomed[@]}"; do
  if [[ ! "$id" =~ ^[A-Za-z0-9-]+$ ]]; then
    log "error: skipping snapshot with unexpected id '$id'"
    failed=1
    continue
  fi
  if api DELETE "/v2/snapshots/$id"; then
    log "deleted snapshot $id ($(jq -r --arg id "$id" '.[] | select((.id | tostring) == $id) | "\(.name), \(.created_at)"' "$work/own.json"))"
  else
    log "error: deleting snapshot $id failed"
    failed=1
  fi
done

if ((failed)); then
  die "snapshot $name was created, but the run had errors (see above)"
fi
log "done: snapshot $name"
