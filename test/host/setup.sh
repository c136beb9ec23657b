#!/usr/bin/env bash
# Install the Debian packages that the host tier (`npm run test:host`) and its privileged part in a
# VM (`npm run test:host:privileged`, test/host/vm/run.sh) need. CI runs this, as root, before
# them. Idempotent: apt-get update and install run only when a package is missing.
#
#   util-linux, mount  losetup, blkid, wipefs, mountpoint, fsfreeze, flock, runuser, mkswap
#   e2fsprogs          mkfs.ext4, mkfs.ext2, chattr, lsattr, dumpe2fs, resize2fs
#   fdisk              sfdisk (the partition-table refusal case)
#   psmisc, lsof       fuser and lsof: release-data-volume.sh names what holds a busy mount
#   jq, curl           snapshot-volume.sh
#   coreutils, diffutils, findutils   timeout, sync, cmp, find
#   postgresql (+ postgresql-<version>-postgis-3)   the real server dump-databases.sh is tested against
#   (the shellcheck package) lint of host/*.sh
#   systemd            systemd-analyze verify of host/systemd/* (systemd need not be PID 1)
#   nginx-light        nginx -t of the rendered nginx config (nginx-config.test.ts)
#   qemu-system-x86    the VM of the privileged tests: qemu-system-x86_64, and virtiofsd (from
#                      qemu-system-common) sharing this machine's root with it
#   linux-image-cloud-amd64   its kernel: a quarter of linux-image-amd64's size, with the virtiofs
#                      and loop modules it needs (it lacks 9p, hence virtiofs)
#   busybox-static, cpio, kmod   its initramfs: a static busybox as PID 1's shell, modprobe to
#                      list the modules with their dependencies
#   restic, openssl    the off-site copy (offsite-backup.test.ts) against npm's s3rver over TLS
#                      with a throwaway certificate
#   openssh-server, openssh-client   sshd and ssh: the Docker provider's pinned host key against
#                      throwaway sshd servers on loopback ports (ssh-host-key.test.ts starts its
#                      own; the packaged service is not used)
#   iproute2, iptables   network namespaces and the DOCKER-USER rule of block-container-metadata.sh
#   cloud-init         its schema check and write_files decoding of the rendered user data
#                      (cloud-init-user-data.test.ts; the packaged service is not used)
#
# Settings (environment): none.
set -euo pipefail

if [[ "$(id -u)" != 0 ]]; then
  echo "test/host/setup.sh: must run as root (apt-get; and the host tier itself needs root)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
APT_OPTS=(-y -q -o DPkg::Lock::Timeout=600 --no-install-recommends)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

updated=0
ensure() { # ensure PACKAGE...: install those that are missing
  local missing=() p
  for p in "$@"; do installed "$p" || missing+=("$p"); done
  ((${#missing[@]})) || return 0
  if ((!updated)); then
    apt-get -q -o DPkg::Lock::Timeout=600 update
    updated=1
  fi
  echo "test/host/setup.sh: installing ${missing[*]}" >&2
  apt-get install "${APT_OPTS[@]}" "${missing[@]}"
}

# The tier starts its own throwaway PostgreSQL; a fresh install need not create and start the
# packaged "main" cluster.
if ! installed postgresql-common; then
  mkdir -p /etc/postgresql-common/createcluster.d
  printf 'create_main_cluster = false\n' >/etc/postgresql-common/createcluster.d/50-housing-portal-host-tier.conf
fi

ensure util-linux mount e2fsprogs fdisk psmisc lsof jq curl coreutils diffutils findutils postgresql shellcheck systemd nginx-light \
  qemu-system-x86 linux-image-cloud-amd64 busybox-static cpio kmod restic openssl \
  openssh-server openssh-client iproute2 iptables cloud-init

# PostGIS for the server version that postgresql brought in.
pg_version="$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/initdb' 2>/dev/null |
  sed -E 's|^/usr/lib/postgresql/([0-9]+)/bin/initdb$|\1|' | sort -n | tail -n1)"
if [[ -z "$pg_version" ]]; then
  echo "test/host/setup.sh: no PostgreSQL server found under /usr/lib/postgresql after installing postgresql" >&2
  exit 1
fi
ensure "postgresql-$pg_version-postgis-3"

if [[ ! -e /dev/loop-control ]]; then
  modprobe loop 2>/dev/null || true
fi
if [[ ! -e /dev/loop-control ]]; then
  echo "test/host/setup.sh: warning: /dev/loop-control is missing; the host tier needs loop devices and will fail" >&2
fi
echo "test/host/setup.sh: host tier prerequisites present (PostgreSQL $pg_version)" >&2
