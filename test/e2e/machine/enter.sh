#!/usr/bin/env bash
# The e2e tier's stand-in for an SSH session on the machine a plan's command:remote:Command
# resources name. The machine is THIS machine, but in the private mount namespace that
#   unshare --mount --propagation private -- bash enter.sh SCRATCH USER COMMAND
# made for this one command, where the program's host directories are bind-mounted from the
# test's scratch directories, so nothing the command installs lands in the real ones:
#   /usr/local/sbin  /etc/systemd/system  /etc/housing-portal  /var/lib/housing-portal
# (SCRATCH/<dir> each). The command then runs as sshd runs one: through the user's login shell
# from the passwd database (`SHELL -c COMMAND`), in the user's home, with sshd's environment and
# nothing of the caller's, standard input passed through a pipe.
#
# systemctl is SCRATCH/usr/local/sbin/systemctl (test/e2e/machine/systemctl.sh, which records
# its calls to SCRATCH/systemctl.log): /usr/local/sbin is first on root's PATH (and on sudo's
# secure_path), and this script refuses to run anything that would reach the real systemctl.
#
# Exit status: the command's; 125 when the machine could not be set up (nothing was run).
set -euo pipefail

readonly PROG=e2e-machine
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 125; }

(($# == 3)) || die "usage: unshare --mount --propagation private -- bash enter.sh SCRATCH USER COMMAND"
scratch="$1" user="$2" command="$3"
[[ "$scratch" == /* && -d "$scratch" ]] || die "SCRATCH must be an existing absolute directory, got '$scratch'"

# Only in a mount namespace of its own, with nothing propagating back: a bind mount made in the
# caller's namespace would replace the real directories for everyone.
[[ "$(readlink /proc/self/ns/mnt)" != "$(readlink "/proc/$PPID/ns/mnt")" ]] ||
  die "not in a mount namespace of its own (run it under unshare --mount --propagation private)"
[[ "$(findmnt -n -o PROPAGATION /)" == private ]] || die "/ is not private in this mount namespace"

for dir in /usr/local/sbin /etc/systemd/system /etc/housing-portal /var/lib/housing-portal; do
  [[ -d "$scratch$dir" ]] || die "the scratch directory $scratch$dir is missing"
  [[ -d "$dir" ]] || die "$dir is missing on this machine: the harness creates the mount targets"
  mount --bind "$scratch$dir" "$dir" || die "cannot bind $scratch$dir onto $dir"
  [[ "$(stat -c %d:%i "$dir")" == "$(stat -c %d:%i "$scratch$dir")" ]] || die "$dir is not $scratch$dir after the bind mount"
done

IFS=: read -r _ _ uid _ _ home shell < <(getent passwd "$user") || die "no user '$user' on this machine"
# The command runs as the SSH user; this script cannot become another user than the one it is.
[[ "$uid" == "$(id -u)" ]] || die "the machine's user '$user' (uid $uid) is not the user this runs as (uid $(id -u))"
[[ -x "$shell" ]] || die "the login shell of '$user', '$shell', is not executable"
# sshd's PATH (Debian's default for root and for other users).
if ((uid == 0)); then
  path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
else
  path=/usr/local/bin:/usr/bin:/bin:/usr/games
fi
found="$(PATH="$path" command -v systemctl || true)"
[[ "$found" == /usr/local/sbin/systemctl && -x "$scratch/usr/local/sbin/systemctl" ]] ||
  die "systemctl on the machine's PATH is '${found:-nothing}', not the stand-in in the scratch /usr/local/sbin"

# sshd starts the session in the user's home (or / without one).
cd "$home" 2>/dev/null || cd /
# HP_E2E_SYSTEMCTL_LOG is not sshd's: it tells the systemctl stand-in where to record its calls.
# Standard input through a pipe, as sshd passes a session's: the caller's may be a socket, which
# /dev/stdin cannot be opened on (host-tools runs `install -m 0755 /dev/stdin ...`).
exec env -i HOME="$home" USER="$user" LOGNAME="$user" SHELL="$shell" PATH="$path" LANG=C.UTF-8 \
  HP_E2E_SYSTEMCTL_LOG="$scratch/systemctl.log" "$shell" -c "$command" < <(cat)
