#!/usr/bin/env bash
# Prints the last lines of a QEMU builder's serial console, for error messages.
#
# Env: WORK_DIR (builder folder), or STACK_TAG and GEN (with CACHE_DIR: paths-lib.sh);
#      LINES (default 30)
set -euo pipefail
# shellcheck source=components/qemu/paths-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/paths-lib.sh"
log="${WORK_DIR:-$(dse_builder_dir)}/serial.log"
if [ -s "$log" ]; then
  tail -n "${LINES:-30}" "$log" | tr -d '\r'
else
  echo "(the serial console $log is empty: the guest printed nothing)"
fi
