#!/usr/bin/env bash
# Starts a QEMU builder for the lifecycle: labels its work folder with the build and generation
# it serves (the probe reads them to resume a running builder), then runs start.sh.
#
# Env: BUILD (final image name), GEN (builder generation), WORK_DIR, and start.sh's inputs.
# Output: start.sh's (the SSH port).
set -euo pipefail

: "${BUILD:?BUILD is required}" "${GEN:?GEN is required}" "${WORK_DIR:?WORK_DIR is required}"
mkdir -p "$WORK_DIR"
printf '%s\n' "$BUILD" >"$WORK_DIR/build"
printf '%s\n' "$GEN" >"$WORK_DIR/gen"
exec bash "$(dirname "${BASH_SOURCE[0]}")/start.sh"
