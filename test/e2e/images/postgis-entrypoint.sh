#!/usr/bin/env bash
# Stand-in for the official postgres/postgis image's docker-entrypoint.sh (e2e tier only), for
# the parts the housing-portal program relies on:
#   - POSTGRES_PASSWORD (required), POSTGRES_USER (default postgres), POSTGRES_DB (default $POSTGRES_USER);
#   - PGDATA=/var/lib/postgresql/data is initialised only when it is EMPTY (initdb refuses anything
#     else); an existing cluster is started as it is, whatever the variables say;
#   - CREATE EXTENSION postgis in POSTGRES_DB at initialisation;
#   - listens on 0.0.0.0 with scram-sha-256 for TCP, trust on the local socket;
#   - runs as postgres; SIGTERM (docker stop) gives a clean "fast" shutdown.
set -Eeuo pipefail

export PGDATA="${PGDATA:-/var/lib/postgresql/data}"

if [[ "${1:-}" != postgres ]]; then exec "$@"; fi

if [[ "$(id -u)" == 0 ]]; then
  # As the official image: create PGDATA, hand it (not its parent) to postgres, then drop root.
  mkdir -p "$PGDATA" /var/run/postgresql
  chmod 0700 "$PGDATA"
  chmod 03775 /var/run/postgresql
  find "$PGDATA" /var/run/postgresql \! -user postgres -exec chown postgres:postgres '{}' +
  exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

log() { printf 'entrypoint: %s\n' "$*" >&2; }

if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
  : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required (the official image refuses to start without it too)}"
  POSTGRES_USER="${POSTGRES_USER:-postgres}"
  POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
  log "initialising an empty $PGDATA"
  pwfile="$(mktemp)"
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb --username="$POSTGRES_USER" --pwfile="$pwfile" -D "$PGDATA" \
    --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >&2
  rm -f "$pwfile"
  printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
  printf "listen_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >&2
  if [[ "$POSTGRES_DB" != postgres ]]; then
    psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres -q --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
  fi
  psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -q -c 'CREATE EXTENSION IF NOT EXISTS postgis;'
  pg_ctl -D "$PGDATA" -m fast -w stop >&2
  log "initialised; database $POSTGRES_DB with postgis"
else
  log "$PGDATA holds a cluster (PG_VERSION $(cat "$PGDATA/PG_VERSION")); starting it as it is"
fi

# postgres runs as a child so that SIGTERM (docker stop) becomes a fast, clean shutdown (SIGINT).
"$@" &
pid=$!
trap 'kill -INT "$pid" 2>/dev/null' TERM INT
status=0
while :; do
  wait "$pid" && status=0 || status=$?
  kill -0 "$pid" 2>/dev/null || break
done
log "postgres exited with status $status"
exit "$status"
