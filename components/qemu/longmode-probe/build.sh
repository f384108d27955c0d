#!/usr/bin/env bash
# Assembles the long-mode probe (probe.asm) into the 512-byte boot sector detect-accel.sh boots.
# The result is committed as probe.bin, so only someone changing probe.asm needs nasm.
#
# Env:
#   OUT   where to write the boot sector (default: probe.bin next to this script)
# Exit status: nasm's; 1 when nasm is missing or the result is not 512 bytes.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out="${OUT:-$here/probe.bin}"

require_nasm() {
  command -v nasm >/dev/null 2>&1 || {
    echo "longmode-probe: nasm is not installed (apt-get install nasm)" >&2
    exit 1
  }
}

assemble_boot_sector() {
  nasm -f bin -o "$out" "$here/probe.asm"
  local size
  size=$(stat -c %s "$out")
  if [ "$size" -ne 512 ]; then
    echo "longmode-probe: $out is $size bytes, a boot sector must be 512" >&2
    exit 1
  fi
}

require_nasm
assemble_boot_sector
