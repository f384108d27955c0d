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
#   POLL_SECONDS             pause between status checks (default 5)
# Output: one JSON line {"passed", "seconds", "checks"}; on failure exit 1 naming the check.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=components/lifecycle/boot-test-lib.sh
. "$here/../lifecycle/boot-test-lib.sh"

: "${TEST_NAME:?}" "${FLAVOR:?}" "${USER_DATA:?}"
os() {
  # shellcheck disable=SC2086 # OS_FLAGS holds several flags on purpose
  openstack ${OS_FLAGS:-} "$@"
}
TEST_ID=""
BT_INSTANCE="server $TEST_NAME"
ALLOCATED_IP_ID=""
GROUP_ID=""

wait_for_image() {
  local status=""
  for _ in $(seq 1 360); do
    status=$(os image show -f value -c status "$IMAGE_ID") || return 1
    case "$status" in
      active) return 0 ;;
      # Glance's terminal states: the upload failed, nothing can boot from it.
      killed | deleted | pending_delete | deactivated)
        bt_fail image "image $IMAGE_ID is $status: its snapshot cannot be booted"
        return 1
        ;;
    esac
    sleep "${POLL_SECONDS:-5}"
  done
  bt_log "image $IMAGE_ID is still $status"
  return 1
}

create_security_group() {
  local cidr
  GROUP_ID=$(os security group create -f value -c id --description "dse-image boot test" "$TEST_NAME") || return 1
  for cidr in ${SSH_ALLOWED_CIDRS:-0.0.0.0/0}; do
    os security group rule create --ingress --protocol tcp --dst-port 22 --remote-ip "$cidr" \
      "$GROUP_ID" >/dev/null || return 1
  done
}

first_address() {
  # Newer clients print the addresses as an object of lists, older ones as "net=ip, ip" text.
  os server show -f json "$TEST_ID" | node -e '
const a = JSON.parse(require("node:fs").readFileSync(0, "utf8")).addresses || {};
const found =
  typeof a === "object" && !Array.isArray(a)
    ? Object.values(a).flat()
    : [...String(a).matchAll(/=?([0-9.]+)/g)].map((m) => m[1]);
const ip = found.map(String).find((x) => x.includes("."));
if (ip === undefined) process.exit(1);
console.log(ip);'
}

# Called as a condition, where errexit is off: every step returns on failure itself.
launch_test_instance() {
  wait_for_image || return 1
  # The group first: the server names it by the ID this returns.
  create_security_group || return 1
  local args=(--image "$IMAGE_ID" --flavor "$FLAVOR" --user-data "$BT_TMP/user-data"
    --security-group "$GROUP_ID" --property dse_role=test --property "dse_stack=${STACK_TAG:-}"
    --wait -f value -c id) net group
  for net in ${NETWORKS:-}; do args+=(--network "$net"); done
  for group in ${SECURITY_GROUPS:-}; do args+=(--security-group "$group"); done
  [ -n "${AVAILABILITY_ZONE:-}" ] && args+=(--availability-zone "$AVAILABILITY_ZONE")
  # With --wait the client writes its progress to stdout before the ID: the ID is the last line.
  TEST_ID=$(os server create "${args[@]}" "$TEST_NAME" | tail -n 1) || return 1
  BT_INSTANCE="server $TEST_ID"
  TEST_PORT=22
  if [ -n "${FLOATING_IP:-}" ]; then
    TEST_HOST=$FLOATING_IP
  elif [ -n "${FLOATING_IP_POOL:-}" ]; then
    read -r ALLOCATED_IP_ID TEST_HOST < <(os floating ip create --description "$TEST_NAME" \
      -f value -c id -c floating_ip_address "$FLOATING_IP_POOL") || return 1
  else
    TEST_HOST=$(first_address) || return 1
  fi
  if [ -n "${FLOATING_IP:-}${FLOATING_IP_POOL:-}" ]; then
    os server add floating ip "$TEST_ID" "$TEST_HOST" || return 1
  fi
  BT_CONSOLE_COMMAND="SERVER_ID='$TEST_ID' bash '$here/console.sh'"
  bt_log "booting $NAME ($IMAGE_ID) as server $TEST_ID at $TEST_HOST"
}

# A killed earlier attempt at this test left its server, group and floating IP, named after it.
remove_earlier_attempt() {
  PREFIX="$TEST_NAME" bash "$here/teardown.sh"
}

remove_test_instance() {
  [ -n "$TEST_ID" ] && { os server delete --wait "$TEST_ID" || bt_log "could not delete server $TEST_ID"; }
  [ -n "$ALLOCATED_IP_ID" ] && { os floating ip delete "$ALLOCATED_IP_ID" || bt_log "could not release $ALLOCATED_IP_ID"; }
  [ -n "$GROUP_ID" ] && { os security group delete "$GROUP_ID" || bt_log "could not delete group $GROUP_ID"; }
  return 0
}

bt_run remove_earlier_attempt launch_test_instance remove_test_instance
