#!/usr/bin/env bash
# Host-side dead-man switch of the QEMU builder, started detached by start.sh: kills qemu
# once DEADLINE passes, and when qemu is gone (powered off after a failed step, killed, or
# stopped) removes WORK_DIR unless stop.sh claimed it for the export (export.claim).
#
# Env:
#   WORK_DIR       builder folder (must hold the .dse-builder marker start.sh writes)
#   QEMU_PID       qemu's pid
#   DEADLINE       epoch seconds after which qemu is killed
#   BUILDER_TOKEN  the token start.sh wrote into .dse-builder for this qemu: another token means
#                  a later start took the folder over, and it is not this watchdog's to remove
set -euo pipefail

: "${WORK_DIR:?}" "${QEMU_PID:?}" "${DEADLINE:?}" "${BUILDER_TOKEN:?}"

# shellcheck source=components/qemu/proc-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/proc-lib.sh"

note() { printf '%s %s\n' "$(date -u +%FT%TZ)" "$*" >>"$WORK_DIR/watchdog.log" 2>/dev/null || true; }

is_running() { builder_alive "$QEMU_PID" "$WORK_DIR"; }

kill_builder() {
  note "builder TTL reached: killing qemu (pid $QEMU_PID)"
  kill "$QEMU_PID" 2>/dev/null || true
  sleep 10
  kill -9 "$QEMU_PID" 2>/dev/null || true
}

wait_for_builder_exit() {
  while is_running; do
    if [ "$(date +%s)" -ge "$DEADLINE" ]; then
      kill_builder
      return 0
    fi
    sleep 3
  done
}

remove_unclaimed_work_dir() {
  local owner
  owner=$(cat "$WORK_DIR/.dse-builder" 2>/dev/null) || return 0
  if [ "$owner" = "$BUILDER_TOKEN" ] && [ ! -e "$WORK_DIR/export.claim" ]; then
    rm -rf "$WORK_DIR"
  fi
}

wait_for_builder_exit
remove_unclaimed_work_dir
