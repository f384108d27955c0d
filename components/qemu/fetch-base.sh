#!/usr/bin/env bash
# Fetches the QEMU builder's base image into the cache and verifies it; prints its cached path.
# A cached copy whose sha256 matches is reused; a local file (file:// URL or path) is used in
# place, never copied.
#
# Env:
#   SOURCE_URL     http(s) URL, file:// URL or path of the base cloud image (qcow2 or raw)
#   SOURCE_SHA256  expected sha256, or file:<URL> of a SHA256SUMS file that lists the image by
#                  its file name (Packer's iso_checksum form): required for http(s) URLs,
#                  checked when set for local files
#   CACHE_DIR      cache folder; downloads land in <CACHE_DIR>/base/<sha256>/<file name>, and
#                  <CACHE_DIR>/verified/ remembers files whose sha256 was checked (see below)
# Output: the base image's absolute path on stdout; progress on stderr.
set -euo pipefail

log() { printf '==> qemu: %s\n' "$*" >&2; }
die() {
  printf 'qemu-fetch-base: %s\n' "$*" >&2
  exit 1
}

: "${SOURCE_URL:?SOURCE_URL is required}"
: "${CACHE_DIR:?CACHE_DIR is required}"
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

fetch_text() {
  case "$1" in
    http://* | https://*) curl -fsSL --retry 5 --retry-delay 5 --retry-connrefused "$1" ;;
    file://*) cat "${1#file://}" ;;
    *) cat "$1" ;;
  esac
}

# The image's line in a SHA256SUMS file ("<hash> *<name>" or "<hash>  <name>").
checksum_from_file() {
  local sums_url=${1#file:} name sums
  name=$(basename "${SOURCE_URL%%\?*}")
  sums=$(fetch_text "$sums_url") ||
    die "could not read $sums_url (dse-image:qemu.sourceImageSha256)"
  awk -v name="$name" '{ f = $2; sub(/^\*/, "", f) } f == name { print $1; exit }' <<<"$sums" |
    grep -E '^[0-9a-fA-F]{64}$' ||
    die "$sums_url lists no sha256 for $name (dse-image:qemu.sourceImageSha256)"
}

expected=${SOURCE_SHA256:-}
case "$expected" in
  file:*) expected=$(checksum_from_file "$expected") ;;
esac
expected=$(printf '%s' "$expected" | tr 'A-F' 'a-f')

# Hashing a multi-GB base costs seconds in every build; a file checked before and unchanged
# since is not hashed again. "Unchanged" is what git's index trusts: the same size, inode,
# modification and status-change times (the ctime moves on every write and cannot be set back).
stat_line() { stat -L -c '%s %i %d %.9Y %.9Z' "$1"; }
stamp_of() {
  printf '%s/verified/%s' "$CACHE_DIR" "$(realpath "$1" | sha256sum | cut -d' ' -f1)"
}
verified_before() {
  local stamp
  stamp=$(stamp_of "$1")
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$expected $(stat_line "$1")" ]
}
# Best effort: a cache that cannot be written only means the next build hashes again.
remember_verified() {
  local stamp
  stamp=$(stamp_of "$1")
  {
    mkdir -p "$(dirname "$stamp")" &&
      printf '%s %s\n' "$expected" "$(stat_line "$1")" >"$stamp.tmp" &&
      mv "$stamp.tmp" "$stamp"
  } 2>/dev/null || log "warning: could not remember the check in $CACHE_DIR/verified"
}
# Hashes FILE and fails naming WHAT (the file, or the URL it came from) when it is not the
# expected image.
require_expected_sha256() {
  local file=$1 what=$2 actual
  actual=$(sha256_of "$file")
  [ "$actual" = "$expected" ] ||
    die "sha256 mismatch for $what: expected $expected (dse-image:qemu.sourceImageSha256), got $actual"
}
check_sha256() {
  local file=$1
  [ -z "$expected" ] && return 0
  if verified_before "$file"; then
    log "sha256 of $file checked before; unchanged since"
    return 0
  fi
  require_expected_sha256 "$file" "$file"
  remember_verified "$file"
}
# A cached download is reused when it was checked before and is unchanged, or hashes right now.
cached_copy_valid() {
  verified_before "$1" && return 0
  [ "$(sha256_of "$1")" = "$expected" ] && remember_verified "$1"
}

use_local_file() {
  local file=${SOURCE_URL#file://}
  [ -f "$file" ] || die "base image $file (dse-image:qemu.sourceImageUrl) does not exist"
  check_sha256 "$file"
  realpath "$file"
}

download() {
  [ -n "$expected" ] || die "dse-image:qemu.sourceImageSha256 is required for $SOURCE_URL"
  local dir="$CACHE_DIR/base/$expected" name
  name=$(basename "${SOURCE_URL%%\?*}")
  local file="$dir/$name"
  if [ -f "$file" ] && cached_copy_valid "$file"; then
    log "base image cached: $file"
    realpath "$file"
    return 0
  fi
  mkdir -p "$dir"
  local part
  part=$(mktemp "$dir/.$name.XXXXXX")
  # shellcheck disable=SC2064 # the temp name is fixed now
  trap "rm -f '$part'" EXIT
  log "downloading $SOURCE_URL"
  curl -fL --retry 5 --retry-delay 5 --retry-connrefused --no-progress-meter -o "$part" "$SOURCE_URL" ||
    die "could not download $SOURCE_URL (dse-image:qemu.sourceImageUrl)"
  require_expected_sha256 "$part" "$SOURCE_URL"
  mv "$part" "$file"
  trap - EXIT
  remember_verified "$file"
  realpath "$file"
}

case "$SOURCE_URL" in
  http://* | https://*) download ;;
  *) use_local_file ;;
esac
