#!/usr/bin/env bash
# Shared functions for install.sh, verify.sh, cleanup.sh and audit.sh. Sourced, never run.
#
# Env read here:
#   DSE_LOCK_TIMEOUT       seconds to wait for the apt/dpkg locks before failing (default 600)
#   DSE_CLOUD_INIT_TIMEOUT seconds to wait for cloud-init to finish (default 900)
#   DSE_SYSTEMD_RUN_DIR, DSE_CLOUD_INIT_RESULT  tests only: /run/systemd/system and
#                          /run/cloud-init/result.json
# shellcheck disable=SC2034 # variables are used by the scripts that source this file

DSE_SCRIPT="${DSE_SCRIPT:-$(basename "${BASH_SOURCE[-1]}")}"
DSE_STEP="startup"
DSE_STATE_DIR=/var/lib/dse-image
DSE_BUILD_DIR=/var/tmp/dse-build
# install.sh's count of applied updates and the build date (UTC), for verify.sh's manifest.
DSE_UPDATES_RECORD=/etc/dse-image/updates
# A booted systemd, and cloud-init's result of this boot (tests point these elsewhere).
DSE_SYSTEMD_RUN_DIR="${DSE_SYSTEMD_RUN_DIR:-/run/systemd/system}"
DSE_CLOUD_INIT_RESULT="${DSE_CLOUD_INIT_RESULT:-/run/cloud-init/result.json}"

# Every apt/dpkg lock a concurrent cloud-init, unattended-upgrades or apt-daily run may hold.
DSE_LOCKS=(
  /var/lib/dpkg/lock-frontend
  /var/lib/dpkg/lock
  /var/lib/apt/lists/lock
  /var/cache/apt/archives/lock
)

dse_log() {
  printf '%s: %s\n' "$DSE_SCRIPT" "$*" >&2
}

# A visible header per step; the EXIT trap names the step when the script fails. Each step's
# duration is logged when the next one starts (or the script ends), so a slow mirror or a slow
# dpkg shows in the build log the way Packer's timestamps show it.
DSE_STEP_STARTED=$SECONDS
dse_log_step_time() {
  dse_log "step \"$DSE_STEP\" took $((SECONDS - DSE_STEP_STARTED)) s"
}

dse_step() {
  [ "$DSE_STEP" = startup ] || dse_log_step_time
  DSE_STEP="$1"
  DSE_STEP_STARTED=$SECONDS
  printf '\n==> [%s] %s\n' "$DSE_SCRIPT" "$DSE_STEP" >&2
}

dse_die() {
  dse_log "ERROR: $*"
  exit 1
}

dse_on_exit() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    printf '%s: FAILED in step "%s" (exit %s)\n' "$DSE_SCRIPT" "$DSE_STEP" "$rc" >&2
  elif [ "$DSE_STEP" != startup ]; then
    dse_log_step_time
  fi
  return "$rc"
}

dse_init() {
  set -euo pipefail
  trap dse_on_exit EXIT
  if [ "$(id -u)" -ne 0 ]; then
    dse_die "must run as root (the Provisioner runs it with sudo)"
  fi
  export DEBIAN_FRONTEND=noninteractive
  export LC_ALL=C.UTF-8
  umask 022
}

# dse_retry ATTEMPTS CMD...: transient network failures (mirrors, indexes) are common in clouds.
dse_retry() {
  local attempts="$1" n=1 delay=5
  shift
  until "$@"; do
    if [ "$n" -ge "$attempts" ]; then
      dse_log "giving up after $n attempts: $*"
      return 1
    fi
    dse_log "attempt $n failed, retrying in ${delay}s: $*"
    sleep "$delay"
    n=$((n + 1))
    delay=$((delay * 2))
  done
}

# JSON string literal of $1 (control characters other than tab/newline are dropped).
dse_json_string() {
  local s="$1"
  s="${s//\\/\\\\}"
  s="${s//\"/\\\"}"
  s="${s//$'\t'/\\t}"
  s="${s//$'\n'/\\n}"
  s="${s//$'\r'/}"
  printf '"%s"' "$s"
}

# The pid holding a POSIX (fcntl) lock on $1, read from /proc/locks. apt and dpkg lock with
# fcntl, which flock(1) neither sees nor blocks on, so /proc/locks is the only tool-free view.
dse_lock_holder() {
  local file="$1" key
  [ -e "$file" ] && [ -r /proc/locks ] || return 1
  key=$(stat -L -c '%Hd %Ld %i' "$file" | awk '{ printf "%02x:%02x:%s", $1, $2, $3 }') || return 1
  awk -v key="$key" '$2 != "->" && $6 == key { print $5; found = 1; exit } END { exit !found }' /proc/locks
}

dse_describe_pid() {
  local pid="$1" cmd=""
  if [ -r "/proc/$pid/cmdline" ]; then
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" | cut -c1-120)
  fi
  printf 'pid %s (%s)' "$pid" "${cmd% }"
}

# Waits (bounded by DSE_LOCK_TIMEOUT) until no apt/dpkg lock is held.
dse_wait_for_locks() {
  local timeout="${DSE_LOCK_TIMEOUT:-600}" start now lock pid busy last_report=-1000
  start=$(date +%s)
  while :; do
    busy=""
    for lock in "${DSE_LOCKS[@]}"; do
      if pid=$(dse_lock_holder "$lock"); then
        busy="$lock held by $(dse_describe_pid "$pid")"
        break
      fi
    done
    [ -z "$busy" ] && return 0
    now=$(date +%s)
    if [ $((now - start)) -ge "$timeout" ]; then
      dse_die "timed out after ${timeout}s waiting for the package manager lock: $busy (raise DSE_LOCK_TIMEOUT to wait longer)"
    fi
    if [ $((now - last_report)) -ge 30 ]; then
      dse_log "waiting for the package manager lock: $busy"
      last_report=$now
    fi
    sleep 2
  done
}

# cloud-init installs packages and holds the apt lock on first boot; only a booted system
# (not a chroot or container build) has a cloud-init run to wait for.
dse_wait_for_cloud_init() {
  local timeout="${DSE_CLOUD_INIT_TIMEOUT:-900}" rc=0 errors
  if ! command -v cloud-init >/dev/null 2>&1 || [ ! -d "$DSE_SYSTEMD_RUN_DIR" ]; then
    return 0
  fi
  if errors=$(dse_cloud_init_errors); then
    [ -z "$errors" ] || dse_log "warning: cloud-init finished with errors ($errors); continuing"
    return 0
  fi
  dse_log "waiting for cloud-init (at most ${timeout}s)"
  timeout "$timeout" cloud-init status --wait >/dev/null 2>&1 || rc=$?
  case "$rc" in
    0) ;;
    124) dse_die "cloud-init did not finish within ${timeout}s (DSE_CLOUD_INIT_TIMEOUT)" ;;
    # An error inside an unrelated cloud-init module must not stop the build; say so.
    *) dse_log "warning: cloud-init finished with status $rc; continuing" ;;
  esac
}

# Succeeds, printing cloud-init's errors (nothing when there were none), when cloud-init has
# already finished this boot: its final stage writes result.json under /run (a tmpfs, so it is
# this boot's). The Provisioner's prepare step has usually waited already, and
# `cloud-init status` imports all of cloud-init in Python first (4-5 s on an emulated CPU).
# Fails when there is no readable result yet: then `cloud-init status --wait` decides.
dse_cloud_init_errors() {
  [ -f "$DSE_CLOUD_INIT_RESULT" ] || return 1
  python3 - "$DSE_CLOUD_INIT_RESULT" <<'PY' 2>/dev/null
import json, sys
v1 = json.load(open(sys.argv[1]))["v1"]
errors = [str(e) for e in v1["errors"]]
for level, messages in sorted((v1.get("recoverable_errors") or {}).items()):
    errors += [f"{level}: {m}" for m in messages]
print("; ".join(errors))
PY
}

# apt-get with build-time speedups (not persisted in the image) and the lock wait of apt itself
# as a second line of defence against a lock taken between our check and apt's.
dse_apt_get() {
  local wrapper=()
  if command -v eatmydata >/dev/null 2>&1; then
    wrapper=(eatmydata)
  fi
  "${wrapper[@]}" apt-get -q -y \
    -o DPkg::Lock::Timeout="${DSE_LOCK_TIMEOUT:-600}" \
    -o Dpkg::Options::=--force-unsafe-io \
    -o Dpkg::Options::=--force-confdef \
    -o Dpkg::Options::=--force-confold \
    -o Acquire::Retries=5 \
    -o APT::Install-Recommends=false \
    -o APT::Install-Suggests=false \
    "$@"
}

# The updates `apt-get upgrade --with-new-pkgs` would apply from the current index (install.sh's
# choice), one "name installed-version new-version" line each; new packages they pull in are not
# listed. A simulation: no lock taken, nothing changed. Fails when apt-get does.
dse_pending_upgrades() {
  local sim
  sim=$(dse_apt_get -s -o Debug::NoLocking=true upgrade --with-new-pkgs) || return 1
  awk '$1 == "Inst" && $3 ~ /^\[/ {
    old = substr($3, 2, length($3) - 2); new = $4; sub(/^\(/, "", new)
    print $2, old, new
  }' <<<"$sim"
}

dse_pkg_installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = "installed" ]
}

# DSE_OS_RELEASE: the os-release file to read (tests); /etc/os-release by default.
dse_os_id() {
  # shellcheck disable=SC1090,SC1091 # /etc/os-release exists on every supported system
  (. "${DSE_OS_RELEASE:-/etc/os-release}" && printf '%s %s' "${ID:-unknown}" "${VERSION_ID:-}")
}

dse_os_pretty() {
  # shellcheck disable=SC1090,SC1091
  (. "${DSE_OS_RELEASE:-/etc/os-release}" && printf '%s' "${PRETTY_NAME:-${ID:-unknown}}")
}

# Stops before anything is installed, naming the system found, unless install.sh supports it: the
# package names, the pinned Python versions and the R repository are those of these releases.
dse_require_supported_os() {
  [ -r "${DSE_OS_RELEASE:-/etc/os-release}" ] ||
    dse_die "the base image has no /etc/os-release; install.sh supports Ubuntu 22.04, Ubuntu 24.04 and Debian 12"
  case "$(dse_os_id)" in
    "ubuntu 22.04" | "ubuntu 24.04" | "debian 12") return 0 ;;
  esac
  dse_die "the base image runs $(dse_os_pretty) ($(dse_os_id)); install.sh supports Ubuntu 22.04, Ubuntu 24.04 and Debian 12: set the platform's source image (openstack.sourceImage, aws.sourceAmi or qemu.sourceImageUrl) to one of them"
}

# Login user homes plus root's: where keys and histories of the build can be left.
dse_homes() {
  local home
  printf '%s\n' /root
  while IFS=: read -r _ _ uid _ _ home _; do
    if [ "$uid" -ge 1000 ] && [ "$uid" -lt 65534 ] && [ -d "$home" ]; then
      printf '%s\n' "$home"
    fi
  done </etc/passwd
}

# The tool selection every script reads: TOOLS, PYTHON_SOURCE and GROUPS_SELECTED from DSE_TOOLS
# (default "python scipy jupyter") and DSE_PYTHON_SOURCE (default pip).
dse_read_selection() {
  TOOLS="${DSE_TOOLS:-python scipy jupyter}"
  PYTHON_SOURCE="${DSE_PYTHON_SOURCE:-pip}"
  read -r -a GROUPS_SELECTED <<<"$TOOLS"
}

# True when tool group $1 is selected.
selected() {
  local g
  for g in "${GROUPS_SELECTED[@]}"; do [ "$g" = "$1" ] && return 0; done
  return 1
}
