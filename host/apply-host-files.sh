#!/usr/bin/env bash
# housing-portal: install the host's settings (scripts, systemd units, settings files) from a
# bundle on standard input, and enable the units it names.
#
# Installed on the host as /usr/local/sbin/housing-portal-apply-host-files and run over SSH by
# the program whenever the bundle changes. Settings live here instead of in the machine's user
# data, so a new schedule or retention, or a changed script, updates the files and leaves the
# machine alone (user data runs on a first boot only, and changing it replaces the machine).
#
# The bundle (standard input) is JSON:
#   {"files": [{"path": "/etc/…", "mode": "0644", "content": "<base64>"}, …],
#    "enable": ["housing-portal-dump.timer", …]}
# Every path must be one the program owns: /usr/local/sbin/housing-portal-*,
# /etc/systemd/system/housing-portal-*, or a file directly in /etc/housing-portal/.
#
# What it does, in order:
#   1. reads and checks the whole bundle; any problem exits 2 before anything is written;
#   2. writes each file whose content or mode differs (temp file + rename, owner root), and
#      leaves the others as they are;
#   3. removes the files the previous bundle installed that this one lacks (the manifest);
#   4. systemctl daemon-reload when a unit file changed or went;
#   5. enables and starts each unit in "enable", restarting one whose files changed (a timer
#      recomputes its calendar); disables and stops units the previous bundle enabled and this
#      one does not;
#   6. records the installed files and units in MANIFEST.
# It prints one line per file written or removed and per unit acted on.
#
# Settings (environment):
#   ROOT       default /. Prefix of every path (tests install into a scratch directory).
#   MANIFEST   default /var/lib/housing-portal/host-files.manifest (under ROOT).
#   SYSTEMCTL  default systemctl (tests put a shim here).
#
# Exit status: 0 when applied; 1 on a failure while applying; 2 on a bad setting or bundle.
set -euo pipefail

readonly PROG=apply-host-files
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
bad_input() { printf '%s: invalid bundle: %s\n' "$PROG" "$*" >&2; exit 2; }

ROOT="${ROOT:-/}"
MANIFEST="${MANIFEST:-/var/lib/housing-portal/host-files.manifest}"
SYSTEMCTL="${SYSTEMCTL:-systemctl}"
[[ "$ROOT" == /* ]] || { printf '%s: invalid setting: ROOT must be an absolute path, got %q\n' "$PROG" "$ROOT" >&2; exit 2; }
[[ "$MANIFEST" == /* ]] || { printf '%s: invalid setting: MANIFEST must be an absolute path, got %q\n' "$PROG" "$MANIFEST" >&2; exit 2; }
ROOT="${ROOT%/}"
for tool in jq base64 install cmp; do
  command -v "$tool" >/dev/null 2>&1 || die "required tool '$tool' is not installed"
done

umask 022
work="$(mktemp -d "${TMPDIR:-/tmp}/hp-apply.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# ---- 1. read and check the whole bundle -------------------------------------------------------
cat >"$work/bundle.json"
jq -e 'type == "object" and (.files | type == "array") and (.enable | type == "array")
  and all(.files[]; (.path | type == "string") and (.mode | type == "string") and (.content | type == "string"))
  and all(.enable[]; type == "string")' "$work/bundle.json" >/dev/null 2>&1 ||
  bad_input 'expected {"files": [{"path", "mode", "content"}], "enable": [units]}'

owned_path() { # owned_path PATH: a path this script may write
  [[ "$1" =~ ^/usr/local/sbin/housing-portal-[a-z0-9-]+$ ]] ||
    [[ "$1" =~ ^/etc/systemd/system/housing-portal-[a-z0-9-]+\.(service|timer)$ ]] ||
    [[ "$1" =~ ^/etc/housing-portal/[A-Za-z0-9._-]+$ ]]
}

mapfile -t paths < <(jq -r '.files[].path' "$work/bundle.json")
mapfile -t modes < <(jq -r '.files[].mode' "$work/bundle.json")
mapfile -t units < <(jq -r '.enable[]' "$work/bundle.json")
declare -A seen=()
for i in "${!paths[@]}"; do
  p="${paths[$i]}"
  owned_path "$p" || bad_input "$p is not a path the program owns"
  [[ -z "${seen[$p]:-}" ]] || bad_input "$p is listed twice"
  seen[$p]=1
  [[ "${modes[$i]}" =~ ^0[0-7]{3}$ ]] || bad_input "$p: mode must be octal like 0644, got '${modes[$i]}'"
  jq -r --argjson i "$i" '.files[$i].content' "$work/bundle.json" | base64 -d >"$work/$i" 2>/dev/null ||
    bad_input "$p: content is not base64"
done
for u in "${units[@]}"; do
  [[ "$u" =~ ^housing-portal-[a-z0-9-]+\.(service|timer)$ ]] || bad_input "unit '$u' is not one of the program's"
  [[ -n "${seen[/etc/systemd/system/$u]:-}" ]] || bad_input "unit $u is enabled but the bundle has no /etc/systemd/system/$u"
done

# ---- 2. write what differs ---------------------------------------------------------------------
declare -A changed=()
units_changed=0
for i in "${!paths[@]}"; do
  p="${paths[$i]}" target="$ROOT${paths[$i]}" mode="${modes[$i]}"
  if [[ -f "$target" ]] && cmp -s "$work/$i" "$target" && ((8#$(stat -c %a "$target") == 8#$mode)); then
    continue
  fi
  mkdir -p "$(dirname "$target")"
  tmp="$(mktemp "$(dirname "$target")/.$(basename "$target").XXXXXX")"
  install -m "$mode" "$work/$i" "$tmp" || { rm -f "$tmp"; die "cannot write $p"; }
  [[ "$(id -u)" != 0 ]] || chown root:root "$tmp"
  mv -f "$tmp" "$target" || { rm -f "$tmp"; die "cannot write $p"; }
  changed[$p]=1
  [[ "$p" != /etc/systemd/system/* ]] || units_changed=1
  log "wrote $p"
done

# ---- 3. remove what the previous bundle installed and this one lacks ----------------------------
manifest="$ROOT$MANIFEST"
old_files=() old_units=()
if [[ -f "$manifest" ]]; then
  mapfile -t old_files < <(sed -n 's/^file //p' "$manifest")
  mapfile -t old_units < <(sed -n 's/^unit //p' "$manifest")
fi
for u in "${old_units[@]}"; do
  if [[ ! " ${units[*]} " == *" $u "* ]]; then
    "$SYSTEMCTL" disable --now "$u" || die "systemctl disable --now $u failed"
    log "disabled $u"
  fi
done
for p in "${old_files[@]}"; do
  [[ -z "${seen[$p]:-}" ]] || continue
  owned_path "$p" || continue # a manifest line the program never wrote: leave it
  if [[ -e "$ROOT$p" ]]; then
    rm -f "$ROOT$p" || die "cannot remove $p"
    log "removed $p"
    [[ "$p" != /etc/systemd/system/* ]] || units_changed=1
  fi
done

# ---- 4-5. systemd --------------------------------------------------------------------------------
if ((units_changed)); then
  "$SYSTEMCTL" daemon-reload || die "systemctl daemon-reload failed"
  log "reloaded systemd"
fi
for u in "${units[@]}"; do
  "$SYSTEMCTL" enable "$u" >/dev/null 2>&1 || die "systemctl enable $u failed"
  service="${u%.timer}.service"
  if [[ -n "${changed[/etc/systemd/system/$u]:-}" || -n "${changed[/etc/systemd/system/$service]:-}" ]]; then
    "$SYSTEMCTL" restart "$u" || die "systemctl restart $u failed"
    log "restarted $u"
  else
    "$SYSTEMCTL" start "$u" || die "systemctl start $u failed"
  fi
done

# ---- 6. manifest ---------------------------------------------------------------------------------
mkdir -p "$(dirname "$manifest")"
{
  for p in "${paths[@]}"; do printf 'file %s\n' "$p"; done
  for u in "${units[@]}"; do printf 'unit %s\n' "$u"; done
} >"$manifest.tmp"
mv -f "$manifest.tmp" "$manifest"
log "applied ${#paths[@]} file(s), ${#changed[@]} changed; ${#units[@]} unit(s) enabled"
