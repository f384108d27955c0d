#!/usr/bin/env bash
# Fails (exit 1), naming each finding, if the system still holds anything an image must not
# ship: private keys in /root or a home directory, SSH host private keys, a public key of the
# build in any authorized_keys, a non-empty machine-id, shell/REPL histories.
# cleanup.sh runs it last; it can also be run on its own (as root).
#
# Env:
#   DSE_AUDIT_KEYS   newline-separated key blobs (the base64 field) of the build's public keys;
#                    cleanup.sh passes the ones it removed. Keys with the comment
#                    `dse-image-build` are always build keys.
# shellcheck source-path=SCRIPTDIR

DSE_HISTORY_FILES=(.bash_history .zsh_history .sh_history .history .python_history .lesshst
  .mysql_history .psql_history .sqlite_history .node_repl_history .Rhistory .viminfo .wget-hsts)

dse_audit() {
  local findings=() home file line blob
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
  if [ "${#findings[@]}" -gt 0 ]; then
    printf 'audit: FAILED: %s\n' "${findings[@]}" >&2
    return 1
  fi
  printf 'audit: clean (no private keys, build keys, machine-id or histories)\n' >&2
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
