#!/usr/bin/env bash
# The QEMU platform's boot test: boots a throwaway overlay on the pending qcow2 (the image itself
# is never written) with a NoCloud seed carrying this test's key and pinned host key, runs the
# lifecycle's checks over SSH (boot-test-lib.sh), and always removes the test machine. The OVA is
# made from the same disk, so this test is its test too.
#
# Env (besides boot-test-lib.sh's):
#   USER_DATA        cloud-config of the test instance (user, key, host key, TTL switch)
#   TEST_NAME        name of the test machine (its cloud-init instance ID)
#   STACK_TAG GEN    the work folder is <cache>/builds/<STACK_TAG>/<GEN>-test (paths-lib.sh)
#   MEMORY_MB CPUS DSE_ACCEL KERNEL INITRD APPEND BUILDER_TTL_MINUTES   as for start.sh
# Output: one JSON line {"passed", "seconds", "checks"}; on failure exit 1 naming the check.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=components/lifecycle/boot-test-lib.sh
. "$here/../lifecycle/boot-test-lib.sh"
# shellcheck source=components/qemu/paths-lib.sh
. "$here/paths-lib.sh"

: "${TEST_NAME:?}" "${STACK_TAG:?}" "${GEN:?}" "${USER_DATA:?}"
work="$(dse_builder_dir)-test"
BT_CONSOLE_COMMAND="WORK_DIR='$work' bash '$here/console.sh'"
BT_INSTANCE="machine in $work (serial log: $work/serial.log)"

# A killed earlier attempt at this test left its machine running in the same folder.
remove_earlier_attempt() {
  WORK_DIR="$work" bash "$here/teardown.sh"
}

# Called as a condition, where errexit is off: every step returns on failure itself.
launch_test_instance() {
  mkdir -p "$work" || return 1
  SEED_PATH="$work/seed.iso" INSTANCE_ID="$TEST_NAME" USER_DATA="$USER_DATA" \
    bash "$here/make-seed.sh" || return 1
  TEST_HOST=127.0.0.1
  TEST_PORT=$(BASE_IMAGE="$IMAGE_ID" WORK_DIR="$work" SEED_PATH="$work/seed.iso" DISK_SIZE_GB=0 \
    bash "$here/start.sh") || return 1
  bt_log "booting $NAME from $IMAGE_ID on 127.0.0.1:$TEST_PORT"
}

remove_test_instance() {
  WORK_DIR="$work" bash "$here/teardown.sh"
}

bt_run remove_earlier_attempt launch_test_instance remove_test_instance
