#!/usr/bin/env bash
# Prints the last lines of an OpenStack server's console log, for error messages.
#
# Env: SERVER_ID, OS_FLAGS (extra openstack flags), LINES (default 30)
set -euo pipefail
: "${SERVER_ID:?SERVER_ID is required}"
# shellcheck disable=SC2086 # OS_FLAGS holds several flags on purpose
openstack ${OS_FLAGS:-} console log show --lines "${LINES:-30}" "$SERVER_ID" ||
  echo "(no console log for server $SERVER_ID)"
