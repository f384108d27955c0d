#!/usr/bin/env bash
# The OpenStack platform's boot test: a fresh server from the pending image, with this test's key
# and pinned host key in its user data, its own security group (SSH from SSH_ALLOWED_CIDRS) and
# the build's floating IP (the fixed address, or one from the pool); then the lifecycle's checks
# over SSH (boot-test-lib.sh). The server, group and allocated address are always removed.
# Runs on the operator's machine with the OS_* variables of a sourced openrc.
#
# Env (besides boot-test-lib.sh's):
#   USER_DATA TEST_NAME      cloud-config and name of the test server
#   FLAVOR NETWORKS AVAILABILITY_ZONE SECURITY_GROUPS   as for the builder (lists space-separated)
#   FLOATING_IP | FLOATING_IP_POOL   address to use, or pool to allocate one from; neither: the
#                                    server's own address
#   SSH_ALLOWED_CIDRS        space-separated sources allowed on port 22
#   OS_FLAGS                 extra flags for every openstack call
#   POLL_SECONDS             pause between image status checks (default 5)
# Output: one JSON line {"passed", "seconds", "checks"}; on failure exit 1 naming the check.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=components/lifecycle/boot-test-lib.sh
. "$here/../lifecycle/boot-test-lib.sh"

: "${TEST_NAME:?}" "${FLAVOR:?}" "${USER_DATA:?}"
TEST_ID=""
BT_INSTANCE="server $TEST_NAME"
ALLOCATED_IP_ID=""
GROUP_ID=""

# The cloud's calls (cli.ts), through the openstack CLI with OS_FLAGS.
os_cli() { node --import tsx "$here/cli.ts" "$1"; }

# Called as a condition, where errexit is off: every step returns on failure itself. cli.ts
# first removes what a killed earlier attempt at this test left (its server, group and floating
# IP, named after it: bt_run's own clearing step is empty here, one process does both), waits for
# the image, and removes what it made when the launch fails. Exit status 3: Glance failed the
# image, which no boot can pass (check "image").
launch_test_instance() {
  local out rc=0
  out=$(USER_DATA_FILE="$BT_TMP/user-data" os_cli launch-test 2>"$BT_TMP/launch.err") || rc=$?
  cat "$BT_TMP/launch.err" >&2
  if [ "$rc" -ne 0 ]; then
    [ "$rc" -ne 3 ] || bt_fail image "$(tail -n 1 "$BT_TMP/launch.err" | sed 's/^==> openstack: //')"
    return 1
  fi
  read -r TEST_ID GROUP_ID ALLOCATED_IP_ID TEST_HOST <<<"$out"
  [ "$ALLOCATED_IP_ID" != - ] || ALLOCATED_IP_ID=""
  TEST_PORT=22
  BT_INSTANCE="server $TEST_ID"
  BT_CONSOLE_COMMAND="SERVER_ID='$TEST_ID' bash '$here/console.sh'"
  bt_log "booting $NAME ($IMAGE_ID) as server $TEST_ID at $TEST_HOST"
}

remove_test_instance() {
  [ -n "$TEST_ID$GROUP_ID$ALLOCATED_IP_ID" ] || return 0
  TEST_SERVER_ID=$TEST_ID TEST_GROUP_ID=$GROUP_ID TEST_ALLOCATED_IP_ID=$ALLOCATED_IP_ID \
    os_cli remove-test
}

bt_run true launch_test_instance remove_test_instance
