#!/usr/bin/env bash
# Starts the QEMU builder in the background: an overlay qcow2 on the cached base (the base is
# never written), the NoCloud seed as a second disk, SSH forwarded from a free 127.0.0.1 port,
# -no-reboot so a guest poweroff (onFailure, TTL) ends qemu. Arms a host-side watchdog
# (watchdog.sh) that kills qemu after the TTL and removes WORK_DIR once qemu is gone,
# unless stop.sh claimed it for the export.
#
# Env:
#   BASE_IMAGE           base image (qcow2 or raw), from fetch-base.ts; relative to the current
#                        folder (the overlay names it by its absolute path)
#   WORK_DIR             builder folder: overlay.qcow2, qemu.pid, monitor.sock, serial.log
#   SEED_PATH            NoCloud seed ISO from make-seed.sh
#   DISK_SIZE_GB         overlay size (never smaller than the base)
#   MEMORY_MB, CPUS      builder size
#   DSE_ACCEL            auto | kvm | tcg, resolved by detect-accel.sh (its probe guest is KERNEL
#                        and INITRD when set); PROBE_TIMEOUT and KVM_DEVICE pass through to it
#   KVM_SERIAL_TIMEOUT   seconds a kvm builder may leave the serial log empty before it is
#                        restarted under tcg (default 20; 0: not watched)
#   BOOT_STALL_SECONDS   seconds the guest's kernel may write nothing to the serial log before
#                        it runs init; a guest stalled longer is restarted (kvm: under tcg;
#                        tcg: up to 3 boots in all). Default 60; 0: not watched
#   KERNEL, INITRD, APPEND  optional direct kernel boot (base disks without a bootloader)
#   BUILDER_TTL_MINUTES  the watchdog kills qemu this many minutes (+5 grace) after the start
#   QEMU_SYSTEM          QEMU binary (default qemu-system-x86_64)
# Output: the SSH port on stdout; progress on stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
qemu="${QEMU_SYSTEM:-qemu-system-x86_64}"

# shellcheck source=components/qemu/proc-lib.sh
. "$here/proc-lib.sh"

log() { printf '==> qemu: %s\n' "$*" >&2; }
die() {
  printf 'qemu-start: %s\n' "$*" >&2
  exit 1
}

: "${BASE_IMAGE:?BASE_IMAGE is required}"
# qemu-img resolves a relative backing file against the overlay's folder, not this one.
BASE_IMAGE=$(realpath "$BASE_IMAGE")
: "${WORK_DIR:?WORK_DIR is required}"
: "${SEED_PATH:?SEED_PATH is required}"
DISK_SIZE_GB="${DISK_SIZE_GB:-20}"
MEMORY_MB="${MEMORY_MB:-2048}"
CPUS="${CPUS:-2}"
BUILDER_TTL_MINUTES="${BUILDER_TTL_MINUTES:-120}"
kvm_serial_timeout="${KVM_SERIAL_TIMEOUT:-20}"
boot_stall="${BOOT_STALL_SECONDS:-60}"

overlay="$WORK_DIR/overlay.qcow2"
pidfile="$WORK_DIR/qemu.pid"

# Stops builder qemu $1 (SIGTERM, then SIGKILL after 10 s) and removes its pidfile.
stop_builder() {
  local pid=$1
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 20); do builder_alive "$pid" "$WORK_DIR" || break; sleep 0.5; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

stop_stale_builder() {
  local pid
  pid=$(cat "$pidfile" 2>/dev/null) || return 0
  if builder_alive "$pid" "$WORK_DIR"; then
    log "stopping a builder left by an earlier run (pid $pid)"
    stop_builder "$pid"
  fi
  rm -f "$pidfile"
}

# "<format> <virtual size in bytes>" of an image (node reads qemu-img's JSON: no python3 needed).
image_info() {
  qemu-img info --output=json "$1" | node -e '
let text = "";
process.stdin.on("data", (chunk) => (text += chunk));
process.stdin.on("end", () => {
  const info = JSON.parse(text);
  console.log(info.format, info["virtual-size"]);
});'
}

create_overlay() {
  local format size want
  read -r format size < <(image_info "$BASE_IMAGE")
  rm -f "$overlay"
  qemu-img create -q -f qcow2 -F "$format" -b "$BASE_IMAGE" "$overlay"
  want=$((DISK_SIZE_GB * 1024 * 1024 * 1024))
  if [ "$want" -gt "$size" ]; then
    qemu-img resize -q "$overlay" "$want"
  fi
  log "overlay $overlay on $BASE_IMAGE ($format), $((want > size ? want : size)) bytes"
}

free_port() {
  node -e '
const server = require("node:net").createServer();
server.listen(0, "127.0.0.1", () => {
  console.log(server.address().port);
  server.close();
});'
}

qemu_args() {
  local accel=$1 port=$2
  local cpu=max accel_opt="tcg,thread=multi"
  if [ "$accel" = kvm ]; then
    cpu=host
    accel_opt=kvm
  fi
  args=(
    -name dse-builder -machine pc -accel "$accel_opt" -cpu "$cpu" -nodefaults
    -m "$MEMORY_MB" -smp "$CPUS"
    -drive "file=$overlay,if=virtio,format=qcow2,discard=unmap,detect-zeroes=unmap"
    -drive "file=$SEED_PATH,if=virtio,format=raw,readonly=on"
    -netdev "user,id=net0,hostfwd=tcp:127.0.0.1:$port-:22"
    -device "virtio-net-pci,netdev=net0" -device virtio-rng-pci
    -display none -serial "file:$WORK_DIR/serial.log"
    -monitor "unix:monitor.sock,server,nowait"
    -no-reboot -daemonize -pidfile "$pidfile"
  )
  if [ -n "${KERNEL:-}" ]; then
    args+=(-kernel "$KERNEL")
    [ -n "${INITRD:-}" ] && args+=(-initrd "$INITRD")
    [ -n "${APPEND:-}" ] && args+=(-append "$APPEND")
  fi
}

start_qemu() {
  local accel=$1 port attempt
  for attempt in 1 2 3 4 5; do
    port=$(free_port)
    qemu_args "$accel" "$port"
    # Started from WORK_DIR: the monitor socket's relative path stays short (a unix socket path
    # is limited to 107 bytes, and WORK_DIR under a cache folder can be longer).
    if (cd "$WORK_DIR" && "$qemu" "${args[@]}" 2>"$WORK_DIR/qemu.err"); then
      echo "$port"
      return 0
    fi
    log "qemu did not start (attempt $attempt): $(tail -n 3 "$WORK_DIR/qemu.err")"
  done
  die "qemu failed to start; last error: $(cat "$WORK_DIR/qemu.err")"
}

# The builder's accelerator from detect-accel.sh, which probes KVM with the base's own kernel
# when it boots by kernel. Its decision and why go to stderr.
choose_accelerator() {
  DSE_ACCEL="${DSE_ACCEL:-auto}" QEMU_SYSTEM="$qemu" \
    PROBE_KERNEL="${KERNEL:-}" PROBE_INITRD="${INITRD:-}" bash "$here/detect-accel.sh"
}

# What the guest writes to the serial console once its kernel hands over to user space: the
# kernel's own lines (init from an initramfs or the root filesystem; older kernels only free
# their init memory), or, for a kernel whose log level hides those, systemd's, cloud-init's or a
# login prompt. Also when it panics. "Linux version" opens every kernel log that reaches this
# console at its default level (not `quiet`): only then can a silence mean a stall.
KERNEL_RAN_INIT='Run .* as init process|Freeing unused kernel|systemd\[1\]|cloud-init\[|login: '
KERNEL_PANICKED='Kernel panic - not syncing'
KERNEL_VERBOSE='Linux version '
BOOTS=3

# Sets `now` to the tenths of a second since the epoch, by the wall clock (bash's EPOCHREALTIME,
# whose decimal mark follows the locale): no process, as it runs at every poll of watch_boot.
clock() {
  local micros=${EPOCHREALTIME/[.,]/}
  now=$((10#$micros / 100000))
}

# Follows the serial log of guest $2 (qemu pid), started under $1, until its boot can be judged;
# sets boot_outcome and boot_why:
#   booted   the kernel ran init, panicked (wait-ssh shows the console), or its boot cannot be
#            followed (no kernel messages on this console, `quiet`, or still writing after
#            5 x BOOT_STALL_SECONDS)
#   exited   qemu is gone
#   silent   kvm only: the serial log stayed empty for KVM_SERIAL_TIMEOUT seconds
#   stalled  the kernel wrote nothing for BOOT_STALL_SECONDS before running init: a guest that
#            hangs at boot (nested KVM that passed the probe; rarely TCG, seen stuck for ten
#            minutes right after "clocksource: Switched to clocksource hpet") never reaches SSH.
# test/vm/boot-watch.ts applies the same rule to the VMs the test harness runs itself.
watch_boot() {
  local accel=$1 pid=$2 serial="$WORK_DIR/serial.log" size=0 bytes silent_for=0 now started changed
  [ "$accel" != kvm ] || silent_for=$kvm_serial_timeout
  boot_outcome=booted boot_why=""
  clock
  started=$now changed=$now
  # Polled twice a second: each poll starts a few processes, which a TCG guest's boot pays for.
  while :; do
    if ! proc_alive "$pid"; then
      boot_outcome=exited boot_why="qemu exited before the guest's kernel ran init"
      [ -s "$serial" ] || boot_why="qemu exited before the guest wrote to the serial console"
      return 0
    fi
    clock
    bytes=$(stat -c %s "$serial" 2>/dev/null || echo 0)
    if [ "$bytes" -ne "$size" ]; then
      size=$bytes changed=$now
      ! grep -qE "$KERNEL_RAN_INIT|$KERNEL_PANICKED" "$serial" || return 0
    fi
    if [ "$size" -eq 0 ] && [ "$silent_for" -gt 0 ] &&
      [ $((now - started)) -ge $((silent_for * 10)) ]; then
      boot_outcome=silent
      boot_why="the guest wrote nothing to the serial console in ${silent_for} s"
      return 0
    fi
    if [ "$boot_stall" -eq 0 ]; then
      # Only kvm's silence is watched: done once the log has output (or that watch is off).
      [ "$size" -eq 0 ] && [ "$silent_for" -gt 0 ] || return 0
    elif [ $((now - changed)) -ge $((boot_stall * 10)) ]; then
      if grep -qF "$KERNEL_VERBOSE" "$serial"; then
        boot_outcome=stalled
        boot_why="the guest's kernel wrote nothing for ${boot_stall} s before running init (its last line: $(tail -n 1 "$serial" | tr -d '\r'))"
      fi
      return 0
    elif [ $((now - started)) -ge $((boot_stall * 50)) ]; then
      return 0
    fi
    sleep 0.5
  done
}

# Starts qemu under $1, follows its boot (watch_boot) and prints "<accel> <ssh port>". A guest
# that stays silent, exits or stalls under kvm starts again under tcg; one that stalls under tcg
# starts again, up to BOOTS boots in all. Each start is on a fresh overlay: the stopped guest may
# have written to its disk.
start_watched_builder() {
  local accel=$1 boot=1 port pid
  [[ "$kvm_serial_timeout" =~ ^[0-9]+$ ]] ||
    die "KVM_SERIAL_TIMEOUT must be whole seconds, got '$kvm_serial_timeout'"
  [[ "$boot_stall" =~ ^[0-9]+$ ]] || die "BOOT_STALL_SECONDS must be whole seconds, got '$boot_stall'"
  while :; do
    rm -f "$WORK_DIR/serial.log"
    port=$(start_qemu "$accel") || exit 1
    # QEMU removes its pidfile when it exits (not when killed): a qemu that already died leaves
    # none.
    pid=$(cat "$pidfile" 2>/dev/null || true)
    watch_boot "$accel" "$pid"
    case "$boot_outcome" in
      booted) break ;;
      exited) [ "$accel" = kvm ] || break ;;
    esac
    if [ "$accel" = kvm ]; then
      log "kvm: $boot_why; restarting the builder under tcg"
      accel=tcg
    elif [ "$boot" -ge "$BOOTS" ]; then
      die "the builder did not boot in $BOOTS boots; the last, under tcg: $boot_why"
    else
      log "tcg: $boot_why; restarting the builder (boot $((boot + 1)) of $BOOTS)"
    fi
    boot=$((boot + 1))
    stop_builder "$pid"
    create_overlay
  done
  echo "$accel $port"
}

arm_watchdog() {
  local pid=$1 deadline
  deadline=$(($(date +%s) + (BUILDER_TTL_MINUTES + 5) * 60))
  WORK_DIR="$WORK_DIR" QEMU_PID="$pid" DEADLINE="$deadline" BUILDER_TOKEN="$token" \
    setsid -f bash "$here/watchdog.sh" </dev/null >/dev/null 2>&1
}

remove_work_dir_on_failure() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null
    rm -rf "$WORK_DIR"
  fi
  exit "$rc"
}

main() {
  [ -f "$SEED_PATH" ] || die "seed $SEED_PATH is missing (make-seed.sh runs first)"
  mkdir -p "$WORK_DIR"
  # This start's own token, written before an earlier qemu in this folder is stopped: that
  # qemu's watchdog (polling every 3 s) then sees another token and leaves the folder to this
  # start instead of removing it under it.
  token="$$-$(date +%s%N)"
  printf '%s\n' "$token" >"$WORK_DIR/.dse-builder"
  stop_stale_builder
  rm -f "$WORK_DIR/export.claim"
  trap remove_work_dir_on_failure EXIT
  local accel port pid started
  accel=$(choose_accelerator)
  create_overlay
  started=$(start_watched_builder "$accel")
  read -r accel port <<<"$started"
  pid=$(cat "$pidfile" 2>/dev/null) || die "qemu exited as soon as it started; serial log: $WORK_DIR/serial.log"
  arm_watchdog "$pid"
  log "builder running (pid $pid, accel $accel), SSH on 127.0.0.1:$port, serial log $WORK_DIR/serial.log"
  echo "$port"
}

main "$@"
