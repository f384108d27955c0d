#!/usr/bin/env bash
# Fails (exit 1), naming each finding, if the system still holds anything an image must not
# ship: private keys in /root or a home directory, shell/REPL histories (dse_audit_content), SSH
# host private keys, a public key of the build in any authorized_keys, a non-empty machine-id,
# the builder's dead-man switch (dse_audit_identity). cleanup.sh runs the content audit before it
# removes the builder's identity (so a failure there leaves a builder the next run can reach
# again) and the identity audit after; run on its own (as root), it runs both.
#
# Env:
#   DSE_AUDIT_KEYS   newline-separated key blobs (the base64 field) of the build's public keys;
#                    cleanup.sh passes the ones it removed. Keys with the comment
#                    `dse-image-build` are always build keys.
# shellcheck source-path=SCRIPTDIR

DSE_HISTORY_FILES=(.bash_history .zsh_history .sh_history .history .python_history .lesshst
  .mysql_history .psql_history .sqlite_history .node_repl_history .Rhistory .viminfo .wget-hsts)

dse_audit_report() {
  local what=$1
  shift
  if [ "$#" -gt 0 ]; then
    printf 'audit: FAILED: %s\n' "$@" >&2
    return 1
  fi
  printf 'audit: clean (%s)\n' "$what" >&2
}

# Private keys and histories in /root and the home directories.
dse_audit_content() {
  local findings=() home file
  while IFS= read -r home; do
    [ -d "$home" ] || continue
    while IFS= read -r -d '' file; do
      if grep -qE -- '-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY-----' "$file" 2>/dev/null; then
        findings+=("private key: $file")
      fi
    done < <(find "$home" -xdev -type f -size -256k -print0 2>/dev/null)
    for file in "${DSE_HISTORY_FILES[@]}"; do
      if [ -s "$home/$file" ]; then
        findings+=("history: $home/$file")
      fi
    done
  done < <(dse_homes)
  dse_audit_report "no private keys or histories" "${findings[@]}"
}

# What made this machine the builder: its build key, host keys, machine-id, dead-man switch.
dse_audit_identity() {
  local findings=() home file line blob
  while IFS= read -r home; do
    for file in "$home/.ssh/authorized_keys" "$home/.ssh/authorized_keys2"; do
      [ -f "$file" ] || continue
      while IFS= read -r line; do
        [ -n "$line" ] || continue
        blob=$(dse_key_blob "$line")
        if [[ "$line" =~ [[:space:]]dse-image-build[[:space:]]*$ ]] ||
          { [ -n "$blob" ] && grep -qxF -- "$blob" <<<"${DSE_AUDIT_KEYS:-}"; }; then
          findings+=("build public key in $file")
          break
        fi
      done <"$file"
    done
  done < <(dse_homes)
  for file in /etc/ssh/ssh_host_*_key; do
    [ -e "$file" ] && findings+=("SSH host private key: $file")
  done
  if [ -s /etc/machine-id ]; then
    findings+=("machine-id not empty: /etc/machine-id")
  fi
  if [ -f /var/lib/dbus/machine-id ] && [ ! -L /var/lib/dbus/machine-id ] && [ -s /var/lib/dbus/machine-id ]; then
    findings+=("machine-id not empty: /var/lib/dbus/machine-id")
  fi
  for file in /var/lib/cloud/scripts/per-boot/dse-*; do
    [ -e "$file" ] && findings+=("builder dead-man switch left in the image: $file")
  done
  dse_audit_report "no build keys, host keys, machine-id or builder switch" "${findings[@]}"
}

dse_audit() {
  local rc=0
  dse_audit_content || rc=1
  dse_audit_identity || rc=1
  return "$rc"
}

# The base64 key field of an authorized_keys line (options may precede the key type).
dse_key_blob() {
  awk '{ for (i = 1; i < NF; i++) if ($i ~ /^(ssh-|ecdsa-|sk-)/) { print $(i + 1); exit } }' <<<"$1"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  # shellcheck source=lib.sh
  . "$HERE/lib.sh"
  dse_init
  dse_step "audit"
  dse_audit
  DSE_STEP="done"
fi
