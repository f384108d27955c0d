#!/usr/bin/env bash
# Puts the VM tests' Debian 12 base (test/vm/build-base.sh, built and cached by ensureDebianBase()
# of test/vm/index.ts) into the lane cloud's Glance and prints the ID to use as `sourceImage`.
# Idempotent: an image already uploaded from the same base is found by its properties.
#
# How it boots: the base has no bootloader (ext4 without partition table, root=/dev/vda). Its
# kernel and initrd become Glance images of the formats aki and ari, and the disk image names them
# (kernel_id, ramdisk_id) with the base's kernel command line (os_command_line): Nova's libvirt
# driver then boots the kernel directly, as test/vm does with `qemu -kernel`. Nova copies these
# properties to the server's snapshots, so the snapshots boot the same way.
# How cloud-init gets its data: the base looks for NoCloud only (datasource_list: [NoCloud, None]);
# the disk uploaded here is derived from it with one more file, cloud.cfg.d/95-dse-openstack.cfg
# (datasource_list: [ConfigDrive, None]), written into the ext4 with debugfs: no mount, no loop
# device. The lane's Nova forces a config drive for every server.
#
# Env:
#   OS_LANE_DIR   the cloud's state folder (default /var/tmp/dse-openstack): its admin-openrc; the
#                 derived disks are kept under images/
#   BASE_DIR      a built base folder (disk.qcow2, vmlinuz, initrd.img, append); default: the one
#                 ensureDebianBase() returns, built first when missing (minutes)
# Output: the disk image's ID on stdout; progress on stderr. Runs as root.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
LANE_DIR=${OS_LANE_DIR:-/var/tmp/dse-openstack}
# Bump when the derivation below changes: the tag of the uploaded images changes with it.
DERIVATION=1
DATASOURCES='datasource_list: [ConfigDrive, None]'

log() { printf '==> base-image: %s\n' "$*" >&2; }
die() {
  printf 'base-image: %s\n' "$*" >&2
  exit 1
}

find_base() {
  if [ -n "${BASE_DIR:-}" ]; then
    echo "$BASE_DIR"
    return
  fi
  log "ensureDebianBase() (test/vm): builds the base once, then reuses it"
  (cd "$REPO" && node_modules/.bin/tsx -e '
    import * as path from "node:path";
    import { ensureDebianBase } from "./test/vm";
    ensureDebianBase().then(
      (b) => console.log(path.dirname(b.disk)),
      (e) => { console.error(e); process.exit(1); });')
}

# The base folder's name is the hash of its inputs (build script, mirror); it never changes once
# built. The tag also covers what this script adds.
base_tag() {
  printf '%s %s %s %s' "$(basename "$1")" "$(stat -c '%s %Y' "$1/disk.qcow2")" "$DERIVATION" \
    "$DATASOURCES" | sha256sum | cut -c1-16
}

# derive_disk BASE OUT: OUT is BASE's disk plus the ConfigDrive datasource file.
derive_disk() {
  local base=$1 out=$2 tmp cfg=/etc/cloud/cloud.cfg.d/95-dse-openstack.cfg
  tmp=$(mktemp -d "$(dirname "$out")/.derive-XXXXXX")
  log "deriving the disk: $cfg"
  qemu-img convert -O raw "$base/disk.qcow2" "$tmp/disk.raw"
  printf '# test/openstack/base-image.sh: cloud-init data from the config drive Nova attaches\n%s\n' \
    "$DATASOURCES" >"$tmp/95-dse-openstack.cfg"
  # debugfs exits 0 even when a request fails: the file is read back below.
  debugfs -w -f - "$tmp/disk.raw" >/dev/null 2>"$tmp/debugfs.err" <<EOF
cd /etc/cloud/cloud.cfg.d
write $tmp/95-dse-openstack.cfg 95-dse-openstack.cfg
set_inode_field 95-dse-openstack.cfg mode 0100644
set_inode_field 95-dse-openstack.cfg uid 0
set_inode_field 95-dse-openstack.cfg gid 0
EOF
  if ! debugfs -R "cat $cfg" "$tmp/disk.raw" 2>/dev/null | grep -qxF "$DATASOURCES"; then
    cat "$tmp/debugfs.err" >&2
    rm -rf "$tmp"
    die "could not write $cfg into the base's ext4"
  fi
  e2fsck -fn "$tmp/disk.raw" >/dev/null 2>&1 || {
    rm -rf "$tmp"
    die "the derived ext4 does not pass e2fsck"
  }
  qemu-img convert -O qcow2 "$tmp/disk.raw" "$tmp/disk.qcow2"
  mv "$tmp/disk.qcow2" "$out"
  rm -rf "$tmp"
}

# image_id TAG PART: the active image of this tag and part, if any.
image_id() {
  # --public: Nova copies these properties into every snapshot of a server booted from the image
  # (private images of the test project).
  openstack image list --public --property "dse_lane_base=$1" --property "dse_lane_part=$2" \
    --status active -f value -c ID | head -n1
}

# Earlier attempts with this tag that did not finish (queued, saving, killed): removed.
remove_unfinished() {
  local id status
  while read -r id status; do
    [ "$status" = active ] && continue
    log "removing unfinished image $id ($status)"
    openstack image delete "$id" || true
  done < <(openstack image list --public --property "dse_lane_base=$1" -f value -c ID -c Status)
}

upload() {
  local tag=$1 part=$2 name=$3
  shift 3
  openstack image create --public --property "dse_lane_base=$tag" --property "dse_lane_part=$part" \
    "$@" -f value -c id "$name"
}

main() {
  [ "$(id -u)" = 0 ] || die "run as root"
  [ -s "$LANE_DIR/admin-openrc" ] || die "no $LANE_DIR/admin-openrc: run cloud.sh up first"
  # shellcheck source=/dev/null
  . "$LANE_DIR/admin-openrc"
  mkdir -p "$LANE_DIR/images"
  exec 9>"$LANE_DIR/images/.lock"
  flock 9

  local base tag disk kernel ramdisk derived
  base=$(find_base)
  if [ ! -s "$base/disk.qcow2" ] || [ ! -s "$base/vmlinuz" ] || [ ! -s "$base/initrd.img" ]; then
    die "$base is not a built base (disk.qcow2, vmlinuz, initrd.img)"
  fi
  tag=$(base_tag "$base")
  disk=$(image_id "$tag" disk)
  if [ -n "$disk" ]; then
    log "already in Glance: $disk (tag $tag)"
    echo "$disk"
    return 0
  fi
  remove_unfinished "$tag"
  derived="$LANE_DIR/images/$tag.qcow2"
  [ -s "$derived" ] || derive_disk "$base" "$derived"

  log "uploading kernel, initrd and disk (tag $tag)"
  kernel=$(image_id "$tag" kernel)
  [ -n "$kernel" ] || kernel=$(upload "$tag" kernel dse-lane-debian12-kernel \
    --disk-format aki --container-format aki --file "$base/vmlinuz")
  ramdisk=$(image_id "$tag" ramdisk)
  [ -n "$ramdisk" ] || ramdisk=$(upload "$tag" ramdisk dse-lane-debian12-initrd \
    --disk-format ari --container-format ari --file "$base/initrd.img")
  disk=$(upload "$tag" disk dse-lane-debian12 --disk-format qcow2 --container-format bare \
    --file "$derived" --property "kernel_id=$kernel" --property "ramdisk_id=$ramdisk" \
    --property "os_command_line=$(cat "$base/append")" --property os_distro=debian \
    --property os_version=12)
  log "uploaded: disk $disk, kernel $kernel, initrd $ramdisk"
  echo "$disk"
}

main "$@"
