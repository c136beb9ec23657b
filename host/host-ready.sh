#!/usr/bin/env bash
# housing-portal: is this host ready for the portal's containers? Pulumi's gate before any
# Docker resource: it waits for cloud-init to finish (where cloud-init exists), then checks that
# DATA_ROOT is a mount point (the block volume is there) and that the Docker engine answers.
#
# Run over SSH by the program (fed on standard input), or by hand.
#
# Settings (environment):
#   DATA_ROOT       default /mnt/data. Must be a mount point.
#   WAIT_SECONDS    default 1200. How long to wait for cloud-init and for Docker.
#   DOCKER          default docker. The docker client (tests put a shim here).
#   CLOUD_INIT      default cloud-init. Skipped when the command does not exist (a host that
#                   was not built by cloud-init, the `existing` host mode), or when it reports
#                   that it does not run on this host (`status: not run` or `disabled`).
#
# Exit status: 0 when ready; 1 with a one-line reason otherwise; 2 on a bad setting.
set -euo pipefail

readonly PROG=host-ready
die() { printf '%s: not ready: %s\n' "$PROG" "$*" >&2; exit 1; }
usage_error() { printf '%s: invalid setting: %s\n' "$PROG" "$*" >&2; exit 2; }

DATA_ROOT="${DATA_ROOT:-/mnt/data}"
WAIT_SECONDS="${WAIT_SECONDS:-1200}"
DOCKER="${DOCKER:-docker}"
CLOUD_INIT="${CLOUD_INIT:-cloud-init}"

[[ "$DATA_ROOT" == /* && "$DATA_ROOT" != / ]] || usage_error "DATA_ROOT must be an absolute path other than /, got '$DATA_ROOT'"
[[ "$WAIT_SECONDS" =~ ^[0-9]+$ ]] || usage_error "WAIT_SECONDS must be a whole number, got '$WAIT_SECONDS'"
deadline=$((SECONDS + WAIT_SECONDS))

if command -v "$CLOUD_INIT" >/dev/null 2>&1 && [[ "$("$CLOUD_INIT" status 2>/dev/null || true)" =~ status:\ (not\ run|disabled) ]]; then
  # Installed but not run on this boot (an existing host whose image has it disabled):
  # `status --wait` would wait for it forever. A created host is never here: its pinned SSH key
  # is one cloud-init writes, so by the time this runs over SSH cloud-init has started.
  echo "$PROG: cloud-init is installed but does not run on this host: not waiting for it" >&2
elif command -v "$CLOUD_INIT" >/dev/null 2>&1; then
  # `status --wait` exits non-zero when cloud-init finished with errors (for example the
  # mount script failed): that host is not ready.
  timeout "$WAIT_SECONDS" "$CLOUD_INIT" status --wait >/dev/null || die "cloud-init did not finish cleanly ($("$CLOUD_INIT" status 2>/dev/null | tr '\n' ' '))"
fi

mountpoint -q "$DATA_ROOT" || die "$DATA_ROOT is not a mount point: the data volume is missing"

until "$DOCKER" info >/dev/null 2>&1; do
  ((SECONDS < deadline)) || die "the Docker engine does not answer"
  sleep 2
done

echo "$PROG: ready: $DATA_ROOT is mounted and Docker answers"
