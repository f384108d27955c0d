#!/usr/bin/env bash
# Writes the image's CycloneDX SBOM (the program made it from the builder's inventory; it arrives
# on stdin) to SBOM_PATH atomically, and prints its sha256, which the snapshot stores on the image.
#
# Env: SBOM_PATH  where the document goes (<sbomDir>/<image name>.cdx.json)
# Output: the sha256 of the file written.
set -euo pipefail

: "${SBOM_PATH:?SBOM_PATH is required}"
mkdir -p "$(dirname "$SBOM_PATH")"
cat >"$SBOM_PATH.tmp"
[ -s "$SBOM_PATH.tmp" ] || {
  echo "write-sbom: no SBOM on stdin" >&2
  exit 1
}
mv "$SBOM_PATH.tmp" "$SBOM_PATH"
printf '==> sbom: %s\n' "$SBOM_PATH" >&2
sha256sum "$SBOM_PATH" | cut -d' ' -f1
