#!/usr/bin/env bash
# Waits, by time, until a builder's SSH server answers (ssh-keyscan, from openssh-client): the remote steps after it
# then connect at once. pulumi-command counts failed dials, not time (rule C9: 40 refused dials
# give up after about 3 minutes), so the wait lives here. On timeout it fails with what it
# waited for, for how long, and the last lines of the builder's console.
#
# Env:
#   HOST, PORT         the builder's SSH address
#   TIMEOUT_SECONDS    how long to wait (default 600; dse-image:sshTimeoutMinutes)
#   CONSOLE_COMMAND    optional: prints the builder's console tail (a platform's console.sh)
#   POLL_SECONDS       pause between attempts (default 1: a refused attempt costs nothing, and
#                      every second of pause is, on average, half a second of build time)
#   WORK_DIR           optional (local builders): stop waiting if its qemu is gone
#   ...                anything else the console command needs (SERVER_ID, INSTANCE_ID, ...)
set -euo pipefail

: "${HOST:?HOST is required}" "${PORT:?PORT is required}"
timeout_s="${TIMEOUT_SECONDS:-600}"
poll="${POLL_SECONDS:-1}"

log() { printf '==> wait-ssh: %s\n' "$*" >&2; }

# Exit 0 when the SSH server answers the key exchange (OpenSSH's ssh-keyscan prints its key).
# Only ed25519, the type of the host key every builder and test instance is given: keyscan makes
# one connection and key exchange per type, which costs seconds each on a TCG guest.
ssh_answers() {
  local keys
  keys=$(ssh-keyscan -T 10 -t ed25519 -p "$PORT" "$HOST" 2>/dev/null) || return 1
  [ -n "$keys" ]
}

# Local builders only: their qemu exited (a zombie counts as exited).
builder_gone() {
  [ -n "${WORK_DIR:-}" ] || return 1
  local pid
  pid=$(cat "$WORK_DIR/qemu.pid" 2>/dev/null || true)
  [ -z "$pid" ] && return 0
  kill -0 "$pid" 2>/dev/null || return 0
  [ "$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)" = Z ]
}

console_tail() {
  if [ -n "${CONSOLE_COMMAND:-}" ]; then
    sh -c "$CONSOLE_COMMAND" 2>&1 | tail -n 30 | sed 's/^/    /' || true
  fi
}

main() {
  local start now
  start=$(date +%s)
  log "waiting up to ${timeout_s}s for SSH on $HOST:$PORT"
  while :; do
    if ssh_answers; then
      log "SSH is up on $HOST:$PORT after $(($(date +%s) - start))s"
      return 0
    fi
    now=$(date +%s)
    if builder_gone; then
      printf 'wait-ssh: the builder stopped before SSH came up on %s:%s; last lines of its console:\n' "$HOST" "$PORT" >&2
      console_tail >&2
      exit 1
    fi
    if [ $((now - start)) -ge "$timeout_s" ]; then
      printf 'wait-ssh: no SSH on %s:%s after %ss (dse-image:sshTimeoutMinutes); last lines of the builder console:\n' "$HOST" "$PORT" "$timeout_s" >&2
      console_tail >&2
      exit 1
    fi
    sleep "$poll"
  done
}

main "$@"
