#!/usr/bin/env bash
# housing-portal: prove that each instance's newest dump restores, every week, on the host.
#
# Installed on the host as /usr/local/sbin/housing-portal-restore-check and run by
# housing-portal-restore-check.timer. For every configured instance (INSTANCES, else the
# registry in INSTANCES_DIR, else every instance with dumps in BACKUP_ROOT):
#   1. takes its newest $BACKUP_ROOT/<instance>/<timestamp>.dump and the counts the dump step
#      recorded in the same snapshot (<timestamp>.counts: the number of tables, PostGIS's version,
#      the exact row counts of the largest tables);
#   2. starts a throwaway PostGIS container (the image the instance runs, or IMAGE) on an internal
#      Docker network of its own (no route out, nothing of the instances on it), with a random
#      password, all capabilities dropped but what the entrypoint needs, and no new privileges;
#   3. waits for it (bounded), restores the dump with pg_restore --exit-on-error;
#   4. checks that PostGIS loads (postgis_lib_version()) at the recorded version, that the number
#      of tables is the recorded one and that each counted table has exactly the recorded rows;
#   5. removes the container (also on failure or a signal), and writes the instance's result to
#      RESULT_DIR/restore-check.<instance>.result.
# When every instance passed it records success in STATUS_FILE (the freshness check watches its
# age); the last line names each instance that failed and why. The unit's ExecStopPost alerts.
# A dump without a counts file (from before the dump step recorded them) is restored and checked
# for PostGIS only, with a warning.
#
# Settings (environment):
#   BACKUP_ROOT              default /mnt/data/backups.
#   INSTANCES                default empty. Space-separated instance names.
#   INSTANCES_DIR            default /etc/housing-portal/instances (read when INSTANCES is empty).
#   IMAGE                    default empty: the image of the instance's running PostGIS container.
#   NETWORK                  default housing-portal_restore-check. Created --internal if missing.
#   CONTAINER_PREFIX         default housing-portal_restore-check-.
#   READY_TIMEOUT_SECONDS    default 300. Bound of the wait for the throwaway server.
#   RESTORE_TIMEOUT_SECONDS  default 3600. Bound of pg_restore and of the checks.
#   MEMORY_MB                default 1024. The throwaway container's memory limit.
#   STATUS_FILE              default /var/lib/housing-portal/restore-check.last-success.
#   RESULT_DIR               default /var/lib/housing-portal.
#   DOCKER                   default docker.
#   LOCK_FILE                default /run/lock/housing-portal-restore-check.lock.
#   FINDINGS_FILE            default empty (none). Where the run lists each instance's result for
#                            alert.sh (one alert per instance): "<instance>\tok|fail\t<what>"
#                            lines after "invocation $INVOCATION_ID". Removed when the run starts,
#                            written once every instance was checked.
#
# Exit status: 0 when every instance's newest dump passed; 1 otherwise (also when there is
# nothing to check); 2 on a bad setting.
set -euo pipefail

readonly PROG=restore-check
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
usage_error() { printf '%s: invalid setting: %s\n' "$PROG" "$*" >&2; exit 2; }
is_count() { [[ "$1" =~ ^[0-9]+$ ]] && ((10#$1 >= 1)); }
is_instance() { [[ "$1" =~ ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ ]]; }

BACKUP_ROOT="${BACKUP_ROOT:-/mnt/data/backups}"
INSTANCES="${INSTANCES:-}"
INSTANCES_DIR="${INSTANCES_DIR:-/etc/housing-portal/instances}"
IMAGE="${IMAGE:-}"
NETWORK="${NETWORK:-housing-portal_restore-check}"
CONTAINER_PREFIX="${CONTAINER_PREFIX:-housing-portal_restore-check-}"
READY_TIMEOUT_SECONDS="${READY_TIMEOUT_SECONDS:-300}"
RESTORE_TIMEOUT_SECONDS="${RESTORE_TIMEOUT_SECONDS:-3600}"
MEMORY_MB="${MEMORY_MB:-1024}"
STATUS_FILE="${STATUS_FILE:-/var/lib/housing-portal/restore-check.last-success}"
RESULT_DIR="${RESULT_DIR:-/var/lib/housing-portal}"
DOCKER="${DOCKER:-docker}"
LOCK_FILE="${LOCK_FILE:-/run/lock/housing-portal-restore-check.lock}"
FINDINGS_FILE="${FINDINGS_FILE:-}"

for v in BACKUP_ROOT INSTANCES_DIR STATUS_FILE RESULT_DIR LOCK_FILE; do
  [[ "${!v}" == /* ]] || usage_error "$v must be an absolute path, got '${!v}'"
done
for v in READY_TIMEOUT_SECONDS RESTORE_TIMEOUT_SECONDS MEMORY_MB; do
  is_count "${!v}" || usage_error "$v must be a whole number >= 1, got '${!v}'"
done
[[ -z "$FINDINGS_FILE" || "$FINDINGS_FILE" == /* ]] || usage_error "FINDINGS_FILE must be an absolute path, got '$FINDINGS_FILE'"
[[ "$NETWORK" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ ]] || usage_error "NETWORK must be a Docker network name, got '$NETWORK'"
[[ "$CONTAINER_PREFIX" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ ]] || usage_error "CONTAINER_PREFIX must start a Docker container name, got '$CONTAINER_PREFIX'"
for i in $INSTANCES; do is_instance "$i" || usage_error "INSTANCES must be lowercase DNS labels, got '$i'"; done
for tool in timeout flock od; do
  command -v "$tool" >/dev/null 2>&1 || die "required tool '$tool' is not installed"
done

wanted=()
for i in $INSTANCES; do wanted+=("$i"); done
if ((${#wanted[@]} == 0)) && [[ -d "$INSTANCES_DIR" ]]; then
  while IFS= read -r -d '' i; do
    if is_instance "$i"; then wanted+=("$i"); else log "warning: ignoring '$i' in $INSTANCES_DIR: not a lowercase DNS label"; fi
  done < <(find "$INSTANCES_DIR" -mindepth 1 -maxdepth 1 -printf '%f\0' | sort -z)
fi
if ((${#wanted[@]} == 0)) && [[ -d "$BACKUP_ROOT" ]]; then
  while IFS= read -r -d '' i; do is_instance "$i" && wanted+=("$i"); done < <(find "$BACKUP_ROOT" -mindepth 1 -maxdepth 1 -type d -printf '%f\0' | sort -z)
fi
((${#wanted[@]})) || die "no instance to check: none configured and no dumps in $BACKUP_ROOT"

mkdir -p "$(dirname "$LOCK_FILE")"
exec 9>>"$LOCK_FILE"
flock -n 9 || die "another restore check holds $LOCK_FILE"
# This run's results replace the last run's only once they are known.
[[ -z "$FINDINGS_FILE" ]] || rm -f "$FINDINGS_FILE"
findings=()
finding() { findings+=("$1"$'\t'"$2"$'\t'"${3//[$'\t\n']/ }"); } # finding ITEM ok|fail TEXT
write_findings() { # the results, atomically, for the unit's alert (alert.sh)
  [[ -n "$FINDINGS_FILE" ]] || return 0
  local tmp
  if mkdir -p "$(dirname "$FINDINGS_FILE")" && tmp="$(mktemp "$FINDINGS_FILE.XXXXXX")" &&
    { printf 'invocation %s\n' "${INVOCATION_ID:--}"; ((${#findings[@]} == 0)) || printf '%s\n' "${findings[@]}"; } >"$tmp" && mv -f "$tmp" "$FINDINGS_FILE"; then
    return 0
  fi
  log "warning: cannot write $FINDINGS_FILE (the alert then judges the run as a whole)"
}

umask 077
current=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  [[ -z "$current" ]] || "$DOCKER" rm -f "$current" >/dev/null 2>&1 9>&- || true
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted by SIGTERM"; exit 143' TERM
trap 'log "interrupted by SIGINT"; exit 130' INT
trap 'log "interrupted by SIGHUP"; exit 129' HUP

d() { "$DOCKER" "$@" 9>&-; } # docker, without the lock
# An internal network: the throwaway server reaches nothing and nothing reaches it.
if ! d network inspect "$NETWORK" >/dev/null 2>&1; then
  d network create --internal --label housing-portal.role=restore-check "$NETWORK" >/dev/null ||
    die "cannot create the Docker network $NETWORK"
fi

# psql_in CONTAINER SQL: one query as the superuser on the restored database, tab-separated rows.
psql_in() {
  timeout "$RESTORE_TIMEOUT_SECONDS" "$DOCKER" exec "$1" psql -X -q -At -F $'\t' -v ON_ERROR_STOP=1 -U postgres -d restore_check -c "$2" </dev/null 9>&-
}

why=""
check_one() { # check_one INSTANCE: sets why on failure
  local i="$1" dir="$BACKUP_ROOT/$1" newest counts image name password waited=0 rc=0
  newest="$(find "$dir" -maxdepth 1 -type f -regextype posix-extended -regex '.*/[0-9]{8}T[0-9]{6}Z\.dump' -printf '%f\n' 2>/dev/null | sort | tail -n 1 || true)"
  [[ -n "$newest" ]] || { why="no dump in $dir"; return 1; }
  counts="$dir/${newest%.dump}.counts"
  image="$IMAGE"
  if [[ -z "$image" ]]; then
    image="$(d ps --filter label=housing-portal.role=postgis --filter "label=housing-portal.instance=$i" --format '{{.Image}}' | head -n 1)"
    [[ -n "$image" ]] || { why="no running PostGIS container to take the image from (set IMAGE)"; return 1; }
  fi
  name="$CONTAINER_PREFIX$i"
  password="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  d rm -f "$name" >/dev/null 2>&1 || true
  current="$name"
  # The password goes in through the environment of docker run, not its command line.
  if ! POSTGRES_PASSWORD="$password" d run -d --name "$name" --network "$NETWORK" \
    --label housing-portal.role=restore-check --label "housing-portal.instance=$i" \
    --cap-drop ALL --cap-add CHOWN --cap-add DAC_OVERRIDE --cap-add FOWNER --cap-add SETGID --cap-add SETUID \
    --security-opt no-new-privileges:true --memory "${MEMORY_MB}m" --shm-size 256m \
    -e POSTGRES_PASSWORD -e POSTGRES_DB=restore_check "$image" >/dev/null; then
    why="cannot start a container of $image"
    return 1
  fi
  # Ready once the final server listens on TCP (the entrypoint's initialising server does not).
  until d exec "$name" pg_isready -q -h 127.0.0.1 -U postgres -d restore_check </dev/null >/dev/null 2>&1; do
    if ((waited >= READY_TIMEOUT_SECONDS)); then why="the throwaway PostGIS was not ready within ${READY_TIMEOUT_SECONDS}s"; return 1; fi
    if [[ "$(d inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" != true ]]; then why="the throwaway PostGIS container stopped"; return 1; fi
    sleep 1
    waited=$((waited + 1))
  done
  timeout "$RESTORE_TIMEOUT_SECONDS" "$DOCKER" exec -i "$name" pg_restore -U postgres -d restore_check --no-owner --no-privileges --exit-on-error \
    <"$dir/$newest" >/dev/null 2>"$RESULT_DIR/.restore-check.$i.err" 9>&- || rc=$?
  if ((rc != 0)); then
    why="pg_restore of $newest failed (exit $rc): $(grep -m1 -i 'error' "$RESULT_DIR/.restore-check.$i.err" | head -c 200 || true)"
    rm -f "$RESULT_DIR/.restore-check.$i.err"
    return 1
  fi
  rm -f "$RESULT_DIR/.restore-check.$i.err"

  local tables postgis lib
  tables="$(psql_in "$name" "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")" || { why="cannot count the restored tables"; return 1; }
  postgis="$(psql_in "$name" "SELECT coalesce((SELECT extversion FROM pg_extension WHERE extname = 'postgis'), 'none')")" || { why="cannot read the restored PostGIS version"; return 1; }
  if [[ "$postgis" != none ]]; then
    lib="$(psql_in "$name" "SELECT postgis_lib_version()")" || { why="PostGIS $postgis does not load in the restored database"; return 1; }
  fi
  if [[ ! -s "$counts" ]]; then
    log "warning: $i: $newest has no recorded counts (a dump from before they were recorded): checked the restore and PostGIS only"
    result="$newest restored; $tables tables; PostGIS ${lib:-none}; no recorded counts"
    return 0
  fi
  local key a b expected_tables="" expected_postgis="" counted=0 mismatches=()
  while IFS=$'\t' read -r key a b; do
    case "$key" in
      tables) expected_tables="$a" ;;
      postgis) expected_postgis="$a" ;;
      rows)
        local got
        got="$(psql_in "$name" "SELECT count(*) FROM $a")" || { mismatches+=("$a missing"); continue; }
        counted=$((counted + 1))
        [[ "$got" == "$b" ]] || mismatches+=("$a has $got rows, the dump step counted $b")
        ;;
    esac
  done <"$counts"
  [[ -z "$expected_tables" || "$tables" == "$expected_tables" ]] || mismatches+=("$tables tables, the dump step counted $expected_tables")
  [[ -z "$expected_postgis" || "$postgis" == "$expected_postgis" ]] || mismatches+=("PostGIS $postgis, the dump had $expected_postgis")
  if ((${#mismatches[@]})); then
    local IFS=';'
    why="$newest restored, but: ${mismatches[*]}"
    return 1
  fi
  result="$newest restored; $tables tables; PostGIS ${lib:-none}; rows of $counted tables as counted"
}

mkdir -p "$RESULT_DIR"
failed=()
passed=()
for i in "${wanted[@]}"; do
  why="" result=""
  if check_one "$i"; then
    log "$i: passed: $result"
    passed+=("$i")
    finding "$i" ok "passed: $result"
    printf '%s ok %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$result" >"$RESULT_DIR/restore-check.$i.result"
  else
    log "$i: FAILED: $why"
    failed+=("$i ($why)")
    finding "$i" fail "$why"
    printf '%s failed %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$why" >"$RESULT_DIR/restore-check.$i.result"
  fi
  d rm -f "$current" >/dev/null 2>&1 || true
  current=""
done
chmod 0644 "$RESULT_DIR"/restore-check.*.result
write_findings

if ((${#failed[@]})); then
  out=""
  for f in "${failed[@]}"; do out+="${out:+, }$f"; done
  die "restore check failed: $out"
fi
mkdir -p "$(dirname "$STATUS_FILE")"
tmp="$(mktemp "$STATUS_FILE.XXXXXX")"
printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${passed[*]}" >"$tmp"
chmod 0644 "$tmp"
mv -f "$tmp" "$STATUS_FILE"
log "done: the newest dumps of ${passed[*]} restore and match their counts; recorded in $STATUS_FILE"
