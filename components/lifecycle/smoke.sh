#!/usr/bin/env bash
# The boot test's smoke checks, run as root on a fresh instance booted from the new image (not on
# the builder): what a user of the image would meet at first boot. Prints one line per check,
# `ok <check>` or `FAILED <check>: <why>`, and exits 1 when any failed.
#
# Env:
#   EXPECTED_HOST_KEY  the host key (public line) this instance was given through cloud-init
#   AUTHORIZED_KEY     the only key that may be authorized on it (this test's key)
#   BUILDER_TTL_SCRIPT the builder's dead-man switch, which must not be in the image
set -euo pipefail

: "${EXPECTED_HOST_KEY:?}" "${AUTHORIZED_KEY:?}"
ttl_script="${BUILDER_TTL_SCRIPT:-/var/lib/cloud/scripts/per-boot/dse-builder-ttl.sh}"
failed=0
boot_time=$(awk '/^btime/ { print $2 }' /proc/stat)

pass() { printf 'ok %s\n' "$1"; }
fail() {
  printf 'FAILED %s: %s\n' "$1" "$2"
  failed=1
}

# Written at or after this boot (a little slack for coarse clocks).
made_this_boot() { [ "$(stat -c %Y "$1")" -ge $((boot_time - 5)) ]; }

check_cloud_init() {
  local out rc=0
  if ! command -v cloud-init >/dev/null 2>&1; then
    fail cloud-init "cloud-init is not installed in the image"
    return
  fi
  out=$(timeout 900 cloud-init status --wait --long 2>&1) || rc=$?
  if [ "$rc" -eq 0 ]; then
    pass cloud-init
  else
    fail cloud-init "cloud-init status exit $rc: $(tr '\n' ' ' <<<"$out" | cut -c1-400)"
  fi
}

check_host_keys() {
  local want have f old=""
  want=$(awk '{ print $1, $2 }' <<<"$EXPECTED_HOST_KEY")
  have=$(awk '{ print $1, $2 }' /etc/ssh/ssh_host_ed25519_key.pub 2>/dev/null || true)
  for f in /etc/ssh/ssh_host_*_key; do
    [ -e "$f" ] && ! made_this_boot "$f" && old+=" $f"
  done
  if [ "$have" != "$want" ]; then
    fail host-keys "the ed25519 host key is not the one this instance was given (${have:-none})"
  elif [ -n "$old" ]; then
    fail host-keys "host keys older than this boot (left in the image):$old"
  else
    pass host-keys
  fi
}

check_machine_id() {
  local id
  id=$(cat /etc/machine-id 2>/dev/null || true)
  if ! [[ "$id" =~ ^[0-9a-f]{32}$ ]]; then
    fail machine-id "/etc/machine-id is '${id}', not a fresh ID"
  elif ! made_this_boot /etc/machine-id; then
    fail machine-id "/etc/machine-id ($id) predates this boot: the image shipped one"
  else
    pass machine-id
  fi
}

check_authorized_keys() {
  local want file line blob others=""
  want=$(awk '{ print $2 }' <<<"$AUTHORIZED_KEY")
  for file in /root/.ssh/authorized_keys /root/.ssh/authorized_keys2 /home/*/.ssh/authorized_keys /home/*/.ssh/authorized_keys2; do
    [ -f "$file" ] || continue
    while IFS= read -r line; do
      blob=$(awk '{ for (i = 1; i < NF; i++) if ($i ~ /^(ssh-|ecdsa-|sk-)/) { print $(i + 1); exit } }' <<<"$line")
      [ -n "$blob" ] && [ "$blob" != "$want" ] && others+=" $file"
    done <"$file"
  done
  if [ -n "$others" ]; then
    fail build-key "keys other than this test's are authorized (the build key survived?):$others"
  else
    pass build-key
  fi
}

check_no_builder_ttl() {
  if [ -e "$ttl_script" ]; then
    fail builder-ttl "$ttl_script is in the image: every instance would power off after the builder TTL"
  else
    pass builder-ttl
  fi
}

check_cloud_init
check_host_keys
check_machine_id
check_authorized_keys
check_no_builder_ttl
exit "$failed"
