#!/usr/bin/env bash
# The QEMU platform's snapshot (the lifecycle's snapshot step): powers the provisioned builder off
# (stop.sh), converts its overlay into a standalone compressed qcow2 in this stack's pending
# folder <OUTPUT_DIR>/.pending/<STACK_TAG>/<NAME>.qcow2, which the PendingImage resource that runs
# this script records as this stack's pending image (components/store/pending-provider.ts).
# Publishing (after the boot test) moves it to <OUTPUT_DIR>/<NAME>.qcow2.
# `snapshot.sh release` then removes WORK_DIR, once the image is recorded. If the conversion fails
# (or the run dies before the record) the stopped builder stays "sealed" (overlay +
# export.claim), so the next `pulumi up` converts it again instead of building anew.
#
# Env:
#   STACK_TAG GEN     the builder (its folder: paths-lib.sh, with CACHE_DIR)
#   OUTPUT_DIR        output folder (relative to the project folder, or absolute)
#   NAME              final image name, <imageName>-<fp12>-<date>
#   SHUTDOWN_TIMEOUT  seconds the guest gets to power off (stop.sh)
# Output: the pending image's path (as configured), on the last line.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=components/qemu/proc-lib.sh
. "$here/proc-lib.sh"
# shellcheck source=components/qemu/paths-lib.sh
. "$here/paths-lib.sh"

log() { printf '==> qemu: %s\n' "$*" >&2; }
die() {
  printf 'qemu snapshot: %s\n' "$*" >&2
  exit 1
}

WORK_DIR=$(dse_builder_dir)
export WORK_DIR
: "${OUTPUT_DIR:?OUTPUT_DIR is required}"
: "${NAME:?NAME is required}"

stop_builder() {
  if [ -f "$WORK_DIR/export.claim" ] && ! builder_alive "$(cat "$WORK_DIR/qemu.pid" 2>/dev/null || true)" "$WORK_DIR"; then
    log "builder already stopped for its snapshot"
    return 0
  fi
  bash "$here/stop.sh"
}

convert_overlay() {
  local out=$1
  [ -f "$WORK_DIR/overlay.qcow2" ] || die "no builder disk in $WORK_DIR"
  log "converting $WORK_DIR/overlay.qcow2 to $out (compressed)"
  # -W: out-of-order writes let the compression run on every core (about twice as fast on two,
  # same size and content; `qemu-img compare` finds the images identical).
  # A killed conversion leaves its partial image; a retry converts over it, and when none comes
  # (a fingerprint change, a destroy) teardown.sh removes it with this folder.
  realpath -m "$out.tmp" >"$(dse_conversion_record "$WORK_DIR")"
  qemu-img convert -c -W -O qcow2 "$WORK_DIR/overlay.qcow2" "$out.tmp"
  mv "$out.tmp" "$out"
  rm -f "$(dse_conversion_record "$WORK_DIR")"
  log "pending image $out ($(du -h "$out" | cut -f1))"
}

make_pending_image() {
  stop_builder
  local pending_dir out
  # As configured: the pending image's ID (its path) lands in the state (rule P3). One folder per
  # stack: two stacks building the same image at once each convert into their own file
  # (components/store/local.ts `pendingFolder`; publishing settles which one is kept).
  pending_dir="$OUTPUT_DIR/.pending/$STACK_TAG"
  mkdir -p "$pending_dir"
  out="$pending_dir/$NAME.qcow2"
  convert_overlay "$out"
  printf '%s\n' "$out"
}

main() {
  case "${1:-make}" in
    make) make_pending_image ;;
    # Once the image is recorded as pending: until then the sealed builder lets the next run
    # convert again.
    release) rm -rf "$WORK_DIR" ;;
    *) die "usage: snapshot.sh [make|release]" ;;
  esac
}

main "$@"
