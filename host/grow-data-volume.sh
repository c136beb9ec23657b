#!/usr/bin/env bash
# housing-portal: grow the mounted ext4 of the data volume, online, to the size of its device.
#
# Installed on the host as /usr/local/sbin/housing-portal-grow-data-volume. `pulumi up` runs it
# over SSH whenever the configured volume size changes: a bigger cloud volume does not grow the
# file system on it by itself.
#
# What it does, in order:
#   1. refuses unless MOUNT_POINT is a mount point, the file system mounted there is DEVICE's,
#      and it is ext4. It never mounts, unmounts or formats anything;
#   2. with EXPECT_BYTES or EXPECT_GB: waits up to WAIT_SECONDS for the device to show at least
#      that size (the cloud takes a moment; a SCSI device is asked to rescan), and fails if it
#      does not;
#   3. when the device is at least 1 MiB larger than the file system: resize2fs DEVICE, which
#      grows a mounted ext4 online. Otherwise there is nothing to do (a second run does nothing).
#
# Settings (environment):
#   DEVICE        required. Stable device path of the volume, e.g.
#                 /dev/disk/by-id/scsi-0DO_Volume_<name> (DigitalOcean) or
#                 /dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_<volid> (AWS).
#   MOUNT_POINT   default /mnt/data.
#   EXPECT_BYTES  optional. The size the device must reach before growing (bytes).
#   EXPECT_GB     optional, instead of EXPECT_BYTES: the same in GiB (the volume's sizeGb).
#   WAIT_SECONDS  default 120. How long to wait for the device to reach EXPECT_*.
#   LOCK_FILE     default /run/lock/housing-portal-mount-data-volume.lock (the mount script's:
#                 the two never run at once).
#
# Exit status: 0 when the file system fills the device (grown or already); 1 on a refusal or a
# failure; 2 on an invalid setting.
set -euo pipefail

readonly PROG=grow-data-volume
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
usage_error() { printf '%s: invalid setting: %s\n' "$PROG" "$*" >&2; exit 2; }

DEVICE="${DEVICE:-}"
MOUNT_POINT="${MOUNT_POINT:-/mnt/data}"
EXPECT_BYTES="${EXPECT_BYTES:-}"
EXPECT_GB="${EXPECT_GB:-}"
WAIT_SECONDS="${WAIT_SECONDS:-120}"
LOCK_FILE="${LOCK_FILE:-/run/lock/housing-portal-mount-data-volume.lock}"

# ---- validate settings -------------------------------------------------------------------
[[ -n "$DEVICE" ]] || usage_error "DEVICE is required (the volume's stable device path)"
[[ "$DEVICE" == /* ]] || usage_error "DEVICE must be an absolute path, got '$DEVICE'"
[[ "$MOUNT_POINT" == /* ]] || usage_error "MOUNT_POINT must be an absolute path, got '$MOUNT_POINT'"
[[ "$MOUNT_POINT" =~ [[:space:]] ]] && usage_error "MOUNT_POINT must not contain whitespace"
MOUNT_POINT="${MOUNT_POINT%/}"
[[ -n "$MOUNT_POINT" ]] || usage_error "MOUNT_POINT must not be /"
[[ "$WAIT_SECONDS" =~ ^[0-9]+$ ]] || usage_error "WAIT_SECONDS must be a whole number of seconds, got '$WAIT_SECONDS'"
[[ -z "$EXPECT_BYTES" || -z "$EXPECT_GB" ]] || usage_error "set EXPECT_BYTES or EXPECT_GB, not both"
want=0
if [[ -n "$EXPECT_BYTES" ]]; then
  [[ "$EXPECT_BYTES" =~ ^[1-9][0-9]{0,17}$ ]] || usage_error "EXPECT_BYTES must be a whole number of bytes >= 1, got '$EXPECT_BYTES'"
  want=$EXPECT_BYTES
elif [[ -n "$EXPECT_GB" ]]; then
  [[ "$EXPECT_GB" =~ ^[1-9][0-9]{0,6}$ ]] || usage_error "EXPECT_GB must be a whole number of GiB >= 1, got '$EXPECT_GB'"
  want=$((EXPECT_GB * 1024 * 1024 * 1024))
fi

for tool in blockdev findmnt mountpoint resize2fs dumpe2fs flock; do
  command -v "$tool" >/dev/null 2>&1 || die "required tool '$tool' is not installed"
done

mkdir -p "$(dirname "$LOCK_FILE")"
exec 9>>"$LOCK_FILE"
flock -w 600 9 || die "could not take the lock $LOCK_FILE"

# ---- 1. only DEVICE's ext4, mounted at MOUNT_POINT ----------------------------------------------
[[ -b "$DEVICE" ]] || die "$DEVICE is not a block device"
dev="$(readlink -f "$DEVICE")"
[[ -b "$dev" ]] || die "$DEVICE resolves to $dev, which is not a block device"
dev_majmin="$(mountpoint -x "$dev")"
mountpoint -q "$MOUNT_POINT" || die "$MOUNT_POINT is not a mount point; refusing (this script never mounts; mount-data-volume does)"
mp_majmin="$(mountpoint -d "$MOUNT_POINT")"
[[ "$mp_majmin" == "$dev_majmin" ]] || die "$DEVICE ($dev, $dev_majmin) is not mounted at $MOUNT_POINT (that is $mp_majmin); refusing"
# The top mount at MOUNT_POINT is the last one listed.
fs_type="$(findmnt -n -o FSTYPE --mountpoint "$MOUNT_POINT" | tail -n1)"
[[ "$fs_type" == ext4 ]] || die "the file system at $MOUNT_POINT is ${fs_type:-unknown}, not ext4; refusing"

# ---- 2. wait for the cloud's new size -----------------------------------------------------------
dev_bytes="$(blockdev --getsize64 "$dev")"
if ((want > 0 && dev_bytes < want)); then
  # A SCSI disk (DigitalOcean) may show a new size only after a rescan; NVMe and virtio update by themselves.
  rescan="/sys/class/block/$(basename "$dev")/device/rescan"
  if [[ -w "$rescan" ]]; then echo 1 >"$rescan" || log "warning: the rescan of $dev failed"; fi
  log "waiting up to ${WAIT_SECONDS}s for $dev to show $want bytes (it shows $dev_bytes)"
  deadline=$((SECONDS + WAIT_SECONDS))
  while :; do
    dev_bytes="$(blockdev --getsize64 "$dev")"
    ((dev_bytes < want)) || break
    ((SECONDS < deadline)) || die "$dev did not reach $want bytes within ${WAIT_SECONDS}s (it shows $dev_bytes); nothing changed"
    sleep 1
  done
fi

# ---- 3. grow -------------------------------------------------------------------------------------
ext4_bytes() { # the ext4's own size: block count x block size
  dumpe2fs -h "$dev" 2>/dev/null | awk -F: '/^Block count:/ {c=$2} /^Block size:/ {s=$2} END {printf "%.0f", c * s}'
}
fs_bytes="$(ext4_bytes)"
if [[ ! "$fs_bytes" =~ ^[1-9][0-9]*$ ]]; then die "cannot read the size of the ext4 on $dev (dumpe2fs -h)"; fi
# Less than 1 MiB left over is what resize2fs leaves (whole blocks and groups): nothing to do.
if ((dev_bytes - fs_bytes < 1048576)); then
  log "nothing to do: the file system on $dev already fills the device ($fs_bytes of $dev_bytes bytes)"
  exit 0
fi
statfs_bytes() { # what df shows: the mounted file system's size as the kernel sees it
  local blocks bsize
  read -r blocks bsize < <(stat -f -c '%b %S' "$MOUNT_POINT")
  printf '%s' $((blocks * bsize))
}
df_before="$(statfs_bytes)"
log "growing the mounted file system on $dev at $MOUNT_POINT from $fs_bytes to $dev_bytes bytes (online)"
resize2fs "$dev" >&2 || die "resize2fs $dev failed; the file system is unchanged"
df_after="$(statfs_bytes)"
((df_after > df_before)) || die "resize2fs $dev ran, but $MOUNT_POINT still shows $df_after bytes"
log "grew the file system on $dev: $MOUNT_POINT shows $df_after bytes (was $df_before)"
