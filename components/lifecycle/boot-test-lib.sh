#!/usr/bin/env bash
# The boot test's shared half (sourced by each platform's boot-test.sh, which launches and removes
# the test instance): SSH with this test's key and its pinned host key, the wait, the checks
# (smoke.sh, then provision/verify.sh), the result line, and what happens to the image when a
# check fails (deleted, or kept marked failed with KEEP_ON_FAILURE=true).
#
# Env read here:
#   IMAGE_ID, NAME         the pending image under test and its final name
#   TEST_NAME              the test instance's name (per build generation)
#   SSH_USER               login user of the image
#   SSH_PRIVATE_KEY        this test's private key (OpenSSH PEM); AUTHORIZED_KEY its public line
#   HOST_PUBLIC_KEY        the host key the test instance was given (pinned)
#   DSE_TOOLS, DSE_PYTHON_SOURCE  for verify.sh
#   SSH_TIMEOUT_SECONDS    how long to wait for SSH (default 600)
#   KEEP_ON_FAILURE        true: keep a failed test instance and image for debugging
#   STORE, STORE_CONFIG    the image store (bt_store)
#   SBOM_PATH              the image's SBOM, removed with a rejected image
# The platform script defines how to remove what an earlier attempt at this same test left, how
# to launch its test instance (setting TEST_HOST, TEST_PORT, BT_CONSOLE_COMMAND and BT_INSTANCE,
# the instance as the log names it) and how to remove it, and calls
# `bt_run <clear> <launch> <remove>`.

BT_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BT_PROVISION_DIR=$(cd "$BT_LIB_DIR/../../provision" && pwd)
BT_TMP=""
BT_STARTED=$(date +%s)
BT_CHECKS=()
BT_FAILED_CHECK=""
BT_FAILED_OUTPUT=""

bt_log() { printf '==> boot test: %s\n' "$*" >&2; }

# The temp folder holds this test's private key. A killed earlier attempt at the same test never
# ran its EXIT trap: its folder (same TEST_NAME, random suffix) goes before this one is made.
bt_setup() {
  : "${IMAGE_ID:?}" "${NAME:?}" "${TEST_NAME:?}" "${SSH_USER:?}" "${SSH_PRIVATE_KEY:?}" "${HOST_PUBLIC_KEY:?}"
  local prefix="${TMPDIR:-/tmp}/dse-boot-test-$TEST_NAME"
  rm -rf "$prefix".??????
  BT_TMP=$(mktemp -d "$prefix.XXXXXX")
  umask 077
  printf '%s\n' "$SSH_PRIVATE_KEY" >"$BT_TMP/id"
  printf '%s\n' "${USER_DATA:-}" >"$BT_TMP/user-data"
}

bt_ssh_options() {
  printf '%s\n' -i "$BT_TMP/id" -p "$TEST_PORT" -o IdentitiesOnly=yes -o IdentityAgent=none \
    -o "UserKnownHostsFile=$BT_TMP/known_hosts" -o GlobalKnownHostsFile=/dev/null \
    -o StrictHostKeyChecking=yes -o HostKeyAlgorithms=ssh-ed25519 -o BatchMode=yes \
    -o ConnectTimeout=20 -o LogLevel=ERROR
}

bt_ssh() {
  local opts
  mapfile -t opts < <(bt_ssh_options)
  # shellcheck disable=SC2029 # the remote command is built here on purpose, values quoted
  ssh "${opts[@]}" "$SSH_USER@$TEST_HOST" "$@"
}

bt_scp() {
  local opts
  mapfile -t opts < <(bt_ssh_options | sed 's/^-p$/-P/')
  scp -q -r "${opts[@]}" "$@"
}

# Pins the test instance's host key: any other key fails the connection.
bt_pin_host_key() {
  local host=$TEST_HOST
  [ "$TEST_PORT" = 22 ] || host="[$TEST_HOST]:$TEST_PORT"
  printf '%s %s\n' "$host" "$(awk '{ print $1, $2 }' <<<"$HOST_PUBLIC_KEY")" >"$BT_TMP/known_hosts"
}

bt_fail() {
  BT_FAILED_CHECK=$1
  BT_FAILED_OUTPUT=$2
  return 1
}

bt_wait_ssh() {
  HOST=$TEST_HOST PORT=$TEST_PORT TIMEOUT_SECONDS="${SSH_TIMEOUT_SECONDS:-600}" \
    CONSOLE_COMMAND="${BT_CONSOLE_COMMAND:-}" bash "$BT_LIB_DIR/wait-ssh.sh" ||
    bt_fail boot "the instance booted from $NAME never answered on SSH"
}

bt_upload() {
  bt_ssh "rm -rf /tmp/dse-boot-test && mkdir -p /tmp/dse-boot-test/provision" || return 1
  bt_scp "$BT_LIB_DIR/smoke.sh" "$BT_PROVISION_DIR/verify.sh" "$BT_PROVISION_DIR/lib.sh" \
    "$BT_PROVISION_DIR/python-requirements.lock" "$SSH_USER@$TEST_HOST:/tmp/dse-boot-test/provision/"
}

bt_run_smoke() {
  local out rc=0
  out=$(bt_ssh "sudo env EXPECTED_HOST_KEY='$(awk '{ print $1, $2 }' <<<"$HOST_PUBLIC_KEY")' AUTHORIZED_KEY='$(awk '{ print $1, $2 }' <<<"$AUTHORIZED_KEY")' bash /tmp/dse-boot-test/provision/smoke.sh" 2>&1) || rc=$?
  printf '%s\n' "$out" | sed 's/^/    /' >&2
  while read -r verdict check _; do
    [ "$verdict" = ok ] && BT_CHECKS+=("$check")
  done <<<"$out"
  if [ "$rc" -ne 0 ]; then
    local first
    first=$(grep -m1 '^FAILED' <<<"$out" || printf 'FAILED smoke: exit %s' "$rc")
    first=${first#FAILED }
    bt_fail "${first%%:*}" "$out"
  fi
}

bt_run_verify() {
  local out rc=0
  out=$(bt_ssh "sudo env DSE_TOOLS='${DSE_TOOLS:-}' DSE_PYTHON_SOURCE='${DSE_PYTHON_SOURCE:-pip}' bash /tmp/dse-boot-test/provision/verify.sh" 2>&1 >/dev/null) || rc=$?
  if [ "$rc" -ne 0 ]; then
    bt_fail verify "$(tail -n 20 <<<"$out")"
  else
    BT_CHECKS+=(verify)
  fi
}

# Seconds since the boot test started, for the log: where a slow test spends its time.
bt_elapsed() { printf '%s s' "$(($(date +%s) - BT_STARTED))"; }

# Waits for SSH, uploads the checks, runs them; returns 1 naming the failed check.
bt_wait_and_check() {
  bt_pin_host_key
  bt_wait_ssh || return 1
  bt_log "SSH up at $(bt_elapsed)"
  bt_upload || bt_fail ssh "could not reach the instance with the pinned host key (did the host key match?)" || return 1
  bt_run_smoke || return 1
  bt_log "smoke checks passed at $(bt_elapsed)"
  bt_run_verify || return 1
  bt_log "verify.sh passed at $(bt_elapsed)"
}

bt_json_string() {
  local s=${1//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}

bt_result_json() {
  local checks="" check
  for check in "${BT_CHECKS[@]}"; do
    checks+="${checks:+, }$(bt_json_string "$check")"
  done
  printf '{"passed": true, "seconds": %d, "checks": [%s]}\n' "$(($(date +%s) - BT_STARTED))" \
    "$checks"
}

# The image store's command (components/store/cli.ts: fail, discard-image).
bt_store() {
  node --import tsx "$BT_LIB_DIR/../store/cli.ts" "$1"
}

# What a failed test leaves: nothing but the error, or (KEEP_ON_FAILURE) the instance and the
# image marked failed, which is never published.
bt_reject_image() {
  if [ "${KEEP_ON_FAILURE:-false}" = true ]; then
    IMAGE_ID=$IMAGE_ID bt_store fail >/dev/null
    bt_log "keepBuilderOnFailure is set: kept the test instance and image $IMAGE_ID (marked failed)"
  else
    IMAGE_ID=$IMAGE_ID bt_store discard-image >/dev/null
    # No SBOM of an image that does not exist (a rebuild under this name writes its own).
    [ -z "${SBOM_PATH:-}" ] || rm -f "$SBOM_PATH"
  fi
}

bt_report_failure() {
  printf 'boot test of %s FAILED in check "%s":\n%s\n' "$NAME" "${BT_FAILED_CHECK:-launch}" \
    "$(tail -n 30 <<<"${BT_FAILED_OUTPUT:-}" | sed 's/^/    /')" >&2
}

bt_cleanup_tmp() {
  [ -n "$BT_TMP" ] && rm -rf "$BT_TMP"
  return 0
}

# The EXIT trap: the platform's remover removes the test instance, unless a failed test keeps it
# for debugging (KEEP_ON_FAILURE=true). The local temp files go either way.
bt_finish() {
  local remove=$1
  if [ "${KEEP_ON_FAILURE:-false}" = true ] && [ -n "$BT_FAILED_CHECK" ]; then
    bt_log "kept the test ${BT_INSTANCE:-instance} for debugging"
  else
    "$remove"
  fi
  bt_cleanup_tmp
}

# The whole boot test: clear what a killed earlier attempt left (its EXIT trap never ran, and on
# AWS its security group's name would now be taken), launch (the platform's functions), wait for
# SSH, run the checks, print the result. The instance is removed on every way out. A check that
# fails rejects the image; so does an image the cloud reports unusable (check "image"). A launch
# the cloud refuses (quota, capacity, API errors) says nothing about the image: it stays pending,
# and the next `pulumi up` tests it again (rule C6: the failed create is not in the state).
bt_run() {
  local clear=$1 launch=$2 remove=$3
  bt_setup
  # shellcheck disable=SC2064 # the platform's remover, fixed now
  trap "bt_finish $remove" EXIT
  # Called as conditions, where errexit is off: each returns on failure itself.
  if ! "$clear" || ! "$launch"; then
    if [ "$BT_FAILED_CHECK" = image ]; then
      bt_reject_image
      bt_report_failure
      exit 1
    fi
    BT_FAILED_CHECK=launch
    BT_FAILED_OUTPUT="could not launch a test instance from $IMAGE_ID (see the errors above); the image stays pending and the next \`pulumi up\` tests it again"
    bt_report_failure
    exit 1
  fi
  if ! bt_wait_and_check; then
    bt_reject_image
    bt_report_failure
    exit 1
  fi
  bt_result_json
}
