#!/usr/bin/env bash
# Where the local platforms keep downloaded bases and builder folders on the machine that runs the
# step. Sourced by the qemu host scripts. The program passes CACHE_DIR only when the stack sets
# qemu.cacheDir, and never a resolved folder: a step's environment is stored in the Pulumi state,
# and a later `up` or `destroy` may run it from another checkout or on another machine (rule P3).
#
# Env: CACHE_DIR (optional; relative to the project folder), XDG_CACHE_HOME, HOME;
#      STACK_TAG and GEN for dse_builder_dir.

# The cache folder: CACHE_DIR, else the user's cache (what defaultCacheDir() in config.ts says).
dse_cache_dir() {
  realpath -m "${CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/dse-image}"
}

# The work folder of this stack's builder generation GEN.
dse_builder_dir() {
  printf '%s/builds/%s/%s\n' "$(dse_cache_dir)" "${STACK_TAG:?STACK_TAG is required}" \
    "${GEN:?GEN is required}"
}

# The file in builder folder $1 that names its disk conversion in progress (the partial image in
# the pending folder), so that whatever removes the folder removes that image with it.
dse_conversion_record() {
  printf '%s/converting\n' "${1:?}"
}
