#!/usr/bin/env bash
# Deletes every builder-side object of one stack on AWS whose name starts with PREFIX
# (dse-<stack tag>-aws-, or one boot test's name): instances tagged dse-image:stack=STACK_TAG,
# key pairs and security groups; never AMIs. The work is cli.ts's (`teardown`, over the SDK);
# this path stays because the state of every AWS stack stores it as a sweep step's delete, and
# Pulumi runs a step's STORED delete (rule C3).
#
# Env: REGION, PREFIX, STACK_TAG, the credential settings (cli.ts), RETRY_SECONDS (default 10).
# Exits 1 naming what is left and how to remove it when something could not be deleted.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec node --require "$here/../ts-hook.cjs" "$here/cli.ts" teardown
