#!/usr/bin/env bash
# Process liveness for the local builder's scripts (sourced, not run). `kill -0` alone counts a
# zombie as alive: a daemonized qemu that exited stays one until init reaps it, and some inits
# (containers without a reaping init, sandboxes) reap only every few seconds or never.

# True when pid $1 exists and is not a zombie.
proc_alive() {
  local pid=${1:-} state
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # /proc/<pid>/stat: "pid (comm) state ...": the state follows the last ')'.
  state=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) || return 0
  [ "$state" != Z ]
}

# True when pid $1 is alive and is the qemu of builder folder $2: its command line names the
# folder's overlay. A pidfile outlives a qemu killed by SIGKILL (or the machine's reboot), and the
# kernel hands its PID to another process sooner or later: that one is not ours to kill.
builder_alive() {
  local pid=${1:-} work=${2:?}
  proc_alive "$pid" || return 1
  tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "file=$work/overlay.qcow2,"
}
