#!/usr/bin/env bash
# Setup of the e2e tier (`npm run test:e2e`), idempotent, as root. Fails loudly, never skips:
#   1. installs Debian's docker.io, debootstrap and the tools the host scripts use, when missing;
#   2. starts dockerd in the background when `docker info` fails, and records that this tier
#      started it in $STARTED_FILE (cleanup.sh stops it again only then);
#   3. builds the stand-in images (images/build.sh; cached by content, no registry);
#   4. checks that loop devices can be attached.
# The loop-device file system itself is made and mounted by each test file (harness.ts), with
# the real host/mount-data-volume.sh.
#
# Settings (environment): none.
set -euo pipefail

readonly PROG=e2e-setup
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE_DIR=/run/housing-portal-e2e
STARTED_FILE="$STATE_DIR/dockerd.pid"
DOCKERD_LOG=/var/log/housing-portal-e2e-dockerd.log

[[ "$(id -u)" == 0 ]] || die "the e2e tier must run as root (dockerd, loop devices, mount, chattr, fsfreeze)"
[[ "$(uname -s)" == Linux ]] || die "the e2e tier needs Linux"

export DEBIAN_FRONTEND=noninteractive
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
updated=0
ensure() {
  local missing=() p
  for p in "$@"; do installed "$p" || missing+=("$p"); done
  ((${#missing[@]})) || return 0
  if ((!updated)); then
    apt-get -q -o DPkg::Lock::Timeout=600 update || die "apt-get update failed"
    updated=1
  fi
  log "installing ${missing[*]}"
  apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}" || die "apt-get install ${missing[*]} failed"
}
# docker.io brings dockerd, containerd and runc; iptables for its networks; the rest is what the
# host scripts and the drills use (losetup, mkfs.ext4, chattr, fsfreeze, flock, curl, jq), the
# existing host's machine (unshare; sudo, which a cloud image has too), and the edge's: pebble
# (the ACME test CA and its mock DNS) and openssl (its listener's certificate); restic for the
# off-site drill (openssl also makes its storage's certificate); libcap2-bin (setcap) for the
# stand-in caddy's file capability; iproute2 (ip netns, veth) for host B's engine (engine-b.sh).
ensure docker.io iptables debootstrap util-linux mount e2fsprogs coreutils findutils curl jq ca-certificates tar sudo pebble openssl restic libcap2-bin iproute2

# ---- the engine ------------------------------------------------------------------------------
mkdir -p "$STATE_DIR"
if docker info >/dev/null 2>&1; then
  log "a Docker engine is running: $(docker version -f '{{.Server.Version}}' 2>/dev/null)"
else
  if [[ -s "$STARTED_FILE" ]] && kill -0 "$(cat "$STARTED_FILE")" 2>/dev/null; then
    log "dockerd started earlier by this tier (pid $(cat "$STARTED_FILE")) is not answering yet"
  else
    command -v dockerd >/dev/null || die "dockerd is missing although docker.io is installed"
    log "starting dockerd (log: $DOCKERD_LOG)"
    rm -f /var/run/docker.pid # a stale one from a dead daemon (no systemd here)
    setsid dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
    echo "$!" >"$STARTED_FILE"
  fi
  # Wait for the condition (the engine answers); the deadline is only a failure bound.
  deadline=$((SECONDS + 300))
  until docker info >/dev/null 2>&1; do
    kill -0 "$(cat "$STARTED_FILE")" 2>/dev/null || { tail -n 30 "$DOCKERD_LOG" >&2; die "dockerd exited at start"; }
    ((SECONDS < deadline)) || { tail -n 30 "$DOCKERD_LOG" >&2; die "dockerd did not answer within the failure bound of 300 s"; }
    sleep 0.2
  done
  log "dockerd is up (pid $(cat "$STARTED_FILE"), started by this tier)"
fi

# ---- loop devices ----------------------------------------------------------------------------
[[ -e /dev/loop-control ]] || modprobe loop 2>/dev/null || true
[[ -e /dev/loop-control ]] || die "/dev/loop-control is missing: this machine cannot attach loop devices"
probe="$(mktemp /var/tmp/hp-e2e-loopprobe.XXXXXX)"
truncate -s 1M "$probe"
dev="$(losetup --find --show "$probe" 2>&1)" || { rm -f "$probe"; die "cannot attach a loop device: $dev"; }
losetup -d "$dev"
rm -f "$probe"

# ---- images ----------------------------------------------------------------------------------
started=$SECONDS
bash "$HERE/images/build.sh"
log "images ready ($((SECONDS - started)) s)"
