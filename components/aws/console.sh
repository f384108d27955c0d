#!/usr/bin/env bash
# Prints the last lines of an EC2 instance's console output, for error messages (cli.ts
# `console`, over the SDK).
#
# Env: REGION, INSTANCE_ID, the credential settings (cli.ts), LINES (default 30)
set -euo pipefail
exec node --require tsx/cjs "$(dirname "${BASH_SOURCE[0]}")/cli.ts" console
