#!/usr/bin/env bash
# Undo everything the e2e tier makes, idempotently, also after a run that was killed:
#   - containers, networks and volumes labelled housing-portal.instance or housing-portal.service
#     (the program's labels: an instance's objects, the edge's);
#   - the ACME test CA (pebble, pebble-challtestsrv) a killed run left, by the pid files it wrote;
#   - host B's engine of the two-host stack (engine-b.sh stop: its dockerd, network namespace,
#     veth pair, data root), before the mounts below, which B's containers may hold;
#   - mounts under /mnt/housing-portal-e2e* and /var/tmp/hp-e2e-* (thawed first), and any other
#     mount of a loop device backed by a /var/tmp/hp-e2e-* image (the existing host's /mnt/data),
#     their loop devices, the guarded mount-point directories, the scratch directories and links;
#   - what the tier claimed outside its own directories ($CLAIMS, test/e2e/machine.ts): the
#     directories it made (removed when empty and unmounted), the flag it set on a directory that
#     was there (chattr -i);
#   - dockerd, only when this tier started it (test/e2e/setup.sh records its pid).
# Kept on purpose: installed packages and the stand-in images (a cache keyed by content).
# Exits non-zero when something could not be undone, naming it.
set -uo pipefail

readonly PROG=e2e-cleanup
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
STATE_DIR=/run/housing-portal-e2e
STARTED_FILE="$STATE_DIR/dockerd.pid"
CLAIMS=/var/tmp/housing-portal-e2e-claims
LABELS=(housing-portal.instance housing-portal.service)
failed=()

for pidfile in "$STATE_DIR"/pebble*.pid; do
  [[ -s "$pidfile" ]] || continue
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" || failed+=("process $pid of $pidfile"); fi
  rm -f "$pidfile"
done

bash "$HERE/engine-b.sh" stop || failed+=("host B's engine (test/e2e/engine-b.sh stop)")

if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  for LABEL in "${LABELS[@]}"; do
    mapfile -t ids < <(docker ps -aq --filter "label=$LABEL")
    ((${#ids[@]})) && { docker rm -f -v "${ids[@]}" >/dev/null || failed+=("containers ${ids[*]}"); }
  done
  for LABEL in "${LABELS[@]}"; do
    mapfile -t ids < <(docker network ls -q --filter "label=$LABEL")
    ((${#ids[@]})) && { docker network rm "${ids[@]}" >/dev/null || failed+=("networks ${ids[*]}"); }
    mapfile -t ids < <(docker volume ls -q --filter "label=$LABEL")
    ((${#ids[@]})) && { docker volume rm "${ids[@]}" >/dev/null || failed+=("volumes ${ids[*]}"); }
  done
fi

our_loops() { losetup --list --noheadings --output NAME,BACK-FILE 2>/dev/null | awk '$2 ~ /^\/var\/tmp\/hp-e2e-/ { print $1 }'; }
# Mount points under the tier's directories, and wherever one of its loop devices is mounted
# (the source is the first field after the " - " separator's file system type).
ours() {
  awk -v loops=" $(our_loops | tr '\n' ' ') " '{
    split($0, halves, " - "); split(halves[2], f, " ")
    if ($5 ~ /^\/mnt\/housing-portal-e2e/ || $5 ~ /^\/var\/tmp\/hp-e2e-/ || index(loops, " " f[2] " ")) print $5
  }' /proc/self/mountinfo | sort -r
}
for mp in $(ours); do
  fsfreeze -u "$mp" 2>/dev/null
  umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || failed+=("mount $mp")
done
while read -r dev file; do
  [[ -n "$dev" ]] || continue
  losetup -d "$dev" || failed+=("loop device $dev ($file)")
done < <(losetup --list --noheadings --output NAME,BACK-FILE 2>/dev/null | awk '$2 ~ /^\/var\/tmp\/hp-e2e-/ { print $1, $2 }')
if [[ -f "$CLAIMS" ]]; then
  left=()
  mapfile -t claims < "$CLAIMS"
  for ((i = ${#claims[@]} - 1; i >= 0; i--)); do
    kind="${claims[$i]%% *}" d="${claims[$i]#* }"
    [[ -e "$d" ]] || continue
    if mountpoint -q "$d"; then
      failed+=("$d is still mounted"); left=("${claims[$i]}" "${left[@]}"); continue
    fi
    chattr -f -i "$d" 2>/dev/null
    if [[ "$kind" == dir ]] && ! rmdir "$d"; then
      failed+=("directory $d (made by the tier, not empty)"); left=("${claims[$i]}" "${left[@]}")
    fi
  done
  if ((${#left[@]})); then printf '%s\n' "${left[@]}" >"$CLAIMS"; else rm -f "$CLAIMS"; fi
fi
for d in /mnt/housing-portal-e2e*; do
  [[ -d "$d" ]] || continue
  mountpoint -q "$d" && { failed+=("$d is still mounted"); continue; }
  chattr -f -i "$d" 2>/dev/null
  rm -rf --one-file-system "$d" || failed+=("directory $d")
done
for d in /var/tmp/hp-e2e-* "$STATE_DIR/devices"; do
  [[ -e "$d" ]] || continue
  rm -rf --one-file-system "$d" || failed+=("$d")
done

if [[ -s "$STARTED_FILE" ]]; then
  pid="$(cat "$STARTED_FILE")"
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping dockerd (pid $pid), which the e2e tier started"
    kill -TERM "$pid"
    # Wait for the condition (dockerd has exited); the deadline is only a failure bound.
    deadline=$((SECONDS + 300))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && { kill -KILL "$pid"; failed+=("dockerd did not stop within the failure bound of 300 s (killed)"); }
  fi
  rm -f "$STARTED_FILE"
  # The default bridge outlives the daemon; it was not here before the tier started dockerd.
  ip link show docker0 >/dev/null 2>&1 && { ip link delete docker0 || failed+=("interface docker0"); }
fi

if ((${#failed[@]})); then
  log "could not undo: ${failed[*]}"
  exit 1
fi
log "clean"
