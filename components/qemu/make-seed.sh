#!/usr/bin/env bash
# Writes a NoCloud seed ISO (ISO9660, volume label `cidata`) that makes cloud-init on the
# builder create/ensure the login user with passwordless sudo and authorize the build key:
# the same way a cloud injects a key pair, so the image sees no difference.
#
# Env:
#   SEED_PATH            output ISO path (overwritten)
#   INSTANCE_ID          cloud-init instance id; a new id makes cloud-init run its per-instance
#                        modules again
#   USER_DATA            the complete cloud-config (the program's: pinned host key, the user,
#                        the per-boot dead-man switch); when set, the variables below are unused
#   SSH_PUBLIC_KEY       one OpenSSH public key line, e.g. "ssh-ed25519 AAAA... dse-image-build"
#   SSH_USER             login user, e.g. debian or ubuntu
#   BUILDER_TTL_MINUTES  optional; arms a poweroff at first boot (cloud-init runcmd) so the
#                        builder never outlives the TTL even if the host side dies
# Needs genisoimage (or xorriso).
set -euo pipefail

: "${SEED_PATH:?SEED_PATH is required}"
: "${INSTANCE_ID:?INSTANCE_ID is required}"
ttl="${BUILDER_TTL_MINUTES:-}"

check_user_inputs() {
  : "${SSH_PUBLIC_KEY:?SSH_PUBLIC_KEY is required}"
  : "${SSH_USER:?SSH_USER is required}"
  if ! [[ "$SSH_USER" =~ ^[a-z_][a-z0-9_-]*$ ]]; then
    echo "make-seed: SSH_USER '$SSH_USER' is not a valid user name" >&2
    exit 2
  fi
  if [[ "$SSH_PUBLIC_KEY" == *$'\n'* ]] || ! [[ "$SSH_PUBLIC_KEY" =~ ^(ssh-|ecdsa-|sk-) ]]; then
    echo "make-seed: SSH_PUBLIC_KEY must be one OpenSSH public key line" >&2
    exit 2
  fi
  if [ -n "$ttl" ] && ! [[ "$ttl" =~ ^[1-9][0-9]*$ ]]; then
    echo "make-seed: BUILDER_TTL_MINUTES must be a positive integer, got '$ttl'" >&2
    exit 2
  fi
}

# YAML double-quoted scalars (JSON strings are valid YAML) survive any key comment.
yaml_quote() {
  local s="${1//\\/\\\\}"
  printf '"%s"' "${s//\"/\\\"}"
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/dse-seed.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

write_user_data_from_env() {
  echo "#cloud-config"
  echo "users:"
  echo "  - name: $SSH_USER"
  echo "    sudo: \"ALL=(ALL) NOPASSWD:ALL\""
  echo "    shell: /bin/bash"
  echo "    lock_passwd: true"
  echo "    ssh_authorized_keys:"
  echo "      - $(yaml_quote "$SSH_PUBLIC_KEY")"
  echo "ssh_pwauth: false"
  echo "disable_root: true"
  if [ -n "$ttl" ]; then
    # runcmd, not bootcmd: bootcmd runs inside cloud-init.service, ordered before
    # sysinit.target, and arming a timer there hung the boot. runcmd runs once the system is up.
    echo "runcmd:"
    echo "  - [sh, -c, \"systemd-run --no-block --unit=dse-builder-ttl-boot --on-active=${ttl}m /bin/systemctl poweroff || shutdown -P +${ttl}\"]"
  fi
}

if [ -n "${USER_DATA:-}" ]; then
  case "$USER_DATA" in
    "#cloud-config"*) ;;
    *)
      echo "make-seed: USER_DATA must be a cloud-config (start with #cloud-config)" >&2
      exit 2
      ;;
  esac
  printf '%s\n' "$USER_DATA" >"$tmp/user-data"
else
  check_user_inputs
  write_user_data_from_env >"$tmp/user-data"
fi

{
  echo "instance-id: $(yaml_quote "$INSTANCE_ID")"
  echo "local-hostname: dse-builder"
} >"$tmp/meta-data"

mkdir -p "$(dirname "$SEED_PATH")"
rm -f "$SEED_PATH"
if command -v genisoimage >/dev/null 2>&1; then
  genisoimage -quiet -output "$SEED_PATH" -volid cidata -joliet -rock \
    "$tmp/user-data" "$tmp/meta-data"
elif command -v xorriso >/dev/null 2>&1; then
  xorriso -as mkisofs -quiet -output "$SEED_PATH" -volid cidata -joliet -rock \
    "$tmp/user-data" "$tmp/meta-data"
else
  echo "make-seed: needs genisoimage or xorriso" >&2
  exit 1
fi
