#!/usr/bin/env bash
# Prints the last lines of an OpenStack server's console log, for error messages (cli.ts
# `console`).
#
# Env: SERVER_ID, OS_FLAGS (extra openstack flags), LINES (default 30)
set -euo pipefail
exec node --require tsx/cjs "$(dirname "${BASH_SOURCE[0]}")/cli.ts" console
