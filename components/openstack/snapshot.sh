#!/usr/bin/env bash
# Snapshots the provisioned OpenStack builder into an image, then tears down everything the build
# made (server, temporary key pair, security group, allocated floating IP) in the same run.
# Runs on the operator's machine with the OS_* variables of a sourced openrc.
#
# Inputs (environment):
#   SERVER_ID        builder server ID
#   IMAGE_NAME       name of the image to create (<imageName>-<fingerprint prefix>)
#   FINGERPRINT      full build fingerprint, stored as image property dse_fingerprint
#   MANIFEST         verify.sh's JSON, stored in dse_manifest_<n> properties (Glance caps values at 255)
#   VISIBILITY       private|shared|community|public
#   PROPERTIES       JSON object of extra image properties
#   KEYPAIR          temporary key pair name to delete
#   SECGROUP_ID      temporary security group ID to delete
#   FLOATING_IP_ID   allocated floating IP ID to release (empty when an existing address was used)
#   OS_FLAGS         extra flags for every openstack call (--insecure, --os-cacert FILE)
# Output: one JSON line on stdout: {"id", "name", "createdAt", "manifest"}; progress on stderr.
set -euo pipefail

log() { printf '==> openstack: %s\n' "$*" >&2; }

os() {
  # shellcheck disable=SC2086 # OS_FLAGS holds several flags on purpose
  openstack ${OS_FLAGS:-} "$@"
}

wait_for_server_status() {
  local want=$1 status
  for _ in $(seq 1 180); do
    status=$(os server show -f value -c status "$SERVER_ID")
    [ "$status" = "$want" ] && return 0
    [ "$status" = "ERROR" ] && { log "server $SERVER_ID went to ERROR"; return 1; }
    sleep 5
  done
  log "timed out waiting for server $SERVER_ID to reach $want (last: $status)"
  return 1
}

manifest_property_args() {
  local i=0 rest=$MANIFEST
  while [ -n "$rest" ]; do
    printf -- '--property\0dse_manifest_%d=%s\0' "$i" "${rest:0:240}"
    rest=${rest:240}
    i=$((i + 1))
  done
}

extra_property_args() {
  python3 -c 'import json,sys
for k, v in sorted(json.loads(sys.argv[1] or "{}").items()):
    sys.stdout.write("--property\0%s=%s\0" % (k, v))' "${PROPERTIES:-{\}}"
}

tear_down() {
  log "Terminating the source server: $SERVER_ID ..."
  os server delete --wait "$SERVER_ID" || log "warning: could not delete server $SERVER_ID"
  log "Deleting temporary keypair: $KEYPAIR ..."
  os keypair delete "$KEYPAIR" || log "warning: could not delete keypair $KEYPAIR"
  if [ -n "${FLOATING_IP_ID:-}" ]; then
    log "Releasing temporary floating IP: $FLOATING_IP_ID ..."
    os floating ip delete "$FLOATING_IP_ID" || log "warning: could not release $FLOATING_IP_ID"
  fi
  log "Deleting temporary security group: $SECGROUP_ID ..."
  os security group delete "$SECGROUP_ID" || log "warning: could not delete $SECGROUP_ID"
}

main() {
  trap tear_down EXIT
  log "Stopping server: $SERVER_ID ..."
  os server stop "$SERVER_ID" || true
  wait_for_server_status SHUTOFF
  log "Creating the image: $IMAGE_NAME"
  local image_id
  image_id=$(os server image create --wait -f value -c id --name "$IMAGE_NAME" "$SERVER_ID")
  log "Image: $image_id"
  local props=()
  mapfile -d '' props < <(manifest_property_args; extra_property_args)
  os image set --"$VISIBILITY" --property "dse_fingerprint=$FINGERPRINT" "${props[@]}" "$image_id"
  python3 -c 'import json,sys,datetime
print(json.dumps({"id": sys.argv[1], "name": sys.argv[2],
  "createdAt": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
  "manifest": json.loads(sys.argv[3] or "{}")}))' "$image_id" "$IMAGE_NAME" "$MANIFEST"
}

main "$@"
