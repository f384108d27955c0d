#!/usr/bin/env bash
# Prints the QEMU accelerator to use on this host: `kvm` or `tcg` (stdout holds only that word).
# The decision and why go to stderr as one line, e.g.
#   detect-accel: kvm: long-mode probe ran in 0.2 s
#   detect-accel: tcg: /dev/kvm missing
#   detect-accel: tcg: KVM long-mode probe produced no output in 10 s (nested KVM that cannot
#                 run a 64-bit guest)
#
# KVM only counts when /dev/kvm exists, is read/writable AND a 64-bit guest really runs under it
# and writes within PROBE_TIMEOUT seconds. Nested KVM in some clouds opens /dev/kvm and even runs
# a real-mode boot sector, but a Linux kernel then prints nothing for minutes: that would turn a
# slow-but-working TCG build into a stuck one. The probe guest is
#   - PROBE_KERNEL (with PROBE_INITRD) when set: the base's own kernel, booted with
#     console=ttyS0; it counts once it hands over to user space (runs the initramfs's init, or
#     without an initrd fails to mount a root): a kernel under broken nested KVM can write its
#     first lines and then hang, as one did in CI right after switching its clocksource;
#   - otherwise longmode-probe/probe.bin: a boot sector that enters long mode and, from 64-bit
#     code only, writes "LM64" to the serial port and 0x2a to isa-debug-exit (QEMU exits 85).
# The probe runs under `timeout` (its own process group): nothing of it outlives this script.
#
# Env:
#   DSE_ACCEL      kvm | tcg | auto (default auto). kvm/tcg are printed as given, no probing.
#                  Under kvm, start.sh still falls back to tcg when its guest stays silent.
#   QEMU_SYSTEM    QEMU binary (default qemu-system-x86_64)
#   PROBE_TIMEOUT  seconds the probe guest may take to write (default 10)
#   PROBE_KERNEL   optional kernel to probe with (bases booted by kernel); PROBE_INITRD its initrd
#   KVM_DEVICE     the KVM device to check (default /dev/kvm; tests point it at a fake file)
# Exit status 0 in every auto case; 2 for an invalid DSE_ACCEL.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
accel="${DSE_ACCEL:-auto}"
qemu="${QEMU_SYSTEM:-qemu-system-x86_64}"
probe_timeout="${PROBE_TIMEOUT:-10}"
probe_kernel="${PROBE_KERNEL:-}"
probe_initrd="${PROBE_INITRD:-}"
kvm_device="${KVM_DEVICE:-/dev/kvm}"
longmode_probe="$here/longmode-probe/probe.bin"
# What probe.asm writes from 64-bit code: the serial marker and QEMU's exit status.
LONGMODE_MARKER=LM64
LONGMODE_EXIT=85
# What the probe kernel writes once all its drivers and timers are set up and it hands over to
# user space: init from the initrd, or (no initrd, no root= given) the failed root mount.
KERNEL_BOOTED='Run .* as init process|Freeing unused kernel|VFS: Unable to mount root'

tmp=""
probe_pid=""
probe_rc=0
reason=""

# Ends the probe's timeout, then whatever is left of its process group (timeout makes its own):
# timeout forwards our SIGTERM to that group, but should timeout die first, QEMU would stay.
stop_probe() {
  kill "$probe_pid" 2>/dev/null || true
  wait "$probe_pid" 2>/dev/null || probe_rc=$?
  kill -KILL -- "-$probe_pid" 2>/dev/null || true
  probe_pid=""
}

remove_probe_leftovers() {
  [ -z "$probe_pid" ] || stop_probe
  [ -z "$tmp" ] || rm -rf "$tmp"
}

# The decision: the choice on stdout, the choice and why on stderr.
report() {
  local choice=$1 why=$2
  printf 'detect-accel: %s: %s\n' "$choice" "$why" >&2
  echo "$choice"
}

# True when the KVM device can be opened and QEMU exists; otherwise sets reason.
kvm_device_usable() {
  if [ ! -e "$kvm_device" ]; then
    reason="$kvm_device missing"
  elif [ ! -r "$kvm_device" ] || [ ! -w "$kvm_device" ]; then
    reason="$kvm_device is not readable and writable by uid $(id -u) (add the user to group kvm)"
  elif ! command -v "$qemu" >/dev/null 2>&1; then
    reason="$qemu not found"
  else
    return 0
  fi
  return 1
}

milliseconds_now() { date +%s%3N; }

seconds_since() {
  local ms=$(($(milliseconds_now) - $1))
  printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100))
}

# Starts "$qemu -accel kvm ... $*" under timeout in the background (probe_pid); the guest's
# serial output goes to $tmp/serial.log, QEMU's stderr to $tmp/qemu.err.
start_probe_guest() {
  : >"$tmp/serial.log"
  timeout --kill-after=2 "$probe_timeout" "$qemu" -accel kvm -cpu host -machine pc -nodefaults \
    -display none -no-reboot -serial "file:$tmp/serial.log" "$@" \
    </dev/null >/dev/null 2>"$tmp/qemu.err" &
  probe_pid=$!
}

# True when the serial log holds the extended regular expression $1.
serial_shows() {
  grep -qE "$1" "$tmp/serial.log"
}

# Waits until the serial log shows $1 (serial_shows) or the probe guest ended, then ends a
# probe still running. Sets probe_rc: QEMU's exit status, 124 or 137 after the timeout.
wait_for_probe_output() {
  local marker=$1
  while kill -0 "$probe_pid" 2>/dev/null && ! serial_shows "$marker"; do
    sleep 0.1
  done
  probe_rc=0
  stop_probe
}

# Why the probe guest $1 did not count, from probe_rc and QEMU's last error line.
probe_failure() {
  local what=$1 err
  case "$probe_rc" in
    124 | 137)
      echo "$what produced no output in $probe_timeout s (nested KVM that cannot run a 64-bit guest)"
      ;;
    *)
      err=$(tail -n 1 "$tmp/qemu.err" 2>/dev/null || true)
      echo "$what failed: qemu exited $probe_rc without guest output${err:+: $err}"
      ;;
  esac
}

# Boots PROBE_KERNEL under KVM; true when it reaches user space in time (KERNEL_BOOTED).
kernel_runs_under_kvm() {
  local name started version
  name=$(basename "$probe_kernel")
  local args=(-m 512 -kernel "$probe_kernel" -append "console=ttyS0 panic=-1")
  [ -z "$probe_initrd" ] || args+=(-initrd "$probe_initrd")
  started=$(milliseconds_now)
  start_probe_guest "${args[@]}"
  wait_for_probe_output "$KERNEL_BOOTED"
  if serial_shows "$KERNEL_BOOTED"; then
    version=$(grep -m1 -o 'Linux version [^ ]*' "$tmp/serial.log" || true)
    reason="kernel $name reached user space in $(seconds_since "$started") s${version:+ ($version)}"
    return 0
  fi
  if [ -s "$tmp/serial.log" ] && { [ "$probe_rc" -eq 124 ] || [ "$probe_rc" -eq 137 ]; }; then
    reason="KVM probe with kernel $name did not reach user space in $probe_timeout s (nested KVM that cannot run it); its last line: $(tail -n 1 "$tmp/serial.log" | tr -d '\r')"
  else
    reason=$(probe_failure "KVM probe with kernel $name")
  fi
  return 1
}

# Boots longmode-probe/probe.bin under KVM; true when its 64-bit code wrote the serial marker
# or set QEMU's exit status through isa-debug-exit.
longmode_probe_runs_under_kvm() {
  local started
  if [ ! -f "$longmode_probe" ]; then
    reason="long-mode probe $longmode_probe missing"
    return 1
  fi
  # A private copy: QEMU write-locks its disks, and parallel probes must not share one.
  cp "$longmode_probe" "$tmp/probe.bin"
  started=$(milliseconds_now)
  start_probe_guest -m 32 -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
    -drive "file=$tmp/probe.bin,format=raw"
  wait_for_probe_output "$LONGMODE_MARKER"
  if serial_shows "$LONGMODE_MARKER" || [ "$probe_rc" -eq "$LONGMODE_EXIT" ]; then
    reason="long-mode probe ran in $(seconds_since "$started") s"
    return 0
  fi
  reason=$(probe_failure "KVM long-mode probe")
  return 1
}

# True when a 64-bit guest runs under KVM: the base's kernel when given, else the boot sector.
a_64_bit_guest_runs_under_kvm() {
  if [ -n "$probe_kernel" ]; then
    if [ -f "$probe_kernel" ]; then
      kernel_runs_under_kvm
      return
    fi
    echo "detect-accel: PROBE_KERNEL $probe_kernel missing; probing with the long-mode boot sector" >&2
  fi
  longmode_probe_runs_under_kvm
}

main() {
  case "$accel" in
    kvm | tcg)
      report "$accel" "DSE_ACCEL=$accel (no probe)"
      return 0
      ;;
    auto | "") ;;
    *)
      echo "detect-accel: DSE_ACCEL must be kvm, tcg or auto, got '$accel'" >&2
      exit 2
      ;;
  esac
  if ! kvm_device_usable; then
    report tcg "$reason"
    return 0
  fi
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/dse-accel.XXXXXX")
  trap remove_probe_leftovers EXIT
  if a_64_bit_guest_runs_under_kvm; then
    report kvm "$reason"
  else
    report tcg "$reason"
  fi
}

main "$@"
