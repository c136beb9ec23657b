#!/usr/bin/env bash
# housing-portal: give a PostGIS container's database user the password its settings declare.
#
# Run by `pulumi up` (through the program's host command) whenever an instance's PostGIS container
# is created or replaced. PostgreSQL reads POSTGRES_PASSWORD only when it initialises an empty
# data directory: a database that outlived its instance's config entry (removed, then added
# again) or a rotated password would otherwise leave the backend locked out of its own data.
#
# What it does: runs, inside CONTAINER, over PostgreSQL's local socket (trusted in the official
# image, as the dump and snapshot scripts use it):
#   ALTER ROLE "$POSTGRES_USER" PASSWORD '$POSTGRES_PASSWORD'
# with both values read from the container's own environment by psql (\set from printenv), so the
# password is never on a command line, in this script's settings or in its output. It retries
# until the server accepts the statement (a first start initialises the cluster and restarts the
# server), for at most WAIT_SECONDS.
#
# Settings (environment):
#   CONTAINER      required. The PostGIS container's name.
#   WAIT_SECONDS   default 180. How long to keep trying while the server starts.
#   DOCKER         default docker. The docker client (tests put a shim here).
#
# Exit status: 0 when the role has the declared password; 1 when it could not be set in time;
# 2 on a bad setting.
set -euo pipefail

readonly PROG=sync-db-password
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
usage_error() { printf '%s: invalid setting: %s\n' "$PROG" "$*" >&2; exit 2; }

CONTAINER="${CONTAINER:-}"
WAIT_SECONDS="${WAIT_SECONDS:-180}"
DOCKER="${DOCKER:-docker}"

[[ "$CONTAINER" =~ ^[a-zA-Z0-9][a-zA-Z0-9_.-]+$ ]] || usage_error "CONTAINER must be a container name, got '$CONTAINER'"
[[ "$WAIT_SECONDS" =~ ^[0-9]+$ ]] || usage_error "WAIT_SECONDS must be a whole number of seconds, got '$WAIT_SECONDS'"

# Inside the container: refuse an empty password, then let psql read and quote both values.
# shellcheck disable=SC2016 # expanded by the container's shell, not this one
# Exit status 65 means a setting is missing there: retrying cannot help (psql itself uses 1 to 3).
readonly IN_CONTAINER='for v in POSTGRES_USER POSTGRES_PASSWORD; do
  [ -n "$(printenv "$v")" ] || { echo "$v is not set in the container" >&2; exit 65; }
done
exec psql -X -q -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "${POSTGRES_DB:-$POSTGRES_USER}"'
# shellcheck disable=SC2016 # psql runs the backquoted printenv, inside the container
readonly SQL='\set role `printenv POSTGRES_USER`
\set password `printenv POSTGRES_PASSWORD`
ALTER ROLE :"role" PASSWORD :'"'"'password'"'"';'

deadline=$((SECONDS + WAIT_SECONDS))
attempt=0
while :; do
  attempt=$((attempt + 1))
  status=0
  out="$(printf '%s\n' "$SQL" | "$DOCKER" exec -i "$CONTAINER" sh -c "$IN_CONTAINER" 2>&1)" || status=$?
  if ((status == 0)); then
    log "the database user of $CONTAINER has its declared password (attempt $attempt)"
    exit 0
  fi
  ((status == 65)) && die "$out"
  ((SECONDS < deadline)) || die "could not set the password in $CONTAINER within ${WAIT_SECONDS}s; last answer: $out"
  sleep 2
done
