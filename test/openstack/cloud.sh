#!/usr/bin/env bash
# A real single-node OpenStack Zed for the OpenStack test lane, from Debian 12's own packages, on
# a machine without systemd as PID 1 and without /dev/kvm: keystone, glance, placement, nova
# (libvirt + QEMU TCG), neutron (ML2/linuxbridge, one flat provider network), MariaDB, RabbitMQ,
# every daemon started by hand with its PID recorded. The guests live on a bridge this script
# creates and reach nothing but the host's address on it, where an HTTP proxy (tinyproxy) forwards
# to the Debian mirrors only. Cloud-init data comes from a config drive. See README.md.
#
# Usage: cloud.sh install | up | down | status | reset
#   install only installs the missing packages (`up` then finds them, or waits for apt's lock)
#   up      installs what is missing, configures, starts every daemon, waits until each API
#           answers, makes the test project, user, flavor and network; writes $OS_LANE_DIR/openrc.
#           On a running cloud it only checks and returns; while another `up` or `down` runs
#           (CI starts `up` early, beside the other tests), it waits for it first.
#   down    destroys running guests, stops every daemon by its recorded PID (TERM, then KILL),
#           removes the bridge and what neutron built on it. Packages and data stay.
#   status  which daemons run (exit 0: all, 3: none, 1: some), and their memory.
#   reset   down, then forgets the cloud's data (databases, images, instances): the next `up`
#           configures from scratch without reinstalling.
# Runs as root on Debian 12.
#
# Env:
#   OS_LANE_DIR          state folder: pids/, logs/, openrc, admin-openrc, password, timings
#                        (default /var/tmp/dse-openstack)
#   OS_LANE_BRIDGE       the guests' host bridge (default dseos-br; its veth pair is
#                        dseos-phys/dseos-host)
#   OS_LANE_NET          first three octets of the guests' /24 (default 10.199.0): the host is .1,
#                        guests get .100-.199 by DHCP, no gateway
#   OS_LANE_PROXY_PORT   the HTTP proxy's port on the host's bridge address (default 8888)
#   OS_LANE_PROXY_HOSTS  host names the proxy forwards to, space-separated (default: the hosts of
#                        the Debian archives in this machine's apt sources)
#   OS_LANE_FLAVOR       flavor name (default dse.lane); OS_LANE_FLAVOR_VCPUS (1),
#                        OS_LANE_FLAVOR_RAM MB (2048), OS_LANE_FLAVOR_DISK GB (8)
#   OS_LANE_TIMEOUT      seconds to wait for each API, service or agent (default 300)
#   OS_LANE_STOP_TIMEOUT seconds between TERM and KILL in `down` (default 30)
#   APT_LOCK_TIMEOUT     seconds apt waits for another apt to finish (default 900)
#   OS_LANE_LOCK_WAIT    seconds `up` or `down` waits for another one to finish (default 3600)
set -euo pipefail

export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C.UTF-8

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LANE_DIR=${OS_LANE_DIR:-/var/tmp/dse-openstack}
PIDS=$LANE_DIR/pids
LOGS=$LANE_DIR/logs
BRIDGE=${OS_LANE_BRIDGE:-dseos-br}
PHYS_IF=dseos-phys
HOST_IF=dseos-host
NET_PREFIX=${OS_LANE_NET:-10.199.0}
HOST_IP=$NET_PREFIX.1
PROXY_PORT=${OS_LANE_PROXY_PORT:-8888}
FLAVOR=${OS_LANE_FLAVOR:-dse.lane}
TIMEOUT=${OS_LANE_TIMEOUT:-300}
STOP_TIMEOUT=${OS_LANE_STOP_TIMEOUT:-30}
REGION=RegionOne
PHYSNET=physnet1
NETWORK=dse-lane-net
PROJECT=dse-lane
LANE_USER=dse-lane
KEYSTONE=http://127.0.0.1:5000
FW_TAG=dse-openstack-lane

# Daemons in start order; `down` stops them all at once.
DAEMONS=(mariadb epmd rabbitmq keystone glance-api placement-api neutron-server virtlogd libvirtd
  nova-api nova-conductor nova-scheduler nova-compute neutron-linuxbridge-agent neutron-dhcp-agent
  tinyproxy)

PACKAGES=(mariadb-server python3-pymysql rabbitmq-server keystone glance placement-api
  nova-api nova-conductor nova-scheduler nova-compute nova-compute-qemu
  libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils genisoimage
  neutron-server neutron-linuxbridge-agent neutron-dhcp-agent dnsmasq-base dnsmasq-utils
  iptables ebtables ipset conntrack bridge-utils python3-openstackclient python3-openstacksdk
  tinyproxy uwsgi-core uwsgi-plugin-python3 sudo curl e2fsprogs)

log() { printf '==> cloud: %s\n' "$*" >&2; }
die() {
  printf 'cloud: %s\n' "$*" >&2
  exit 1
}

# --- timing ---------------------------------------------------------------------------------
PHASE=""
PHASE_START=0
UP_START=$(date +%s)
phase() {
  local now
  now=$(date +%s)
  if [ -n "$PHASE" ]; then
    log "$PHASE: $((now - PHASE_START))s"
    printf '%s %s %s\n' "$(date -u +%FT%TZ)" "$PHASE" "$((now - PHASE_START))" >>"$LANE_DIR/timings"
  fi
  PHASE=$1
  PHASE_START=$now
}

# --- processes ------------------------------------------------------------------------------
# Start time of a process (clock ticks since boot): with the PID it names one process for good.
proc_start_time() {
  sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20
}

# The recorded PID of a daemon when that very process still runs (not a zombie).
daemon_pid() {
  local pid start state
  [ -f "$PIDS/$1" ] || return 1
  read -r pid start <"$PIDS/$1" || return 1
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  [ "$(proc_start_time "$pid")" = "$start" ] || return 1
  state=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)
  [ "$state" != Z ] || return 1
  echo "$pid"
}

daemon_running() { daemon_pid "$1" >/dev/null; }

# start_daemon NAME USER COMMAND...: runs COMMAND as USER in its own session, in the foreground
# of that session (so that its PID is the daemon's), output appended to $LOGS/NAME.log.
start_daemon() {
  local name=$1 user=$2 home pid
  shift 2
  if daemon_running "$name"; then
    return 0
  fi
  home=$(getent passwd "$user" | cut -d: -f6)
  : >>"$LOGS/$name.log"
  chown "$user" "$LOGS/$name.log"
  local environment=(env -i "HOME=${home:-/}" "PATH=$PATH" "LC_ALL=C.UTF-8" "${DAEMON_ENV[@]}")
  if [ "$user" = root ]; then
    setsid "${environment[@]}" "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  else
    setsid setpriv --reuid="$user" --regid="$user" --init-groups "${environment[@]}" "$@" \
      >>"$LOGS/$name.log" 2>&1 </dev/null &
  fi
  pid=$!
  printf '%s %s\n' "$pid" "$(proc_start_time "$pid")" >"$PIDS/$name"
  DAEMON_ENV=()
  log "started $name (pid $pid)"
}
DAEMON_ENV=()

log_tail() {
  local file
  for file in "$LOGS/$1.log" "${@:2}"; do
    [ -s "$file" ] || continue
    printf -- '--- last lines of %s:\n' "$file" >&2
    tail -n 25 "$file" >&2
  done
}

# wait_for NAME DESCRIPTION COMMAND...: polls COMMAND for up to $TIMEOUT s; fails at once when
# daemon NAME died meanwhile, with the end of its log.
wait_for() {
  local name=$1 what=$2 deadline
  shift 2
  deadline=$(($(date +%s) + TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    if ! daemon_running "$name"; then
      log_tail "$name"
      die "$name exited while waiting for $what (log: $LOGS/$name.log)"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log_tail "$name"
      die "timed out after ${TIMEOUT}s waiting for $what"
    fi
    sleep 1
  done
}

# An HTTP API answers when it returns any status below 500.
http_answers() {
  local code
  code=$(curl --noproxy '*' -s -o /dev/null -m 5 -w '%{http_code}' "$1") || return 1
  [ "$code" -ge 100 ] && [ "$code" -lt 500 ]
}

tcp_answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- configuration helpers ------------------------------------------------------------------
# ini FILE < "SECTION KEY VALUE" lines: sets each key (VALUE may hold spaces or be empty).
# Python's configparser rewrites the file without its comments (like the spike's iniset.py).
INI_PY='
import configparser, sys
path = sys.argv[1]
c = configparser.RawConfigParser(strict=False, interpolation=None)
c.optionxform = str
c.read(path)
for line in sys.stdin:
    line = line.strip()
    if not line or line.startswith("#"):
        continue
    section, key, value = (line.split(None, 2) + [""])[:3]
    if section != "DEFAULT" and not c.has_section(section):
        c.add_section(section)
    c.set(section, key, value)
with open(path, "w") as f:
    c.write(f)
'
ini() { /usr/bin/python3 -c "$INI_PY" "$1"; }

db_url() { printf 'mysql+pymysql://os:%s@127.0.0.1/%s' "$PASSWORD" "$1"; }

# keystone_auth SECTION USER: the lines of a keystoneauth password block.
keystone_auth() {
  cat <<EOF
$1 auth_url $KEYSTONE
$1 auth_type password
$1 project_domain_name Default
$1 user_domain_name Default
$1 project_name service
$1 username $2
$1 password $PASSWORD
$1 region_name $REGION
EOF
}

authtoken() {
  keystone_auth keystone_authtoken "$1"
  echo "keystone_authtoken www_authenticate_uri $KEYSTONE"
  echo "keystone_authtoken memcached_servers"
}

admin_env() {
  # shellcheck source=/dev/null
  . "$LANE_DIR/admin-openrc"
}

# --- install --------------------------------------------------------------------------------
missing_packages() {
  local pkg
  for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q '^install ok installed$' || echo "$pkg"
  done
}

install_packages() {
  local missing created_policy=""
  mapfile -t missing < <(missing_packages)
  [ "${#missing[@]}" -gt 0 ] || return 0
  log "installing ${#missing[@]} packages (and their dependencies): ${missing[*]}"
  # No daemon may start from a postinst (without systemd, invoke-rc.d would run the init
  # scripts): this cloud starts its daemons itself.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    created_policy=yes
  fi
  # openstack-pkg-tools asks whether to configure databases, endpoints, RabbitMQ: no.
  debconf-set-selections <<'EOF'
keystone keystone/configure_db boolean false
keystone keystone/create-admin-tenant boolean false
keystone keystone/register-endpoint boolean false
glance-common glance/configure_db boolean false
glance-common glance/configure_rabbit boolean false
glance-common glance/configure_ksat boolean false
glance-api glance/register-endpoint boolean false
placement-common placement/configure_db boolean false
placement-api placement/register-endpoint boolean false
nova-common nova/configure_db boolean false
nova-common nova/configure_rabbit boolean false
nova-common nova/configure_ksat boolean false
nova-api nova/register-endpoint boolean false
neutron-common neutron/configure_db boolean false
neutron-common neutron/configure_rabbit boolean false
neutron-common neutron/configure_ksat boolean false
neutron-server neutron/register-endpoint boolean false
dbconfig-common dbconfig-common/dbconfig-install boolean false
man-db man-db/auto-update boolean false
EOF
  local apt=(apt-get -q -y --no-install-recommends
    -o "DPkg::Lock::Timeout=${APT_LOCK_TIMEOUT:-900}"
    -o Dpkg::Use-Pty=0
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold
    -o Dpkg::Options::=--force-unsafe-io)
  local status=0
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "${missing[@]}" >"$LOGS/apt.log" 2>&1 || status=$?
  if [ "$status" -ne 0 ]; then
    # Stale package lists (a 404 on download) are the usual cause: refresh them once.
    log "apt-get install failed ($status); apt-get update and once more"
    "${apt[@]}" update >>"$LOGS/apt.log" 2>&1 || true
    status=0
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "${missing[@]}" >>"$LOGS/apt.log" 2>&1 || status=$?
  fi
  [ -z "$created_policy" ] || rm -f /usr/sbin/policy-rc.d
  if [ "$status" -ne 0 ]; then
    tail -n 30 "$LOGS/apt.log" >&2
    die "apt-get install failed (log: $LOGS/apt.log)"
  fi
}

# --- state ----------------------------------------------------------------------------------
prepare_state() {
  mkdir -p "$PIDS" "$LOGS"
  chmod 0755 "$LANE_DIR" "$LOGS"
  if [ ! -s "$LANE_DIR/password" ]; then
    (umask 077 && head -c 18 /dev/urandom | base64 | tr '+/' 'xy' >"$LANE_DIR/password")
    # A new password: every configuration step runs again.
    rm -f "$LANE_DIR/configured"
  fi
  PASSWORD=$(cat "$LANE_DIR/password")
  cat >"$LANE_DIR/admin-openrc" <<EOF
export OS_AUTH_URL=$KEYSTONE/v3
export OS_USERNAME=admin
export OS_PASSWORD=$PASSWORD
export OS_PROJECT_NAME=admin
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_IDENTITY_API_VERSION=3
export OS_REGION_NAME=$REGION
EOF
  chmod 0600 "$LANE_DIR/admin-openrc"
}

write_openrc() {
  cat >"$LANE_DIR/openrc.tmp" <<EOF
# The OpenStack test lane's cloud (test/openstack/cloud.sh): its test project and user.
export OS_AUTH_URL=$KEYSTONE/v3
export OS_USERNAME=$LANE_USER
export OS_PASSWORD=$PASSWORD
export OS_PROJECT_NAME=$PROJECT
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_IDENTITY_API_VERSION=3
export OS_REGION_NAME=$REGION
# Not OpenStack's: what the lane's tests need to know about this cloud.
export OS_LANE_FLAVOR=$FLAVOR
export OS_LANE_NETWORK_ID=$(cat "$LANE_DIR/network-id")
export OS_LANE_HOST_IP=$HOST_IP
export OS_LANE_PROXY=http://$HOST_IP:$PROXY_PORT
EOF
  chmod 0600 "$LANE_DIR/openrc.tmp"
  mv "$LANE_DIR/openrc.tmp" "$LANE_DIR/openrc"
}

# Bump when a change here needs the database migrations or the keystone objects made again (the
# configuration files themselves are written at every `up`).
CONFIG_VERSION=2

# What the databases and the catalog depend on: the password, the installed versions, catalog.py.
config_stamp() {
  {
    echo "$CONFIG_VERSION $PASSWORD $NET_PREFIX"
    cat "$HERE/catalog.py"
    dpkg-query -W keystone glance-common placement-common nova-common neutron-common 2>/dev/null
  } | sha256sum | cut -c1-16
}

# --- network --------------------------------------------------------------------------------
# The guests' flat network: neutron's "physical" NIC is one end of a veth pair whose other end
# sits in a host bridge with the host's address. (Mapping physnet1 to the bridge itself put the
# guests on neutron's own brq bridge, never on this one: spike.)
setup_network() {
  ip link show "$BRIDGE" >/dev/null 2>&1 || ip link add "$BRIDGE" type bridge
  ip link show "$PHYS_IF" >/dev/null 2>&1 || ip link add "$PHYS_IF" type veth peer name "$HOST_IF"
  # No IPv6 here: only the IPv4 /24 is the lane's.
  local dev
  for dev in "$BRIDGE" "$PHYS_IF" "$HOST_IF"; do
    sysctl -q -w "net.ipv6.conf.$dev.disable_ipv6=1" >/dev/null 2>&1 || true
  done
  ip link set "$HOST_IF" master "$BRIDGE"
  ip addr show dev "$BRIDGE" | grep -q "inet $HOST_IP/24" || ip addr add "$HOST_IP/24" dev "$BRIDGE"
  ip link set "$HOST_IF" up
  ip link set "$PHYS_IF" up
  ip link set "$BRIDGE" up
}

# The guests have no gateway and this host does not forward (net.ipv4.ip_forward=0); should
# anything turn forwarding on, nothing from or to the lane's bridge is routed anyway.
guard_forwarding() {
  command -v iptables >/dev/null || return 0
  local dir
  for dir in -i -o; do
    iptables -C FORWARD "$dir" "$BRIDGE" -m comment --comment "$FW_TAG" -j DROP 2>/dev/null ||
      iptables -I FORWARD "$dir" "$BRIDGE" -m comment --comment "$FW_TAG" -j DROP
  done
  if [ "$(cat /proc/sys/net/ipv4/ip_forward)" != 0 ]; then
    log "note: net.ipv4.ip_forward is on; the FORWARD rules tagged $FW_TAG drop the lane's traffic"
  fi
}

# The neutron linuxbridge agent's iptables and ip6tables chains (they outlive it, with rules
# for ports that are gone): the jumps to them from the built-in chains, then the chains. Only
# this lane runs neutron on this machine; the agent makes them again when it starts.
remove_neutron_firewall() {
  local tool table rule chain chains
  for tool in iptables ip6tables; do
    command -v "$tool" >/dev/null || continue
    for table in filter raw; do
      while read -r rule; do
        # A rule as `-S` printed it (quoted where needed), deleted with the same words.
        eval "$tool -t $table ${rule/#-A/-D}" || true
      done < <("$tool" -t "$table" -S 2>/dev/null |
        grep -E '^-A (INPUT|FORWARD|OUTPUT|PREROUTING|POSTROUTING) .*-j neutron-' || true)
      chains=$("$tool" -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^neutron-/ { print $2 }')
      for chain in $chains; do "$tool" -t "$table" -F "$chain" || true; done
      for chain in $chains; do "$tool" -t "$table" -X "$chain" || true; done
    done
  done
}

remove_network() {
  local netid=""
  [ -s "$LANE_DIR/network-id" ] && netid=$(cat "$LANE_DIR/network-id")
  if [ -n "$netid" ]; then
    # What neutron built for the lane's network: the DHCP namespace and the brq bridge.
    ip netns del "qdhcp-$netid" 2>/dev/null || true
    ip link del "brq${netid:0:11}" 2>/dev/null || true
  fi
  ip link del "$PHYS_IF" 2>/dev/null || true
  ip link del "$BRIDGE" 2>/dev/null || true
  if command -v iptables >/dev/null; then
    local dir
    for dir in -i -o; do
      while iptables -D FORWARD "$dir" "$BRIDGE" -m comment --comment "$FW_TAG" -j DROP 2>/dev/null; do :; done
    done
  fi
}

# --- MariaDB, RabbitMQ ----------------------------------------------------------------------
start_mariadb() {
  mkdir -p /run/mysqld
  chown mysql:mysql /run/mysqld
  # A throwaway cloud: no durability (no fsync per commit, no doublewrite) for faster migrations.
  start_daemon mariadb root /usr/sbin/mariadbd --user=mysql --bind-address=127.0.0.1 \
    --max-connections=500 --innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0 \
    --skip-log-bin
  wait_for mariadb "MariaDB" mysqladmin ping
}

ensure_databases() {
  local db sql=""
  for db in keystone glance placement nova_api nova nova_cell0 neutron; do
    sql+="CREATE DATABASE IF NOT EXISTS $db; "
    sql+="GRANT ALL ON $db.* TO 'os'@'127.0.0.1' IDENTIFIED BY '$PASSWORD'; "
    sql+="GRANT ALL ON $db.* TO 'os'@'localhost' IDENTIFIED BY '$PASSWORD'; "
  done
  mysql -e "$sql"
}

# The last schemas to be migrated have their tables (the stamp alone would not see a lost MariaDB).
databases_migrated() {
  local db count
  for db in keystone nova_cell0 neutron; do
    count=$(mysql -N -e "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='$db'")
    [ "$count" -gt 0 ] || return 1
  done
}

# RabbitMQ on loopback only, its default guest user (RabbitMQ allows it from loopback only).
start_rabbitmq() {
  mkdir -p /run/rabbitmq
  chown rabbitmq:rabbitmq /run/rabbitmq
  # epmd would otherwise be started by the Erlang VM as a daemon of its own, untracked.
  start_daemon epmd rabbitmq /usr/bin/epmd -address 127.0.0.1
  wait_for epmd "epmd" tcp_answers 4369
  DAEMON_ENV=(RABBITMQ_NODENAME=rabbit@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
    ERL_EPMD_ADDRESS=127.0.0.1 RABBITMQ_DIST_PORT=25672
    "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}"
    RABBITMQ_LOG_BASE="$LOGS/rabbitmq")
  mkdir -p "$LOGS/rabbitmq"
  chown rabbitmq:rabbitmq "$LOGS/rabbitmq"
  start_daemon rabbitmq rabbitmq /usr/lib/rabbitmq/bin/rabbitmq-server
}

RABBIT_URL=rabbit://guest:guest@127.0.0.1:5672/

# --- keystone -------------------------------------------------------------------------------
# Every openstack CLI call of the lane (a few hundred per run) authenticates with a password,
# and bcrypt's default 12 rounds made keystone's share of the lane's CPU second only to the
# guests'. 4 is bcrypt's least: the lane tests the program, not keystone's hashing.
configure_keystone() {
  ini /etc/keystone/keystone.conf <<EOF
database connection $(db_url keystone)
token provider fernet
identity password_hash_rounds 4
EOF
  cat >"$LANE_DIR/keystone-uwsgi.ini" <<'EOF'
[uwsgi]
plugins = python3
http-socket = 127.0.0.1:5000
wsgi-file = /usr/bin/keystone-wsgi-public
master = true
processes = 2
threads = 1
lazy-apps = true
enable-threads = true
die-on-term = true
add-header = Connection: close
buffer-size = 65535
chdir = /var/lib/keystone
EOF
  mkdir -p /var/log/keystone /var/lib/keystone /etc/keystone/fernet-keys
  chown -R keystone:keystone /var/log/keystone /var/lib/keystone /etc/keystone
}

sync_keystone() {
  setpriv --reuid=keystone --regid=keystone --init-groups keystone-manage db_sync
  [ -e /etc/keystone/fernet-keys/0 ] ||
    keystone-manage fernet_setup --keystone-user keystone --keystone-group keystone
  [ -e /etc/keystone/credential-keys/0 ] ||
    keystone-manage credential_setup --keystone-user keystone --keystone-group keystone
  keystone-manage bootstrap --bootstrap-password "$PASSWORD" \
    --bootstrap-admin-url "$KEYSTONE/v3/" --bootstrap-internal-url "$KEYSTONE/v3/" \
    --bootstrap-public-url "$KEYSTONE/v3/" --bootstrap-region-id "$REGION" >/dev/null
  chown -R keystone:keystone /var/log/keystone /etc/keystone
}

start_keystone() {
  start_daemon keystone keystone uwsgi --ini "$LANE_DIR/keystone-uwsgi.ini"
}

# --- glance, placement ----------------------------------------------------------------------
configure_glance() {
  {
    cat <<EOF
database connection $(db_url glance)
DEFAULT bind_host 127.0.0.1
DEFAULT bind_port 9292
DEFAULT workers 1
paste_deploy flavor keystone
glance_store stores file,http
glance_store default_store file
glance_store filesystem_store_datadir /var/lib/glance/images/
oslo_concurrency lock_path /var/lib/glance/tmp
EOF
    authtoken glance
  } | ini /etc/glance/glance-api.conf
  mkdir -p /var/lib/glance/images /var/lib/glance/tmp /var/log/glance
  chown -R glance:glance /var/lib/glance /var/log/glance /etc/glance
}

configure_placement() {
  {
    echo "placement_database connection $(db_url placement)"
    echo "api auth_strategy keystone"
    authtoken placement
  } | ini /etc/placement/placement.conf
  cat >"$LANE_DIR/placement-uwsgi.ini" <<'EOF'
[uwsgi]
plugins = python3
http-socket = 127.0.0.1:8778
wsgi-file = /usr/bin/placement-api
master = true
processes = 1
threads = 1
die-on-term = true
add-header = Connection: close
buffer-size = 65535
EOF
  mkdir -p /var/log/placement
  chown -R placement:placement /etc/placement /var/log/placement
}

# --- nova -----------------------------------------------------------------------------------
configure_nova() {
  {
    cat <<EOF
DEFAULT transport_url $RABBIT_URL
DEFAULT my_ip 127.0.0.1
DEFAULT compute_driver libvirt.LibvirtDriver
DEFAULT osapi_compute_listen 127.0.0.1
DEFAULT osapi_compute_workers 1
DEFAULT metadata_workers 1
DEFAULT enabled_apis osapi_compute
DEFAULT force_config_drive true
DEFAULT force_raw_images false
DEFAULT state_path /var/lib/nova
api auth_strategy keystone
api_database connection $(db_url nova_api)
database connection $(db_url nova)
conductor workers 1
scheduler workers 1
glance api_servers http://127.0.0.1:9292
libvirt virt_type qemu
vnc enabled false
spice enabled false
oslo_concurrency lock_path /var/lib/nova/tmp
neutron service_metadata_proxy false
EOF
    authtoken nova
    keystone_auth placement placement
    keystone_auth neutron neutron
  } | ini /etc/nova/nova.conf
  echo "libvirt virt_type qemu" | ini /etc/nova/nova-compute.conf
  mkdir -p /var/lib/nova/tmp /var/lib/nova/instances /var/log/nova
  chown -R nova:nova /var/lib/nova /var/log/nova /etc/nova
}

sync_nova() {
  local as_nova=(setpriv --reuid=nova --regid=nova --init-groups)
  "${as_nova[@]}" nova-manage api_db sync
  "${as_nova[@]}" nova-manage cell_v2 map_cell0
  "${as_nova[@]}" nova-manage cell_v2 list_cells | grep -q ' cell1 ' ||
    "${as_nova[@]}" nova-manage cell_v2 create_cell --name=cell1
  "${as_nova[@]}" nova-manage db sync
}

# --- libvirt --------------------------------------------------------------------------------
configure_libvirt() {
  # polkit (libvirt's default socket auth) needs D-Bus: the libvirt group's members (nova) get
  # the read-write socket instead.
  if ! grep -q "^# $FW_TAG" /etc/libvirt/libvirtd.conf; then
    cat >>/etc/libvirt/libvirtd.conf <<EOF
# $FW_TAG (test/openstack/cloud.sh): no polkit without D-Bus
unix_sock_group = "libvirt"
unix_sock_rw_perms = "0770"
auth_unix_rw = "none"
auth_unix_ro = "none"
EOF
  fi
  # libvirt's default NAT network (virbr0) would turn IP forwarding on: never start it.
  rm -f /etc/libvirt/qemu/networks/autostart/default.xml
  mkdir -p /run/libvirt
}

start_libvirt() {
  start_daemon virtlogd root virtlogd
  wait_for virtlogd "virtlogd's socket" test -S /run/libvirt/virtlogd-sock
  start_daemon libvirtd root libvirtd
}

# --- neutron --------------------------------------------------------------------------------
configure_neutron() {
  {
    cat <<EOF
DEFAULT core_plugin ml2
DEFAULT service_plugins
DEFAULT transport_url $RABBIT_URL
DEFAULT interface_driver linuxbridge
DEFAULT bind_host 127.0.0.1
DEFAULT api_workers 1
DEFAULT rpc_workers 1
DEFAULT rpc_state_report_workers 0
DEFAULT state_path /var/lib/neutron
DEFAULT notify_nova_on_port_status_changes true
DEFAULT notify_nova_on_port_data_changes true
agent root_helper neutron-rootwrap /etc/neutron/rootwrap.conf
database connection $(db_url neutron)
oslo_concurrency lock_path /var/lib/neutron/tmp
experimental linuxbridge true
EOF
    authtoken neutron
    keystone_auth nova nova
  } | ini /etc/neutron/neutron.conf
  ini /etc/neutron/plugins/ml2/ml2_conf.ini <<EOF
ml2 type_drivers flat
ml2 tenant_network_types
ml2 mechanism_drivers linuxbridge
ml2 extension_drivers port_security
ml2_type_flat flat_networks $PHYSNET
securitygroup enable_ipset true
EOF
  ini /etc/neutron/plugins/ml2/linuxbridge_agent.ini <<EOF
linux_bridge physical_interface_mappings $PHYSNET:$PHYS_IF
linux_bridge bridge_mappings
vxlan enable_vxlan false
securitygroup firewall_driver iptables
securitygroup enable_security_group true
EOF
  ini /etc/neutron/dhcp_agent.ini <<EOF
DEFAULT interface_driver linuxbridge
DEFAULT dhcp_driver neutron.agent.linux.dhcp.Dnsmasq
DEFAULT enable_isolated_metadata false
DEFAULT force_metadata false
EOF
  mkdir -p /var/lib/neutron/tmp /var/log/neutron
  chown -R neutron:neutron /var/lib/neutron /var/log/neutron /etc/neutron
}

NEUTRON_SERVER_ARGS=(--config-file /etc/neutron/neutron.conf
  --config-file /etc/neutron/plugins/ml2/ml2_conf.ini)

sync_neutron() {
  setpriv --reuid=neutron --regid=neutron --init-groups neutron-db-manage \
    "${NEUTRON_SERVER_ARGS[@]}" upgrade head
}

# --- the HTTP proxy -------------------------------------------------------------------------
debian_mirror_hosts() {
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
    2>/dev/null | grep -v '^[[:space:]]*#' |
    grep -oE 'https?://[^[:space:]/]+(/[^[:space:]]*)?/debian(-security)?/?([[:space:]]|$)' |
    sed -E 's#^https?://([^/:]+).*#\1#' | sort -u
}

# tinyproxy on the bridge address only, for the lane's subnet only, to the Debian mirrors only.
configure_proxy() {
  local hosts host
  read -r -a hosts <<<"${OS_LANE_PROXY_HOSTS:-$(debian_mirror_hosts | tr '\n' ' ')}"
  [ "${#hosts[@]}" -gt 0 ] || die "no Debian mirror in this machine's apt sources; set OS_LANE_PROXY_HOSTS"
  : >"$LANE_DIR/tinyproxy.filter"
  for host in "${hosts[@]}"; do
    printf '^%s$\n' "${host//./\\.}" >>"$LANE_DIR/tinyproxy.filter"
  done
  cat >"$LANE_DIR/tinyproxy.conf" <<EOF
User tinyproxy
Group tinyproxy
Listen $HOST_IP
Port $PROXY_PORT
Timeout 600
MaxClients 50
Allow $NET_PREFIX.0/24
DisableViaHeader Yes
Filter "$LANE_DIR/tinyproxy.filter"
FilterURLs Off
FilterDefaultDeny Yes
ConnectPort 443
LogLevel Info
EOF
}

# --- up -------------------------------------------------------------------------------------
cloud_is_up() {
  local name
  [ -s "$LANE_DIR/openrc" ] && [ -s "$LANE_DIR/network-id" ] || return 1
  ip link show "$BRIDGE" >/dev/null 2>&1 || return 1
  for name in "${DAEMONS[@]}"; do
    daemon_running "$name" || return 1
  done
  http_answers "$KEYSTONE/v3" && http_answers http://127.0.0.1:8774/ &&
    http_answers http://127.0.0.1:9696/ && http_answers http://127.0.0.1:9292/ &&
    http_answers http://127.0.0.1:8778/
}

require_root() {
  [ "$(id -u)" = 0 ] || die "run as root"
  grep -q '^VERSION_ID="12"' /etc/os-release || die "needs Debian 12 (OpenStack Zed from its packages)"
}

up() {
  require_root
  mkdir -p "$LANE_DIR"
  if cloud_is_up; then
    log "the cloud is up already ($(($(date +%s) - UP_START))s to check); openrc: $LANE_DIR/openrc"
    return 0
  fi
  prepare_state
  printf '%s up started\n' "$(date -u +%FT%TZ)" >>"$LANE_DIR/timings"

  phase packages
  install_packages

  phase network
  setup_network
  guard_forwarding

  phase configure
  local stamp fresh=""
  stamp=$(config_stamp)
  [ "$(cat "$LANE_DIR/configured" 2>/dev/null)" = "$stamp" ] || fresh=yes
  configure_keystone
  configure_glance
  configure_placement
  configure_nova
  configure_libvirt
  configure_neutron
  configure_proxy

  phase mariadb-rabbitmq
  start_mariadb
  databases_migrated || fresh=yes
  ensure_databases
  start_rabbitmq

  if [ -n "$fresh" ]; then
    phase db-sync
    sync_keystone >"$LOGS/sync-keystone.log" 2>&1 || { tail -n 20 "$LOGS/sync-keystone.log" >&2; die "keystone's database setup failed"; }
    # Independent schemas: migrated side by side (they mostly wait on MariaDB).
    local pids=() pid failed=""
    setpriv --reuid=glance --regid=glance --init-groups glance-manage db_sync >"$LOGS/sync-glance.log" 2>&1 &
    pids+=($!)
    setpriv --reuid=placement --regid=placement --init-groups placement-manage db sync >"$LOGS/sync-placement.log" 2>&1 &
    pids+=($!)
    sync_neutron >"$LOGS/sync-neutron.log" 2>&1 &
    pids+=($!)
    sync_nova >"$LOGS/sync-nova.log" 2>&1 &
    pids+=($!)
    for pid in "${pids[@]}"; do
      wait "$pid" || failed=yes
    done
    if [ -n "$failed" ]; then
      tail -n 15 "$LOGS"/sync-*.log >&2
      die "a database migration failed (logs: $LOGS/sync-*.log)"
    fi
  fi

  phase keystone
  start_keystone
  wait_for keystone "keystone on :5000" http_answers "$KEYSTONE/v3"
  admin_env
  if [ -n "$fresh" ]; then
    LANE_PASSWORD=$PASSWORD LANE_PROJECT=$PROJECT LANE_USER=$LANE_USER LANE_TIMEOUT=$TIMEOUT \
      /usr/bin/python3 "$HERE/catalog.py" identity
  fi

  phase services
  start_daemon glance-api glance glance-api --config-file /etc/glance/glance-api.conf
  start_daemon placement-api placement uwsgi --ini "$LANE_DIR/placement-uwsgi.ini"
  start_daemon neutron-server neutron neutron-server "${NEUTRON_SERVER_ARGS[@]}"
  start_libvirt
  local nova_args=(--config-file /etc/nova/nova.conf)
  start_daemon nova-api nova nova-api "${nova_args[@]}"
  start_daemon nova-conductor nova nova-conductor "${nova_args[@]}"
  start_daemon nova-scheduler nova nova-scheduler "${nova_args[@]}"
  wait_for rabbitmq "RabbitMQ on :5672" tcp_answers 5672
  wait_for libvirtd "libvirtd" virsh -c qemu:///system version
  start_daemon nova-compute nova nova-compute "${nova_args[@]}" --config-file /etc/nova/nova-compute.conf
  wait_for neutron-server "neutron on :9696" http_answers http://127.0.0.1:9696/
  # The agents register with neutron-server over RabbitMQ: started once it runs (an agent
  # started earlier logs MessagingTimeout and is seen late: spike).
  start_daemon neutron-linuxbridge-agent root neutron-linuxbridge-agent \
    --config-file /etc/neutron/neutron.conf --config-file /etc/neutron/plugins/ml2/linuxbridge_agent.ini
  start_daemon neutron-dhcp-agent root neutron-dhcp-agent \
    --config-file /etc/neutron/neutron.conf --config-file /etc/neutron/dhcp_agent.ini
  start_daemon tinyproxy root tinyproxy -d -c "$LANE_DIR/tinyproxy.conf"
  wait_for glance-api "glance on :9292" http_answers http://127.0.0.1:9292/
  wait_for placement-api "placement on :8778" http_answers http://127.0.0.1:8778/
  wait_for nova-api "nova on :8774" http_answers http://127.0.0.1:8774/

  phase compute-network
  local catalog=(env LANE_TIMEOUT="$TIMEOUT" /usr/bin/python3 "$HERE/catalog.py")
  "${catalog[@]}" wait-compute >/dev/null || { log_tail nova-compute /var/log/nova/nova-compute.log; exit 1; }
  setpriv --reuid=nova --regid=nova --init-groups nova-manage cell_v2 discover_hosts >"$LOGS/discover-hosts.log" 2>&1
  "${catalog[@]}" wait-hypervisor
  LANE_FLAVOR=$FLAVOR LANE_FLAVOR_RAM=${OS_LANE_FLAVOR_RAM:-2048} \
    LANE_FLAVOR_VCPUS=${OS_LANE_FLAVOR_VCPUS:-1} LANE_FLAVOR_DISK=${OS_LANE_FLAVOR_DISK:-8} \
    LANE_NETWORK=$NETWORK LANE_PHYSNET=$PHYSNET LANE_NET_PREFIX=$NET_PREFIX \
    "${catalog[@]}" resources >"$LANE_DIR/network-id.tmp"
  mv "$LANE_DIR/network-id.tmp" "$LANE_DIR/network-id"
  "${catalog[@]}" wait-agents || { log_tail neutron-dhcp-agent; exit 1; }
  # A guest booted before the DHCP port is up gets no address.
  "${catalog[@]}" wait-dhcp "$(cat "$LANE_DIR/network-id")" || { log_tail neutron-dhcp-agent; exit 1; }
  wait_for tinyproxy "tinyproxy on $HOST_IP:$PROXY_PORT" bash -c "exec 3<>/dev/tcp/$HOST_IP/$PROXY_PORT"

  echo "$stamp" >"$LANE_DIR/configured"
  write_openrc
  phase finish
  log "the cloud is up after $(($(date +%s) - UP_START))s; openrc: $LANE_DIR/openrc"
}

# --- down -----------------------------------------------------------------------------------
destroy_guests() {
  daemon_running libvirtd || return 0
  local domain
  for domain in $(virsh -c qemu:///system list --name 2>/dev/null); do
    log "destroying guest $domain"
    virsh -c qemu:///system destroy "$domain" >/dev/null || true
  done
}

# QEMU processes libvirt started and did not stop (libvirtd gone first): by their pid files.
kill_leftover_guests() {
  local file pid
  for file in /run/libvirt/qemu/*.pid; do
    [ -f "$file" ] || continue
    pid=$(cat "$file")
    if [ -n "$pid" ] && grep -q qemu-system "/proc/$pid/cmdline" 2>/dev/null; then
      log "killing guest qemu $pid ($file)"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
}

# PIDs of the processes in the given sessions: every daemon is started in a session of its own
# (setsid), and what it starts stays there unless it makes its own session (dnsmasq, QEMU). The
# agents' privsep helpers (root, re-parented to PID 1 when the agent goes) are found this way.
session_members() {
  ps -e -o pid=,sid= | awk -v sids=" $* " 'index(sids, " " $2 " ") && $1 != $2 { print $1 }'
}

# The DHCP agent's dnsmasq outlives the agent (by design, for agent restarts), and an agent not
# yet gone starts it again: stopped by its pid file, before and after the agents go.
stop_dnsmasq() {
  local file pid
  for file in /var/lib/neutron/dhcp/*/pid; do
    [ -f "$file" ] || continue
    pid=$(cat "$file")
    is_dnsmasq "$pid" || continue
    kill -TERM "$pid" 2>/dev/null || true
    for _ in 1 2 3 4 5; do
      is_dnsmasq "$pid" || break
      sleep 1
    done
    ! is_dnsmasq "$pid" || kill -KILL "$pid" 2>/dev/null || true
  done
}

is_dnsmasq() {
  [ -n "$1" ] && grep -q dnsmasq "/proc/$1/cmdline" 2>/dev/null
}

down() {
  require_root
  local name pid pids=() sessions=() deadline
  destroy_guests
  for name in "${DAEMONS[@]}"; do
    if pid=$(daemon_pid "$name"); then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$name:$pid")
      sessions+=("$pid")
    fi
  done
  stop_dnsmasq
  deadline=$(($(date +%s) + STOP_TIMEOUT))
  while :; do
    local left=() members=()
    for name in "${DAEMONS[@]}"; do
      daemon_running "$name" && left+=("$name")
    done
    [ "${#sessions[@]}" -eq 0 ] || mapfile -t members < <(session_members "${sessions[@]}")
    [ "${#left[@]}" -gt 0 ] || [ "${#members[@]}" -gt 0 ] || break
    if [ "${#left[@]}" -eq 0 ]; then
      # The daemons are gone; what they started in their sessions goes too.
      kill -TERM "${members[@]}" 2>/dev/null || true
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "still running after ${STOP_TIMEOUT}s, killing: ${left[*]} ${members[*]}"
      for name in "${left[@]}"; do
        if pid=$(daemon_pid "$name"); then kill -KILL "$pid" 2>/dev/null || true; fi
      done
      [ "${#members[@]}" -eq 0 ] || kill -KILL "${members[@]}" 2>/dev/null || true
      sleep 1
      break
    fi
    sleep 1
  done
  kill_leftover_guests
  stop_dnsmasq
  for name in "${DAEMONS[@]}"; do
    daemon_running "$name" || rm -f "$PIDS/$name"
  done
  remove_network
  remove_neutron_firewall
  log "stopped ${#pids[@]} daemons: ${pids[*]:-none}"
}

# --- status ---------------------------------------------------------------------------------
# Resident memory (kB) of the given PIDs and all their descendants.
tree_rss_kb() {
  ps -e -o pid=,ppid=,rss= | awk -v roots="$*" '
    { parent[$1] = $2; rss[$1] = $3 }
    END {
      n = split(roots, r, " "); for (i = 1; i <= n; i++) keep[r[i]] = 1
      changed = 1
      while (changed) { changed = 0
        for (p in parent) if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; changed = 1 } }
      for (p in keep) if (p in rss) total += rss[p]
      print total + 0 }'
}

status() {
  local name pid running=0 roots=() file
  for name in "${DAEMONS[@]}"; do
    if pid=$(daemon_pid "$name"); then
      printf '%-28s running  pid %s\n' "$name" "$pid"
      running=$((running + 1))
      roots+=("$pid")
    else
      printf '%-28s stopped\n' "$name"
    fi
  done
  [ "${#roots[@]}" -eq 0 ] || mapfile -t -O "${#roots[@]}" roots < <(session_members "${roots[@]}")
  for file in /run/libvirt/qemu/*.pid; do
    [ -f "$file" ] || continue
    pid=$(cat "$file")
    grep -q qemu-system "/proc/$pid/cmdline" 2>/dev/null && roots+=("$pid") &&
      printf '%-28s running  pid %s\n' "guest $(basename "$file" .pid)" "$pid"
  done
  for file in /var/lib/neutron/dhcp/*/pid; do
    [ -f "$file" ] || continue
    pid=$(cat "$file")
    grep -q dnsmasq "/proc/$pid/cmdline" 2>/dev/null && roots+=("$pid") &&
      printf '%-28s running  pid %s\n' "dnsmasq (neutron DHCP)" "$pid"
  done
  if [ "${#roots[@]}" -gt 0 ]; then
    printf 'memory (RSS of the daemons, their children and guests): %s MiB\n' \
      "$(($(tree_rss_kb "${roots[@]}") / 1024))"
  fi
  [ "$running" -eq "${#DAEMONS[@]}" ] && return 0
  [ "$running" -eq 0 ] && return 3
  return 1
}

# --- reset ----------------------------------------------------------------------------------
reset_cloud() {
  require_root
  down
  if [ -x /usr/sbin/mariadbd ]; then
    PASSWORD=x
    DAEMON_ENV=()
    mkdir -p "$PIDS" "$LOGS"
    start_mariadb
    mysql -e "DROP DATABASE IF EXISTS keystone; DROP DATABASE IF EXISTS glance;
      DROP DATABASE IF EXISTS placement; DROP DATABASE IF EXISTS nova_api;
      DROP DATABASE IF EXISTS nova; DROP DATABASE IF EXISTS nova_cell0;
      DROP DATABASE IF EXISTS neutron;"
    kill -TERM "$(daemon_pid mariadb)"
    while daemon_running mariadb; do sleep 1; done
  fi
  rm -rf /var/lib/glance/images/* /var/lib/nova/instances/* /var/lib/neutron/dhcp/*
  # Nova's guests as libvirt keeps them defined (libvirtd is down): the fresh database numbers
  # instances from 1 again, and a stale instance-0000000N would fail that server's spawn with
  # "domain 'instance-0000000N' already exists", the server in ERROR.
  rm -f /etc/libvirt/qemu/instance-*.xml /var/lib/libvirt/qemu/nvram/instance-*
  rm -f "$LANE_DIR/configured" "$LANE_DIR/network-id" "$LANE_DIR/openrc" "$LANE_DIR"/base-image-*
  log "reset: the next up configures the cloud from scratch"
}

# `up` and `down` run one at a time: CI starts `up` early in the background (.ci/run), and the
# lane's own `up` waits here for it, then finds the cloud up. `flock -o`: the daemons `up` starts
# must not inherit the lock's descriptor (they would hold the lock for as long as they run).
with_lane_lock() {
  [ "${OS_LANE_LOCKED:-}" = 1 ] && return 0
  mkdir -p "$LANE_DIR"
  OS_LANE_LOCKED=1 exec flock -o -w "${OS_LANE_LOCK_WAIT:-3600}" "$LANE_DIR/lock" \
    "${BASH_SOURCE[0]}" "$@"
}

main() {
  case "${1:-}" in
    install)
      require_root
      mkdir -p "$LANE_DIR"
      prepare_state
      install_packages
      ;;
    up)
      with_lane_lock up
      up
      ;;
    down)
      with_lane_lock down
      down
      ;;
    status) status ;;
    reset) reset_cloud ;;
    *) die "usage: cloud.sh install|up|down|status|reset" ;;
  esac
}

main "$@"
