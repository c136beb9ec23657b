#!/usr/bin/env bash
# housing-portal: attach the data block volume at MOUNT_POINT, safely and idempotently.
#
# Installed on the host as /usr/local/sbin/housing-portal-mount-data-volume and run by
# cloud-init on every boot of a (new or replaced) host. Running it again is a no-op.
#
# What it does, in order:
#   1. creates MOUNT_POINT and, while nothing is mounted there, makes the empty directory
#      immutable (chattr +i), so nothing can write to the root disk while the volume is missing;
#   2. waits up to WAIT_SECONDS for DEVICE to appear;
#   3. formats DEVICE with FS_TYPE ONLY when it carries no signature at all (blkid -p and
#      wipefs -n find nothing) and its first MiB reads as zeros. Any other signature (a
#      partition table, swap, LUKS, another file system, ...) is refused: it never formats;
#   4. adds exactly one fstab line for MOUNT_POINT, by UUID, with nofail and a systemd device
#      timeout (a stale line for the same mount point is replaced, never duplicated);
#   5. mounts DEVICE with mount(8) directly (works with or without systemd as PID 1);
#   6. grows the file system to the size of the device (a no-op unless the volume was grown);
#   7. creates the data directories on the mounted volume.
#
# Settings (environment):
#   DEVICE          required. Stable device path, e.g. /dev/disk/by-id/scsi-0DO_Volume_<name>
#                   (DigitalOcean) or /dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_<volid> (AWS).
#   MOUNT_POINT     default /mnt/data. Absolute, no whitespace, not /.
#   FS_LABEL        default hp-data. Label given to a newly created file system only.
#   WAIT_SECONDS    default 300. How long to wait for DEVICE to appear.
#   FSTAB           default /etc/fstab.
#   DATA_DIRS       default "imports exports images drone tiles postgis backups media
#                   staticfiles docs drone-viewer". Created at the root of the volume.
#   FS_TYPE         default ext4 (ext4 or xfs).
#   DEVICE_TIMEOUT  default 30s. x-systemd.device-timeout= in the fstab line.
#   MOUNT_OPTIONS   default defaults,noatime. Options for the mount; the fstab line adds
#                   nofail and x-systemd.device-timeout=$DEVICE_TIMEOUT.
#   GROW_FS         default 1. 0 disables the online grow of step 6.
#   LOCK_FILE       default /run/lock/housing-portal-mount-data-volume.lock.
#
# Exit status: 0 when the volume is mounted at MOUNT_POINT with its data directories;
# non-zero otherwise (device missing, signature refused, a different device mounted there, ...).
set -euo pipefail

readonly PROG=mount-data-volume
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
usage_error() { printf '%s: invalid setting: %s\n' "$PROG" "$*" >&2; exit 2; }

DEVICE="${DEVICE:-}"
MOUNT_POINT="${MOUNT_POINT:-/mnt/data}"
FS_LABEL="${FS_LABEL:-hp-data}"
WAIT_SECONDS="${WAIT_SECONDS:-300}"
FSTAB="${FSTAB:-/etc/fstab}"
DATA_DIRS="${DATA_DIRS:-imports exports images drone tiles postgis backups media staticfiles docs drone-viewer}"
FS_TYPE="${FS_TYPE:-ext4}"
DEVICE_TIMEOUT="${DEVICE_TIMEOUT:-30s}"
MOUNT_OPTIONS="${MOUNT_OPTIONS:-defaults,noatime}"
GROW_FS="${GROW_FS:-1}"
LOCK_FILE="${LOCK_FILE:-/run/lock/housing-portal-mount-data-volume.lock}"

# ---- validate settings -------------------------------------------------------------------
[[ -n "$DEVICE" ]] || usage_error "DEVICE is required (the volume's stable device path)"
[[ "$DEVICE" == /* ]] || usage_error "DEVICE must be an absolute path, got '$DEVICE'"
[[ "$MOUNT_POINT" == /* ]] || usage_error "MOUNT_POINT must be an absolute path, got '$MOUNT_POINT'"
[[ "$MOUNT_POINT" =~ [[:space:]] ]] && usage_error "MOUNT_POINT must not contain whitespace"
MOUNT_POINT="${MOUNT_POINT%/}"
[[ -n "$MOUNT_POINT" ]] || usage_error "MOUNT_POINT must not be /"
[[ "$WAIT_SECONDS" =~ ^[0-9]+$ ]] || usage_error "WAIT_SECONDS must be a whole number of seconds, got '$WAIT_SECONDS'"
[[ "$DEVICE_TIMEOUT" =~ ^[0-9]+(ms|s|min|h)?$ ]] || usage_error "DEVICE_TIMEOUT must look like 30s or 2min, got '$DEVICE_TIMEOUT'"
[[ "$MOUNT_OPTIONS" =~ ^[A-Za-z0-9_=.,:-]+$ ]] || usage_error "MOUNT_OPTIONS has unexpected characters: '$MOUNT_OPTIONS'"
[[ "$GROW_FS" == 0 || "$GROW_FS" == 1 ]] || usage_error "GROW_FS must be 0 or 1"
case "$FS_TYPE" in
  ext4) ((${#FS_LABEL} <= 16)) || usage_error "FS_LABEL is longer than 16 characters (ext4 limit)" ;;
  xfs) ((${#FS_LABEL} <= 12)) || usage_error "FS_LABEL is longer than 12 characters (xfs limit)" ;;
  *) usage_error "FS_TYPE must be ext4 or xfs, got '$FS_TYPE'" ;;
esac
[[ "$FS_LABEL" =~ ^[A-Za-z0-9_.-]+$ ]] || usage_error "FS_LABEL may only contain letters, digits, '_', '.', '-'"
for d in $DATA_DIRS; do
  [[ "$d" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] || usage_error "DATA_DIRS entry '$d' is not a plain directory name"
done

for tool in blkid wipefs mountpoint mount chattr flock cmp "mkfs.$FS_TYPE"; do
  command -v "$tool" >/dev/null 2>&1 || die "required tool '$tool' is not installed"
done

# One run at a time (cloud-init and an operator could race).
mkdir -p "$(dirname "$LOCK_FILE")"
exec 9>>"$LOCK_FILE"
flock -w 600 9 || die "could not take the lock $LOCK_FILE"

is_mounted() { mountpoint -q "$MOUNT_POINT"; }

# ---- 1. mount point + guard ----------------------------------------------------------------
if [[ ! -d "$MOUNT_POINT" ]]; then
  [[ -e "$MOUNT_POINT" ]] && die "MOUNT_POINT $MOUNT_POINT exists and is not a directory"
  mkdir -p "$MOUNT_POINT"
  log "created mount point $MOUNT_POINT"
fi

guard_mount_point() {
  # Only while nothing is mounted: on a mounted mount point chattr would act on the volume's root.
  is_mounted && return 0
  if lsattr -d "$MOUNT_POINT" 2>/dev/null | awk '{print $1}' | grep -q i; then
    return 0
  fi
  if [[ -n "$(ls -A "$MOUNT_POINT")" ]]; then
    log "warning: $MOUNT_POINT is not mounted but is not empty; its contents are on the root disk and will be hidden by the volume"
  fi
  chattr +i "$MOUNT_POINT" || die "could not make $MOUNT_POINT immutable (chattr +i); refusing to go on without the guard"
  log "guarded $MOUNT_POINT (immutable while the volume is not mounted)"
}
guard_mount_point

# ---- 2. wait for the device ----------------------------------------------------------------
if [[ ! -b "$DEVICE" ]]; then
  log "waiting up to ${WAIT_SECONDS}s for $DEVICE to appear"
  deadline=$((SECONDS + WAIT_SECONDS))
  while [[ ! -b "$DEVICE" ]]; do
    if ((SECONDS >= deadline)); then
      die "$DEVICE did not appear within ${WAIT_SECONDS}s; $MOUNT_POINT stays unmounted and guarded"
    fi
    sleep 1
  done
fi
dev="$(readlink -f "$DEVICE")"
[[ -b "$dev" ]] || die "$DEVICE resolves to $dev, which is not a block device"
dev_majmin="$(mountpoint -x "$dev")"
log "device $DEVICE is $dev ($dev_majmin)"

# ---- already mounted? ----------------------------------------------------------------------
already_mounted=0
if is_mounted; then
  mp_majmin="$(mountpoint -d "$MOUNT_POINT")"
  if [[ "$mp_majmin" != "$dev_majmin" ]]; then
    die "$MOUNT_POINT already has another file system mounted ($mp_majmin), not $dev ($dev_majmin); not touching it"
  fi
  already_mounted=1
fi

# ---- 3. probe signatures; format only a truly blank device ---------------------------------
probe_get() { # probe_get KEY  (from the last probe output)
  printf '%s\n' "$probe" | sed -n "s/^$1=//p" | head -n1
}
probe_device() {
  local rc=0
  probe="$(blkid -p -o export "$dev" 2>/dev/null)" || rc=$?
  probe_rc=$rc
  signatures="$(wipefs -n --noheadings -O TYPE,OFFSET "$dev" 2>/dev/null | awk '{$1=$1; print}' | paste -sd ';' -)" ||
    die "wipefs could not read $dev"
}
probe_device

case "$probe_rc" in
  0) ;;
  2)
    if [[ -n "$signatures" ]]; then
      die "$dev carries signature(s) [$signatures] that blkid does not report as a file system; refusing to format or mount it"
    fi
    if ((already_mounted)); then
      die "$dev is mounted at $MOUNT_POINT but shows no signature; refusing to do anything"
    fi
    if ! cmp -s -n 1048576 "$dev" /dev/zero; then
      die "$dev has no recognised signature but its first MiB is not blank; refusing to format it (it may hold data this script does not understand)"
    fi
    log "$dev is blank: creating an $FS_TYPE file system labelled $FS_LABEL"
    case "$FS_TYPE" in
      ext4) mkfs.ext4 -q -L "$FS_LABEL" "$dev" ;;
      xfs) mkfs.xfs -q -L "$FS_LABEL" "$dev" ;;
    esac
    probe_device
    [[ "$probe_rc" == 0 ]] || die "no file system found on $dev right after formatting it"
    ;;
  8) die "$dev carries ambivalent signatures (blkid -p exit 8: [$signatures]); refusing to format or mount it" ;;
  *) die "blkid -p could not probe $dev (exit $probe_rc)" ;;
esac

fs_type="$(probe_get TYPE)"
fs_usage="$(probe_get USAGE)"
fs_uuid="$(probe_get UUID)"
pt_type="$(probe_get PTTYPE)"
if [[ -n "$pt_type" ]]; then
  die "$dev carries a partition table ($pt_type; signatures [$signatures]); this script only uses whole-device $FS_TYPE file systems; refusing to format or mount it"
fi
if [[ "$fs_type" != "$FS_TYPE" || "$fs_usage" != filesystem ]]; then
  die "$dev carries a ${fs_type:-unknown} signature (usage ${fs_usage:-unknown}; signatures [$signatures]), not a $FS_TYPE file system; refusing to format or mount it"
fi
[[ "$fs_uuid" =~ ^[A-Za-z0-9-]+$ ]] || die "$dev has a $FS_TYPE file system without a usable UUID ('$fs_uuid')"
log "$dev holds an $FS_TYPE file system, UUID $fs_uuid"

# ---- 4. exactly one fstab line ---------------------------------------------------------------
fstab_line="UUID=$fs_uuid $MOUNT_POINT $FS_TYPE $MOUNT_OPTIONS,nofail,x-systemd.device-timeout=$DEVICE_TIMEOUT 0 2"
[[ -e "$FSTAB" ]] || : >"$FSTAB"
# Lines (not comments) whose mount point field is MOUNT_POINT.
existing="$(awk -v mp="$MOUNT_POINT" '$1 !~ /^#/ && NF >= 2 { m = $2; sub(/\/$/, "", m); if (m == mp) print }' "$FSTAB")"
if [[ "$existing" == "$fstab_line" ]]; then
  fstab_changed=0
else
  if [[ -n "$existing" ]]; then
    log "replacing the fstab entry for $MOUNT_POINT: $(printf '%s' "$existing" | paste -sd '|' -)"
  fi
  tmp_fstab="$(mktemp "$FSTAB.hp-XXXXXX")"
  trap 'rm -f "$tmp_fstab"' EXIT
  awk -v mp="$MOUNT_POINT" '$1 !~ /^#/ && NF >= 2 { m = $2; sub(/\/$/, "", m); if (m == mp) next } { print }' "$FSTAB" >"$tmp_fstab"
  printf '%s\n' "$fstab_line" >>"$tmp_fstab"
  chmod --reference="$FSTAB" "$tmp_fstab"
  chown --reference="$FSTAB" "$tmp_fstab"
  sync "$tmp_fstab"
  mv -f "$tmp_fstab" "$FSTAB"
  trap - EXIT
  fstab_changed=1
  log "fstab: $fstab_line"
fi
if ((fstab_changed)) && [[ "$FSTAB" == /etc/fstab && -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
  # Let systemd regenerate its mount unit from the new fstab line (nofail, device timeout).
  systemctl daemon-reload || log "warning: systemctl daemon-reload failed"
fi

# ---- 5. mount ------------------------------------------------------------------------------
if ((already_mounted)); then
  log "$dev is already mounted at $MOUNT_POINT"
else
  mount -t "$FS_TYPE" -o "$MOUNT_OPTIONS" "$dev" "$MOUNT_POINT" || die "mount of $dev at $MOUNT_POINT failed"
  log "mounted $dev at $MOUNT_POINT"
fi
is_mounted || die "$MOUNT_POINT is not a mount point after mounting"
[[ "$(mountpoint -d "$MOUNT_POINT")" == "$dev_majmin" ]] || die "$MOUNT_POINT does not show $dev after mounting"

# ---- 6. grow the file system to the device size (no-op when it already fills it) -------------
if ((GROW_FS)); then
  case "$FS_TYPE" in
    ext4)
      if command -v resize2fs >/dev/null 2>&1; then
        fs_bytes="$(dumpe2fs -h "$dev" 2>/dev/null | awk -F: '/^Block count:/ {c=$2} /^Block size:/ {s=$2} END {printf "%d", c * s}')"
        dev_bytes="$(blockdev --getsize64 "$dev")"
        # Grow only when the device is at least 1 MiB larger than the file system.
        if [[ -n "$fs_bytes" && "$fs_bytes" -gt 0 ]] && ((dev_bytes - fs_bytes >= 1048576)); then
          log "growing the file system on $dev from $fs_bytes to $dev_bytes bytes"
          resize2fs "$dev" >&2 || die "resize2fs $dev failed"
        fi
      fi
      ;;
    xfs)
      command -v xfs_growfs >/dev/null 2>&1 && { xfs_growfs "$MOUNT_POINT" >/dev/null || die "xfs_growfs $MOUNT_POINT failed"; }
      ;;
  esac
fi

# ---- 7. data directories ---------------------------------------------------------------------
created=()
for d in $DATA_DIRS; do
  if [[ ! -d "$MOUNT_POINT/$d" ]]; then
    mkdir -p "$MOUNT_POINT/$d"
    created+=("$d")
  fi
done
if ((${#created[@]})); then
  log "created data directories: ${created[*]}"
fi

if ((already_mounted)) && ((!fstab_changed)) && ((${#created[@]} == 0)); then
  log "nothing to do: $dev is mounted at $MOUNT_POINT"
else
  log "ready: $dev (UUID $fs_uuid) at $MOUNT_POINT"
fi
