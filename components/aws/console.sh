#!/usr/bin/env bash
# Prints the last lines of an EC2 instance's console output, for error messages.
#
# Env: REGION, INSTANCE_ID, AWS_PROFILE (optional), LINES (default 30)
set -euo pipefail
: "${REGION:?}" "${INSTANCE_ID:?}"
out=$(aws --region "$REGION" --output text ec2 get-console-output --latest \
  --instance-id "$INSTANCE_ID" --query Output 2>/dev/null || true)
if [ -n "$out" ] && [ "$out" != None ]; then
  tail -n "${LINES:-30}" <<<"$out" | tr -d '\r'
else
  echo "(no console output for instance $INSTANCE_ID yet)"
fi
