#!/usr/bin/env bash
# Deletes every builder-side object of one stack on OpenStack whose name starts with PREFIX
# (dse-<stack tag>-openstack-, or one boot test's name): servers, floating IPs this build
# allocated (by description), key pairs and security groups; never images. The work is cli.ts's
# (`teardown`); this path stays because the state of every OpenStack stack stores it as a sweep
# step's delete, and Pulumi runs a step's STORED delete (rule C3).
# Runs on the operator's machine with the OS_* variables of a sourced openrc.
#
# Env: PREFIX, OS_FLAGS (extra flags for every openstack call), RETRY_SECONDS (default 5).
# Exits 1 naming what is left and how to remove it when something could not be deleted.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec node --require "$here/../ts-hook.cjs" "$here/cli.ts" teardown
