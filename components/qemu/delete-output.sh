#!/usr/bin/env bash
# Deletes a local image (qcow2 or ova) and the files written beside it (.sha256, .json): the
# image record's delete command. The record is the JSON line its create printed.
#
# Env:
#   PULUMI_COMMAND_STDOUT  the record's stdout: one JSON line with "id", the image's path
set -euo pipefail

image_path() {
  printf '%s' "${PULUMI_COMMAND_STDOUT:-}" | python3 -c 'import json,sys
lines = sys.stdin.read().strip().splitlines()
print(json.loads(lines[-1])["id"] if lines else "")'
}

main() {
  local image
  image=$(image_path)
  if [ -z "$image" ]; then
    echo "qemu-delete-output: no image recorded; nothing to delete" >&2
    return 0
  fi
  case "$image" in
    *.qcow2 | *.ova) ;;
    *)
      echo "qemu-delete-output: refusing to delete $image (not a .qcow2 or .ova)" >&2
      return 1
      ;;
  esac
  rm -f "$image" "$image.sha256" "$image.json"
  echo "==> deleted $image" >&2
}

main "$@"
