#!/usr/bin/env bash
# housing-portal: give the host's edge proxy (Caddy) its routes, without restarting it.
#
# Run by Pulumi on the Docker host (`bash -s`, settings in the environment), before the edge's
# container exists and again after it is (re)created, and whenever the routes change:
#   1. makes the edge's directories on the data volume: $STORAGE_DIR (mode 0700: certificates,
#      keys and the ACME account) and $CONFIG_DIR (the Caddyfile, bound read-only into the edge);
#      hands $STORAGE_DIR and everything in it to $STORAGE_OWNER (the edge's non-root user), so
#      the certificates of an edge that ran as root keep being served: only what is not owned
#      by it yet changes, symbolic links themselves (never what they point to), on the storage's
#      own file system;
#   2. writes the Caddyfile (and the ACME directory's CA root, when given) atomically, only when
#      its content changed;
#   3. writes instance-networks.caddy, which the Caddyfile imports in every site: requests from
#      the containers on the NETWORKS (their subnets but for the gateways, which are this
#      machine) are aborted: the edge is on each instance's network only to reach its nginx,
#      never to serve that network's containers;
#   4. when the edge's container runs: connects it to every instance network in NETWORKS that it
#      is not on, disconnects it from every other network but its own ($EDGE_NETWORK), and has
#      Caddy reload the Caddyfile. A reload keeps serving every site throughout; a Caddyfile
#      that does not load is refused by Caddy, which keeps the routes it had (this run fails).
# Idempotent: a second run with the same settings changes nothing.
#
# It refuses to run when DATA_ROOT is not a mount point (the volume is missing), so that no
# certificate lands on the root disk; ALLOW_UNMOUNTED=1 overrides that (tests, dev machines).
#
# Settings (environment):
#   EDGE_CONTAINER   required. The edge's container name.
#   EDGE_NETWORK     required. The edge's own network (its published ports); never disconnected.
#   NETWORKS         the instance networks the edge must be on, space-separated (may be empty).
#   CADDYFILE_B64    required. The Caddyfile, base64.
#   CA_ROOT_B64      optional. A PEM root for the ACME directory's TLS, base64; empty: none.
#   DATA_ROOT        default /mnt/data.
#   STORAGE_DIR      default $DATA_ROOT/edge/storage.
#   CONFIG_DIR       default $DATA_ROOT/edge/config.
#   STORAGE_OWNER    uid:gid (numbers) that owns $STORAGE_DIR and everything in it; empty: left as it is.
#   CONFIG_TARGET    default /etc/caddy. Where the edge sees CONFIG_DIR.
#   ALLOW_UNMOUNTED  default 0.
#   DOCKER           default docker. The docker client (tests put a shim here).
#   RELOAD_WAIT_SECONDS  default 120. How long a just-started edge may take to open its admin
#                    endpoint (a failure bound).
#
# Exit status: 0 when the files are written (and, with the edge running, its networks and
# routes are the declared ones); 1 on failure; 2 on a bad setting.
set -euo pipefail

readonly PROG=edge-routes
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
usage_error() { printf '%s: invalid setting: %s\n' "$PROG" "$*" >&2; exit 2; }

EDGE_CONTAINER="${EDGE_CONTAINER:-}"
EDGE_NETWORK="${EDGE_NETWORK:-}"
NETWORKS="${NETWORKS:-}"
CADDYFILE_B64="${CADDYFILE_B64:-}"
CA_ROOT_B64="${CA_ROOT_B64:-}"
DATA_ROOT="${DATA_ROOT:-/mnt/data}"
DATA_ROOT="${DATA_ROOT%/}"
STORAGE_DIR="${STORAGE_DIR:-$DATA_ROOT/edge/storage}"
CONFIG_DIR="${CONFIG_DIR:-$DATA_ROOT/edge/config}"
STORAGE_OWNER="${STORAGE_OWNER:-}"
CONFIG_TARGET="${CONFIG_TARGET:-/etc/caddy}"
ALLOW_UNMOUNTED="${ALLOW_UNMOUNTED:-0}"
DOCKER="${DOCKER:-docker}"
RELOAD_WAIT_SECONDS="${RELOAD_WAIT_SECONDS:-120}"

readonly DOCKER_NAME='^[a-zA-Z0-9][a-zA-Z0-9_.-]+$'
[[ "$EDGE_CONTAINER" =~ $DOCKER_NAME ]] || usage_error "EDGE_CONTAINER must be a Docker container name, got '$EDGE_CONTAINER'"
[[ "$EDGE_NETWORK" =~ $DOCKER_NAME ]] || usage_error "EDGE_NETWORK must be a Docker network name, got '$EDGE_NETWORK'"
for n in $NETWORKS; do
  [[ "$n" =~ $DOCKER_NAME ]] || usage_error "NETWORKS entry '$n' is not a Docker network name"
  [[ "$n" != "$EDGE_NETWORK" ]] || usage_error "NETWORKS must not name the edge's own network $EDGE_NETWORK"
done
[[ -n "$CADDYFILE_B64" ]] || usage_error "CADDYFILE_B64 is required"
caddyfile="$(base64 -d <<<"$CADDYFILE_B64" 2>/dev/null)" || usage_error "CADDYFILE_B64 is not base64"
ca_root=""
if [[ -n "$CA_ROOT_B64" ]]; then
  ca_root="$(base64 -d <<<"$CA_ROOT_B64" 2>/dev/null)" || usage_error "CA_ROOT_B64 is not base64"
fi
[[ "$DATA_ROOT" == /* && -n "$DATA_ROOT" ]] || usage_error "DATA_ROOT must be an absolute path other than /, got '$DATA_ROOT'"
[[ "$STORAGE_DIR" == /* && "$CONFIG_DIR" == /* ]] || usage_error "STORAGE_DIR and CONFIG_DIR must be absolute paths"
[[ -z "$STORAGE_OWNER" || "$STORAGE_OWNER" =~ ^[0-9]+:[0-9]+$ ]] || usage_error "STORAGE_OWNER must be uid:gid in numbers, got '$STORAGE_OWNER'"
[[ "$ALLOW_UNMOUNTED" == 0 || "$ALLOW_UNMOUNTED" == 1 ]] || usage_error "ALLOW_UNMOUNTED must be 0 or 1"
[[ "$RELOAD_WAIT_SECONDS" =~ ^[0-9]+$ ]] || usage_error "RELOAD_WAIT_SECONDS must be a whole number of seconds"

[[ -d "$DATA_ROOT" ]] || die "$DATA_ROOT does not exist"
if ! mountpoint -q "$DATA_ROOT"; then
  if [[ "$ALLOW_UNMOUNTED" == 1 ]]; then
    log "warning: $DATA_ROOT is not a mount point (ALLOW_UNMOUNTED=1)"
  else
    die "$DATA_ROOT is not a mount point: the data volume is not mounted; refusing to keep certificates on the root disk (ALLOW_UNMOUNTED=1 overrides)"
  fi
fi

# ---- files on the data volume -----------------------------------------------------------------
[[ ! -L "$STORAGE_DIR" && ! -L "$CONFIG_DIR" ]] || die "$STORAGE_DIR or $CONFIG_DIR is a symbolic link; refusing to follow it"
mkdir -p "$STORAGE_DIR" "$CONFIG_DIR" || die "cannot create $STORAGE_DIR and $CONFIG_DIR"
# Only when it differs: a chmod changes the inode even when it sets the same mode.
[[ "$(stat -c %a "$STORAGE_DIR")" == 700 ]] || chmod 0700 "$STORAGE_DIR"
[[ "$(stat -c %a "$CONFIG_DIR")" == 755 ]] || chmod 0755 "$CONFIG_DIR"
if [[ -n "$STORAGE_OWNER" ]]; then
  owner_uid="${STORAGE_OWNER%:*}" owner_gid="${STORAGE_OWNER#*:}"
  # find -P (the default) never follows a link; chown -h changes the link itself.
  changed="$(find "$STORAGE_DIR" -xdev \( ! -uid "$owner_uid" -o ! -gid "$owner_gid" \) -print -exec chown -h "$STORAGE_OWNER" {} + | wc -l)" ||
    die "cannot hand $STORAGE_DIR to $STORAGE_OWNER"
  ((changed == 0)) || log "handed $changed entries of $STORAGE_DIR to $STORAGE_OWNER"
fi

# write_file FILE CONTENT: replaces FILE by a rename (a reader sees the old or the new file, never half of one).
write_file() {
  local file="$1" content="$2" tmp
  if [[ -f "$file" ]] && [[ "$(cat "$file")" == "$content" ]]; then return 0; fi
  tmp="$(mktemp "$file.XXXXXX")" || die "cannot write in $(dirname "$file")"
  if ! { printf '%s\n' "$content" >"$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" "$file"; }; then
    rm -f "$tmp"
    die "cannot write $file"
  fi
  log "wrote $file"
}
write_file "$CONFIG_DIR/Caddyfile" "$caddyfile"
if [[ -n "$ca_root" ]]; then
  write_file "$CONFIG_DIR/acme-ca-root.pem" "$ca_root"
elif [[ -e "$CONFIG_DIR/acme-ca-root.pem" ]]; then
  rm -f "$CONFIG_DIR/acme-ca-root.pem"
  log "removed $CONFIG_DIR/acme-ca-root.pem"
fi

# ---- requests from the instance networks are refused ----------------------------------------
# A network's gateway is this machine: what the published ports pass on (docker-proxy) comes from
# there, so it stays allowed; every other address of an instance network is a container.
subnets=() gateways=()
for n in $NETWORKS; do
  pairs="$("$DOCKER" network inspect -f '{{range .IPAM.Config}}{{.Subnet}},{{.Gateway}} {{end}}' "$n")" || die "cannot read the subnets of network $n"
  for p in $pairs; do
    subnets+=("${p%%,*}")
    [[ -z "${p#*,}" ]] || gateways+=("${p#*,}")
  done
done
if ((${#subnets[@]})); then
  write_file "$CONFIG_DIR/instance-networks.caddy" "# Rendered by housing-portal edge-routes.sh: the instance networks' containers.
@from_instance_networks {
	remote_ip ${subnets[*]}${gateways[*]:+
	not remote_ip ${gateways[*]}}
}
abort @from_instance_networks"
else
  write_file "$CONFIG_DIR/instance-networks.caddy" "# Rendered by housing-portal edge-routes.sh: no instance networks."
fi

# ---- the running edge: networks, then routes --------------------------------------------------
running="$("$DOCKER" container inspect -f '{{.State.Running}}' "$EDGE_CONTAINER" 2>/dev/null || true)"
if [[ "$running" != true ]]; then
  log "$EDGE_CONTAINER is not running: it reads the Caddyfile when it starts"
  exit 0
fi
# shellcheck disable=SC2016 # a Go template, not shell
attached="$("$DOCKER" container inspect -f '{{range $name, $_ := .NetworkSettings.Networks}}{{$name}} {{end}}' "$EDGE_CONTAINER")" ||
  die "cannot read the networks of $EDGE_CONTAINER"
for n in $NETWORKS; do
  if [[ " $attached " != *" $n "* ]]; then
    "$DOCKER" network connect "$n" "$EDGE_CONTAINER" || die "cannot connect $EDGE_CONTAINER to $n"
    log "connected $EDGE_CONTAINER to $n"
  fi
done
for n in $attached; do
  [[ "$n" == "$EDGE_NETWORK" || " $NETWORKS " == *" $n "* ]] && continue
  "$DOCKER" network disconnect "$n" "$EDGE_CONTAINER" || die "cannot disconnect $EDGE_CONTAINER from $n"
  log "disconnected $EDGE_CONTAINER from $n"
done
# A container that has just started may not listen on its admin endpoint yet: wait for that
# (the deadline is only a failure bound); any other failure is Caddy refusing the Caddyfile.
deadline=$((SECONDS + RELOAD_WAIT_SECONDS))
until out="$("$DOCKER" exec "$EDGE_CONTAINER" caddy reload --config "$CONFIG_TARGET/Caddyfile" --adapter caddyfile 2>&1)"; do
  if [[ "$out" == *"connection refused"* ]] && ((SECONDS < deadline)); then
    sleep 0.2
    continue
  fi
  printf '%s\n' "$out" >&2
  die "Caddy refused the Caddyfile; it keeps serving the routes it had"
done
log "reloaded $EDGE_CONTAINER"
