#!/usr/bin/env bash
# The OpenStack platform's snapshot (the lifecycle's snapshot step): marks the provisioned builder
# sealed, stops it, and snapshots it into a PENDING image, named <NAME>.pending, with all of this
# build's properties (state, fingerprint, manifest, ...) in the create call: an interrupted
# snapshot still leaves a whole pending image that the next run tests and publishes. This stack's
# unpublished or killed images for the same name go first. It tears nothing down: a failed
# snapshot leaves the sealed builder for the next run; the lifecycle's teardown step runs after
# this one. Publishing (after the boot test) gives the image its final name.
# Runs on the operator's machine with the OS_* variables of a sourced openrc.
#
# Env:
#   SERVER_ID        builder server ID
#   NAME             final image name, <imageName>-<fp12>-<date>
#   IMAGE_NAME FINGERPRINT GEN STACK_TAG   the build's identity (image properties)
#   OS_FLAGS         extra flags for every openstack call (--insecure, --os-cacert FILE)
#   STORE, STORE_CONFIG, MANIFEST, SOURCE_IMAGE   the image's metadata (imagestore.py creation-args)
#   POLL_SECONDS     pause between status checks (default 5)
# Output: one JSON line {"id", "name"}: the pending image; progress on stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${SERVER_ID:?}" "${NAME:?}" "${IMAGE_NAME:?}" "${FINGERPRINT:?}" "${GEN:?}" "${STACK_TAG:?}"

log() { printf '==> openstack: %s\n' "$*" >&2; }

os() {
  # shellcheck disable=SC2086 # OS_FLAGS holds several flags on purpose
  openstack ${OS_FLAGS:-} "$@"
}

wait_for_shutoff() {
  local status=""
  for _ in $(seq 1 180); do
    status=$(os server show -f value -c status "$SERVER_ID")
    [ "$status" = SHUTOFF ] && return 0
    if [ "$status" = ERROR ]; then
      log "server $SERVER_ID went to ERROR; its console:"
      SERVER_ID=$SERVER_ID bash "$here/console.sh" >&2 || true
      return 1
    fi
    sleep "${POLL_SECONDS:-5}"
  done
  log "timed out after $((180 * ${POLL_SECONDS:-5}))s waiting for server $SERVER_ID to stop (last status: $status)"
  return 1
}

main() {
  # Sealed: provisioned and cleaned up. The probe lets the next run snapshot it again instead of
  # building anew, and nothing ever starts it again.
  os server set --property dse_sealed=true "$SERVER_ID"
  log "Stopping server: $SERVER_ID ..."
  os server stop "$SERVER_ID" || true
  wait_for_shutoff
  # Names are not unique in Glance: an earlier attempt's unpublished or killed image would stay.
  python3 "$here/../lifecycle/imagestore.py" discard-earlier
  log "Creating the image: $NAME.pending"
  local image_id props=()
  # Every property in the create call: the image never exists without its state and manifest.
  mapfile -d '' props < <(python3 "$here/../lifecycle/imagestore.py" creation-args)
  [ "${#props[@]}" -gt 0 ] || { log "no image properties"; exit 1; }
  # With --wait the client writes its progress to stdout before the ID: the ID is the last line.
  image_id=$(os server image create --wait -f value -c id --name "$NAME.pending" "${props[@]}" \
    "$SERVER_ID" | tail -n 1)
  log "Image: $image_id"
  printf '{"id": "%s", "name": "%s"}\n' "$image_id" "$NAME"
}

main "$@"
