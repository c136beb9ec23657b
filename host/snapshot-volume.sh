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
#   3. sync, fsfreeze -f MOUNT_POINT;
#   4. POST /v2/volumes/$VOLUME_ID/snapshots {"name": "$SNAPSHOT_PREFIX-<UTC timestamp>"};
#   5. fsfreeze -u. The thaw ALWAYS runs (EXIT/INT/TERM/HUP trap): on success, API error,
#      API timeout or signal. Every API call is bounded by curl --max-time;
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
#   API_TIMEOUT_SECONDS      default 120. Upper bound of each API request (curl --max-time).
#   CONNECT_TIMEOUT_SECONDS  default 10. curl --connect-timeout.
#   CHECKPOINT_TIMEOUT_SECONDS default 120. Upper bound of each PostGIS CHECKPOINT.
#   PRE_SNAPSHOT_COMMAND     optional. Extra shell command run after the CHECKPOINTs, before the freeze.
#   DOCKER                   default docker. The docker client (tests put a shim here).
#   LOCK_FILE                default /run/lock/housing-portal-snapshot-volume.lock.
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
API_TIMEOUT_SECONDS="${API_TIMEOUT_SECONDS:-120}"
CONNECT_TIMEOUT_SECONDS="${CONNECT_TIMEOUT_SECONDS:-10}"
CHECKPOINT_TIMEOUT_SECONDS="${CHECKPOINT_TIMEOUT_SECONDS:-120}"
PRE_SNAPSHOT_COMMAND="${PRE_SNAPSHOT_COMMAND:-}"
DOCKER="${DOCKER:-docker}"
LOCK_FILE="${LOCK_FILE:-/run/lock/housing-portal-snapshot-volume.lock}"

# ---- validate settings -------------------------------------------------------------------
[[ "$VOLUME_ID" =~ ^[A-Za-z0-9-]+$ ]] || usage_error "VOLUME_ID is required (letters, digits, '-'), got '$VOLUME_ID'"
is_count "$RETAIN" || usage_error "RETAIN must be a whole number >= 1, got '$RETAIN'"
RETAIN=$((10#$RETAIN))
[[ "$SNAPSHOT_PREFIX" =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || usage_error "SNAPSHOT_PREFIX may only contain letters, digits, '.', '_', '-', got '$SNAPSHOT_PREFIX'"
for v in API_TIMEOUT_SECONDS CONNECT_TIMEOUT_SECONDS CHECKPOINT_TIMEOUT_SECONDS; do
  is_count "${!v}" || usage_error "$v must be a whole number of seconds >= 1, got '${!v}'"
done
[[ "$MOUNT_POINT" == /* ]] || usage_error "MOUNT_POINT must be an absolute path"
[[ "$STATUS_FILE" == /* ]] || usage_error "STATUS_FILE must be an absolute path"
API_URL="${API_URL%/}"
case "$API_URL" in
  https://*) ;;
  http://127.0.0.1:* | http://127.0.0.1 | http://localhost:* | http://localhost) ;;
  *) usage_error "API_URL must be https:// (plain http only for 127.0.0.1/localhost), got '$API_URL'" ;;
esac

for tool in curl jq fsfreeze mountpoint flock sync timeout; do
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
printf 'header = "Authorization: Bearer %s"\nheader = "Content-Type: application/json"\n' "$token" >"$work/curl.conf"
unset token

frozen=0
curl_pid=""
thaw() {
  if ((frozen)); then
    if fsfreeze -u "$MOUNT_POINT"; then
      frozen=0
      log "thawed $MOUNT_POINT"
    else
      log "error: fsfreeze -u $MOUNT_POINT failed; run it by hand"
    fi
  fi
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
  curl "${args[@]}" "$API_URL$path" >"$work/status" 2>"$work/curl.err" &
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
  bash -c "$PRE_SNAPSHOT_COMMAND" || { log "error: PRE_SNAPSHOT_COMMAND failed"; failed=1; }
fi

# ---- 3-5. freeze, create, thaw ----------------------------------------------------------------
name="$SNAPSHOT_PREFIX-$(date -u +%Y%m%d-%H%M%S)"
create_body="$(jq -cn --arg name "$name" '{name: $name}')"

sync
fsfreeze -f "$MOUNT_POINT" || die "fsfreeze -f $MOUNT_POINT failed"
frozen=1
log "froze $MOUNT_POINT"
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
