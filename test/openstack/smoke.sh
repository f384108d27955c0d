#!/usr/bin/env bash
# Proves that the lane cloud (cloud.sh) does what the program's OpenStack platform
# (components/openstack/*) does, with the `openstack` CLI and ssh only, timing each step:
#   a key pair and a security group allowing SSH from the host's bridge address; a server from the
#   base image on the lane's network, whose user data installs a host key chosen here and
#   authorizes a key for `debian`; SSH pinned to that host key (StrictHostKeyChecking=yes); apt-get
#   update inside through the lane's HTTP proxy; stop; `server image create --wait` with
#   properties; the image's status and properties; listing by property; publishing (rename,
#   visibility, hidden, unset); a boot test of the snapshot (SMOKE_BOOT_TEST); deleting it all;
#   then, through the API, that nothing it made is left.
# Exits non-zero naming the first step that failed; whatever it made is removed on any exit.
#
# Env:
#   OS_LANE_DIR      the cloud's state folder (default /var/tmp/dse-openstack): openrc (the test
#                    project's credentials and OS_LANE_*), admin-openrc (read when present, for
#                    the cloud-wide part of the final check)
#   SOURCE_IMAGE     image ID or name to boot (default: what base-image.sh prints)
#   SMOKE_PREFIX     name prefix of everything the smoke makes (default dse-smoke-<random>)
#   SMOKE_BOOT_TEST  1 (default): boot the snapshot too, as the program's boot test does; 0: skip
#   SSH_TIMEOUT      seconds to wait for a server's SSH (default 600)
#   POLL_SECONDS     pause between status checks (default 2)
#   SMOKE_KEEP       1: on failure, leave everything (and the keys) for inspection; default 0
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LANE_DIR=${OS_LANE_DIR:-/var/tmp/dse-openstack}
PREFIX=${SMOKE_PREFIX:-dse-smoke-$(head -c 3 /dev/urandom | od -An -tx1 | tr -d ' \n')}
SSH_TIMEOUT=${SSH_TIMEOUT:-600}
POLL=${POLL_SECONDS:-2}

[ -s "$LANE_DIR/openrc" ] || { echo "smoke: no $LANE_DIR/openrc: run cloud.sh up first" >&2; exit 1; }
# shellcheck source=/dev/null
. "$LANE_DIR/openrc"

TMP=$(mktemp -d)
SERVERS=()
IMAGES=()
KEYPAIR=""
GROUP_ID=""
STEP=""
STEP_START=0
SMOKE_START=$(date +%s)
TIMINGS=()
PASSED=""

log() { printf '==> smoke: %s\n' "$*" >&2; }

fail() {
  printf 'smoke: FAILED at step "%s": %s\n' "$STEP" "$*" >&2
  exit 1
}

step() {
  local now
  now=$(date +%s)
  if [ -n "$STEP" ]; then
    TIMINGS+=("$(printf '%-40s %4ss' "$STEP" "$((now - STEP_START))")")
    log "$STEP: $((now - STEP_START))s"
  fi
  STEP=$1
  STEP_START=$now
  [ "$STEP" = end ] || log "$STEP ..."
}

os() { openstack "$@"; }

json_get() {
  # json_get EXPR < JSON: prints a Python expression over the parsed document `d`.
  python3 -c 'import json, sys; d = json.load(sys.stdin); r = eval(sys.argv[1]); print(r if isinstance(r, str) else json.dumps(r))' "$1"
}

console_tail() {
  os console log show --lines 40 "$1" 2>/dev/null | sed 's/^/    | /' >&2 || true
}

# --- cleanup ------------------------------------------------------------------------------
cleanup() {
  local status=$? id
  trap - EXIT INT TERM
  if [ -z "$PASSED" ] && [ "${SMOKE_KEEP:-0}" = 1 ]; then
    log "SMOKE_KEEP=1: left for inspection: servers ${SERVERS[*]:-none}, images ${IMAGES[*]:-none}, key pair ${KEYPAIR:-none}, group ${GROUP_ID:-none}; keys in $TMP"
    exit 1
  fi
  if [ -z "$PASSED" ]; then
    log "cleaning up after the failure"
    # Also by name: a server whose create call failed half-way is not in SERVERS.
    mapfile -t -O "${#SERVERS[@]}" SERVERS < <(os server list --name "^$PREFIX" -f value -c ID 2>/dev/null)
    for id in "${SERVERS[@]}"; do
      os server delete --wait "$id" >/dev/null 2>&1 || true
    done
    for id in "${IMAGES[@]}"; do
      os image delete "$id" >/dev/null 2>&1 || true
    done
    [ -z "$KEYPAIR" ] || os keypair delete "$KEYPAIR" >/dev/null 2>&1 || true
    [ -z "$KEYPAIR" ] || os keypair delete "$KEYPAIR-2" >/dev/null 2>&1 || true
    if [ -n "$GROUP_ID" ]; then
      for _ in 1 2 3 4 5 6; do
        os security group delete "$GROUP_ID" >/dev/null 2>&1 && break
        sleep 5
      done
    fi
    [ "$status" -ne 0 ] || status=1
  fi
  rm -rf "$TMP"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- helpers ------------------------------------------------------------------------------
# user_data HOST_KEY_FILE AUTHORIZED_PUBLIC_KEY: the cloud-config the program gives its builders
# (components/lifecycle/user-data.ts): pinned ed25519 host key, an authorized key for the image's
# default user, and the dead-man switch.
user_data() {
  local host_key=$1 authorized=$2
  printf '#cloud-config\n'
  printf 'ssh_authorized_keys:\n  - "%s"\n' "$authorized"
  printf 'ssh_deletekeys: true\nssh_genkeytypes: []\nssh_keys:\n  ed25519_private: |\n'
  sed 's/^/    /' "$host_key"
  printf '  ed25519_public: "%s"\n' "$(cat "$host_key.pub")"
  cat <<'EOF'
write_files:
  - path: /var/lib/cloud/scripts/per-boot/dse-builder-ttl.sh
    permissions: "0755"
    content: |
      #!/bin/sh
      # dse-image: power this temporary machine off after its TTL, whatever happens.
      systemd-run --no-block --unit=dse-builder-ttl-boot --on-active=60m /bin/systemctl poweroff || shutdown -P +60
EOF
}

wait_status() {
  local id=$1 want=$2 limit=$3 status="" deadline
  deadline=$(($(date +%s) + limit))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    status=$(os server show -f value -c status "$id")
    [ "$status" = "$want" ] && return 0
    if [ "$status" = ERROR ]; then
      os server show -f value -c fault "$id" >&2 || true
      fail "server $id went to ERROR"
    fi
    sleep "$POLL"
  done
  fail "server $id is $status, not $want, after ${limit}s"
}

server_ip() {
  # `addresses` is {"net": ["ip", ...]} (newer CLIs) or "net=ip, ..." (older ones).
  os server show -f json -c addresses "$1" |
    json_get '__import__("re").findall(r"[0-9]+(?:[.][0-9]+){3}", json.dumps(d["addresses"]))[0]'
}

# wait_ssh ID IP KNOWN_HOSTS: until the SSH server answers with the pinned host key.
wait_ssh() {
  local id=$1 ip=$2 known=$3 deadline scanned pinned
  pinned=$(awk '{print $3}' "$known")
  deadline=$(($(date +%s) + SSH_TIMEOUT))
  while :; do
    scanned=$(ssh-keyscan -T 5 -t ed25519 "$ip" 2>/dev/null | awk '{print $3}') || true
    if [ -n "$scanned" ]; then
      [ "$scanned" = "$pinned" ] && return 0
      fail "$ip offers another host key than the one in its user data ($scanned)"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      console_tail "$id"
      fail "no SSH on $ip after ${SSH_TIMEOUT}s (console above)"
    fi
    sleep 2
  done
}

# guest KEY KNOWN_HOSTS IP COMMAND: runs COMMAND as debian, the host key pinned.
guest() {
  local key=$1 known=$2 ip=$3
  shift 3
  ssh -i "$key" -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes \
    -o UserKnownHostsFile="$known" -o GlobalKnownHostsFile=/dev/null -o ConnectTimeout=15 \
    -o LogLevel=ERROR "debian@$ip" "$@"
}

# The last UUID in a CLI's output. With --wait, `server create` and `server image create` write a
# newline (and "\rProgress: N" when the server reports progress) to stdout before `-f value`'s
# ID: the stdout of such a call is not the bare ID.
uuid_of() {
  grep -oE '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}' <<<"$1" | tail -n1
}

note_extra_output() {
  local call=$1 raw=$2 id=$3
  [ "$raw" = "$id" ] ||
    log "NOTE: \`$call --wait -f value -c id\` printed $(printf '%q' "$raw"), not just the ID"
}

# boot NAME USER_DATA IMAGE [--wait]: creates the server and records it (not in a subshell: the
# cleanup needs SERVERS); its ID in BOOTED.
BOOTED=""
boot() {
  local raw
  raw=$(os server create -f value -c id --image "$3" --flavor "$OS_LANE_FLAVOR" \
    --network "$OS_LANE_NETWORK_ID" --security-group "$PREFIX" --key-name "$KEYPAIR" \
    --user-data "$2" --property dse_role=smoke "${@:4}" "$1") || fail "openstack server create $1"
  BOOTED=$(uuid_of "$raw")
  [ -n "$BOOTED" ] || fail "no server ID in the output of server create: $raw"
  SERVERS+=("$BOOTED")
  [ "${4:-}" != --wait ] || note_extra_output "openstack server create" "$raw" "$BOOTED"
}

# --- the steps ----------------------------------------------------------------------------
main() {
  local image server ip snap snap_json fp test_server test_ip

  step "token and source image"
  os token issue -f value -c project_id >"$TMP/project" || fail "no token for $OS_USERNAME"
  image=${SOURCE_IMAGE:-$(bash "$HERE/base-image.sh")}
  [ "$(os image show -f value -c status "$image")" = active ] || fail "image $image is not active"
  log "source image $image, flavor $OS_LANE_FLAVOR, network $OS_LANE_NETWORK_ID, prefix $PREFIX"

  step "key pairs and security group"
  ssh-keygen -q -t ed25519 -N '' -C "$PREFIX-keypair" -f "$TMP/keypair"
  ssh-keygen -q -t ed25519 -N '' -C "$PREFIX-user" -f "$TMP/user"
  ssh-keygen -q -t ed25519 -N '' -C "$PREFIX-host" -f "$TMP/host"
  KEYPAIR=$PREFIX
  os keypair create --public-key "$TMP/keypair.pub" "$KEYPAIR" >/dev/null || fail "keypair create"
  GROUP_ID=$(os security group create -f value -c id --description "dse-image smoke: SSH from the lane host" "$PREFIX") ||
    fail "security group create"
  os security group rule create --ingress --ethertype IPv4 --protocol tcp --dst-port 22 \
    --remote-ip "$OS_LANE_HOST_IP/32" "$GROUP_ID" >/dev/null || fail "security group rule create"
  user_data "$TMP/host" "$(cat "$TMP/user.pub")" >"$TMP/user-data"

  step "boot to ACTIVE"
  boot "$PREFIX-builder" "$TMP/user-data" "$image"
  server=$BOOTED
  wait_status "$server" ACTIVE 600
  ip=$(server_ip "$server")
  printf '%s %s\n' "$ip" "$(awk '{print $1" "$2}' "$TMP/host.pub")" >"$TMP/known_hosts"
  log "server $server is ACTIVE at $ip"

  step "ACTIVE to SSH (pinned host key)"
  wait_ssh "$server" "$ip" "$TMP/known_hosts"
  guest "$TMP/user" "$TMP/known_hosts" "$ip" true || fail "ssh with the user-data key"
  guest "$TMP/keypair" "$TMP/known_hosts" "$ip" true || fail "ssh with the key pair's key"

  step "cloud-init done (config drive)"
  # Finished when its final stage wrote result.json (`cloud-init status --wait` returns as soon
  # as a module of an earlier stage failed); its errors decide below.
  guest "$TMP/user" "$TMP/known_hosts" "$ip" \
    'timeout 600 sh -c "until [ -e /run/cloud-init/result.json ]; do sleep 1; done" &&
     sudo cat /run/cloud-init/result.json && sudo cloud-init query subplatform' \
    >"$TMP/cloud-init" 2>/dev/null || { cat "$TMP/cloud-init" >&2; fail "cloud-init did not finish within 600s"; }
  grep -q 'config-disk' "$TMP/cloud-init" || { cat "$TMP/cloud-init" >&2; fail "the data did not come from the config drive"; }
  # The base has no system locale, so cloud-init's locale module fails on every first boot
  # (provision/install.sh sets one); any other error fails the smoke.
  sed '/^config-disk/d' "$TMP/cloud-init" | json_get '[str(e) for e in d["v1"]["errors"] if "locale" not in str(e)]' \
    >"$TMP/cloud-init-errors" || { cat "$TMP/cloud-init" >&2; fail "no cloud-init result"; }
  [ "$(cat "$TMP/cloud-init-errors")" = "[]" ] || fail "cloud-init errors: $(cat "$TMP/cloud-init-errors")"
  log "cloud-init done, datasource $(grep -o 'config-disk ([^)]*)' "$TMP/cloud-init")"

  step "apt-get update through the proxy"
  guest "$TMP/user" "$TMP/known_hosts" "$ip" \
    "sudo env http_proxy=$OS_LANE_PROXY https_proxy=$OS_LANE_PROXY apt-get -q update --error-on=any" \
    >"$TMP/apt" 2>&1 || { tail -n 20 "$TMP/apt" >&2; fail "apt-get update in the guest"; }
  log "$(grep -c '^\(Get\|Hit\):' "$TMP/apt") indexes fetched through $OS_LANE_PROXY"
  # The proxy refuses what is not a Debian mirror (.invalid: nothing is contacted even if it did not).
  local code
  code=$(curl -s -o /dev/null -m 10 -w '%{http_code}' -x "$OS_LANE_PROXY" http://dse-lane-proxy-check.invalid/) || true
  [ "$code" = 403 ] || fail "the proxy answered $code, not 403, for a host that is not a Debian mirror"

  step "stop (SHUTOFF)"
  os server set --property dse_sealed=true "$server" || fail "server set --property"
  os server stop "$server" || fail "server stop"
  wait_status "$server" SHUTOFF 300
  # How components/openstack/store.py finds a stack's builders: by name, with their properties.
  os server list --long --name "^$PREFIX-builder" -f json | json_get \
    '[r["Status"] for r in d if r["ID"] == "'"$server"'" and "dse_sealed" in str(r.get("Properties"))]' |
    grep -q SHUTOFF || fail "server list --long --name does not show $server as sealed and SHUTOFF"

  step "snapshot (server image create --wait)"
  fp=$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
  local manifest
  manifest=$(printf 'x%.0s' $(seq 240))
  local raw
  raw=$(os server image create --wait -f value -c id --name "$PREFIX-image.pending" \
    --property dse_state=pending --property "dse_fingerprint=$fp" --property dse_gen=1 \
    --property "dse_image_name=$PREFIX-image" --property "dse_manifest_0=$manifest" "$server") ||
    fail "server image create"
  snap=$(uuid_of "$raw")
  [ -n "$snap" ] || fail "no image ID in the output of server image create: $raw"
  IMAGES+=("$snap")
  note_extra_output "openstack server image create" "$raw" "$snap"

  step "image status and properties"
  snap_json=$(os image show -f json "$snap") || fail "image show $snap"
  printf '%s' "$snap_json" >"$TMP/snap.json"
  [ "$(json_get 'd["status"]' <"$TMP/snap.json")" = active ] || fail "snapshot $snap is not active"
  json_get '
(lambda p: [k for k, v in {"dse_state": "pending", "dse_fingerprint": "'"$fp"'", "dse_gen": "1",
  "dse_image_name": "'"$PREFIX-image"'", "dse_manifest_0": "'"$manifest"'"}.items() if str(p.get(k)) != v]
 + [k for k in ("kernel_id", "ramdisk_id", "os_command_line") if not p.get(k)])(d.get("properties") or {})' \
    <"$TMP/snap.json" >"$TMP/missing"
  [ "$(cat "$TMP/missing")" = "[]" ] || fail "snapshot properties missing or wrong: $(cat "$TMP/missing")"
  log "snapshot $snap: active, $(json_get 'd.get("size")' <"$TMP/snap.json") bytes, properties as set"

  step "list by property, publish"
  os image list --property "dse_fingerprint=$fp" -f value -c ID | grep -qx "$snap" ||
    fail "image list --property dse_fingerprint=$fp does not list $snap"
  os image list --long --property "dse_image_name=$PREFIX-image" -f json | json_get \
    '[r["Project"] for r in d if r["ID"] == "'"$snap"'"]' | grep -q "$(cat "$TMP/project")" ||
    fail "image list --long does not show $snap as the project's"
  os image set --name "$PREFIX-image" --private --property dse_state=complete "$snap" ||
    fail "image set (publish)"
  os image set --hidden --property "dse_superseded_by=$PREFIX-next" "$snap" || fail "image set --hidden"
  os image list --hidden --property "dse_fingerprint=$fp" -f value -c ID | grep -qx "$snap" ||
    fail "image list --hidden does not list $snap"
  os image unset --property dse_superseded_by "$snap" || fail "image unset --property"
  os image set --unhidden "$snap" || fail "image set --unhidden"

  if [ "${SMOKE_BOOT_TEST:-1}" = 1 ]; then
    step "boot test: snapshot to ACTIVE"
    ssh-keygen -q -t ed25519 -N '' -C "$PREFIX-test-host" -f "$TMP/test-host"
    user_data "$TMP/test-host" "$(cat "$TMP/user.pub")" >"$TMP/test-user-data"
    # As the program's boot test (components/openstack/servers.ts launchTestServer): server create --wait.
    boot "$PREFIX-test" "$TMP/test-user-data" "$snap" --wait
    test_server=$BOOTED
    wait_status "$test_server" ACTIVE 60
    test_ip=$(server_ip "$test_server")
    printf '%s %s\n' "$test_ip" "$(awk '{print $1" "$2}' "$TMP/test-host.pub")" >"$TMP/test_known_hosts"

    step "boot test: ACTIVE to SSH"
    wait_ssh "$test_server" "$test_ip" "$TMP/test_known_hosts"
    guest "$TMP/user" "$TMP/test_known_hosts" "$test_ip" 'test -f /var/lib/cloud/scripts/per-boot/dse-builder-ttl.sh' ||
      fail "the snapshot's server lacks what the builder wrote"
  fi

  step "delete servers"
  local id
  for id in "${SERVERS[@]}"; do
    os server delete --wait "$id" || fail "server delete $id"
  done
  SERVERS=()

  step "delete image, key pair, group"
  os image delete "$snap" || fail "image delete $snap"
  IMAGES=()
  os keypair delete "$KEYPAIR" || fail "keypair delete"
  KEYPAIR=""
  local deleted=""
  for _ in 1 2 3 4 5 6; do
    os security group delete "$GROUP_ID" 2>/dev/null && { deleted=yes; break; }
    sleep 5
  done
  [ -n "$deleted" ] || fail "security group delete $GROUP_ID"
  GROUP_ID=""

  step "nothing left (API)"
  check_nothing_left "$image"

  step end
  PASSED=yes
  printf '\nsmoke: PASSED in %ss\n' "$(($(date +%s) - SMOKE_START))"
  printf '  %s\n' "${TIMINGS[@]}"
}

as_admin() (
  # shellcheck source=/dev/null
  . "$LANE_DIR/admin-openrc"
  "$@"
)

check_nothing_left() {
  local base=$1 project left=()
  project=$(cat "$TMP/project")
  [ -z "$(os server list -f value -c ID)" ] || left+=("servers: $(os server list -f value -c ID -c Name | tr '\n' ' ')")
  local ports
  ports=$(os port list --long -f json | json_get '[p["ID"] for p in d if p.get("Device Owner") != "network:dhcp"]')
  [ "$ports" = "[]" ] || left+=("ports: $ports")
  [ -z "$(os keypair list -f value -c Name)" ] || left+=("key pairs: $(os keypair list -f value -c Name | tr '\n' ' ')")
  local groups
  groups=$(os security group list --project "$project" -f value -c Name | grep -vx default || true)
  [ -z "$groups" ] || left+=("security groups: $groups")
  local images hidden
  for hidden in "" --hidden; do
    # shellcheck disable=SC2086 # $hidden is one flag or none
    images=$(os image list --long $hidden -f json | json_get \
      '[i["ID"] for i in d if i["ID"] != "'"$base"'" and (i.get("Project") == "'"$project"'" or i["Name"].startswith("'"$PREFIX"'"))]')
    [ "$images" = "[]" ] || left+=("images${hidden:+ ($hidden)}: $images")
  done
  if os catalog list -f value -c Type | grep -qx 'volumev[23]\|block-storage'; then
    [ -z "$(os volume list -f value -c ID)" ] || left+=("volumes: $(os volume list -f value -c ID | tr '\n' ' ')")
  else
    log "no block storage service in the catalog: no volume can exist"
  fi
  if [ -r "$LANE_DIR/admin-openrc" ]; then
    # Cloud-wide (admin): the lane network holds only its DHCP port, no server is left anywhere.
    local admin_ports admin_servers
    admin_ports=$(as_admin openstack port list --long --network "$OS_LANE_NETWORK_ID" -f json |
      json_get '[p["ID"] for p in d if p.get("Device Owner") != "network:dhcp"]')
    [ "$admin_ports" = "[]" ] || left+=("ports on the lane network (admin view): $admin_ports")
    admin_servers=$(as_admin openstack server list --all-projects -f value -c ID)
    [ -z "$admin_servers" ] || left+=("servers (admin view): $admin_servers")
  fi
  if [ "${#left[@]}" -gt 0 ]; then
    printf '  left: %s\n' "${left[@]}" >&2
    fail "the smoke left objects behind"
  fi
  log "no server, port (but DHCP's), key pair, security group (but default), image (but the base) or volume left"
}

main "$@"
