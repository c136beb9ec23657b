#!/usr/bin/env bash
# The e2e machine's systemctl (installed as /usr/local/sbin/systemctl in the machine's scratch
# /usr/local/sbin by the harness): there is no systemd to drive in the tier, so it records each
# call, its arguments on one line, to $HP_E2E_SYSTEMCTL_LOG, and succeeds. A verb that
# host/apply-host-files.sh does not use fails, so a script that starts to need more is noticed.
set -euo pipefail

log="${HP_E2E_SYSTEMCTL_LOG:-}"
[[ -n "$log" ]] || { echo "systemctl (e2e stand-in): HP_E2E_SYSTEMCTL_LOG is not set" >&2; exit 1; }
case "${1:-}" in
  daemon-reload | enable | disable | start | stop | restart) ;;
  *) echo "systemctl (e2e stand-in): '${1:-}' is not a verb this stand-in knows" >&2; exit 1 ;;
esac
printf '%s\n' "$*" >>"$log"
