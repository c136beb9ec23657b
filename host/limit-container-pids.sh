#!/usr/bin/env bash
# housing-portal: limit how many processes and threads each named container may have at once
# (its pids cgroup, `docker update --pids-limit`), so a fork bomb or a runaway worker pool in one
# container cannot exhaust the host's process table for every other portal.
#
# Run by Pulumi on the Docker host (`bash -s`, settings in the environment) right after the
# containers are created, and again whenever one of them is recreated (the command is triggered
# by their ids): Pulumi's Docker provider (5.2) has no input for the limit. The engine keeps it in
# the container's configuration, so it holds across restarts of the container and of the engine.
# A container is unlimited from its start until this run, a few seconds.
#
# For each container in LIMITS: reads its current limit and sets it only when it differs, then
# reads it back. Idempotent: a second run with the same settings changes nothing.
#
# Settings (environment):
#   LIMITS   required. Space-separated <container>=<limit> pairs, e.g.
#            "housing-portal-peru-nginx=128 housing-portal-peru-backend=256"; limit 1 or more.
#   DOCKER   default docker. The docker client (tests put a shim here).
#
# Exit status: 0 when every container has its limit; 1 on failure (a container missing); 2 on a
# bad setting.
set -euo pipefail

readonly PROG=limit-container-pids
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
usage_error() { printf '%s: invalid setting: %s\n' "$PROG" "$*" >&2; exit 2; }

LIMITS="${LIMITS:-}"
DOCKER="${DOCKER:-docker}"

readonly PAIR='^([a-zA-Z0-9][a-zA-Z0-9_.-]+)=([1-9][0-9]{0,8})$'
[[ -n "$LIMITS" ]] || usage_error "LIMITS is required: <container>=<limit> pairs"
for pair in $LIMITS; do
  [[ "$pair" =~ $PAIR ]] || usage_error "LIMITS entry '$pair' is not <container>=<limit> (a Docker container name, a whole number from 1)"
done

for pair in $LIMITS; do
  [[ "$pair" =~ $PAIR ]]
  name="${BASH_REMATCH[1]}" limit="${BASH_REMATCH[2]}"
  current="$("$DOCKER" container inspect -f '{{.HostConfig.PidsLimit}}' "$name")" || die "cannot read the limits of container $name"
  if [[ "$current" == "$limit" ]]; then
    log "$name: at most $limit processes (unchanged)"
    continue
  fi
  "$DOCKER" update --pids-limit "$limit" "$name" >/dev/null || die "cannot set the process limit of container $name"
  now="$("$DOCKER" container inspect -f '{{.HostConfig.PidsLimit}}' "$name")" || die "cannot read the limits of container $name"
  [[ "$now" == "$limit" ]] || die "$name: the engine reports a process limit of '$now' after setting $limit"
  log "$name: at most $limit processes (was ${current:-unlimited})"
done
