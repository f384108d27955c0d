#!/usr/bin/env bash
# Deletes every builder-side object of one stack on AWS whose name starts with PREFIX
# (dse-<stack tag>-aws-, or one boot test's name): instances tagged dse-image:stack=STACK_TAG
# (builders and boot-test instances: terminated, then waited for), key pairs and security groups. The lifecycle runs it
# before a new builder generation (so a failed or abandoned build is cleaned up first) and right
# after the snapshot. Never touches AMIs.
#
# Env:
#   REGION          home region
#   PREFIX          name prefix of this stack's builder-side objects
#   STACK_TAG       the stack's tag
#   AWS_PROFILE     optional named profile
#   RETRY_SECONDS   pause between security group deletion attempts (default 10)
# Exits 1 naming what is left and how to remove it when something could not be deleted.
set -euo pipefail

: "${REGION:?}" "${PREFIX:?}" "${STACK_TAG:?}"
log() { printf '==> aws: %s\n' "$*" >&2; }
ec2() { aws --region "$REGION" --output text ec2 "$@"; }

left=()

terminate_instances() {
  local ids
  ids=$(ec2 describe-instances --filters "Name=tag:dse-image:stack,Values=$STACK_TAG" \
    "Name=tag:Name,Values=$PREFIX*" \
    "Name=instance-state-name,Values=pending,running,stopping,stopped,shutting-down" \
    --query 'Reservations[].Instances[].InstanceId')
  [ -n "${ids// /}" ] || return 0
  log "Terminating ${ids//[[:space:]]/ } ..."
  # shellcheck disable=SC2086 # one word per instance ID
  if ! ec2 terminate-instances --instance-ids $ids >/dev/null ||
    ! ec2 wait instance-terminated --instance-ids $ids; then
    left+=("instances $ids: aws --region $REGION ec2 terminate-instances --instance-ids $ids")
  fi
}

delete_key_pairs() {
  local name
  for name in $(ec2 describe-key-pairs --filters "Name=key-name,Values=$PREFIX*" --query 'KeyPairs[].KeyName'); do
    log "Deleting key pair $name ..."
    ec2 delete-key-pair --key-name "$name" >/dev/null ||
      left+=("key pair $name: aws --region $REGION ec2 delete-key-pair --key-name $name")
  done
}

# Deletes one security group; gone already counts as deleted: Pulumi runs the deletes of one
# antichain in parallel (pkg/resource/deploy/step_generator.go ScheduleDeletes), so an old sweep
# step's stored delete can race the typed group's own delete.
group_deleted() {
  local err
  if err=$(ec2 delete-security-group --group-id "$1" 2>&1 >/dev/null); then
    return 0
  fi
  if grep -q 'InvalidGroup.NotFound' <<<"$err"; then
    return 0
  fi
  printf '%s\n' "$err" >&2
  return 1
}

delete_security_groups() {
  local id
  for id in $(ec2 describe-security-groups --filters "Name=group-name,Values=$PREFIX*" --query 'SecurityGroups[].GroupId'); do
    log "Deleting security group $id ..."
    # A terminated instance's network interface can hold the group for a little while.
    for _ in 1 2 3 4 5 6 7 8 9 10 11 12; do
      group_deleted "$id" 2>/dev/null && continue 2
      sleep "${RETRY_SECONDS:-10}"
    done
    group_deleted "$id" ||
      left+=("security group $id: aws --region $REGION ec2 delete-security-group --group-id $id")
  done
}

main() {
  terminate_instances
  delete_key_pairs
  delete_security_groups
  if [ "${#left[@]}" -gt 0 ]; then
    log "teardown incomplete; a builder still powers itself off after builderTtlMinutes. Left behind:"
    printf '  %s\n' "${left[@]}" >&2
    exit 1
  fi
}

main "$@"
