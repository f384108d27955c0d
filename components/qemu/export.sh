#!/usr/bin/env bash
# The QEMU image step (the image record's create): converts the stopped builder's overlay into
# a standalone compressed qcow2 <OUTPUT_DIR>/<IMAGE_NAME>.qcow2, writes its .sha256 and the
# record JSON (with verify.sh's manifest) beside it, and removes WORK_DIR (overlay, seed,
# pidfile, logs) whether it succeeds or not. Without a builder disk but with a matching image
# already there (state lost, same outputDir), it prints that image's record instead.
#
# Env:
#   WORK_DIR      builder folder (after stop.sh); empty when no builder was declared
#   OUTPUT_DIR    output folder
#   IMAGE_NAME    <imageName>-<fingerprint prefix>
#   FINGERPRINT   full build fingerprint
#   SOURCE_IMAGE  base image URL (recorded)
#   MANIFEST      verify.sh's JSON
# Output: one JSON line {id, name, createdAt, manifest, sha256, fingerprint, sourceImage}.
set -euo pipefail

# shellcheck source=components/qemu/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

log() { printf '==> qemu: %s\n' "$*" >&2; }
die() {
  printf 'qemu-export: %s\n' "$*" >&2
  exit 1
}

: "${OUTPUT_DIR:?OUTPUT_DIR is required}"
: "${IMAGE_NAME:?IMAGE_NAME is required}"
work="${WORK_DIR:-}"

remove_builder_files() {
  if [ -n "$work" ] && [ -f "$work/.dse-builder" ]; then
    local pid
    pid=$(cat "$work/qemu.pid" 2>/dev/null || true)
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
    rm -rf "$work"
  fi
  return 0
}



export_overlay() {
  local out=$1 pid
  pid=$(cat "$work/qemu.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    die "the builder (pid $pid) is still running; stop.sh runs first"
  fi
  log "converting $work/overlay.qcow2 to $out (compressed)"
  # -W: out-of-order writes let the compression run on every core (about twice as fast on two,
  # same size and content; `qemu-img compare` finds the images identical).
  qemu-img convert -c -W -O qcow2 "$work/overlay.qcow2" "$out.tmp"
  mv "$out.tmp" "$out"
  local sum
  sum=$(write_sha256 "$out")
  write_record "$out" "$sum"
  log "image $out ($(du -h "$out" | cut -f1), sha256 $sum)"
}

main() {
  trap remove_builder_files EXIT
  mkdir -p "$OUTPUT_DIR"
  local out
  out="$(realpath "$OUTPUT_DIR")/$IMAGE_NAME.qcow2"
  if [ -n "$work" ] && [ -f "$work/overlay.qcow2" ]; then
    export_overlay "$out"
  elif sha256_matches "$out" && [ -f "$out.json" ]; then
    log "image $out already exists; recording it"
  else
    die "no builder disk in ${work:-(no builder)} and no image $out with a matching .sha256"
  fi
  print_record "$out"
}

main "$@"
