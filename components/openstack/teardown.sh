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

delete_servers() {
  local id
  for id in $(os server list --name "^$PREFIX" -f value -c ID -c Name | matching); do
    log "Terminating server $id ..."
    os server delete --wait "$id" || left+=("server $id: openstack server delete $id")
  done
}

delete_floating_ips() {
  local id
  for id in $(os floating ip list --long -f value -c ID -c Description | matching); do
    log "Releasing floating IP $id ..."
    os floating ip delete "$id" || left+=("floating IP $id: openstack floating ip delete $id")
  done
}

delete_keypairs() {
  local name
  for name in $(os keypair list -f value -c Name | awk -v p="$PREFIX" 'index($1, p) == 1'); do
    log "Deleting key pair $name ..."
    os keypair delete "$name" || left+=("key pair $name: openstack keypair delete $name")
  done
}

delete_security_groups() {
  local id
  for id in $(os security group list -f value -c ID -c Name | matching); do
    log "Deleting security group $id ..."
    # A deleted server's port can hold the group for a few seconds.
    for _ in 1 2 3 4 5 6; do
      os security group delete "$id" 2>/dev/null && continue 2
      sleep "${RETRY_SECONDS:-5}"
    done
    os security group delete "$id" || left+=("security group $id: openstack security group delete $id")
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
