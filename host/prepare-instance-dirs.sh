#!/usr/bin/env bash
# housing-portal: create one portal instance's directories on the data volume.
#
# Installed on the host as /usr/local/sbin/housing-portal-prepare-instance-dirs. Creates
# $DATA_ROOT/<kind>/$INSTANCE for every kind in DATA_DIRS (the bind-mount sources of that
# instance's containers). The postgis directory is mode 0700 (and owned by POSTGIS_OWNER when
# set). Idempotent: existing directories and their contents are left alone.
#
# It refuses to run when DATA_ROOT is not a mount point (the volume is missing), so that nothing
# lands on the root disk; ALLOW_UNMOUNTED=1 overrides that (tests, dev machines).
#
# Settings (environment):
#   INSTANCE         required. A lowercase DNS label: a-z, 0-9, '-', 1-63 characters, no
#                    leading or trailing '-'.
#   DATA_ROOT        default /mnt/data.
#   DATA_DIRS        default "imports exports images drone tiles postgis backups media
#                    staticfiles docs drone-viewer" (the same list as mount-data-volume.sh).
#   POSTGIS_OWNER    optional uid[:gid] for $DATA_ROOT/postgis/$INSTANCE (e.g. 999:999).
#   ALLOW_UNMOUNTED  default 0.
#
# Exit status: 0 when every directory exists; 1 on failure; 2 on a bad setting.
set -euo pipefail

readonly PROG=prepare-instance-dirs
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
usage_error() { printf '%s: invalid setting: %s\n' "$PROG" "$*" >&2; exit 2; }

INSTANCE="${INSTANCE:-}"
DATA_ROOT="${DATA_ROOT:-/mnt/data}"
DATA_DIRS="${DATA_DIRS:-imports exports images drone tiles postgis backups media staticfiles docs drone-viewer}"
POSTGIS_OWNER="${POSTGIS_OWNER:-}"
ALLOW_UNMOUNTED="${ALLOW_UNMOUNTED:-0}"

[[ -n "$INSTANCE" ]] || usage_error "INSTANCE is required"
[[ "$INSTANCE" =~ ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ ]] ||
  usage_error "INSTANCE must be a lowercase DNS label (a-z, 0-9, '-', 1-63 characters, no leading or trailing '-'), got '$INSTANCE'"
[[ "$DATA_ROOT" == /* ]] || usage_error "DATA_ROOT must be an absolute path, got '$DATA_ROOT'"
DATA_ROOT="${DATA_ROOT%/}"
[[ -n "$DATA_ROOT" ]] || usage_error "DATA_ROOT must not be /"
[[ "$ALLOW_UNMOUNTED" == 0 || "$ALLOW_UNMOUNTED" == 1 ]] || usage_error "ALLOW_UNMOUNTED must be 0 or 1"
[[ -z "$POSTGIS_OWNER" || "$POSTGIS_OWNER" =~ ^[0-9]+(:[0-9]+)?$ ]] || usage_error "POSTGIS_OWNER must be uid or uid:gid, got '$POSTGIS_OWNER'"
for d in $DATA_DIRS; do
  [[ "$d" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] || usage_error "DATA_DIRS entry '$d' is not a plain directory name"
done

[[ -d "$DATA_ROOT" ]] || die "$DATA_ROOT does not exist"
if ! mountpoint -q "$DATA_ROOT"; then
  if [[ "$ALLOW_UNMOUNTED" == 1 ]]; then
    log "warning: $DATA_ROOT is not a mount point (ALLOW_UNMOUNTED=1)"
  else
    die "$DATA_ROOT is not a mount point: the data volume is not mounted; refusing to create anything on the root disk (ALLOW_UNMOUNTED=1 overrides)"
  fi
fi

created=()
for kind in $DATA_DIRS; do
  dir="$DATA_ROOT/$kind/$INSTANCE"
  if [[ ! -d "$dir" ]]; then
    if [[ "$kind" == postgis ]]; then
      mkdir -p "$DATA_ROOT/$kind"
      mkdir -m 0700 "$dir"
    else
      mkdir -p "$dir"
    fi
    created+=("$kind/$INSTANCE")
  fi
  if [[ "$kind" == postgis ]]; then
    chmod 0700 "$dir"
    [[ -z "$POSTGIS_OWNER" ]] || chown "$POSTGIS_OWNER" "$dir"
  fi
done

if ((${#created[@]})); then
  log "created under $DATA_ROOT: ${created[*]}"
else
  log "nothing to do: every directory of $INSTANCE exists under $DATA_ROOT"
fi
