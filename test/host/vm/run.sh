#!/usr/bin/env bash
# The privileged host tier (`npm run test:host:privileged`): test/host/privileged/*.test.ts in a
# virtual machine, where root holds every capability (CAP_SYS_RESOURCE for resize2fs online, which
# root on this machine and in CI lacks).
#
# How: Debian's kernel (linux-image-cloud-amd64 or linux-image-amd64) under qemu-system-x86_64,
# with KVM when it is usable (and TCG again if the VM does not boot under it), TCG otherwise. The VM's root file
# system is this machine's own, shared read-only over virtiofs (qemu's virtiofsd, serving a
# read-only bind mount of / made in a private mount namespace, so the host sees no mount). Its
# PID 1 is test/host/vm/init in a small initramfs (static busybox and the virtio, virtiofs and
# loop modules). The VM has no network (-nic none). The result comes back on a serial port of its
# own; the VM powers off after reporting, so nothing waits a fixed time, only up to a bound.
#
# Fails loudly (exit 1, with the reason) when it cannot run: not root, a tool or the kernel
# missing, the VM never reporting; otherwise exits with the tests' status. Everything lives in
# ${TMPDIR:-/tmp}/hp-host-vm-*, removed on exit, with qemu and virtiofsd ended (test/host/cleanup.sh
# is the last resort after a kill).
#
# Settings (environment):
#   HP_VM_ACCEL            auto (default), kvm or tcg
#   HP_VM_KERNEL           the kernel image (default: the newest /boot/vmlinuz-*)
#   HP_VM_TIMEOUT_SECONDS  bound on the whole VM run (default 900 with KVM, 2400 with TCG)
#   HP_VM_MEMORY_MIB       the VM's memory (default 1536)
#   TMPDIR                 where the scratch directory goes (default /tmp)
set -euo pipefail

readonly PROG=test/host/vm/run.sh
readonly VIRTIOFSD=/usr/lib/qemu/virtiofsd
die() { printf '%s: PRIVILEGED HOST TIER CANNOT RUN: %s\n' "$PROG" "$*" >&2; exit 1; }

# ---- internal: virtiofsd, inside `unshare --mount --propagation private` ---------------------------
if [[ "${1:-}" == --serve-root ]]; then
  scratch="$2"
  # A read-only bind of the root file system only: the guest mounts its own /proc, /sys, /dev, /tmp.
  mkdir "$scratch/root"
  mount --bind -o ro / "$scratch/root"
  # virtiofsd keeps a pid file under /run/virtiofsd; keep it in this namespace, off the host.
  mount -t tmpfs -o size=1m,mode=755 tmpfs /run
  exec "$VIRTIOFSD" --socket-path="$scratch/virtiofs.sock" -o source="$scratch/root" \
    -o cache=always -o sandbox=namespace -o log_level=warn --rlimit-nofile=0
fi

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd -P)"

# ---- what it needs --------------------------------------------------------------------------------
[[ "$(id -u)" == 0 ]] || die "must run as root (virtiofsd needs root; the tests need root in the VM)"
for tool in qemu-system-x86_64 "$VIRTIOFSD" unshare mount modprobe cpio timeout tail; do
  command -v "$tool" >/dev/null 2>&1 || die "missing $tool (run test/host/setup.sh)"
done
busybox=/bin/busybox
if ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed' || [[ ! -x "$busybox" ]]; then
  die "the initramfs needs a static busybox: install busybox-static (run test/host/setup.sh)"
fi
node="$(command -v node)" || die "node is not on PATH"
[[ -d "$repo/node_modules/tsx" ]] || die "no $repo/node_modules/tsx (run npm ci)"

kernel="${HP_VM_KERNEL:-}"
if [[ -z "$kernel" ]]; then
  kernel="$(find /boot -maxdepth 1 -name 'vmlinuz-*' 2>/dev/null | sort -V | tail -n1)"
fi
[[ -n "$kernel" && -r "$kernel" ]] || die "no kernel in /boot: install linux-image-cloud-amd64 (run test/host/setup.sh)"
kver="${kernel##*/vmlinuz-}"
[[ -d "/lib/modules/$kver" ]] || die "no /lib/modules/$kver for $kernel"

# The guest learns these from its kernel command line, which splits at spaces.
hp_path="$(dirname "$node"):/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
[[ "$repo$hp_path" =~ ^[A-Za-z0-9._/:+-]+$ ]] || die "the checkout's path ($repo) or node's ($node) has characters the kernel command line cannot carry"

accel="${HP_VM_ACCEL:-auto}"
# /dev/kvm may be provided by something other than hardware virtualisation: PVM (kvm_pvm, nested
# virtualisation without VMX) runs only guest kernels built for it, not Debian's.
kvm_opens() { [[ -c /dev/kvm ]] && { : <>/dev/kvm; } 2>/dev/null; }
kvm_usable() { kvm_opens && [[ -d /sys/module/kvm_intel || -d /sys/module/kvm_amd ]]; }
case "$accel" in
  auto)
    if kvm_usable; then
      accels=(kvm tcg)
    else
      if [[ -d /sys/module/kvm_pvm ]]; then why="/dev/kvm is PVM (kvm_pvm), which runs only kernels built for it"; else why="/dev/kvm is missing, cannot be opened, or is not kvm_intel/kvm_amd"; fi
      echo "$PROG: no usable KVM ($why), so TCG: slower" >&2
      accels=(tcg)
    fi
    ;;
  kvm)
    kvm_opens || die "HP_VM_ACCEL=kvm, but /dev/kvm cannot be opened"
    accels=(kvm)
    ;;
  tcg) accels=(tcg) ;;
  *) die "HP_VM_ACCEL must be auto, kvm or tcg, got '$accel'" ;;
esac
bound_override="${HP_VM_TIMEOUT_SECONDS:-}"
memory="${HP_VM_MEMORY_MIB:-1536}"
[[ -z "$bound_override" || "$bound_override" =~ ^[1-9][0-9]*$ ]] || die "HP_VM_TIMEOUT_SECONDS must be a whole number of seconds, got '$bound_override'"
[[ "$memory" =~ ^[1-9][0-9]*$ ]] || die "HP_VM_MEMORY_MIB must be a whole number, got '$memory'"
# Bound on reaching PID 1 (a second or two with KVM, a few with TCG): a KVM that cannot run the
# guest hangs or stops it rather than exiting.
readonly BOOT_BOUND=90

# ---- scratch directory, and its clean-up on every exit ---------------------------------------------
scratch="$(mktemp -d "${TMPDIR:-/tmp}/hp-host-vm-XXXXXX")"
vfs_pid=""
vm_pid=""
tail_pid=""
# shellcheck disable=SC2317 # stop and cleanup run from the EXIT trap
stop() { # stop PID: TERM, then KILL if it outlives a bound
  local pid="$1" i
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
}
# shellcheck disable=SC2317
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [[ -s "$scratch/qemu.pid" ]]; then stop "$(cat "$scratch/qemu.pid")"; fi
  stop "$vm_pid"
  stop "$vfs_pid"
  stop "$tail_pid"
  wait 2>/dev/null || true
  rm -rf --one-file-system "$scratch"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- the initramfs: busybox, init, modules ---------------------------------------------------------
ird="$scratch/initramfs"
mkdir -p "$ird/bin" "$ird/dev" "$ird/modules"
cp "$busybox" "$ird/bin/busybox"
install -m 755 "$repo/test/host/vm/init" "$ird/init"
mknod -m 600 "$ird/dev/console" c 5 1
declare -A seen=()
for m in virtio_pci virtiofs loop; do
  deps="$(modprobe --set-version="$kver" --show-depends "$m")" || die "kernel $kver has no module $m"
  while read -r verb ko _; do
    [[ "$verb" == insmod && -z "${seen[$ko]:-}" ]] || continue
    seen[$ko]=1
    cp "$ko" "$ird/modules/"
    basename "$ko" >>"$ird/modules/order"
  done <<<"$deps"
done
(cd "$ird" && find . -print0 | cpio --null -o -H newc --quiet) >"$scratch/initramfs.cpio"

# ---- one VM run ------------------------------------------------------------------------------------
# run_vm ACCEL: boots the VM under kvm or tcg and waits until it powers off, the bound passes, or it
# does not reach PID 1 in time. Sets `result` (the VM's result line, or empty) and `booted`.
run_vm() {
  local how="$1" bound vm_status=0 start now i
  local -a accel_opts
  if [[ "$how" == kvm ]]; then
    accel_opts=(-accel kvm)
    bound="${bound_override:-900}"
  else
    accel_opts=(-accel "tcg,thread=multi")
    bound="${bound_override:-2400}"
  fi
  result=""
  booted=0
  rm -rf "$scratch/root" "$scratch/virtiofs.sock" "$scratch/qemu.pid"
  : >"$scratch/output.log"
  : >"$scratch/result"
  : >"$scratch/console.log"

  # virtiofsd serves one connection, so one per VM run.
  unshare --mount --propagation private -- "$BASH" "${BASH_SOURCE[0]}" --serve-root "$scratch" \
    </dev/null >"$scratch/virtiofsd.log" 2>&1 &
  vfs_pid=$!
  echo "$vfs_pid" >"$scratch/virtiofsd.pid"
  for ((i = 0; i < 300; i++)); do
    [[ -S "$scratch/virtiofs.sock" ]] && break
    kill -0 "$vfs_pid" 2>/dev/null || break
    sleep 0.1
  done
  [[ -S "$scratch/virtiofs.sock" ]] || die "virtiofsd did not start: $(cat "$scratch/virtiofsd.log")"

  echo "$PROG: $(basename "$kernel") under $how, ${memory} MiB, bound ${bound}s" >&2
  start=$(date +%s%N)
  timeout --kill-after=10 "$bound" qemu-system-x86_64 \
    -name hp-host-vm -nodefaults -no-user-config -display none -no-reboot -nic none \
    -machine q35,memory-backend=mem "${accel_opts[@]}" -cpu max -smp 2 -m "$memory" \
    -object "memory-backend-memfd,id=mem,size=${memory}M,share=on" \
    -chardev "socket,id=hproot,path=$scratch/virtiofs.sock" -device vhost-user-fs-pci,chardev=hproot,tag=hproot \
    -kernel "$kernel" -initrd "$scratch/initramfs.cpio" \
    -append "console=ttyS0 quiet panic=-1 hp_nonce=$nonce hp_repo=$repo hp_path=$hp_path" \
    -serial "file:$scratch/console.log" -serial "file:$scratch/output.log" -serial "file:$scratch/result" \
    -pidfile "$scratch/qemu.pid" </dev/null >"$scratch/qemu.log" 2>&1 &
  vm_pid=$!
  # The tests' output, live, until the VM is gone.
  tail -n +1 -f --pid="$vm_pid" "$scratch/output.log" &
  tail_pid=$!
  while kill -0 "$vm_pid" 2>/dev/null; do
    if ((!booted)); then
      if grep -aq "^hp-vm-booted $nonce" "$scratch/result"; then
        booted=1
        echo "$PROG: the VM reached PID 1 after $((($(date +%s%N) - start) / 1000000)) ms" >&2
      elif grep -q 'KVM internal error' "$scratch/qemu.log"; then
        echo "$PROG: KVM stopped the VM before it reached PID 1 (qemu's log below)" >&2
        stop "$(cat "$scratch/qemu.pid" 2>/dev/null)"
        stop "$vm_pid"
      elif (((($(date +%s%N) - start) / 1000000000) >= BOOT_BOUND)); then
        echo "$PROG: the VM did not reach PID 1 under $how within ${BOOT_BOUND}s" >&2
        stop "$(cat "$scratch/qemu.pid" 2>/dev/null)"
        stop "$vm_pid"
      fi
    fi
    sleep 0.2
  done
  wait "$vm_pid" || vm_status=$?
  vm_pid=""
  wait "$tail_pid" || true
  tail_pid=""
  wait "$vfs_pid" 2>/dev/null || true
  vfs_pid=""
  now=$(date +%s%N)
  if grep -aq "^hp-vm-booted $nonce" "$scratch/result"; then booted=1; fi
  result="$(grep -a "^hp-vm-result $nonce " "$scratch/result" | tail -n1 || true)"
  echo "$PROG: qemu exited with status $vm_status$( ((vm_status == 124)) && echo " (killed at the ${bound}s bound)") after $(((now - start) / 1000000)) ms" >&2
  if [[ -z "$result" ]]; then
    {
      echo "--- qemu:"
      cat "$scratch/qemu.log"
      echo "--- kernel console (last 60 lines):"
      tail -n 60 "$scratch/console.log"
      echo "--- virtiofsd:"
      cat "$scratch/virtiofsd.log"
    } >&2
  fi
}

nonce="$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
for a in "${accels[@]}"; do
  run_vm "$a"
  [[ -n "$result" ]] && break
  if ((!booted)) && [[ "$a" == kvm && "${#accels[@]}" -gt 1 ]]; then
    echo "$PROG: KVM could not run the VM; running it again under TCG" >&2
    continue
  fi
  break
done
[[ -n "$result" ]] || die "the VM never reported a result"
status="$(sed -E 's/.* status=([0-9]+).*/\1/' <<<"$result")"
[[ "$status" =~ ^[0-9]+$ ]] || die "unreadable result from the VM: $result"
echo "$PROG: the VM reported ${result#"hp-vm-result $nonce "}" >&2
if ((status != 0)); then
  echo "--- kernel console (last 30 lines):" >&2
  tail -n 30 "$scratch/console.log" >&2 || true
fi
exit "$status"
