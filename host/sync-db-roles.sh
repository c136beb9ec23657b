#!/usr/bin/env bash
# housing-portal: give a PostGIS container's database its two roles, as its settings declare.
#
# Run by `pulumi up` (through the program's host command) whenever an instance's PostGIS container
# is created or replaced, before the backend starts. The roles:
#   - POSTGRES_USER (the program sets "postgres"): the superuser, with POSTGRES_PASSWORD. Only the
#     host's maintenance uses it (this script, dumps, CHECKPOINT), over the local socket.
#   - PORTAL_DB_USER: the backend's role, with PORTAL_DB_PASSWORD: it logs in and owns the
#     database POSTGRES_DB and everything in it but extensions, and is nothing more: no
#     superuser, no CREATEROLE, no CREATEDB, no replication, so no `COPY … PROGRAM` either.
# PostgreSQL reads POSTGRES_PASSWORD only when it initialises an empty data directory: a database
# that outlived its instance's config entry, or a rotated password, would otherwise leave the
# backend locked out of its own data. Every run sets both passwords again.
#
# A database from before the roles were split has one role: its bootstrap superuser, named
# PORTAL_DB_USER, which owns everything. This script migrates it: a temporary superuser renames
# the bootstrap superuser to POSTGRES_USER, PORTAL_DB_USER is created anew as the backend's role,
# and the database and its objects are handed to it (the objects owned by the superuser, except
# extensions' members and PostgreSQL's own schemas; a table takes its own sequences along).
#
# What it does: runs, inside CONTAINER, psql over PostgreSQL's local socket (trusted in the
# official image, as the dump and snapshot scripts use it), with every value read from the
# container's own environment by psql (\set from printenv), so no password is ever on a command
# line, in this script's settings or in its output. It retries until the server accepts the
# statements (a first start initialises the cluster and restarts the server), for at most
# WAIT_SECONDS.
#
# Settings (environment):
#   CONTAINER      required. The PostGIS container's name.
#   WAIT_SECONDS   default 180. How long to keep trying while the server starts.
#   DOCKER         default docker. The docker client (tests put a shim here).
#
# Exit status: 0 when both roles are as declared; 1 when they could not be set in time, or the
# container's settings are missing; 2 on a bad setting.
set -euo pipefail

readonly PROG=sync-db-roles
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
usage_error() { printf '%s: invalid setting: %s\n' "$PROG" "$*" >&2; exit 2; }

CONTAINER="${CONTAINER:-}"
WAIT_SECONDS="${WAIT_SECONDS:-180}"
DOCKER="${DOCKER:-docker}"

[[ "$CONTAINER" =~ ^[a-zA-Z0-9][a-zA-Z0-9_.-]+$ ]] || usage_error "CONTAINER must be a container name, got '$CONTAINER'"
[[ "$WAIT_SECONDS" =~ ^[0-9]+$ ]] || usage_error "WAIT_SECONDS must be a whole number of seconds, got '$WAIT_SECONDS'"

# The statements, as the superuser. psql reads and quotes every value; the DO block gets the role
# names through settings of the session, since psql does not interpolate inside it.
read -r -d '' SQL_ROLES <<'SQL' || true
\set superuser `printenv POSTGRES_USER`
\set superuser_password `printenv POSTGRES_PASSWORD`
\set app `printenv PORTAL_DB_USER`
\set app_password `printenv PORTAL_DB_PASSWORD`
\set db `printenv POSTGRES_DB`
ALTER ROLE :"superuser" PASSWORD :'superuser_password';
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app') AS app_missing \gset
\if :app_missing
CREATE ROLE :"app";
\endif
ALTER ROLE :"app" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'app_password';
ALTER DATABASE :"db" OWNER TO :"app";
SET housing_portal.app = :'app';
SET housing_portal.superuser = :'superuser';
DO $$
DECLARE
  app text := current_setting('housing_portal.app');
  su oid := (SELECT oid FROM pg_roles WHERE rolname = current_setting('housing_portal.superuser'));
  own record;
BEGIN
  FOR own IN
    WITH user_schemas AS (
      SELECT oid, nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\_%' AND nspname <> 'information_schema'
    ), members AS ( -- objects of extensions (deptype e), and those that follow another object (a, i)
      SELECT classid, objid FROM pg_depend WHERE deptype IN ('e', 'a', 'i')
    )
    SELECT format('ALTER SCHEMA %I OWNER TO %I', s.nspname, app) AS stmt
      FROM user_schemas s JOIN pg_namespace n ON n.oid = s.oid
      WHERE n.nspowner = su AND (('pg_namespace'::regclass, n.oid) NOT IN (SELECT * FROM members))
    UNION ALL
    SELECT format('ALTER %s %I.%I OWNER TO %I',
        CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
          WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, s.nspname, c.relname, app)
      FROM pg_class c JOIN user_schemas s ON s.oid = c.relnamespace
      WHERE c.relowner = su AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
        AND (('pg_class'::regclass, c.oid) NOT IN (SELECT * FROM members))
    UNION ALL
    SELECT format('ALTER ROUTINE %s OWNER TO %I', p.oid::regprocedure, app)
      FROM pg_proc p JOIN user_schemas s ON s.oid = p.pronamespace
      WHERE p.proowner = su AND p.prokind IN ('f', 'p')
        AND (('pg_proc'::regclass, p.oid) NOT IN (SELECT * FROM members))
    UNION ALL
    SELECT format('ALTER TYPE %s OWNER TO %I', t.oid::regtype, app)
      FROM pg_type t JOIN user_schemas s ON s.oid = t.typnamespace
      WHERE t.typowner = su AND t.typtype IN ('d', 'e', 'r')
        AND (('pg_type'::regclass, t.oid) NOT IN (SELECT * FROM members))
  LOOP
    EXECUTE own.stmt;
  END LOOP;
END $$;
DROP ROLE IF EXISTS housing_portal_migrate;
SQL
readonly SQL_ROLES

# The migration, as the bootstrap superuser of a database from before the split: a temporary
# superuser, since no session can rename its own role.
read -r -d '' SQL_MIGRATE_START <<'SQL' || true
DROP ROLE IF EXISTS housing_portal_migrate;
CREATE ROLE housing_portal_migrate SUPERUSER LOGIN;
SQL
readonly SQL_MIGRATE_START
read -r -d '' SQL_MIGRATE_RENAME <<'SQL' || true
\set superuser `printenv POSTGRES_USER`
\set app `printenv PORTAL_DB_USER`
ALTER ROLE :"app" RENAME TO :"superuser";
SQL
readonly SQL_MIGRATE_RENAME

# Inside the container: refuse a missing setting (exit 65: retrying cannot help; psql itself uses
# 1 to 3), migrate a database that has no POSTGRES_USER role, then set both roles.
read -r -d '' IN_CONTAINER <<'SH' || true
for v in POSTGRES_USER POSTGRES_PASSWORD POSTGRES_DB PORTAL_DB_USER PORTAL_DB_PASSWORD; do
  [ -n "$(printenv "$v")" ] || { echo "$v is not set in the container" >&2; exit 65; }
done
[ "$POSTGRES_USER" != "$PORTAL_DB_USER" ] || { echo "PORTAL_DB_USER must not be the superuser POSTGRES_USER" >&2; exit 65; }
run() { psql -X -q -v ON_ERROR_STOP=1 -U "$1" -d "$POSTGRES_DB"; }
if ! probe="$(psql -X -q -U "$POSTGRES_USER" -d "$POSTGRES_DB" -Atc "select 1" 2>&1)"; then
  case "$probe" in
    *"role \"$POSTGRES_USER\" does not exist"*)
      neither="the database has neither the superuser $POSTGRES_USER nor a bootstrap superuser named $PORTAL_DB_USER"
      if ! bootstrap="$(psql -X -q -U "$PORTAL_DB_USER" -d "$POSTGRES_DB" -Atc "select rolsuper and oid = 10 from pg_roles where rolname = current_user" 2>&1)"; then
        case "$bootstrap" in *"role \"$PORTAL_DB_USER\" does not exist"*) echo "$neither" >&2; exit 65 ;; esac
        echo "$bootstrap" >&2; exit 1
      fi
      [ "$bootstrap" = t ] || { echo "$neither" >&2; exit 65; }
      echo "migrating: the bootstrap superuser $PORTAL_DB_USER becomes $POSTGRES_USER, $PORTAL_DB_USER the backend's role" >&2
      printf "%s\n" "$SQL_MIGRATE_START" | run "$PORTAL_DB_USER" || exit $?
      printf "%s\n" "$SQL_MIGRATE_RENAME" | run housing_portal_migrate || exit $? ;;
    *) echo "$probe" >&2; exit 1 ;;
  esac
fi
printf "%s\n" "$SQL_ROLES" | run "$POSTGRES_USER"
SH
readonly IN_CONTAINER

deadline=$((SECONDS + WAIT_SECONDS))
attempt=0
while :; do
  attempt=$((attempt + 1))
  status=0
  out="$("$DOCKER" exec -e SQL_ROLES="$SQL_ROLES" -e SQL_MIGRATE_START="$SQL_MIGRATE_START" -e SQL_MIGRATE_RENAME="$SQL_MIGRATE_RENAME" \
    "$CONTAINER" sh -c "$IN_CONTAINER" </dev/null 2>&1)" || status=$?
  if ((status == 0)); then
    [[ -z "$out" ]] || log "$out"
    log "$CONTAINER: the superuser and the backend's role are as declared (attempt $attempt)"
    exit 0
  fi
  ((status == 65)) && die "$out"
  ((SECONDS < deadline)) || die "could not set the roles in $CONTAINER within ${WAIT_SECONDS}s; last answer: $out"
  sleep 2
done
