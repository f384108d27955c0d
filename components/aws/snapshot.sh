#!/usr/bin/env bash
# The AWS platform's snapshot (the lifecycle's snapshot step): tags the provisioned builder sealed,
# stops it, and makes a PENDING AMI of the stopped instance with CreateImage, with all of this
# build's tags in the create call (so an interrupted snapshot still leaves a whole pending AMI that
# the next run tests and publishes). AMI names are final at creation, so "pending" is the
# dse-image:state tag: nothing looks up or exports the AMI until publish sets it complete.
# It tears nothing down; the lifecycle's teardown step runs after it.
#
# Why stop first: CreateImage on a running instance stops it and starts it again. After
# cleanup.sh's `cloud-init clean` that boot is a first boot to cloud-init (rule S1): it authorizes
# the build key again and rewrites the dead-man switch and machine-id, so if the AMI then fails,
# the builder a retry finds is no longer the sealed disk. A stopped instance is imaged as it is
# and stays stopped ("sealed" to the probe), so a retry images the same sealed disk.
#
# Env:
#   REGION INSTANCE_ID   home region and builder instance
#   NAME                 final AMI name, <imageName>-<fp12>-<date>
#   IMAGE_NAME FINGERPRINT GEN STACK_TAG   the build's identity (tags)
#   AWS_PROFILE          optional named profile
#   STORE, STORE_CONFIG, MANIFEST, SOURCE_IMAGE   the AMI's metadata (imagestore.py creation-args)
# Output: one JSON line {"id", "name"}: the pending AMI; progress on stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=components/aws/ami-lib.sh
. "$here/ami-lib.sh"
: "${REGION:?}" "${INSTANCE_ID:?}" "${NAME:?}" "${IMAGE_NAME:?}" "${FINGERPRINT:?}" "${GEN:?}" "${STACK_TAG:?}"

log() { printf '==> aws: %s\n' "$*" >&2; }
ec2() { aws --region "$REGION" --output json ec2 "$@"; }

# Every tag in the create call: the AMI never exists without its state and manifest.
identity_tags() {
  python3 "$here/../lifecycle/imagestore.py" creation-args
}

# An AMI name is unique: a pending or failed AMI of this stack's earlier attempt goes first.
free_the_name() {
  local found
  found=$(ec2 describe-images --owners self --filters "Name=name,Values=$NAME" |
    python3 -c 'import json, sys
for i in json.load(sys.stdin).get("Images", []):
    t = {x["Key"]: x["Value"] for x in i.get("Tags", [])}
    print(i["ImageId"], t.get("dse-image:state", ""), t.get("dse-image:build-stack", ""))')
  [ -n "$found" ] || return 0
  local id state stack
  read -r id state stack <<<"$found"
  if [ "$state" = complete ] || [ "$stack" != "$STACK_TAG" ]; then
    log "AMI name $NAME is taken by $id (state ${state:-unknown}, stack ${stack:-unknown})"
    exit 1
  fi
  log "removing the unpublished AMI $id of an earlier attempt"
  IMAGE_ID="$id" python3 "$here/../lifecycle/imagestore.py" discard-image >/dev/null
}

stop_builder() {
  log "stopping $INSTANCE_ID: a stopped instance is imaged as cleanup.sh left it"
  ec2 stop-instances --instance-ids "$INSTANCE_ID" >/dev/null
  ec2 wait instance-stopped --instance-ids "$INSTANCE_ID"
}

main() {
  ec2 create-tags --resources "$INSTANCE_ID" --tags Key=dse-image:sealed,Value=true
  stop_builder
  free_the_name
  log "Creating the AMI $NAME from $INSTANCE_ID ..."
  local tags image_id
  tags=$(identity_tags)
  image_id=$(ec2 create-image --instance-id "$INSTANCE_ID" --name "$NAME" \
    --description "dse-image $NAME (fingerprint $FINGERPRINT)" \
    --tag-specifications "{\"ResourceType\":\"image\",\"Tags\":$tags}" \
    "{\"ResourceType\":\"snapshot\",\"Tags\":$tags}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["ImageId"])')
  log "AMI: $image_id; waiting until it is available ..."
  wait_for_ami "$image_id"
  printf '{"id": "%s", "name": "%s"}\n' "$image_id" "$NAME"
}

main "$@"
