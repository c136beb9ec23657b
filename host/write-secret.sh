#!/usr/bin/env bash
# housing-portal: write a secret read from standard input to a root-only file, atomically.
#
# Installed on the host as /usr/local/sbin/housing-portal-write-secret. The program feeds it the
# DigitalOcean snapshot token over SSH, so the token never sits in user-data (which any process
# on a droplet can read from the metadata service) nor on a command line.
#
# Settings (environment):
#   TARGET   required. Absolute path of the file to write (mode 0600, its directory 0700 when
#            created).
#
# Exit status: 0 when written; 1 on failure (empty input included); 2 on a bad setting.
set -euo pipefail

readonly PROG=write-secret
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }

TARGET="${TARGET:-}"
[[ "$TARGET" == /* && "$TARGET" != */ ]] || { printf '%s: invalid setting: TARGET must be an absolute file path, got %q\n' "$PROG" "$TARGET" >&2; exit 2; }

umask 077
dir="$(dirname "$TARGET")"
mkdir -p "$dir"
tmp="$(mktemp "$dir/.$(basename "$TARGET").XXXXXX")"
trap 'rm -f "$tmp"' EXIT
cat >"$tmp"
[[ -s "$tmp" ]] || die "nothing on standard input; $TARGET left as it was"
chmod 600 "$tmp"
mv -f "$tmp" "$TARGET"
trap - EXIT
echo "$PROG: wrote $TARGET"
