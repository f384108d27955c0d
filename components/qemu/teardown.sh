#!/usr/bin/env bash
# Removes builders of the local platforms (the lifecycle's teardown): kills their qemu and deletes
# their work folders, with the partial image of a conversion one did not finish. With WORK_DIR, or
# GEN (the delete of a start step), that one builder; otherwise every builder and boot-test folder
# of this stack, <cache>/builds/<STACK_TAG>/*, whatever build or generation made it: so it also
# cleans up after failed or abandoned builds.
#
# Env:
#   WORK_DIR             one builder folder; or
#   STACK_TAG GEN        one builder of this stack; or
#   STACK_TAG            every builder folder of this stack
#   CACHE_DIR            optional (paths-lib.sh)
set -euo pipefail

# shellcheck source=components/qemu/proc-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/proc-lib.sh"
# shellcheck source=components/qemu/paths-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/paths-lib.sh"

log() { printf '==> qemu: %s\n' "$*" >&2; }

# The partial image of a conversion the builder's snapshot step did not finish (snapshot.sh),
# and its stack's pending folder (.pending/<STACK_TAG>) when nothing else is in it.
remove_partial_conversion() {
  local partial folder
  partial=$(cat "$(dse_conversion_record "$1")" 2>/dev/null) || return 0
  case "$partial" in
    *.qcow2.tmp) rm -f -- "$partial" ;;
    *) return 0 ;;
  esac
  folder=$(dirname "$partial")
  if [ "$(basename "$(dirname "$folder")")" = .pending ]; then
    rmdir -- "$folder" 2>/dev/null || true
  fi
}

remove_builder() {
  local work=$1 pid
  [ -d "$work" ] || return 0
  remove_partial_conversion "$work"
  pid=$(cat "$work/qemu.pid" 2>/dev/null || true)
  if builder_alive "$pid" "$work"; then
    log "stopping builder $work (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do builder_alive "$pid" "$work" || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}

main() {
  if [ -n "${WORK_DIR:-}" ]; then
    remove_builder "$WORK_DIR"
    return 0
  fi
  if [ -n "${GEN:-}" ]; then
    remove_builder "$(dse_builder_dir)"
    return 0
  fi
  : "${STACK_TAG:?STACK_TAG is required}"
  local work
  for work in "$(dse_cache_dir)/builds/$STACK_TAG"/*; do
    [ -d "$work" ] && remove_builder "$work"
  done
  return 0
}

main "$@"
