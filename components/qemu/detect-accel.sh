#!/usr/bin/env bash
# Prints the QEMU accelerator to use on this host: `kvm` or `tcg`.
#
# KVM only counts when /dev/kvm exists, is read/writable AND a tiny guest really runs under it:
# nested KVM in some clouds opens fine and then hangs or fails the first VM entry, which would
# turn a slow-but-working TCG build into a stuck one.
#
# Env:
#   DSE_ACCEL      kvm | tcg | auto (default auto). kvm/tcg are printed as given, no probing.
#   QEMU_SYSTEM    QEMU binary (default qemu-system-x86_64)
#   PROBE_TIMEOUT  seconds the probe guest may take (default 15)
# Exit status 0 in every auto case; 2 for an invalid DSE_ACCEL.
set -euo pipefail

accel="${DSE_ACCEL:-auto}"
qemu="${QEMU_SYSTEM:-qemu-system-x86_64}"
probe_timeout="${PROBE_TIMEOUT:-15}"

case "$accel" in
  kvm | tcg)
    echo "$accel"
    exit 0
    ;;
  auto | "") ;;
  *)
    echo "detect-accel: DSE_ACCEL must be kvm, tcg or auto, got '$accel'" >&2
    exit 2
    ;;
esac

if [ ! -e /dev/kvm ] || [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ] || ! command -v "$qemu" >/dev/null 2>&1; then
  echo tcg
  exit 0
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/dse-accel.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# A boot sector that writes 1 to the isa-debug-exit port: QEMU then exits with (1 << 1) | 1 = 3.
# Code: mov al,1 (b0 01); out 0xf4,al (e6 f4); hlt (f4); then padding and the 0x55aa signature.
{
  printf '\260\001\346\364\364'
  head -c 505 /dev/zero
  printf '\125\252'
} >"$tmp/boot.raw"

rc=0
timeout "$probe_timeout" "$qemu" -accel kvm -nodefaults -display none -no-reboot \
  -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
  -drive "file=$tmp/boot.raw,format=raw" >/dev/null 2>&1 || rc=$?

if [ "$rc" -eq 3 ]; then
  echo kvm
else
  echo "detect-accel: KVM probe guest did not run (exit $rc); using tcg" >&2
  echo tcg
fi
