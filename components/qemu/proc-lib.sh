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
