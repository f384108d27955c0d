#!/usr/bin/env bash
# Runs QEMU (the arguments) and ties its life to the test process: when WATCH_PID is gone,
# even after a SIGKILL that gave Node no chance to clean up, QEMU is killed and WORK_DIR is
# removed. SIGTERM/SIGINT/SIGHUP to this script stop QEMU too. Exits with QEMU's status.
#
# Env:
#   WATCH_PID  pid of the test process that owns the VM
#   WORK_DIR   the VM's temp dir (overlay, seed, key, logs), removed if WATCH_PID dies
set -euo pipefail
: "${WATCH_PID:?WATCH_PID is required}"
: "${WORK_DIR:?WORK_DIR is required}"

"$@" &
qemu=$!
stop_qemu() {
  kill "$qemu" 2>/dev/null || true
  wait "$qemu" 2>/dev/null || true
}
trap 'stop_qemu; exit 143' TERM INT HUP

while kill -0 "$qemu" 2>/dev/null; do
  if ! kill -0 "$WATCH_PID" 2>/dev/null; then
    stop_qemu
    rm -rf "$WORK_DIR"
    exit 0
  fi
  # A background sleep keeps the traps responsive.
  sleep 1 &
  wait $! || true
done
rc=0
wait "$qemu" || rc=$?
exit "$rc"
