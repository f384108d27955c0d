#!/usr/bin/env bash
# Prints the last lines of a QEMU builder's serial console, for error messages.
#
# Env: WORK_DIR (builder folder), LINES (default 30)
set -euo pipefail
log="${WORK_DIR:?WORK_DIR is required}/serial.log"
if [ -s "$log" ]; then
  tail -n "${LINES:-30}" "$log" | tr -d '\r'
else
  echo "(the serial console $log is empty: the guest printed nothing)"
fi
