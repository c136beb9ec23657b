#!/usr/bin/env bash
# Last-resort clean-up of the host tier, for .ci/run's exit trap: the tests' own `after` hooks
# normally leave nothing behind. Undoes whatever a killed run may have left under
# ${TMPDIR:-/tmp}/hp-host-*: a throwaway PostgreSQL, the privileged tests' VM (qemu, virtiofsd),
# frozen file systems, mounts, chattr +i guards, loop devices, files. It touches nothing outside those directories. Do not run it while
# the tier is running.
#
# Settings (environment): TMPDIR (default /tmp), where the tier made its scratch directories.
set -uo pipefail
shopt -s nullglob

base="${TMPDIR:-/tmp}"
base="${base%/}"
dirs=("$base"/hp-host-*)
((${#dirs[@]})) || exit 0

for d in "${dirs[@]}"; do
  [[ -d "$d" && ! -L "$d" ]] || continue
  echo "test/host/cleanup.sh: cleaning $d" >&2

  # Throwaway PostgreSQL servers (dump-databases.test.ts; restore-check.test.ts's, deeper down).
  mapfile -t pid_files < <(find "$d" -maxdepth 4 -name postmaster.pid 2>/dev/null)
  for pid_file in "${pid_files[@]}"; do
    data="$(dirname "$pid_file")"
    version="$(cat "$data/PG_VERSION" 2>/dev/null || true)"
    pg_ctl="/usr/lib/postgresql/$version/bin/pg_ctl"
    if [[ -n "$version" && -x "$pg_ctl" ]]; then
      runuser -u postgres -- "$pg_ctl" -D "$data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
    fi
    pid="$(head -n1 "$pid_file" 2>/dev/null || true)"
    if [[ "$pid" =~ ^[0-9]+$ ]] && [[ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" == "$data" ]]; then
      kill -9 "$pid" 2>/dev/null || true
    fi
  done

  # The privileged tests' VM (test/host/vm/run.sh): qemu and virtiofsd, each only while its pid is
  # still a process that names $d (pids are reused). virtiofsd's mounts are in its own namespace.
  for pid_file in "$d/qemu.pid" "$d/virtiofsd.pid"; do
    pid="$(head -n1 "$pid_file" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || continue
    if tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$d/"; then
      kill "$pid" 2>/dev/null || true
      for _ in {1..50}; do
        [[ -d "/proc/$pid" ]] || break
        sleep 0.1
      done
      kill -9 "$pid" 2>/dev/null || true
    fi
  done

  # Mounts under $d, deepest first: thaw, unmount (lazily as a last resort).
  for _ in 1 2 3; do
    mapfile -t mps < <(awk -v d="$d" '{ gsub(/\\040/, " ", $5); if ($5 == d || index($5, d "/") == 1) print $5 }' /proc/self/mountinfo |
      awk '{ print length($0) "\t" $0 }' | sort -rn | cut -f2-)
    ((${#mps[@]})) || break
    for mp in "${mps[@]}"; do
      fsfreeze -u "$mp" 2>/dev/null || true
      umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true
    done
  done

  # Mount-point guards.
  chattr -R -f -i "$d" 2>/dev/null || true

  # Loop devices backed by files in $d.
  losetup --list --noheadings --output NAME,BACK-FILE 2>/dev/null | while read -r dev file; do
    case "$file" in
      "$d"/*) losetup -d "$dev" 2>/dev/null || true ;;
    esac
  done

  rm -rf --one-file-system "$d"
done
exit 0
