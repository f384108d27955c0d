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
#                        restarted under tcg (default 20; 0: no fallback)
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

overlay="$WORK_DIR/overlay.qcow2"
pidfile="$WORK_DIR/qemu.pid"

stop_stale_builder() {
  local pid
  pid=$(cat "$pidfile" 2>/dev/null) || return 0
  if builder_alive "$pid" "$WORK_DIR"; then
    log "stopping a builder left by an earlier run (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do builder_alive "$pid" "$WORK_DIR" || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
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

# Starts qemu under $1 and prints "<accel> <ssh port>". A kvm guest that leaves the serial log
# empty for KVM_SERIAL_TIMEOUT seconds (nested KVM that passed the probe but cannot run this
# guest) is stopped, and the builder starts again under tcg on a fresh overlay.
start_qemu_with_tcg_fallback() {
  local accel=$1 silent_for="${KVM_SERIAL_TIMEOUT:-20}" serial="$WORK_DIR/serial.log" port pid tenths=0
  [[ "$silent_for" =~ ^[0-9]+$ ]] || die "KVM_SERIAL_TIMEOUT must be whole seconds, got '$silent_for'"
  rm -f "$serial"
  port=$(start_qemu "$accel") || exit 1
  if [ "$accel" != kvm ] || [ "$silent_for" -eq 0 ]; then
    echo "$accel $port"
    return 0
  fi
  # QEMU removes its pidfile when it exits (not when killed): a KVM qemu that already died
  # leaves none.
  pid=$(cat "$pidfile" 2>/dev/null || true)
  while [ ! -s "$serial" ] && proc_alive "$pid" && [ "$tenths" -lt $((silent_for * 10)) ]; do
    sleep 0.1
    tenths=$((tenths + 1))
  done
  if [ -s "$serial" ]; then
    echo "kvm $port"
    return 0
  fi
  local why="the guest wrote nothing to the serial console in ${silent_for} s"
  proc_alive "$pid" || why="qemu exited before the guest wrote to the serial console"
  log "kvm: $why; restarting the builder under tcg"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do proc_alive "$pid" || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile" "$serial"
  create_overlay
  port=$(start_qemu tcg) || exit 1
  echo "tcg $port"
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
  stop_stale_builder
  rm -f "$WORK_DIR/export.claim"
  # This start's own token: a watchdog of an earlier qemu in this folder (stopped above, still
  # polling for up to 3 s) sees another token and leaves the folder to this start.
  token="$$-$(date +%s%N)"
  printf '%s\n' "$token" >"$WORK_DIR/.dse-builder"
  trap remove_work_dir_on_failure EXIT
  local accel port pid started
  accel=$(choose_accelerator)
  create_overlay
  started=$(start_qemu_with_tcg_fallback "$accel")
  read -r accel port <<<"$started"
  pid=$(cat "$pidfile" 2>/dev/null) || die "qemu exited as soon as it started; serial log: $WORK_DIR/serial.log"
  arm_watchdog "$pid"
  log "builder running (pid $pid, accel $accel), SSH on 127.0.0.1:$port, serial log $WORK_DIR/serial.log"
  echo "$port"
}

main "$@"
