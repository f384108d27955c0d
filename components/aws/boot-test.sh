#!/usr/bin/env bash
# The AWS platform's boot test: a fresh instance from the pending AMI (before any copy or share),
# with this test's key and pinned host key in its user data, its own security group (SSH from
# SSH_ALLOWED_CIDRS), IMDSv2 and terminate-on-shutdown; then the lifecycle's checks over SSH
# (boot-test-lib.sh). The instance and its group are always removed.
#
# Env (besides boot-test-lib.sh's):
#   REGION                   home region; the credential settings of cli.ts
#   USER_DATA TEST_NAME      cloud-config and Name tag of the test instance
#   INSTANCE_TYPE SUBNET_ID VPC_ID ASSOCIATE_PUBLIC_IP   as for the builder
#   SSH_ALLOWED_CIDRS        space-separated sources allowed on port 22
#   STACK_TAG                tags the instance, so the teardown finds a leftover
#   USER_TAGS                the user's aws.tags (JSON object), on the instance, its volumes and
#                            its group in the create calls: a tag-enforcing policy checks them
# Output: one JSON line {"passed", "seconds", "checks"}; on failure exit 1 naming the check.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=components/lifecycle/boot-test-lib.sh
. "$here/../lifecycle/boot-test-lib.sh"

: "${REGION:?}" "${TEST_NAME:?}" "${USER_DATA:?}" "${STACK_TAG:?}"
TEST_ID=""
BT_INSTANCE="instance $TEST_NAME"
GROUP_ID=""

# EC2 through the SDK (cli.ts): the same credentials as the `aws` provider.
aws_ec2() { node --import tsx "$here/cli.ts" "$1"; }

# Called as a condition, where errexit is off: every step returns on failure itself. cli.ts
# first removes what a killed earlier attempt at this test left (its instance and a group with
# this test's name: bt_run's own clearing step is empty here, one SDK process does both), waits
# for a pending AMI (an earlier run may have given up on it), and removes what it made when the
# launch fails.
launch_test_instance() {
  local out
  out=$(aws_ec2 launch-test) || return 1
  read -r TEST_ID GROUP_ID TEST_HOST <<<"$out"
  TEST_PORT=22
  BT_INSTANCE="instance $TEST_ID"
  BT_CONSOLE_COMMAND="REGION='$REGION' INSTANCE_ID='$TEST_ID' bash '$here/console.sh'"
  bt_log "booting $NAME ($IMAGE_ID) as instance $TEST_ID at $TEST_HOST"
}

remove_test_instance() {
  [ -n "$TEST_ID$GROUP_ID" ] || return 0
  TEST_INSTANCE_ID=$TEST_ID TEST_GROUP_ID=$GROUP_ID aws_ec2 remove-test
}

bt_run true launch_test_instance remove_test_instance
