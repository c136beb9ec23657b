#!/usr/bin/env bash
# housing-portal: is the backup fresh? One line on stdout, exit 0 when it is, 1 when it is not.
#
# Installed on the host as /usr/local/sbin/housing-portal-backup-status and run by
# housing-portal-backup-status.timer (a failed run shows up as a failed systemd unit), by a
# monitoring agent, or by hand.
#
# Checks (see CHECKS):
#   snapshot  the mtime of SNAPSHOT_STATUS_FILE (written by snapshot-volume.sh on success) is
#             at most 2 x SNAPSHOT_INTERVAL_HOURS old;
#   dump      the mtime of DUMP_STATUS_FILE (written by dump-databases.sh when every instance
#             was dumped) is at most 2 x DUMP_INTERVAL_HOURS old. When that file does not exist
#             (a replaced host), the newest $BACKUP_ROOT/<instance>/<timestamp>.dump counts.
#             With INSTANCES set, each instance's newest dump (by name) in
#             $BACKUP_ROOT/<instance>/ must be at most 2 x DUMP_INTERVAL_HOURS old (by mtime):
#             a missing or stale one is "dump of <instance> ...". The marker, when present, is
#             checked as well; when missing, the per-instance checks stand in for it.
#   offsite   the mtime of OFFSITE_STATUS_FILE (written by offsite-backup.sh on success) is at
#             most 2 x OFFSITE_INTERVAL_HOURS old, and so is the newest snapshot in the off-site
#             repository itself (OFFSITE_LATEST, run with the off-site settings in the
#             environment: a copy pruned or lost there shows even when the host's marker is fresh);
#   restore-check  the mtime of RESTORE_CHECK_STATUS_FILE (written by restore-check.sh when every
#             instance's newest dump restored and matched its counts) is at most
#             2 x RESTORE_CHECK_INTERVAL_HOURS old.
# A missing marker is a failure too. When INSTANCES is empty, the configured instances are the
# names of the files in INSTANCES_DIR (the registry that prepare-instance-dirs.sh writes); a name
# there that is not a lowercase DNS label is ignored, with a warning on stderr.
#
# Settings (environment):
#   INTERVAL_HOURS           default 24. The schedule's interval, for both checks.
#   SNAPSHOT_INTERVAL_HOURS  default $INTERVAL_HOURS.
#   DUMP_INTERVAL_HOURS      default $INTERVAL_HOURS.
#   CHECKS                   default "snapshot dump". Use "dump" where the provider snapshots the
#                            volume itself (AWS DLM).
#   SNAPSHOT_STATUS_FILE     default /var/lib/housing-portal/snapshot.last-success.
#   DUMP_STATUS_FILE         default /var/lib/housing-portal/dump.last-success.
#   OFFSITE_INTERVAL_HOURS   default $INTERVAL_HOURS.
#   OFFSITE_STATUS_FILE      default /var/lib/housing-portal/offsite.last-success.
#   OFFSITE_LATEST           default /usr/local/sbin/housing-portal-offsite-backup. Run with
#                            ACTION=latest: prints the newest snapshot's time (epoch seconds).
#   RESTORE_CHECK_INTERVAL_HOURS  default 168 (weekly).
#   RESTORE_CHECK_STATUS_FILE     default /var/lib/housing-portal/restore-check.last-success.
#   BACKUP_ROOT              default /mnt/data/backups.
#   INSTANCES                default empty. Space-separated configured instance names (lowercase
#                            DNS labels), each of which must have a fresh dump.
#   INSTANCES_DIR            default /etc/housing-portal/instances. Read only when INSTANCES is
#                            empty; a missing or empty directory means no list.
#   FINDINGS_FILE            default empty (none). Where the run lists each finding for alert.sh
#                            (one alert per finding): "<item>\tok|fail\t<what>" lines after
#                            "invocation $INVOCATION_ID"; the items are snapshot, dump,
#                            dump:<instance>, offsite, offsite-repository and restore-check.
#
# Output: "OK: ..." (exit 0) or "STALE: <reason>[; <reason>]" (exit 1), one line; exit 2 on a
# bad setting.
set -euo pipefail

readonly PROG=backup-status
usage_error() { printf '%s: invalid setting: %s\n' "$PROG" "$*" >&2; exit 2; }
is_count() { [[ "$1" =~ ^[0-9]+$ ]] && ((10#$1 >= 1)); } # a whole number >= 1

INTERVAL_HOURS="${INTERVAL_HOURS:-24}"
SNAPSHOT_INTERVAL_HOURS="${SNAPSHOT_INTERVAL_HOURS:-$INTERVAL_HOURS}"
DUMP_INTERVAL_HOURS="${DUMP_INTERVAL_HOURS:-$INTERVAL_HOURS}"
CHECKS="${CHECKS:-snapshot dump}"
SNAPSHOT_STATUS_FILE="${SNAPSHOT_STATUS_FILE:-/var/lib/housing-portal/snapshot.last-success}"
DUMP_STATUS_FILE="${DUMP_STATUS_FILE:-/var/lib/housing-portal/dump.last-success}"
OFFSITE_INTERVAL_HOURS="${OFFSITE_INTERVAL_HOURS:-$INTERVAL_HOURS}"
OFFSITE_STATUS_FILE="${OFFSITE_STATUS_FILE:-/var/lib/housing-portal/offsite.last-success}"
OFFSITE_LATEST="${OFFSITE_LATEST:-/usr/local/sbin/housing-portal-offsite-backup}"
RESTORE_CHECK_INTERVAL_HOURS="${RESTORE_CHECK_INTERVAL_HOURS:-168}"
RESTORE_CHECK_STATUS_FILE="${RESTORE_CHECK_STATUS_FILE:-/var/lib/housing-portal/restore-check.last-success}"
BACKUP_ROOT="${BACKUP_ROOT:-/mnt/data/backups}"
INSTANCES="${INSTANCES:-}"
INSTANCES_DIR="${INSTANCES_DIR:-/etc/housing-portal/instances}"
FINDINGS_FILE="${FINDINGS_FILE:-}"

for v in INTERVAL_HOURS SNAPSHOT_INTERVAL_HOURS DUMP_INTERVAL_HOURS OFFSITE_INTERVAL_HOURS RESTORE_CHECK_INTERVAL_HOURS; do
  is_count "${!v}" || usage_error "$v must be a whole number of hours >= 1, got '${!v}'"
done
[[ -n "${CHECKS// /}" ]] || usage_error "CHECKS is empty"
for c in $CHECKS; do
  [[ "$c" == snapshot || "$c" == dump || "$c" == offsite || "$c" == restore-check ]] ||
    usage_error "CHECKS may contain only 'snapshot', 'dump', 'offsite' and 'restore-check', got '$c'"
done
is_instance() { [[ "$1" =~ ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ ]]; } # a lowercase DNS label
for i in $INSTANCES; do
  is_instance "$i" || usage_error "INSTANCES must be lowercase DNS labels separated by spaces, got '$i'"
done
[[ "$INSTANCES_DIR" == /* ]] || usage_error "INSTANCES_DIR must be an absolute path, got '$INSTANCES_DIR'"
[[ -z "$FINDINGS_FILE" || "$FINDINGS_FILE" == /* ]] || usage_error "FINDINGS_FILE must be an absolute path, got '$FINDINGS_FILE'"
if [[ -z "${INSTANCES// /}" && -d "$INSTANCES_DIR" ]]; then
  # The registry: one file per configured instance, named after it.
  INSTANCES=""
  while IFS= read -r -d '' i; do
    if is_instance "$i"; then
      INSTANCES+="${INSTANCES:+ }$i"
    else
      printf '%s: warning: ignoring %q in %s: not a lowercase DNS label\n' "$PROG" "$i" "$INSTANCES_DIR" >&2
    fi
  done < <(find "$INSTANCES_DIR" -mindepth 1 -maxdepth 1 -printf '%f\0' | sort -z)
fi

now="$(date +%s)"
problems=()
oks=()
findings=()
# This run's findings replace the last run's only once they are known.
[[ -z "$FINDINGS_FILE" ]] || rm -f "$FINDINGS_FILE"
stale() { problems+=("$2"); findings+=("$1"$'\t'fail$'\t'"${2//[$'\t\n']/ }"); } # stale ITEM REASON
fresh() { oks+=("$2"); findings+=("$1"$'\t'ok$'\t'"${2//[$'\t\n']/ }"); }      # fresh ITEM WHAT
write_findings() { # the findings, atomically, for the unit's alert (alert.sh)
  [[ -n "$FINDINGS_FILE" ]] || return 0
  local tmp
  if mkdir -p "$(dirname "$FINDINGS_FILE")" && tmp="$(mktemp "$FINDINGS_FILE.XXXXXX")" &&
    { printf 'invocation %s\n' "${INVOCATION_ID:--}"; ((${#findings[@]} == 0)) || printf '%s\n' "${findings[@]}"; } >"$tmp" && mv -f "$tmp" "$FINDINGS_FILE"; then
    return 0
  fi
  printf '%s: warning: cannot write %s (the alert then judges the run as a whole)\n' "$PROG" "$FINDINGS_FILE" >&2
}

human() { # seconds -> "12h" / "3d 4h" / "17m"
  local s=$1
  if ((s < 0)); then s=0; fi
  if ((s < 3600)); then printf '%dm' $((s / 60)); elif ((s < 172800)); then printf '%dh' $((s / 3600)); else printf '%dd %dh' $((s / 86400)) $((s % 86400 / 3600)); fi
}

check_age() { # check_age ITEM WHAT MTIME_EPOCH INTERVAL_HOURS SOURCE
  local item="$1" what="$2" mtime="$3" hours=$((10#$4)) source="$5"
  local limit=$((2 * hours * 3600)) age=$((now - mtime))
  local when
  when="$(date -u -d "@$mtime" +%Y-%m-%dT%H:%M:%SZ)"
  if ((age > limit)); then
    stale "$item" "last $what $(human "$age") ago at $when ($source), more than twice the ${hours}h interval"
  else
    fresh "$item" "$what $(human "$age") ago"
  fi
}

check_instance() { # check_instance INSTANCE: its newest dump, by name
  local i="$1" dir="$BACKUP_ROOT/$1" newest mtime age hours=$((10#$DUMP_INTERVAL_HOURS))
  newest="$(find "$dir" -maxdepth 1 -type f -regextype posix-extended -regex '.*/[0-9]{8}T[0-9]{6}Z\.dump' \
    -printf '%f\n' 2>/dev/null | sort | tail -n1 || true)"
  if [[ -z "$newest" ]]; then
    stale "dump:$i" "dump of $i missing: no <timestamp>.dump in $dir"
    return
  fi
  mtime="$(stat -c %Y "$dir/$newest")"
  age=$((now - mtime))
  if ((age > 2 * hours * 3600)); then
    stale "dump:$i" "dump of $i stale: its newest, $newest, is $(human "$age") old ($dir/$newest), more than twice the ${hours}h interval"
  else
    fresh "dump:$i" "dump of $i $(human "$age") ago"
  fi
}

for c in $CHECKS; do
  case "$c" in
    snapshot)
      if [[ -f "$SNAPSHOT_STATUS_FILE" ]]; then
        check_age snapshot snapshot "$(stat -c %Y "$SNAPSHOT_STATUS_FILE")" "$SNAPSHOT_INTERVAL_HOURS" "$SNAPSHOT_STATUS_FILE"
      else
        stale snapshot "no successful snapshot recorded ($SNAPSHOT_STATUS_FILE is missing)"
      fi
      ;;
    dump)
      if [[ -f "$DUMP_STATUS_FILE" ]]; then
        check_age dump dump "$(stat -c %Y "$DUMP_STATUS_FILE")" "$DUMP_INTERVAL_HOURS" "$DUMP_STATUS_FILE"
      elif [[ -n "${INSTANCES// /}" ]]; then
        : # a replaced host: the per-instance checks below stand in for the marker
      else
        newest="$(find "$BACKUP_ROOT" -mindepth 2 -maxdepth 2 -type f -regextype posix-extended \
          -regex '.*/[0-9]{8}T[0-9]{6}Z\.dump' -printf '%T@ %p\n' 2>/dev/null | sort -n | tail -n1 || true)"
        if [[ -n "$newest" ]]; then
          check_age dump dump "${newest%%.*}" "$DUMP_INTERVAL_HOURS" "${newest#* }"
        else
          stale dump "no successful dump recorded ($DUMP_STATUS_FILE is missing and $BACKUP_ROOT holds no dump)"
        fi
      fi
      for i in $INSTANCES; do check_instance "$i"; done
      ;;
    offsite)
      if [[ -f "$OFFSITE_STATUS_FILE" ]]; then
        check_age offsite "off-site copy" "$(stat -c %Y "$OFFSITE_STATUS_FILE")" "$OFFSITE_INTERVAL_HOURS" "$OFFSITE_STATUS_FILE"
      else
        stale offsite "no successful off-site copy recorded ($OFFSITE_STATUS_FILE is missing)"
      fi
      # The repository itself: its newest snapshot of this host (bounded by the command's own timeout).
      if latest="$(ACTION=latest "$OFFSITE_LATEST" 2>/dev/null)"; then
        if [[ "$latest" =~ ^[0-9]+$ ]]; then
          check_age offsite-repository "off-site snapshot" "$latest" "$OFFSITE_INTERVAL_HOURS" "the off-site repository"
        else
          stale offsite-repository "the off-site repository holds no snapshot of this host"
        fi
      else
        stale offsite-repository "cannot read the off-site repository's newest snapshot ($OFFSITE_LATEST failed)"
      fi
      ;;
    restore-check)
      if [[ -f "$RESTORE_CHECK_STATUS_FILE" ]]; then
        check_age restore-check "restore check" "$(stat -c %Y "$RESTORE_CHECK_STATUS_FILE")" "$RESTORE_CHECK_INTERVAL_HOURS" "$RESTORE_CHECK_STATUS_FILE"
      else
        stale restore-check "no passed restore check recorded ($RESTORE_CHECK_STATUS_FILE is missing)"
      fi
      ;;
  esac
done

join() { # join ITEMS... with "; "
  local out="" item
  for item in "$@"; do out+="${out:+; }$item"; done
  printf '%s' "$out"
}

write_findings
if ((${#problems[@]})); then
  printf 'STALE: %s\n' "$(join "${problems[@]}")"
  exit 1
fi
printf 'OK: %s\n' "$(join "${oks[@]}")"
