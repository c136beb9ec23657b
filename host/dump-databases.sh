#!/usr/bin/env bash
# housing-portal: pg_dump -Fc of every portal instance's database, with retention.
#
# Installed on the host as /usr/local/sbin/housing-portal-dump-databases and run by
# housing-portal-dump.timer shortly before the snapshot window, so that each volume snapshot
# also carries a logically consistent dump of every database.
#
# What it does, for every running PostGIS container (label housing-portal.role=postgis; the
# instance name comes from its label housing-portal.instance, a lowercase DNS label):
#   0. refuses the dump when it would leave less than MIN_FREE_PERCENT of BACKUP_ROOT's file
#      system (the data volume, which PostgreSQL writes to) free. The dump's size is estimated
#      as that instance's previous dump (0 for a first dump);
#   1. docker exec <container> pg_dump -Fc -U "$POSTGRES_USER" -d "$POSTGRES_DB" into a temp
#      file in $BACKUP_ROOT/<instance>/ (a dot-file ending in .partial);
#   2. deletes the dump when, once written, it left less than MIN_FREE_PERCENT free (a database
#      that grew since its previous dump); checks that the result is a custom-format dump (starts with PGDMP), fsyncs it and renames
#      it to $BACKUP_ROOT/<instance>/<UTC timestamp>.dump. A dump that fails never gets a final
#      name: its temp file is removed;
#   3. keeps the newest RETAIN dumps of that instance and deletes the older ones (only after a
#      successful dump of that instance).
# A failing instance does not stop the others; the run then exits non-zero and does not
# record success. Dumps and their directories are root-only (umask 077).
# With INSTANCES set, every instance it names must be dumped: one without a running container,
# or whose dump failed or was refused, fails the run, and the last line names each of them
# ("not dumped: chile (no running PostGIS container), ..."). A running instance that INSTANCES
# does not name is dumped too, with a warning. When INSTANCES is empty, the list is the names of
# the files in INSTANCES_DIR (the registry that prepare-instance-dirs.sh writes and
# unregister-instance.sh prunes); a name there that is not a lowercase DNS label is ignored with a
# warning. Without either list, whatever runs is dumped, and the log says that no list was given
# (a stopped instance then goes unnoticed).
#
# Settings (environment):
#   BACKUP_ROOT           default /mnt/data/backups.
#   RETAIN                default 7. Dumps kept per instance (>= 1).
#   STATUS_FILE           default /var/lib/housing-portal/dump.last-success. Written (atomically)
#                         only when every instance was dumped.
#   DUMP_TIMEOUT_SECONDS  default 3600. Upper bound of each pg_dump.
#   DOCKER                default docker. The docker client (tests put a shim here).
#   LOCK_FILE             default /run/lock/housing-portal-dump-databases.lock.
#   INSTANCES             default empty (no list). Space-separated names of the configured
#                         instances (lowercase DNS labels), each of which must be dumped.
#   INSTANCES_DIR         default /etc/housing-portal/instances. Read only when INSTANCES is
#                         empty: one empty file per configured instance, named after it. A
#                         missing or empty directory means no list.
#   COMPRESS              default empty: pg_dump's own compression. 0 to 9: pg_dump -Z. The
#                         program leaves it empty: uncompressed dumps deduplicate off-site no
#                         better than compressed ones (npm run bench:offsite) and take twice the
#                         space on the volume.
#   MIN_FREE_PERCENT      default 10. Free space (percent of BACKUP_ROOT's file system, 0-99)
#                         that a dump must leave; 0 turns the check off.
#   FINDINGS_FILE         default empty (none). Where the run lists each instance's result for
#                         alert.sh (one alert per instance): "<instance>\tok|fail\t<what>"
#                         lines after "invocation $INVOCATION_ID"; "-" is a failure of no one
#                         instance. Removed when the run starts, written once every instance was
#                         tried; a run that stops earlier writes none.
#
# Exit status: 0 when every instance was dumped (also when there are none); 1 otherwise; 2 on
# an invalid setting.
set -euo pipefail

readonly PROG=dump-databases
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
usage_error() { printf '%s: invalid setting: %s\n' "$PROG" "$*" >&2; exit 2; }
is_count() { [[ "$1" =~ ^[0-9]+$ ]] && ((10#$1 >= 1)); } # a whole number >= 1

BACKUP_ROOT="${BACKUP_ROOT:-/mnt/data/backups}"
RETAIN="${RETAIN:-7}"
STATUS_FILE="${STATUS_FILE:-/var/lib/housing-portal/dump.last-success}"
DUMP_TIMEOUT_SECONDS="${DUMP_TIMEOUT_SECONDS:-3600}"
DOCKER="${DOCKER:-docker}"
LOCK_FILE="${LOCK_FILE:-/run/lock/housing-portal-dump-databases.lock}"
INSTANCES="${INSTANCES:-}"
INSTANCES_DIR="${INSTANCES_DIR:-/etc/housing-portal/instances}"
MIN_FREE_PERCENT="${MIN_FREE_PERCENT:-10}"
MAX_COUNTED_TABLES="${MAX_COUNTED_TABLES:-10}"
COMPRESS="${COMPRESS:-}"
FINDINGS_FILE="${FINDINGS_FILE:-}"

[[ "$BACKUP_ROOT" == /* ]] || usage_error "BACKUP_ROOT must be an absolute path, got '$BACKUP_ROOT'"
[[ "$STATUS_FILE" == /* ]] || usage_error "STATUS_FILE must be an absolute path, got '$STATUS_FILE'"
is_count "$RETAIN" || usage_error "RETAIN must be a whole number >= 1, got '$RETAIN'"
RETAIN=$((10#$RETAIN))
is_count "$DUMP_TIMEOUT_SECONDS" || usage_error "DUMP_TIMEOUT_SECONDS must be a whole number >= 1"
[[ "$MIN_FREE_PERCENT" =~ ^[0-9]{1,2}$ ]] || usage_error "MIN_FREE_PERCENT must be a whole number from 0 to 99, got '$MIN_FREE_PERCENT'"
MIN_FREE_PERCENT=$((10#$MIN_FREE_PERCENT))
[[ -z "$COMPRESS" || "$COMPRESS" =~ ^[0-9]$ ]] || usage_error "COMPRESS must be empty or a compression level from 0 to 9, got '$COMPRESS'"
is_count "$MAX_COUNTED_TABLES" || usage_error "MAX_COUNTED_TABLES must be a whole number >= 1, got '$MAX_COUNTED_TABLES'"
[[ "$INSTANCES_DIR" == /* ]] || usage_error "INSTANCES_DIR must be an absolute path, got '$INSTANCES_DIR'"
[[ -z "$FINDINGS_FILE" || "$FINDINGS_FILE" == /* ]] || usage_error "FINDINGS_FILE must be an absolute path, got '$FINDINGS_FILE'"
is_instance() { [[ "$1" =~ ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ ]]; } # a lowercase DNS label
wanted=()
declare -A configured=()
for i in $INSTANCES; do
  is_instance "$i" || usage_error "INSTANCES must be lowercase DNS labels separated by spaces, got '$i'"
  [[ -n "${configured[$i]:-}" ]] && continue
  configured[$i]=1
  wanted+=("$i")
done
list_source=INSTANCES
if ((${#wanted[@]} == 0)) && [[ -d "$INSTANCES_DIR" ]]; then
  # The registry: one file per configured instance, named after it.
  list_source="$INSTANCES_DIR"
  while IFS= read -r -d '' i; do
    if ! is_instance "$i"; then
      log "warning: ignoring '$i' in $INSTANCES_DIR: not a lowercase DNS label"
      continue
    fi
    configured[$i]=1
    wanted+=("$i")
  done < <(find "$INSTANCES_DIR" -mindepth 1 -maxdepth 1 -printf '%f\0' | sort -z)
  ((${#wanted[@]} == 0)) || log "configured instances (registered in $INSTANCES_DIR): ${wanted[*]}"
fi

command -v timeout >/dev/null 2>&1 || die "required tool 'timeout' is not installed"
command -v flock >/dev/null 2>&1 || die "required tool 'flock' is not installed"

mkdir -p "$(dirname "$LOCK_FILE")"
exec 9>>"$LOCK_FILE"
flock -n 9 || die "another dump run holds $LOCK_FILE"
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
current_tmp=""
current_counts=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  [[ -n "$current_tmp" ]] && rm -f "$current_tmp" "$current_tmp.counts"
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted by SIGINT"; exit 130' INT
trap 'log "interrupted by SIGTERM"; exit 143' TERM
trap 'log "interrupted by SIGHUP"; exit 129' HUP

# What psql runs in each PostGIS container: the dump on stdout, the counts ("hp-count" lines,
# tab-separated) on stderr. The table count, PostGIS's version and the exact row counts of the
# MAX_COUNTED_TABLES largest tables are what the restore check expects to find again.
DUMP_SQL="$(cat <<SQL
\\pset fieldsep '\\t'
BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;
SELECT pg_export_snapshot() AS hp_snapshot \\gset
\\setenv HP_SNAPSHOT :hp_snapshot
\\! pg_dump -Fc ${COMPRESS:+-Z $COMPRESS} --snapshot="\$HP_SNAPSHOT" -U "\$POSTGRES_USER" -d "\$POSTGRES_DB" || echo hp-dump-failed >&2
SELECT 'hp-count', 'tables', count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema');
SELECT 'hp-count', 'postgis', coalesce((SELECT extversion FROM pg_extension WHERE extname = 'postgis'), 'none');
SELECT 'hp-count', 'rows', format('%I.%I', n.nspname, c.relname),
  (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
ORDER BY pg_total_relation_size(c.oid) DESC, 3 LIMIT $MAX_COUNTED_TABLES;
COMMIT;
SQL
)"

listing="$("$DOCKER" ps --filter label=housing-portal.role=postgis --format '{{.ID}} {{.Label "housing-portal.instance"}}')" ||
  die "'$DOCKER ps' failed; nothing dumped"

mkdir -p "$BACKUP_ROOT" || die "cannot create $BACKUP_ROOT (is the data volume mounted?)"
if ((${#wanted[@]} == 0)); then
  log "INSTANCES is not set and $INSTANCES_DIR registers no instance: no list of configured instances was given, so only the running PostGIS containers are dumped and a stopped instance goes unnoticed"
fi

failed=0
count=0
declare -A seen=()
declare -A outcome=() # instance -> "dumped", or why not
why=""

fs_space() { # fs_space DIR: sets fs_total and fs_avail (bytes) of DIR's file system
  local blocks avail bsize
  read -r blocks avail bsize < <(stat -f -c '%b %a %S' "$1") || return 1
  fs_total=$((blocks * bsize))
  fs_avail=$((avail * bsize))
}

dump_one() { # dump_one CONTAINER_ID INSTANCE
  local id="$1" instance="$2" dir ts final rc=0 magic
  dir="$BACKUP_ROOT/$instance"
  mkdir -p "$dir" || { log "error: $instance: cannot create $dir"; return 1; }
  chmod 0700 "$dir"
  # A timestamped name that is not taken yet (two runs within one second wait a second).
  while :; do
    ts="$(date -u +%Y%m%dT%H%M%SZ)"
    final="$dir/$ts.dump"
    [[ -e "$final" ]] || break
    sleep 1
  done
  # The margin: PostgreSQL writes to this file system too, and a full volume stops it.
  local prev estimate=0 min_free
  if ((MIN_FREE_PERCENT > 0)); then
    prev="$(find "$dir" -maxdepth 1 -type f -regextype posix-extended -regex '.*/[0-9]{8}T[0-9]{6}Z\.dump' -printf '%f\n' | sort | tail -n1)"
    [[ -n "$prev" ]] && estimate="$(stat -c %s "$dir/$prev")"
    fs_space "$dir" || { why="cannot read the free space of $dir"; log "error: $instance: $why"; return 1; }
    min_free=$((fs_total * MIN_FREE_PERCENT / 100))
    if ((fs_avail - estimate < min_free)); then
      why="less than $MIN_FREE_PERCENT% would be left free"
      log "error: $instance: refusing to dump: its previous dump is $estimate bytes and $dir has $fs_avail bytes free of $fs_total; less than $MIN_FREE_PERCENT% would be left (MIN_FREE_PERCENT)"
      return 1
    fi
  fi
  current_tmp="$(mktemp --suffix=.partial "$dir/.$ts.dump.XXXXXX")" || { why="cannot create a temp file"; log "error: $instance: cannot create a temp file in $dir"; return 1; }
  current_counts="$current_tmp.counts"
  # pg_dump runs from psql (\!) inside a transaction that exported its snapshot, so the counts
  # psql then records are those of exactly the rows in the dump (the restore check compares).
  # shellcheck disable=SC2016 # expanded inside the container
  timeout "$DUMP_TIMEOUT_SECONDS" "$DOCKER" exec -i "$id" sh -c 'exec psql -X -q -At -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -o /dev/stderr -f -' \
    <<<"$DUMP_SQL" >"$current_tmp" 2>"$current_counts" || rc=$?
  grep -v '^hp-' "$current_counts" | sed "s/^/$PROG: $instance: /" >&2 || true
  if ((rc == 0)) && grep -q '^hp-dump-failed' "$current_counts"; then rc=1; fi
  if ((rc == 0)); then
    { grep '^hp-count' "$current_counts" | cut -f2- || true; } >"$current_counts.tsv" && mv -f "$current_counts.tsv" "$current_counts" || rc=1
  fi
  if ((rc != 0)); then
    rm -f "$current_counts"; current_counts=""
    why="pg_dump failed"
    log "error: $instance: pg_dump in container $id failed (exit $rc$( ((rc == 124)) && printf ', timed out after %ss' "$DUMP_TIMEOUT_SECONDS"))"
    rm -f "$current_tmp" "${current_counts:-}"; current_tmp=""; current_counts=""
    return 1
  fi
  # A dump that grew into the margin (the database grew since its previous dump) is deleted: it
  # is checked once written, not while it is written.
  if ((MIN_FREE_PERCENT > 0)) && fs_space "$dir" && ((fs_avail < fs_total * MIN_FREE_PERCENT / 100)); then
    why="the dump left less than $MIN_FREE_PERCENT% free"
    log "error: $instance: the dump left less than $MIN_FREE_PERCENT% free on $dir; deleted it ($fs_avail bytes free of $fs_total, MIN_FREE_PERCENT)"
    rm -f "$current_tmp" "${current_counts:-}"; current_tmp=""; current_counts=""
    return 1
  fi
  magic="$(head -c 5 "$current_tmp")"
  if [[ "$magic" != PGDMP ]]; then
    why="not a custom-format dump"
    log "error: $instance: the output of pg_dump is not a custom-format dump"
    rm -f "$current_tmp" "${current_counts:-}"; current_tmp=""; current_counts=""
    return 1
  fi
  # (errexit does not apply inside a function called with ||: check every step.)
  if ! { sync "$current_tmp" "$current_counts" && chmod 0600 "$current_tmp" "$current_counts" &&
    mv -f "$current_counts" "${final%.dump}.counts" && mv -f "$current_tmp" "$final"; }; then
    why="could not write the dump"
    log "error: $instance: could not write $final"
    rm -f "$current_tmp" "${current_counts:-}"; current_tmp=""; current_counts=""
    return 1
  fi
  current_tmp=""; current_counts=""
  sync "$dir" || log "warning: $instance: fsync of $dir failed"
  dumped="$(basename "$final") ($(stat -c %s "$final") bytes)"
  log "$instance: wrote $final ($(stat -c %s "$final") bytes)"

  # Retention: the newest RETAIN final dumps by name (the UTC timestamp sorts by time).
  local old=()
  mapfile -t old < <(find "$dir" -maxdepth 1 -type f -regextype posix-extended \
    -regex '.*/[0-9]{8}T[0-9]{6}Z\.dump' -printf '%f\n' | sort -r | tail -n +"$((RETAIN + 1))")
  local f
  for f in "${old[@]}"; do
    rm -f "$dir/$f" "$dir/${f%.dump}.counts" && log "$instance: removed old dump $f"
  done
  # Leftovers of runs that were killed (this run holds the lock, so none of them is live).
  find "$dir" -maxdepth 1 -type f -name '.*.partial' -delete
}

while read -r id instance; do
  [[ -n "${id:-}" ]] || continue
  if [[ -z "${instance:-}" ]]; then
    log "error: PostGIS container $id has no housing-portal.instance label; skipped"
    finding - fail "PostGIS container $id has no housing-portal.instance label; not dumped"
    failed=1
    continue
  fi
  if ! is_instance "$instance"; then
    log "error: PostGIS container $id has an invalid instance label '$instance'; skipped"
    finding - fail "PostGIS container $id has an invalid instance label; not dumped"
    failed=1
    continue
  fi
  if [[ -n "${seen[$instance]:-}" ]]; then
    log "error: containers ${seen[$instance]} and $id both claim instance $instance; dumped only the first"
    finding - fail "containers ${seen[$instance]} and $id both claim instance $instance; dumped only the first"
    failed=1
    continue
  fi
  seen[$instance]="$id"
  count=$((count + 1))
  if ((${#wanted[@]})) && [[ -z "${configured[$instance]:-}" ]]; then
    if [[ "$list_source" == INSTANCES ]]; then
      log "warning: $instance: PostGIS container $id runs but the instance is not in INSTANCES; dumping it anyway"
    else
      log "warning: $instance: PostGIS container $id runs but the instance is not registered in $INSTANCES_DIR; dumping it anyway"
    fi
  fi
  why=""
  dumped=""
  if dump_one "$id" "$instance"; then
    outcome[$instance]=dumped
    finding "$instance" ok "dumped: $dumped"
  else
    outcome[$instance]="${why:-dump failed}"
    [[ -n "${configured[$instance]:-}" ]] || finding "$instance" fail "not dumped: ${outcome[$instance]}"
    failed=1
  fi
done < <(printf '%s\n' "$listing" | sort -k2,2 -k1,1)

# Every configured instance must have been dumped; name each one that was not.
missing=""
for i in "${wanted[@]}"; do
  [[ "${outcome[$i]:-}" == dumped ]] && continue
  if [[ -z "${outcome[$i]:-}" ]]; then
    outcome[$i]="no running PostGIS container"
    log "error: $i: not dumped: no running PostGIS container (label housing-portal.instance=$i); is it stopped?"
  fi
  missing+="${missing:+, }$i (${outcome[$i]})"
  finding "$i" fail "not dumped: ${outcome[$i]}"
done
write_findings
if [[ -n "$missing" ]]; then
  die "not dumped: $missing"
fi
if ((failed)); then
  die "some databases were not dumped (see above)"
fi

status_dir="$(dirname "$STATUS_FILE")"
mkdir -p "$status_dir"
tmp_status="$(mktemp "$STATUS_FILE.XXXXXX")"
printf '%s %d instance(s)\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$count" >"$tmp_status"
chmod 0644 "$tmp_status"
sync "$tmp_status"
mv -f "$tmp_status" "$STATUS_FILE"
log "done: $count database(s) dumped into $BACKUP_ROOT; recorded success in $STATUS_FILE"
