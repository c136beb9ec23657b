#!/usr/bin/env bash
# housing-portal: write one portal instance's rendered nginx.conf on the data volume, where its
# nginx container binds it read-only at /etc/nginx/nginx.conf (its root file system is read-only,
# so nothing can be copied into it).
#
# Run by Pulumi on the Docker host (`bash -s`, settings in the environment) before the instance's
# nginx container is created, and again whenever the rendered config changes (the container is
# then replaced: it binds the file it found when it was created). Like host/edge-routes.sh for the
# edge's Caddyfile:
#   1. makes $CONFIG_DIR (mode 0755, inside DATA_ROOT);
#   2. writes $CONFIG_DIR/nginx.conf (mode 0644: nginx reads it as its own non-root user) by a
#      rename, only when its content changed.
# Idempotent: a second run with the same settings changes nothing.
#
# It refuses to run when DATA_ROOT is not a mount point (the volume is missing), so that no file
# lands on the root disk; ALLOW_UNMOUNTED=1 overrides that (tests, dev machines).
#
# Settings (environment):
#   NGINX_CONF_B64   required. The rendered nginx.conf, base64.
#   CONFIG_DIR       required. An absolute directory inside DATA_ROOT.
#   DATA_ROOT        default /mnt/data.
#   ALLOW_UNMOUNTED  default 0.
#
# Exit status: 0 when the file holds the given config; 1 on failure; 2 on a bad setting.
set -euo pipefail

readonly PROG=nginx-config
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
usage_error() { printf '%s: invalid setting: %s\n' "$PROG" "$*" >&2; exit 2; }

NGINX_CONF_B64="${NGINX_CONF_B64:-}"
CONFIG_DIR="${CONFIG_DIR:-}"
DATA_ROOT="${DATA_ROOT:-/mnt/data}"
DATA_ROOT="${DATA_ROOT%/}"
ALLOW_UNMOUNTED="${ALLOW_UNMOUNTED:-0}"

[[ -n "$NGINX_CONF_B64" ]] || usage_error "NGINX_CONF_B64 is required"
conf="$(base64 -d <<<"$NGINX_CONF_B64" 2>/dev/null)" || usage_error "NGINX_CONF_B64 is not base64"
[[ -n "$conf" ]] || usage_error "NGINX_CONF_B64 decodes to an empty config"
[[ "$DATA_ROOT" == /* && -n "$DATA_ROOT" ]] || usage_error "DATA_ROOT must be an absolute path other than /, got '$DATA_ROOT'"
[[ "$CONFIG_DIR" == "$DATA_ROOT"/* && "/$CONFIG_DIR/" != */../* ]] ||
  usage_error "CONFIG_DIR must be an absolute directory inside $DATA_ROOT without '..', got '$CONFIG_DIR'"
[[ "$ALLOW_UNMOUNTED" == 0 || "$ALLOW_UNMOUNTED" == 1 ]] || usage_error "ALLOW_UNMOUNTED must be 0 or 1"

[[ -d "$DATA_ROOT" ]] || die "$DATA_ROOT does not exist"
if ! mountpoint -q "$DATA_ROOT"; then
  if [[ "$ALLOW_UNMOUNTED" == 1 ]]; then
    log "warning: $DATA_ROOT is not a mount point (ALLOW_UNMOUNTED=1)"
  else
    die "$DATA_ROOT is not a mount point: the data volume is not mounted; refusing to write on the root disk (ALLOW_UNMOUNTED=1 overrides)"
  fi
fi

mkdir -p "$CONFIG_DIR" || die "cannot create $CONFIG_DIR"
chmod 0755 "$CONFIG_DIR"
file="$CONFIG_DIR/nginx.conf"
if [[ -f "$file" ]] && [[ "$(cat "$file")" == "$conf" ]] && [[ "$(stat -c %a "$file")" == 644 ]]; then
  log "$file is current"
  exit 0
fi
# A rename: a container that binds the old file keeps reading it whole until it is replaced.
tmp="$(mktemp "$file.XXXXXX")" || die "cannot write in $CONFIG_DIR"
if ! { printf '%s\n' "$conf" >"$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" "$file"; }; then
  rm -f "$tmp"
  die "cannot write $file"
fi
log "wrote $file"
