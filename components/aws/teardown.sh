#!/usr/bin/env bash
# Tears down what an AWS build made once its AMI exists, within the same `pulumi up`: terminates
# the builder instance, waits until it is gone, then deletes the temporary key pair and security
# group (EC2 refuses to delete a group while an instance still uses it). Runs on the operator's
# machine with the AWS CLI and the same credentials as the Pulumi AWS provider.
#
# Inputs (environment):
#   REGION             home region of the build, e.g. eu-west-1
#   INSTANCE_ID        builder instance ID
#   KEY_NAME           temporary key pair name
#   SECURITY_GROUP_ID  temporary security group ID
#   AWS_PROFILE        optional: named profile (the stack's aws:profile)
#   RETRY_SECONDS      optional: pause between security group deletion attempts (default 10)
# Output: one JSON line on stdout: {"terminated", "keyPair", "securityGroup"}; progress on stderr.
# Exits non-zero, naming what is left and how to remove it, when a step fails.
set -euo pipefail

: "${REGION:?}" "${INSTANCE_ID:?}" "${KEY_NAME:?}" "${SECURITY_GROUP_ID:?}"

log() { printf '==> aws: %s\n' "$*" >&2; }

ec2() {
  aws --region "$REGION" --output text ec2 "$@"
}

left=()

terminate_builder() {
  log "Terminating the builder: $INSTANCE_ID ..."
  if ! ec2 terminate-instances --instance-ids "$INSTANCE_ID" >/dev/null; then
    left+=("instance $INSTANCE_ID: aws --region $REGION ec2 terminate-instances --instance-ids $INSTANCE_ID")
    return 1
  fi
  # The waiter polls every 15 s, 40 times; an instance normally terminates within two minutes.
  if ! ec2 wait instance-terminated --instance-ids "$INSTANCE_ID"; then
    left+=("instance $INSTANCE_ID (still shutting down): aws --region $REGION ec2 wait instance-terminated --instance-ids $INSTANCE_ID")
    return 1
  fi
}

delete_key_pair() {
  log "Deleting temporary key pair: $KEY_NAME ..."
  ec2 delete-key-pair --key-name "$KEY_NAME" >/dev/null ||
    left+=("key pair $KEY_NAME: aws --region $REGION ec2 delete-key-pair --key-name $KEY_NAME")
}

delete_security_group() {
  log "Deleting temporary security group: $SECURITY_GROUP_ID ..."
  # The builder's network interface can linger for a little while after termination.
  for _ in 1 2 3 4 5 6 7 8 9 10 11 12; do
    ec2 delete-security-group --group-id "$SECURITY_GROUP_ID" >/dev/null 2>&1 && return 0
    sleep "${RETRY_SECONDS:-10}"
  done
  ec2 delete-security-group --group-id "$SECURITY_GROUP_ID" >/dev/null ||
    left+=("security group $SECURITY_GROUP_ID: aws --region $REGION ec2 delete-security-group --group-id $SECURITY_GROUP_ID")
}

main() {
  local terminated=true
  terminate_builder || terminated=false
  delete_key_pair
  if $terminated; then
    delete_security_group
  else
    left+=("security group $SECURITY_GROUP_ID (in use until the builder is gone): aws --region $REGION ec2 delete-security-group --group-id $SECURITY_GROUP_ID")
  fi
  if [ "${#left[@]}" -gt 0 ]; then
    log "teardown incomplete; the builder still powers itself off after builderTtlMinutes. Left behind:"
    printf '  %s\n' "${left[@]}" >&2
    exit 1
  fi
  printf '{"terminated":"%s","keyPair":"%s","securityGroup":"%s"}\n' \
    "$INSTANCE_ID" "$KEY_NAME" "$SECURITY_GROUP_ID"
}

main "$@"
