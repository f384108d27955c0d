#!/usr/bin/env bash
# Starts a QEMU builder for the lifecycle (the create of its start step): fetches and checks the
# base (fetch-base.ts), writes the NoCloud seed (make-seed.sh) and labels the work folder with the
# build and generation it serves (the probe reads them to resume a running builder), then runs
# start.sh. One step whose stored environment names no folder of this machine (rule P3): the work
# folder and the cached base are found from CACHE_DIR, STACK_TAG and GEN where it runs.
#
# Env: BUILD (final image name), GEN (builder generation), STACK_TAG, CACHE_DIR (optional),
#      SOURCE_URL and SOURCE_SHA256 (fetch-base.ts), USER_DATA and INSTANCE_ID (make-seed.sh),
#      and start.sh's other inputs (its BASE_IMAGE, WORK_DIR and SEED_PATH are set here).
# Output: one JSON line {"port", "boot"}: the SSH port and a new ID for this start of the builder
# (a restarted builder runs on a fresh overlay, so its identity must change even if its
# port does not: every remote step then runs again on it).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=components/qemu/paths-lib.sh
. "$here/paths-lib.sh"

: "${BUILD:?BUILD is required}" "${GEN:?GEN is required}"
CACHE_DIR=$(dse_cache_dir)
WORK_DIR=$(dse_builder_dir)
SEED_PATH="$WORK_DIR/seed.iso"
export CACHE_DIR WORK_DIR SEED_PATH
BASE_IMAGE=$(node --require "$here/../ts-hook.cjs" "$here/fetch-base.ts")
export BASE_IMAGE
mkdir -p "$WORK_DIR"
bash "$here/make-seed.sh"
printf '%s\n' "$BUILD" >"$WORK_DIR/build"
printf '%s\n' "$GEN" >"$WORK_DIR/gen"
port=$(bash "$here/start.sh")
printf '{"port": %s, "boot": "%s"}\n' "$port" "$(od -An -N8 -tx8 /dev/urandom | tr -d ' \n')"
