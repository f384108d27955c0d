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
#   POLL_SECONDS      pause between checks that qemu exited (default 0.2)
#   MONITOR_DELAY     seconds to let the QEMU monitor greet and then act on a command (default 0.5)
set -euo pipefail

# shellcheck source=components/qemu/proc-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/proc-lib.sh"

log() { printf '==> qemu: %s\n' "$*" >&2; }

: "${WORK_DIR:?WORK_DIR is required}"
timeout_s="${SHUTDOWN_TIMEOUT:-300}"
pidfile="$WORK_DIR/qemu.pid"
monitor="$WORK_DIR/monitor.sock"

# Connects by a relative path from WORK_DIR: unix socket paths are limited to 107 bytes. Sends
# one HMP command between two pauses (MONITOR_DELAY seconds, default 0.5), ignores any failure.
monitor_command() {
  # shellcheck disable=SC2016 # JavaScript, not shell
  (cd "$(dirname "$monitor")" &&
    MONITOR_SOCKET=$(basename "$monitor") MONITOR_COMMAND=$1 node -e '
const delay = Number(process.env.MONITOR_DELAY || "0.5") * 1000;
const socket = require("node:net").connect(process.env.MONITOR_SOCKET);
socket.setTimeout(5000, () => socket.destroy());
socket.on("error", () => process.exit(0));
socket.on("connect", () =>
  setTimeout(() => {
    socket.write(`${process.env.MONITOR_COMMAND}\n`);
    setTimeout(() => socket.destroy(), delay);
  }, delay / 2),
);') >/dev/null 2>&1 || true
}

sysrq_poweroff() {
  local key
  for key in s u o; do
    monitor_command "sendkey alt-sysrq-$key"
    sleep 3
  done
}

is_running() { builder_alive "$pid" "$WORK_DIR"; }

wait_for_exit() {
  local seconds=$1 poll="${POLL_SECONDS:-0.2}" deadline
  deadline=$(($(date +%s) + seconds))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    is_running || return 0
    sleep "$poll"
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
