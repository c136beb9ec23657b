#!/usr/bin/env bash
# housing-portal: install the Debian/Ubuntu packages the host's backup scripts need (restic for
# the off-site copies), once; a package already installed is left alone.
#
# Run over SSH by the program (fed on standard input) when the stack declares off-site copies, on
# created and existing hosts alike: a first boot's user data cannot gain a package without
# replacing the machine.
#
# Settings (environment):
#   PACKAGES   required. Space-separated package names.
#   APT_GET    default apt-get.   DPKG_QUERY  default dpkg-query. (tests put shims here)
#
# Exit status: 0 when every package is installed; 1 when apt-get failed; 2 on a bad setting.
set -euo pipefail

readonly PROG=install-packages
PACKAGES="${PACKAGES:-}"
APT_GET="${APT_GET:-apt-get}"
DPKG_QUERY="${DPKG_QUERY:-dpkg-query}"
[[ "$PACKAGES" =~ ^[a-z0-9][a-z0-9.+-]+( [a-z0-9][a-z0-9.+-]+)*$ ]] ||
  { printf '%s: invalid setting: PACKAGES must be package names separated by spaces, got %q\n' "$PROG" "$PACKAGES" >&2; exit 2; }

missing=()
for p in $PACKAGES; do
  # shellcheck disable=SC2016 # dpkg-query's own format, not a shell expansion
  "$DPKG_QUERY" -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "$PROG: already installed: $PACKAGES"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
"$APT_GET" -q -o DPkg::Lock::Timeout=600 update >&2
"$APT_GET" install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}" >&2
echo "$PROG: installed ${missing[*]}"
