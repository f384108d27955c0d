#!/usr/bin/env bash
# Waiting for an AMI, for the AWS host scripts (sourced, not run). EC2 takes minutes to make an AMI
# or a copy available, sometimes longer than the CLI's own waiter waits (`aws ec2 wait
# image-available`: 40 polls of 15 s, ten minutes): a slow AMI then failed the step while EC2 was
# still making it. This polls until the AMI is available, stops at once when EC2 failed it, and
# gives up only after AMI_WAIT_MINUTES.
#
# Env: REGION; AWS_PROFILE (optional); POLL_SECONDS (default 15); AMI_WAIT_MINUTES (default 90).

# Prints "<state> <reason>" of AMI $1 in REGION ("gone" when EC2 does not know it).
ami_state() {
  # shellcheck disable=SC2016 # a node script: its template literal is for node, not the shell
  aws --region "$REGION" --output json ec2 describe-images --owners self --image-ids "$1" \
    2>/dev/null | node -e '
const images = JSON.parse(require("node:fs").readFileSync(0, "utf8")).Images || [];
const i = images[0];
console.log(i === undefined ? "gone" : `${i.State || ""} ${(i.StateReason || {}).Message || ""}`);
' || echo gone
}

# Waits until AMI $1 is available; fails with one line on stderr saying what it is instead.
wait_for_ami() {
  local id=$1 minutes="${AMI_WAIT_MINUTES:-90}" deadline state reason
  deadline=$(($(date +%s) + minutes * 60))
  while :; do
    read -r state reason < <(ami_state "$id")
    case "$state" in
      available) return 0 ;;
      pending) ;;
      *)
        printf '==> aws: AMI %s in %s is %s%s\n' "$id" "$REGION" "$state" "${reason:+: $reason}" >&2
        return 1
        ;;
    esac
    if [ "$(date +%s)" -ge "$deadline" ]; then
      printf '==> aws: AMI %s in %s is still pending after %s minutes (AMI_WAIT_MINUTES)\n' \
        "$id" "$REGION" "$minutes" >&2
      return 1
    fi
    sleep "${POLL_SECONDS:-15}"
  done
}
