#!/usr/bin/env bash
# housing-portal: keep containers away from the cloud's metadata service.
#
# Installed on a created host as /usr/local/sbin/housing-portal-block-container-metadata and run
# by housing-portal-block-container-metadata.service each time Docker starts. The metadata service
# (169.254.169.254) serves the machine's user data, which holds the host's SSH host key
# (docs/security.md). A container reaches it through Docker's bridge, that is through the host's
# FORWARD chain, which Docker sends through DOCKER-USER first: one rule there refuses what
# containers send to it. The host's own processes (cloud-init, the cloud's agent) are not
# forwarded and keep the service. REJECT, not DROP: a client in a container fails at once.
#
# Idempotent: the rule is inserted once, at the top of DOCKER-USER (created when Docker has not
# made it yet; Docker keeps a chain it finds).
#
# Settings (environment):
#   METADATA_ADDRESS  default 169.254.169.254. The IPv4 address of the metadata service.
#   IPTABLES          default iptables.
#
# Exit status: 0 when the rule is in place; 1 on failure; 2 on a bad setting.
set -euo pipefail

readonly PROG=block-container-metadata
METADATA_ADDRESS="${METADATA_ADDRESS:-169.254.169.254}"
IPTABLES="${IPTABLES:-iptables}"
if [[ ! "$METADATA_ADDRESS" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]]; then
  printf '%s: invalid setting: METADATA_ADDRESS must be an IPv4 address, got %q\n' "$PROG" "$METADATA_ADDRESS" >&2
  exit 2
fi
command -v "$IPTABLES" >/dev/null 2>&1 || { printf '%s: error: %s is not installed\n' "$PROG" "$IPTABLES" >&2; exit 1; }

rule=(-d "$METADATA_ADDRESS/32" -m comment --comment "housing-portal: no metadata service for containers" -j REJECT)
"$IPTABLES" -w -n -L DOCKER-USER >/dev/null 2>&1 || "$IPTABLES" -w -N DOCKER-USER
if "$IPTABLES" -w -C DOCKER-USER "${rule[@]}" 2>/dev/null; then
  echo "$PROG: containers already refused at $METADATA_ADDRESS"
else
  "$IPTABLES" -w -I DOCKER-USER 1 "${rule[@]}"
  echo "$PROG: containers refused at $METADATA_ADDRESS (DOCKER-USER)"
fi
