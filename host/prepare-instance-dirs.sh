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
# With DOCKER_VOLUME set, it also makes sure the Docker engine has that volume as a local volume
# bound to $DATA_ROOT/postgis/$INSTANCE (a replaced machine has a new, empty engine, and a
# container that mounts a missing volume would get a plain one under /var/lib/docker, on the
# root disk): a missing volume is created (driver local, type=none, o=bind, device=<that dir>,
# labels housing-portal.instance=$INSTANCE and housing-portal.role=postgis); an existing one must
# be exactly that, or the run fails naming the volume and both paths. It never removes a volume.
#
# Last, it registers the instance: an empty file $INSTANCES_DIR/$INSTANCE (mode 0644), whose
# name tells dump-databases.sh and backup-status.sh that this instance must have a dump
# (unregister-instance.sh removes it).
#
# Settings (environment):
#   INSTANCE         required. A lowercase DNS label: a-z, 0-9, '-', 1-63 characters, no
#                    leading or trailing '-'.
#   DATA_ROOT        default /mnt/data.
#   DATA_DIRS        default "imports exports images drone tiles postgis backups media
#                    staticfiles docs drone-viewer" (the same list as mount-data-volume.sh).
#   POSTGIS_OWNER    optional uid[:gid] for $DATA_ROOT/postgis/$INSTANCE (e.g. 999:999).
#   ALLOW_UNMOUNTED  default 0.
#   DOCKER_VOLUME    optional. The instance's PostGIS Docker volume, e.g.
#                    housing-portal-peru-postgis-data ([a-zA-Z0-9][a-zA-Z0-9_.-]+). Unset: no
#                    docker call at all.
#   DOCKER           default docker. The docker client (tests put a shim here).
#   INSTANCES_DIR    default /etc/housing-portal/instances. The registry of configured instances
#                    (directory mode 0755); an absolute path, not /.
#
# Exit status: 0 when every directory exists (and the volume is right, and the instance is
# registered); 1 on failure; 2 on a bad setting.
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
DOCKER_VOLUME="${DOCKER_VOLUME:-}"
DOCKER="${DOCKER:-docker}"
INSTANCES_DIR="${INSTANCES_DIR:-/etc/housing-portal/instances}"

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
[[ -z "$DOCKER_VOLUME" || "$DOCKER_VOLUME" =~ ^[a-zA-Z0-9][a-zA-Z0-9_.-]+$ ]] ||
  usage_error "DOCKER_VOLUME must be a Docker volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]+), got '$DOCKER_VOLUME'"
if [[ -n "$DOCKER_VOLUME" ]]; then
  [[ " $DATA_DIRS " == *" postgis "* ]] || usage_error "DOCKER_VOLUME needs postgis in DATA_DIRS (it is bound to $DATA_ROOT/postgis/$INSTANCE)"
  [[ -n "$DOCKER" ]] || usage_error "DOCKER is empty"
fi
[[ "$INSTANCES_DIR" == /* ]] || usage_error "INSTANCES_DIR must be an absolute path, got '$INSTANCES_DIR'"
INSTANCES_DIR="${INSTANCES_DIR%/}"
[[ -n "$INSTANCES_DIR" ]] || usage_error "INSTANCES_DIR must not be /"

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

# ---- the PostGIS Docker volume, bound to the instance's directory on the data volume ---------
volume_matches() { # volume_matches: is DOCKER_VOLUME local and bound to $pgdir? Sets $actual.
  local json driver device type opts
  json="$("$DOCKER" volume inspect "$DOCKER_VOLUME")" || die "'$DOCKER volume inspect $DOCKER_VOLUME' failed"
  driver="$(jq -r '.[0].Driver // ""' <<<"$json")" || die "cannot read the output of '$DOCKER volume inspect $DOCKER_VOLUME'"
  device="$(jq -r '.[0].Options.device // ""' <<<"$json")"
  type="$(jq -r '.[0].Options.type // ""' <<<"$json")"
  opts="$(jq -r '.[0].Options.o // ""' <<<"$json")"
  # Where its data lives: the bound directory, or else the engine's own directory for it.
  actual="${device:-$(jq -r '.[0].Mountpoint // "?"' <<<"$json")}"
  actual_desc="driver $driver, type ${type:-(none)}, o ${opts:-(none)}, data in $actual"
  [[ "$driver" == local && "$type" == none && ",$opts," == *,bind,* && -n "$device" ]] || return 1
  [[ "$(realpath -m -- "$device")" == "$(realpath -m -- "$pgdir")" ]]
}

if [[ -n "$DOCKER_VOLUME" ]]; then
  command -v jq >/dev/null 2>&1 || die "required tool 'jq' is not installed (needed for DOCKER_VOLUME)"
  pgdir="$DATA_ROOT/postgis/$INSTANCE"
  names="$("$DOCKER" volume ls -q)" || die "'$DOCKER volume ls' failed: cannot check Docker volume $DOCKER_VOLUME"
  actual="" actual_desc=""
  if grep -qxF -- "$DOCKER_VOLUME" <<<"$names"; then
    volume_matches ||
      die "Docker volume $DOCKER_VOLUME exists but is not bound to $pgdir ($actual_desc): a container would keep the database at $actual instead of on the data volume; check what it holds, move it to $pgdir if needed, remove the volume (docker volume rm $DOCKER_VOLUME) and run this again"
    log "Docker volume $DOCKER_VOLUME is bound to $pgdir"
  else
    "$DOCKER" volume create --driver local --opt type=none --opt o=bind --opt "device=$pgdir" \
      --label "housing-portal.instance=$INSTANCE" --label housing-portal.role=postgis "$DOCKER_VOLUME" >/dev/null ||
      die "'$DOCKER volume create $DOCKER_VOLUME' failed"
    volume_matches || die "Docker volume $DOCKER_VOLUME was created but is not bound to $pgdir ($actual_desc)"
    log "created Docker volume $DOCKER_VOLUME bound to $pgdir"
  fi
fi

# ---- the registry of configured instances ------------------------------------------------------
marker="$INSTANCES_DIR/$INSTANCE"
{ mkdir -p "$INSTANCES_DIR" && chmod 0755 "$INSTANCES_DIR"; } || die "cannot create $INSTANCES_DIR"
if [[ ! -e "$marker" ]]; then
  (umask 022 && : >"$marker") || die "cannot create $marker"
  log "registered $INSTANCE in $INSTANCES_DIR"
fi
[[ -f "$marker" ]] || die "$marker exists but is not a regular file"
chmod 0644 "$marker"
