#!/usr/bin/env bash
# housing-portal: remove one instance from the registry of the host's configured instances.
#
# Installed on the host as /usr/local/sbin/housing-portal-unregister-instance. The program runs
# it over SSH when an instance leaves the config. It removes the marker $INSTANCES_DIR/$INSTANCE
# that prepare-instance-dirs.sh wrote, so dump-databases.sh and backup-status.sh no longer
# require a dump of that instance. The instance's data (its directories on the data volume, its
# dumps, its Docker volume) stays where it is. Idempotent: a missing marker is nothing to do.
#
# Settings (environment):
#   INSTANCE       required. A lowercase DNS label: a-z, 0-9, '-', 1-63 characters, no leading
#                  or trailing '-'.
#   INSTANCES_DIR  default /etc/housing-portal/instances. An absolute path, not /.
#
# Exit status: 0 when the instance is not registered (any more); 1 on failure; 2 on a bad setting.
set -euo pipefail

readonly PROG=unregister-instance
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
usage_error() { printf '%s: invalid setting: %s\n' "$PROG" "$*" >&2; exit 2; }

INSTANCE="${INSTANCE:-}"
INSTANCES_DIR="${INSTANCES_DIR:-/etc/housing-portal/instances}"

[[ -n "$INSTANCE" ]] || usage_error "INSTANCE is required"
[[ "$INSTANCE" =~ ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ ]] ||
  usage_error "INSTANCE must be a lowercase DNS label (a-z, 0-9, '-', 1-63 characters, no leading or trailing '-'), got '$INSTANCE'"
[[ "$INSTANCES_DIR" == /* ]] || usage_error "INSTANCES_DIR must be an absolute path, got '$INSTANCES_DIR'"
INSTANCES_DIR="${INSTANCES_DIR%/}"
[[ -n "$INSTANCES_DIR" ]] || usage_error "INSTANCES_DIR must not be /"

marker="$INSTANCES_DIR/$INSTANCE"
if [[ ! -e "$marker" && ! -L "$marker" ]]; then
  log "nothing to do: $INSTANCE is not registered in $INSTANCES_DIR"
  exit 0
fi
if [[ -d "$marker" && ! -L "$marker" ]]; then
  die "$marker is a directory, not a marker file; left alone"
fi
rm -f -- "$marker" || die "cannot remove $marker"
log "unregistered $INSTANCE from $INSTANCES_DIR (its data is left in place)"
