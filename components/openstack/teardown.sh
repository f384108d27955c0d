#!/usr/bin/env bash
# Deletes every builder-side object of one stack on OpenStack, found by name: servers (builders
# and boot-test instances), floating IPs this build allocated (by description), key pairs and
# security groups whose name starts with PREFIX (dse-<stack tag>-openstack-). The lifecycle runs
# it before a new builder generation (so a failed or abandoned build is cleaned up first, and a
# fixed floating IP is free) and right after the snapshot. Never touches images.
# Runs on the operator's machine with the OS_* variables of a sourced openrc.
#
# Env:
#   PREFIX        name prefix of this stack's builder-side objects
#   OS_FLAGS      extra flags for every openstack call
#   RETRY_SECONDS pause between security group deletion attempts (default 5)
# Exits 1 naming what is left and how to remove it when something could not be deleted.
set -euo pipefail

: "${PREFIX:?PREFIX is required}"
log() { printf '==> openstack: %s\n' "$*" >&2; }
os() {
  # shellcheck disable=SC2086 # OS_FLAGS holds several flags on purpose
  openstack ${OS_FLAGS:-} "$@"
}

left=()

# IDs of objects whose name (column 2) starts with PREFIX, from `-f value -c ID -c <name column>`.
matching() {
  awk -v p="$PREFIX" 'index($2, p) == 1 { print $1 }'
}

# True while `openstack <kind> list` still shows the object: a failed delete counts only then. Pulumi
# runs the deletes of one antichain in parallel (pkg/resource/deploy/step_generator.go
# ScheduleDeletes): an old sweep step's stored delete runs beside the typed key pair's and group's.
# Args: kind words (e.g. "security group"), the column (ID or Name), the ID or name
still_listed() {
  local column=$2 id=$3
  # shellcheck disable=SC2086 # the kind is several words on purpose
  os $1 list -f value -c "$column" 2>/dev/null | grep -qxF "$id"
}

delete_servers() {
  local id
  for id in $(os server list --name "^$PREFIX" -f value -c ID -c Name | matching); do
    log "Terminating server $id ..."
    os server delete --wait "$id" || ! still_listed server ID "$id" ||
      left+=("server $id: openstack server delete $id")
  done
}

delete_floating_ips() {
  local id rows err
  err=$(mktemp)
  if ! rows=$(os floating ip list --long -f value -c ID -c Description 2>"$err"); then
    # A cloud without Neutron's L3 extension has no floating IPs: the API answers 404.
    if ! grep -q '404\|could not be found' "$err"; then
      left+=("floating IPs: cannot list them: $(tail -n 1 "$err")")
    fi
    rm -f "$err"
    return 0
  fi
  rm -f "$err"
  for id in $(matching <<<"$rows"); do
    log "Releasing floating IP $id ..."
    os floating ip delete "$id" || ! still_listed "floating ip" ID "$id" ||
      left+=("floating IP $id: openstack floating ip delete $id")
  done
}

delete_keypairs() {
  local name
  for name in $(os keypair list -f value -c Name | awk -v p="$PREFIX" 'index($1, p) == 1'); do
    log "Deleting key pair $name ..."
    os keypair delete "$name" || ! still_listed keypair Name "$name" ||
      left+=("key pair $name: openstack keypair delete $name")
  done
}

delete_security_groups() {
  local id
  for id in $(os security group list -f value -c ID -c Name | matching); do
    log "Deleting security group $id ..."
    # A deleted server's port can hold the group for a few seconds.
    for _ in 1 2 3 4 5 6; do
      os security group delete "$id" 2>/dev/null && continue 2
      still_listed "security group" ID "$id" || continue 2
      sleep "${RETRY_SECONDS:-5}"
    done
    os security group delete "$id" || ! still_listed "security group" ID "$id" ||
      left+=("security group $id: openstack security group delete $id")
  done
}

main() {
  delete_servers
  delete_floating_ips
  delete_keypairs
  delete_security_groups
  if [ "${#left[@]}" -gt 0 ]; then
    log "teardown incomplete; left behind:"
    printf '  %s\n' "${left[@]}" >&2
    exit 1
  fi
}

main "$@"
