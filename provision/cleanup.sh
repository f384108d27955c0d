#!/usr/bin/env bash
# Makes the builder safe and small to snapshot; the last step before the image is taken.
# Runs as root via sudo, in an order that keeps a failure resumable: first the image's content
# (histories, caches, apt lists, temporary files) and audit.sh's content audit; only then the
# builder's identity (build key, host keys, cloud-init state with the dead-man switch,
# machine-id), its audit, and last the build folder this script lives in. A failure before the
# identity goes leaves a builder that SSH still reaches and that still holds these scripts.
#
# Build key: the login user (SUDO_USER) got its authorized_keys from cloud-init for THIS build
# (the seed's or the cloud's temporary key pair), and an instance of the image gets its keys
# from cloud-init at first boot, so that file is emptied entirely. Those keys, and any key with
# the comment `dse-image-build`, are also removed from every other authorized_keys (cloud-init
# puts a disabled copy into root's). The running SSH session survives: sshd checks keys only
# when a connection is opened.
# Also removed: SSH host keys (cloud-init, or a boot-time unit added here when cloud-init is
# absent, makes new ones per instance), cloud-init instance state and logs, machine-id (emptied,
# not deleted: systemd fills it at first boot), shell histories, apt lists and caches, pip
# caches, /tmp and /var/tmp (the build directory this script came from last of all).
#
# Env:
#   DSE_ZERO_FREE_SPACE  1: also zero-fill free space, for disks that ignore discards, so a
#                        compressed image is small; 0 (default): fstrim only (free blocks are
#                        discarded either way; zero-filling costs minutes)
#   DSE_TOOLS, DSE_PYTHON_SOURCE, DSE_FINGERPRINT: accepted and ignored
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Both are read now: the build directory holding them is deleted below.
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=audit.sh
. "$HERE/audit.sh"
dse_init

dse_step "remove histories and caches"
while IFS= read -r home; do
  for file in "${DSE_HISTORY_FILES[@]}"; do
    rm -f "${home:?}/$file"
  done
  rm -rf "${home:?}/.cache/pip"
done < <(dse_homes)
rm -rf /root/.cache/pip /opt/dse/.cache

dse_step "remove apt lists and caches"
apt-get clean >&2 || true
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
mkdir -p /var/lib/apt/lists/partial

dse_step "remove temporary files"
# Everything but the build folder, which holds this script: it goes last, after the audits, so
# a cleanup that fails before then can run again on the same builder.
find /tmp /var/tmp -mindepth 1 -maxdepth 1 ! -path "$DSE_BUILD_DIR" -exec rm -rf {} + 2>/dev/null || true

dse_step "audit the image's content"
# Before the builder's identity goes: if this fails, SSH still works and cleanup can run again.
dse_audit_content

dse_step "remove the build key"
login_home=""
if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
  login_home=$(getent passwd "$SUDO_USER" | cut -d: -f6 || true)
fi
build_keys=""
if [ -n "$login_home" ] && [ -f "$login_home/.ssh/authorized_keys" ]; then
  while IFS= read -r line; do
    blob=$(dse_key_blob "$line")
    [ -n "$blob" ] && build_keys+="$blob"$'\n'
  done <"$login_home/.ssh/authorized_keys"
  : >"$login_home/.ssh/authorized_keys"
  dse_log "emptied $login_home/.ssh/authorized_keys"
fi
while IFS= read -r home; do
  for file in "$home/.ssh/authorized_keys" "$home/.ssh/authorized_keys2"; do
    [ -s "$file" ] || continue
    kept=$(mktemp)
    while IFS= read -r line || [ -n "$line" ]; do
      blob=$(dse_key_blob "$line")
      if [[ "$line" =~ [[:space:]]dse-image-build[[:space:]]*$ ]] ||
        { [ -n "$blob" ] && grep -qxF -- "$blob" <<<"$build_keys"; }; then
        dse_log "removed a build key from $file"
        continue
      fi
      printf '%s\n' "$line"
    done <"$file" >"$kept"
    # Keep the file's owner and mode: only its content changes.
    cat "$kept" >"$file"
    rm -f "$kept"
  done
done < <(dse_homes)

dse_step "remove SSH host keys"
rm -f /etc/ssh/ssh_host_*
if ! command -v cloud-init >/dev/null 2>&1 && [ -d /etc/systemd/system ]; then
  cat >/etc/systemd/system/dse-ssh-host-keys.service <<'EOF'
[Unit]
Description=Generate SSH host keys for this instance (dse-image)
Before=ssh.service sshd.service
ConditionPathExistsGlob=!/etc/ssh/ssh_host_*_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
EOF
  systemctl enable dse-ssh-host-keys.service >/dev/null 2>&1 || true
fi

dse_step "reset cloud-init"
if command -v cloud-init >/dev/null 2>&1; then
  cloud-init clean --logs >&2 || dse_die "cloud-init clean failed"
fi

dse_step "empty machine-id"
truncate -s 0 /etc/machine-id 2>/dev/null || : >/etc/machine-id
if [ -e /var/lib/dbus/machine-id ] && [ ! -L /var/lib/dbus/machine-id ]; then
  rm -f /var/lib/dbus/machine-id
  ln -s /etc/machine-id /var/lib/dbus/machine-id
fi

dse_step "audit the builder's identity"
DSE_AUDIT_KEYS="$build_keys" dse_audit_identity

dse_step "remove the build folder"
rm -rf "$DSE_BUILD_DIR"

dse_step "discard free blocks"
# Cheap, and on a thin disk that passes discards on (QEMU discard=unmap, most clouds' volumes)
# it frees the deleted files' blocks at once, so no zero-fill is needed there.
fstrim -v / >&2 2>/dev/null || dse_log "fstrim not supported here"

if [ "${DSE_ZERO_FREE_SPACE:-0}" = 1 ]; then
  dse_step "zero-fill free space"
  # For disks that ignore discards: zeroed blocks compress to nothing.
  zero=/var/tmp/dse-zero-fill
  dd if=/dev/zero of="$zero" bs=4M status=none 2>/dev/null || true
  sync
  rm -f "$zero"
  sync
fi
DSE_STEP="done"
