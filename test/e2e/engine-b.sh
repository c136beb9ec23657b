#!/usr/bin/env bash
# The e2e tier's second Docker engine: host B of the two-host stack (test/e2e/hosts.test.ts).
# Host A is this machine's engine (setup.sh); B is a second dockerd with its own socket, data
# root, exec root and pid file, running in a network namespace of its own, so that its edge
# publishes 80 and 443 on B's address without colliding with A's, and so that its bridges and
# iptables rules are B's alone. It shares this machine's mounts (nsenter enters only the network
# namespace): B's data root is a loop volume the test mounts with host/mount-data-volume.sh.
#
#   engine-b.sh start   namespace, veth pair, dockerd, the stand-in images copied from A's
#                       engine; idempotent; prints B's socket and address as shell assignments
#   engine-b.sh stop    undoes all of it, also after a killed run; idempotent; says what it
#                       removed; exits non-zero, naming it, when something could not be undone
#
# Traffic: the namespace has a route to this machine's end of the veth pair and to the address
# of A's default bridge (where the tests' ACME CA listens), and no default route: nothing in B
# reaches any other address. This machine reaches B at $NS_ADDR (Pebble's HTTP-01 validation,
# the tests' clients). Settings (environment): none.
set -uo pipefail

readonly PROG=e2e-engine-b
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }

readonly NS=hp-e2e-b
readonly VETH_HOST=hp-e2e-b0 VETH_NS=hp-e2e-b1
readonly HOST_ADDR=10.200.15.1 NS_ADDR=10.200.15.2 PREFIX=30
# B's own bridges: away from A's (172.17/16 and Docker's default pools) and from this machine's routes.
readonly BIP=10.201.0.1/24 POOL=base=10.201.16.0/20,size=24
readonly STATE=/run/housing-portal-e2e/engine-b
readonly SOCKET="$STATE/docker.sock" PIDFILE="$STATE/dockerd.pid" EXEC_ROOT="$STATE/exec"
readonly DATA_ROOT=/var/lib/housing-portal-e2e-engine-b
readonly LOG=/var/log/housing-portal-e2e-engine-b.log
readonly IMAGE_REPO=housing-portal-e2e
# B's containers live under a cgroup of their own (A's under /docker): after a killed dockerd,
# whatever still runs there is B's, found by that cgroup and not by a name.
readonly CGROUP_PARENT=/housing-portal-e2e-b

[[ "$(id -u)" == 0 ]] || die "must run as root (network namespaces, dockerd)"

b() { docker -H "unix://$SOCKET" "$@"; }
answering() { [[ -S "$SOCKET" ]] && b info >/dev/null 2>&1; }
alive() { [[ -s "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

start() {
  command -v dockerd >/dev/null || die "dockerd is missing (test/e2e/setup.sh installs docker.io)"
  local bridge
  bridge="$(ip -4 -o addr show dev docker0 2>/dev/null | sed -n 's/.* inet \([0-9.]*\)\/.*/\1/p' | head -n1)"
  [[ -n "$bridge" ]] || die "engine A has no default bridge docker0 (test/e2e/setup.sh starts it first)"

  if [[ ! -e "/run/netns/$NS" ]]; then
    ip netns add "$NS" || die "cannot create the network namespace $NS"
    log "created the network namespace $NS"
  fi
  ip -n "$NS" link set lo up || die "cannot bring up lo in $NS"
  if ! ip link show "$VETH_HOST" >/dev/null 2>&1; then
    ip link add "$VETH_HOST" type veth peer name "$VETH_NS" netns "$NS" || die "cannot create the veth pair $VETH_HOST/$VETH_NS"
    log "created the veth pair $VETH_HOST (here, $HOST_ADDR) / $VETH_NS (in $NS, $NS_ADDR)"
  fi
  { ip addr replace "$HOST_ADDR/$PREFIX" dev "$VETH_HOST" && ip link set "$VETH_HOST" up &&
    ip -n "$NS" addr replace "$NS_ADDR/$PREFIX" dev "$VETH_NS" && ip -n "$NS" link set "$VETH_NS" up &&
    ip -n "$NS" route replace "$bridge/32" via "$HOST_ADDR" dev "$VETH_NS"; } || die "cannot set up the addresses and routes of $VETH_HOST/$VETH_NS"

  mkdir -p "$STATE" "$EXEC_ROOT" "$DATA_ROOT" || die "cannot make $STATE and $DATA_ROOT"
  if answering; then
    log "dockerd of host B is already running (pid $(cat "$PIDFILE"))"
  else
    if ! alive; then
      echo '{}' >"$STATE/daemon.json" # not /etc/docker/daemon.json: nothing of A's settings
      log "starting dockerd of host B in $NS (socket $SOCKET, log $LOG)"
      # nsenter enters the network namespace only: B sees this machine's mounts as A does.
      # Its own containerd namespaces too, in case it finds a system containerd to share.
      setsid nsenter --net="/run/netns/$NS" -- dockerd \
        --host "unix://$SOCKET" --data-root "$DATA_ROOT" --exec-root "$EXEC_ROOT" --pidfile "$PIDFILE" \
        --config-file "$STATE/daemon.json" --bip "$BIP" --default-address-pool "$POOL" --cgroup-parent "$CGROUP_PARENT" \
        --containerd-namespace hp-e2e-b --containerd-plugins-namespace hp-e2e-b-plugins \
        >>"$LOG" 2>&1 </dev/null &
      echo "$!" >"$STATE/started.pid"
    fi
    # Wait for the condition (the engine answers); the deadline is only a failure bound.
    local deadline=$((SECONDS + 300))
    until answering; do
      kill -0 "$(cat "$STATE/started.pid")" 2>/dev/null || { tail -n 30 "$LOG" >&2; die "dockerd of host B exited at start"; }
      ((SECONDS < deadline)) || { tail -n 30 "$LOG" >&2; die "dockerd of host B did not answer within the failure bound of 300 s"; }
      sleep 0.2
    done
    log "dockerd of host B is up (pid $(cat "$PIDFILE"))"
  fi

  # The stand-in images, as A has them (built there by images/build.sh): copied when B lacks them
  # or has other builds, in one archive so that their shared layers travel once.
  local images=() missing=() i
  mapfile -t images < <(docker images --format '{{.Repository}}:{{.Tag}}' | grep "^$IMAGE_REPO/" | grep -v "^$IMAGE_REPO/rootfs:")
  ((${#images[@]})) || die "engine A has no $IMAGE_REPO images (test/e2e/setup.sh builds them)"
  for i in "${images[@]}"; do
    [[ "$(b image inspect -f '{{.Id}}' "$i" 2>/dev/null)" == "$(docker image inspect -f '{{.Id}}' "$i")" ]] || missing+=("$i")
  done
  if ((${#missing[@]})); then
    log "copying ${missing[*]} from engine A"
    docker save "${missing[@]}" | b load >/dev/null || die "copying the images to host B failed"
  fi
  printf 'ENGINE_B_SOCKET=%s\nENGINE_B_ADDRESS=%s\n' "$SOCKET" "$NS_ADDR"
}

stop() {
  local failed=() pid
  if answering; then
    # The program's labels, as cleanup.sh removes them from A: B's containers first, while B runs.
    local label ids=()
    for label in housing-portal.instance housing-portal.service; do
      mapfile -t ids < <(b ps -aq --filter "label=$label")
      ((${#ids[@]})) && { b rm -f -v "${ids[@]}" >/dev/null && log "removed ${#ids[@]} container(s) labelled $label from host B" || failed+=("containers of host B"); }
    done
  fi
  for pid in "$(cat "$PIDFILE" 2>/dev/null)" "$(cat "$STATE/started.pid" 2>/dev/null)"; do
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || continue
    log "stopping dockerd of host B (pid $pid)"
    kill -TERM "$pid"
    # Wait for the condition (dockerd has exited); the deadline is only a failure bound.
    local deadline=$((SECONDS + 300))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; failed+=("dockerd of host B did not stop within the failure bound of 300 s (killed)"); fi
  done
  # Its containerd and shims name its exec root on their command lines, and nothing else does.
  local leftovers=()
  mapfile -t leftovers < <(pgrep -f -- "$EXEC_ROOT/" || true)
  if ((${#leftovers[@]})); then
    kill -KILL "${leftovers[@]}" 2>/dev/null && log "killed ${#leftovers[@]} process(es) left by host B's dockerd (containerd, shims)" || failed+=("processes ${leftovers[*]}")
  fi
  # A killed dockerd leaves its containers' processes running under its cgroup parent.
  local groups=() procs=() g
  mapfile -t groups < <(find /sys/fs/cgroup -mindepth 1 -maxdepth 2 -type d -name "${CGROUP_PARENT#/}" 2>/dev/null)
  if ((${#groups[@]})); then
    mapfile -t procs < <(find "${groups[@]}" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u)
    if ((${#procs[@]})); then
      kill -KILL "${procs[@]}" 2>/dev/null
      log "killed ${#procs[@]} process(es) of host B's containers (cgroup $CGROUP_PARENT)"
    fi
    # Wait for the condition (the cgroups are empty); the deadline is only a failure bound.
    local deadline=$((SECONDS + 60))
    while [[ -n "$(find "${groups[@]}" -name cgroup.procs -exec cat {} + 2>/dev/null)" ]] && ((SECONDS < deadline)); do sleep 0.2; done
    for g in "${groups[@]}"; do
      find "$g" -depth -type d -exec rmdir {} + 2>/dev/null
      [[ -d "$g" ]] && failed+=("cgroup $g")
    done
    log "removed host B's cgroups (${#groups[@]} hierarchies)"
  fi
  # A dockerd that was killed leaves its mounts (overlays, network namespaces) and shims.
  local mp
  for mp in $(awk -v a="$DATA_ROOT" -v b="$STATE" 'index($5, a) == 1 || index($5, b) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
    umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || failed+=("mount $mp")
  done
  if [[ -e "/run/netns/$NS" ]]; then
    ip netns del "$NS" && log "removed the network namespace $NS (and $VETH_NS in it)" || failed+=("network namespace $NS")
  fi
  if ip link show "$VETH_HOST" >/dev/null 2>&1; then
    ip link del "$VETH_HOST" && log "removed the interface $VETH_HOST" || failed+=("interface $VETH_HOST")
  fi
  local d
  for d in "$DATA_ROOT" "$STATE"; do
    [[ -e "$d" ]] || continue
    rm -rf --one-file-system "$d" && log "removed $d" || failed+=("$d")
  done
  if ((${#failed[@]})); then
    log "could not undo: ${failed[*]}"
    return 1
  fi
  log "host B: nothing left"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) die "usage: engine-b.sh start|stop" ;;
esac
