#!/usr/bin/env bash
# Shuts the QEMU builder down cleanly before the export: claims WORK_DIR (so the watchdog leaves
# the overlay to export.sh), presses the ACPI power button through the QEMU monitor, waits
# for qemu to exit. Guests that ignore the button (no logind/acpid, e.g. a minimal Debian) get
# the kernel's SysRq sync, remount read-only and power off through the emulated keyboard; only
# then is qemu quit (it flushes the overlay) and finally killed. On failure it removes WORK_DIR:
# nothing of the builder is left.
#
# Env:
#   WORK_DIR          builder folder from start.sh
#   SHUTDOWN_TIMEOUT  seconds to wait for the guest's poweroff (default 300)
set -euo pipefail

log() { printf '==> qemu: %s\n' "$*" >&2; }

: "${WORK_DIR:?WORK_DIR is required}"
timeout_s="${SHUTDOWN_TIMEOUT:-300}"
pidfile="$WORK_DIR/qemu.pid"
monitor="$WORK_DIR/monitor.sock"

monitor_command() {
  python3 - "$monitor" "$1" <<'PY' >/dev/null 2>&1 || true
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
time.sleep(0.2)
s.sendall((sys.argv[2] + "\n").encode())
time.sleep(0.5)
s.close()
PY
}

sysrq_poweroff() {
  local key
  for key in s u o; do
    monitor_command "sendkey alt-sysrq-$key"
    sleep 3
  done
}

is_running() { [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }

wait_for_exit() {
  local seconds=$1
  for _ in $(seq 1 "$seconds"); do
    is_running || return 0
    sleep 1
  done
  ! is_running
}

remove_work_dir_on_failure() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    is_running && kill -9 "$pid" 2>/dev/null
    rm -rf "$WORK_DIR"
  fi
  exit "$rc"
}

main() {
  [ -f "$WORK_DIR/overlay.qcow2" ] || {
    echo "qemu-stop: no builder in $WORK_DIR (it was stopped or its TTL passed)" >&2
    exit 1
  }
  pid=$(cat "$pidfile" 2>/dev/null || true)
  trap remove_work_dir_on_failure EXIT
  touch "$WORK_DIR/export.claim"
  if ! is_running; then
    log "builder already stopped"
    return 0
  fi
  log "powering the builder off (ACPI)"
  monitor_command system_powerdown
  if wait_for_exit "$timeout_s"; then
    log "builder stopped"
    return 0
  fi
  log "no ACPI poweroff after ${timeout_s}s; SysRq sync, remount read-only, power off"
  sysrq_poweroff
  if wait_for_exit 60; then
    log "builder stopped"
    return 0
  fi
  log "warning: the guest did not power off; quitting qemu"
  monitor_command quit
  wait_for_exit 30 || { kill "$pid" 2>/dev/null || true; wait_for_exit 10 || kill -9 "$pid"; }
  log "builder stopped"
}

main "$@"
