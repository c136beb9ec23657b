#!/usr/bin/env bash
# housing-portal: let go of the data volume cleanly, before it is detached from this machine.
#
# Installed on the host as /usr/local/sbin/housing-portal-release-data-volume. The program runs
# it over SSH on a machine that is about to lose its data volume: just before the volume
# attachment is deleted when the host is replaced. What it does, in order:
#   1. MOUNT_POINT not mounted: says so and exits 0 (a second run, or a volume never mounted);
#   2. stops the portal's own timers and services (systemctl stop 'housing-portal-*.timer'
#      'housing-portal-*.service'): no dump or snapshot starts, or keeps running, on the volume
#      (their units' RequiresMountsFor= would even mount it again);
#   3. stops every running container labelled housing-portal.machine (all the program makes:
#      the instances' and the edge, which keeps its certificates on the volume)
#      (docker stop -t 60, bounded by STOP_TIMEOUT_SECONDS);
#   4. stops Docker itself (systemctl stop docker.socket docker.service, bounded the same way),
#      so that nothing restarts a container or reopens a file on the volume;
#   5. sync, then umount MOUNT_POINT. When it is busy, it names the processes that hold it
#      (fuser -vm, or lsof) and the mounts below it, and fails: it never unmounts lazily
#      (umount -l would detach a volume that is still being written to).
# A failure leaves the volume mounted and changes nothing after the failed step: a run after the
# holder is gone picks up where this one stopped. (Containers stopped by step 2 stay stopped:
# `systemctl start docker` and `docker start <name>` bring them back on a machine that stays.)
#
# Settings (environment):
#   MOUNT_POINT           default /mnt/data. An absolute path, not /, without . or .. parts.
#   SYSTEMCTL             default systemctl (tests put a shim here).
#   DOCKER                default docker. The docker client (tests put a shim here).
#   STOP_TIMEOUT_SECONDS  default 120. Upper bound of each stop: the portal's units, the
#                         containers, Docker.
#
# Exit status: 0 when MOUNT_POINT is unmounted (also when it was not mounted); 1 on failure; 2 on
# an invalid setting.
set -euo pipefail

readonly PROG=release-data-volume
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
usage_error() { printf '%s: invalid setting: %s\n' "$PROG" "$*" >&2; exit 2; }

MOUNT_POINT="${MOUNT_POINT:-/mnt/data}"
SYSTEMCTL="${SYSTEMCTL:-systemctl}"
DOCKER="${DOCKER:-docker}"
STOP_TIMEOUT_SECONDS="${STOP_TIMEOUT_SECONDS:-120}"

[[ "$MOUNT_POINT" == /* ]] || usage_error "MOUNT_POINT must be an absolute path, got '$MOUNT_POINT'"
while [[ "$MOUNT_POINT" == */ ]]; do MOUNT_POINT="${MOUNT_POINT%/}"; done
[[ -n "$MOUNT_POINT" ]] || usage_error "MOUNT_POINT must not be /: that is the root file system"
[[ "/$MOUNT_POINT/" != */./* && "/$MOUNT_POINT/" != */../* ]] ||
  usage_error "MOUNT_POINT must not contain . or .. parts, got '$MOUNT_POINT'"
[[ "$STOP_TIMEOUT_SECONDS" =~ ^[1-9][0-9]{0,5}$ ]] ||
  usage_error "STOP_TIMEOUT_SECONDS must be a whole number of seconds >= 1, got '$STOP_TIMEOUT_SECONDS'"
[[ -n "$SYSTEMCTL" ]] || usage_error "SYSTEMCTL is empty"
[[ -n "$DOCKER" ]] || usage_error "DOCKER is empty"

for tool in mountpoint umount timeout sync; do
  command -v "$tool" >/dev/null 2>&1 || die "required tool '$tool' is not installed"
done

# ---- 1. already released? -------------------------------------------------------------------
if ! mountpoint -q "$MOUNT_POINT"; then
  log "$MOUNT_POINT is not mounted: nothing to release"
  exit 0
fi

bounded() { # bounded WHAT COMMAND...: run it within STOP_TIMEOUT_SECONDS, or fail naming WHAT
  local what="$1" rc=0
  shift
  timeout "$STOP_TIMEOUT_SECONDS" "$@" >/dev/null || rc=$?
  if ((rc == 124)); then
    die "'$what' did not finish within ${STOP_TIMEOUT_SECONDS}s (STOP_TIMEOUT_SECONDS); $MOUNT_POINT is still mounted"
  elif ((rc != 0)); then
    die "'$what' failed (exit $rc); $MOUNT_POINT is still mounted"
  fi
}

# ---- 2. the portal's timers and services ----------------------------------------------------
# (patterns match the loaded units only: none loaded is not an error)
bounded "$SYSTEMCTL stop housing-portal-*.timer housing-portal-*.service" \
  "$SYSTEMCTL" stop 'housing-portal-*.timer' 'housing-portal-*.service'
log "stopped the housing-portal timers and services"

# ---- 3. the portal's containers -------------------------------------------------------------
if listing="$("$DOCKER" ps -q --filter label=housing-portal.machine)"; then
  mapfile -t ids < <(printf '%s\n' "$listing" | awk 'NF { print $1 }')
  if ((${#ids[@]})); then
    log "stopping ${#ids[@]} container(s) labelled housing-portal.machine: ${ids[*]}"
    bounded "$DOCKER stop -t 60 ${ids[*]}" "$DOCKER" stop -t 60 "${ids[@]}"
  else
    log "no running container is labelled housing-portal.machine"
  fi
elif ! "$SYSTEMCTL" is-active --quiet docker.service; then
  # A run after a failed one: Docker is already stopped, so no container runs.
  log "'$DOCKER ps' failed and docker.service is not active: no container to stop"
else
  die "'$DOCKER ps' failed while docker.service is active; cannot tell which containers use $MOUNT_POINT"
fi

# ---- 4. Docker itself -----------------------------------------------------------------------
bounded "$SYSTEMCTL stop docker.socket docker.service" "$SYSTEMCTL" stop docker.socket docker.service
log "stopped docker.socket and docker.service"

# ---- 5. sync and unmount --------------------------------------------------------------------
sync

holders() { # the processes that hold MOUNT_POINT's file system, one line, or why we cannot tell
  local pids=() pid out=""
  if command -v fuser >/dev/null 2>&1; then
    # fuser -vm: the table (user, pid, access, command) goes to stderr; keep it in the log.
    # (Drop what it cannot see, such as other namespaces' /proc/<pid>/fd in a container.)
    fuser -vm "$MOUNT_POINT" 2>&1 | grep -v '^Cannot stat ' | sed "s/^/$PROG:   /" >&2 || true
    read -r -a pids < <(fuser -m "$MOUNT_POINT" 2>/dev/null || true)
  elif command -v lsof >/dev/null 2>&1; then
    lsof -w "$MOUNT_POINT" 2>/dev/null | sed "s/^/$PROG:   /" >&2 || true
    mapfile -t pids < <(lsof -w -t "$MOUNT_POINT" 2>/dev/null | sort -un || true)
  else
    printf 'unknown processes (neither fuser nor lsof is installed: apt-get install psmisc)'
    return
  fi
  for pid in "${pids[@]}"; do
    pid="${pid//[!0-9]/}"
    [[ -n "$pid" ]] || continue
    out+="${out:+, }pid $pid ($(tr -d '\n' 2>/dev/null <"/proc/$pid/comm" || printf 'gone'))"
  done
  printf '%s' "${out:-no process that fuser or lsof can see}"
}

err="$(umount "$MOUNT_POINT" 2>&1)" || {
  below="$(findmnt -R -l -n -o TARGET "$MOUNT_POINT" 2>/dev/null | tail -n +2 | paste -sd, - || true)"
  log "umount $MOUNT_POINT failed: $err"
  die "$MOUNT_POINT is still mounted: it is held by $(holders)${below:+; mounted below it: $below}; stop those and run this again (never umount -l: the volume would be detached while in use)"
}
if mountpoint -q "$MOUNT_POINT"; then
  die "$MOUNT_POINT is still a mount point after umount: another file system was mounted beneath the volume ($(findmnt -n -o SOURCE,FSTYPE "$MOUNT_POINT" | head -n1)); unmount it by hand"
fi
log "unmounted $MOUNT_POINT: the volume can be detached"
