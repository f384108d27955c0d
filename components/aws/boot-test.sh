#!/usr/bin/env bash
# The AWS platform's boot test: a fresh instance from the pending AMI (before any copy or share),
# with this test's key and pinned host key in its user data, its own security group (SSH from
# SSH_ALLOWED_CIDRS), IMDSv2 and terminate-on-shutdown; then the lifecycle's checks over SSH
# (boot-test-lib.sh). The instance and its group are always removed.
#
# Env (besides boot-test-lib.sh's):
#   REGION AWS_PROFILE       home region, optional named profile
#   USER_DATA TEST_NAME      cloud-config and Name tag of the test instance
#   INSTANCE_TYPE SUBNET_ID VPC_ID ASSOCIATE_PUBLIC_IP   as for the builder
#   SSH_ALLOWED_CIDRS        space-separated sources allowed on port 22
#   STACK_TAG                tags the instance, so the teardown finds a leftover
#   USER_TAGS                the user's aws.tags (JSON object), on the instance, its volumes and
#                            its group in the create calls: a tag-enforcing policy checks them
# Output: one JSON line {"passed", "seconds", "checks"}; on failure exit 1 naming the check.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=components/aws/ami-lib.sh
. "$here/ami-lib.sh"
# shellcheck source=components/lifecycle/boot-test-lib.sh
. "$here/../lifecycle/boot-test-lib.sh"

: "${REGION:?}" "${TEST_NAME:?}" "${USER_DATA:?}" "${STACK_TAG:?}"
ec2() { aws --region "$REGION" --output text ec2 "$@"; }
TEST_ID=""
BT_INSTANCE="instance $TEST_NAME"
GROUP_ID=""

default_vpc() {
  ec2 describe-vpcs --filters Name=isDefault,Values=true --query 'Vpcs[0].VpcId'
}

# A --tag-specifications value: the user's tags, then this test's own (KEY=VALUE arguments), on
# each resource type named in TYPES.
tag_specifications() {
  TYPES="$1" node -e '
const tags = JSON.parse(process.env.USER_TAGS || "{}");
for (const arg of process.argv.slice(1)) {
  const at = arg.indexOf("=");
  tags[arg.slice(0, at)] = arg.slice(at + 1);
}
const listed = Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
const types = process.env.TYPES.split(" ").filter(Boolean);
console.log(JSON.stringify(types.map((t) => ({ ResourceType: t, Tags: listed }))));
' "${@:2}"
}

create_security_group() {
  local vpc=${VPC_ID:-} cidr perms="" specs
  [ -n "$vpc" ] || vpc=$(default_vpc) || return 1
  specs=$(tag_specifications security-group "Name=$TEST_NAME" "dse-image:stack=$STACK_TAG") ||
    return 1
  GROUP_ID=$(ec2 create-security-group --group-name "$TEST_NAME" --vpc-id "$vpc" \
    --description "dse-image boot test" --tag-specifications "$specs" --query GroupId) || return 1
  for cidr in ${SSH_ALLOWED_CIDRS:-}; do
    case "$cidr" in
      *:*) perms+="{\"IpProtocol\":\"tcp\",\"FromPort\":22,\"ToPort\":22,\"Ipv6Ranges\":[{\"CidrIpv6\":\"$cidr\"}]}," ;;
      *) perms+="{\"IpProtocol\":\"tcp\",\"FromPort\":22,\"ToPort\":22,\"IpRanges\":[{\"CidrIp\":\"$cidr\"}]}," ;;
    esac
  done
  ec2 authorize-security-group-ingress --group-id "$GROUP_ID" --ip-permissions "[${perms%,}]" >/dev/null
}

# Called as a condition, where errexit is off: every step returns on failure itself.
launch_test_instance() {
  local specs
  specs=$(tag_specifications "instance volume" "Name=$TEST_NAME" "dse-image:stack=$STACK_TAG" \
    dse-image:role=test) || return 1
  # shellcheck disable=SC2054 # the commas are inside CLI values
  local args=(--image-id "$IMAGE_ID" --instance-type "${INSTANCE_TYPE:-t3.medium}"
    --user-data "file://$BT_TMP/user-data" --instance-initiated-shutdown-behavior terminate
    --metadata-options HttpTokens=required,HttpEndpoint=enabled --count 1
    --tag-specifications "$specs" --query 'Instances[0].InstanceId')
  create_security_group || return 1
  if [ -n "${SUBNET_ID:-}" ] || [ "${ASSOCIATE_PUBLIC_IP:-true}" = false ]; then
    local ni="{\"DeviceIndex\":0,\"Groups\":[\"$GROUP_ID\"],\"AssociatePublicIpAddress\":${ASSOCIATE_PUBLIC_IP:-true}"
    [ -n "${SUBNET_ID:-}" ] && ni+=",\"SubnetId\":\"$SUBNET_ID\""
    args+=(--network-interfaces "[$ni}]")
  else
    args+=(--security-group-ids "$GROUP_ID")
  fi
  # A pending AMI from an earlier run that gave up waiting may still be on its way.
  wait_for_ami "$IMAGE_ID" || return 1
  TEST_ID=$(ec2 run-instances "${args[@]}") || return 1
  BT_INSTANCE="instance $TEST_ID"
  BT_CONSOLE_COMMAND="REGION='$REGION' INSTANCE_ID='$TEST_ID' bash '$here/console.sh'"
  ec2 wait instance-running --instance-ids "$TEST_ID" || return 1
  local field=PublicIpAddress
  [ "${ASSOCIATE_PUBLIC_IP:-true}" = false ] && field=PrivateIpAddress
  TEST_HOST=$(ec2 describe-instances --instance-ids "$TEST_ID" --query "Reservations[0].Instances[0].$field") || return 1
  TEST_PORT=22
  bt_log "booting $NAME ($IMAGE_ID) as instance $TEST_ID at $TEST_HOST"
}

# A killed earlier attempt at this test left its instance and a group with this test's name.
remove_earlier_attempt() {
  PREFIX="$TEST_NAME" bash "$here/teardown.sh"
}

remove_test_instance() {
  if [ -n "$TEST_ID" ]; then
    if ! { ec2 terminate-instances --instance-ids "$TEST_ID" >/dev/null &&
      ec2 wait instance-terminated --instance-ids "$TEST_ID"; }; then
      bt_log "could not terminate $TEST_ID"
    fi
  fi
  if [ -n "$GROUP_ID" ]; then
    for _ in 1 2 3 4 5 6; do
      ec2 delete-security-group --group-id "$GROUP_ID" >/dev/null 2>&1 && break
      sleep "${RETRY_SECONDS:-10}"
    done
  fi
}

bt_run remove_earlier_attempt launch_test_instance remove_test_instance
