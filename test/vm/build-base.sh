#!/usr/bin/env bash
# Builds the Debian 12 test base that test/vm/index.ts boots: debootstrap'd root file system,
# made into an ext4 disk with `mkfs.ext4 -d` (no loop mounts, so it works in containers) and a
# kernel + initrd for direct kernel boot (no bootloader needed).
#
# Env:
#   OUT_DIR      directory to create (must not exist); written via a temp dir and renamed
#   MIRROR       Debian mirror URL (e.g. http://deb.debian.org/debian)
#   DISK_SIZE    ext4 size, default 6G (sparse; the qcow2 only holds used blocks)
# Runs as root. Callers serialize with flock; this script only guarantees OUT_DIR appears whole.
set -euo pipefail

: "${OUT_DIR:?OUT_DIR is required}"
: "${MIRROR:?MIRROR is required}"
DISK_SIZE="${DISK_SIZE:-6G}"
SUITE=bookworm
# debootstrap does not resolve virtual packages: python3-cffi-backend provides what
# python3-cryptography (a cloud-init dependency) needs.
# dbus lets systemd-logind run, which turns the ACPI power button into a clean poweroff, as on
# a cloud image (without it qemu-stop.sh waits for its SysRq fallback).
PACKAGES=linux-image-amd64,initramfs-tools,cloud-init,python3-cffi-backend,openssh-server,sudo,ca-certificates,systemd-sysv,udev,dbus,iproute2,netbase,python3,gpg

if [ -e "$OUT_DIR" ]; then
  echo "build-base: $OUT_DIR already exists" >&2
  exit 0
fi
parent=$(dirname "$OUT_DIR")
mkdir -p "$parent"
work=$(mktemp -d "$parent/.build-XXXXXX")
# The root file system (with /proc mounted in it while debootstrap runs) grows outside the repo:
# `prettier --check .` walks every folder before it applies .prettierignore, and fails on it when
# npm test runs beside a base build (.ci/run builds the base beside npm test).
scratch=$(mktemp -d "${TMPDIR:-/var/tmp}/build-base-XXXXXX")
trap 'rm -rf "$work" "$scratch"' EXIT
root="$scratch/rootfs"

echo "build-base: debootstrap $SUITE from $MIRROR" >&2
debootstrap --variant=minbase --include="$PACKAGES" --components=main "$SUITE" "$root" "$MIRROR" >&2

# Security and updates suites come from the same mirror host, as on a cloud image.
security="${MIRROR%/debian}/debian-security"
cat >"$root/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $security $SUITE-security main
EOF

# The VMs boot this kernel directly (-kernel), never the guest's package: hold it, so no update
# (here or install.sh's) builds another kernel and initramfs nobody boots (25 minutes under TCG).
chroot "$root" apt-mark hold linux-image-amd64 "$(basename "$(find "$root/boot" -maxdepth 1 -name 'vmlinuz-*' | sort -V | tail -n1)" | sed 's/^vmlinuz/linux-image/')" >/dev/null

# Like a cloud image of the day (Debian rebuilds them as updates come out), the base already has
# the updates released so far: otherwise every VM test and benchmark build spends minutes of TCG
# dpkg on Debian's security backlog instead of on what it measures. install.sh's update step still
# runs in every build; the chroot test makes an update pending to prove it applies it.
echo "build-base: apply the updates released since the point release" >&2
chroot "$root" apt-get -q update >&2
DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get -q -y -o APT::Install-Recommends=false \
  upgrade --with-new-pkgs >&2

echo dse-test >"$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 dse-test\n' >"$root/etc/hosts"
printf '/dev/vda / ext4 defaults,errors=remount-ro 0 1\n' >"$root/etc/fstab"

# networkd instead of ifupdown: it is already in systemd, and cloud-init's own network
# rendering is disabled so the test does not depend on which renderer it picks.
mkdir -p "$root/etc/systemd/network"
cat >"$root/etc/systemd/network/10-dhcp.network" <<'EOF'
[Match]
Name=en* eth*

[Network]
DHCP=ipv4
EOF
chroot "$root" systemctl enable systemd-networkd.service >/dev/null 2>&1
# e2scrub_reap (e2fsprogs; it removes stale e2scrub LVM snapshots, and the base has no LVM) took
# 20-40 s of a TCG guest's one vCPU at every boot, in every lane, beside cloud-init's stages.
chroot "$root" systemctl mask e2scrub_reap.service >/dev/null 2>&1
# QEMU user networking's DNS; nothing in the base writes resolv.conf from DHCP.
rm -f "$root/etc/resolv.conf"
echo 'nameserver 10.0.2.3' >"$root/etc/resolv.conf"

mkdir -p "$root/etc/cloud/cloud.cfg.d"
cat >"$root/etc/cloud/cloud.cfg.d/90-dse-test.cfg" <<'EOF'
datasource_list: [NoCloud, None]
network: {config: disabled}
EOF

# Like Debian's cloud images: a passwordless-sudo `debian` user, no password, no key; the key
# arrives with the NoCloud seed.
chroot "$root" useradd -m -s /bin/bash -G sudo debian
echo 'debian ALL=(ALL) NOPASSWD:ALL' >"$root/etc/sudoers.d/90-debian"
chmod 0440 "$root/etc/sudoers.d/90-debian"

# A cloud image ships without host keys and machine-id: each instance makes its own.
rm -f "$root"/etc/ssh/ssh_host_*
: >"$root/etc/machine-id"
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin

kernel=$(find "$root/boot" -maxdepth 1 -name 'vmlinuz-*' | sort -V | tail -n1)
initrd=$(find "$root/boot" -maxdepth 1 -name 'initrd.img-*' | sort -V | tail -n1)
if [ -z "$kernel" ] || [ -z "$initrd" ]; then
  echo "build-base: no kernel/initrd in $root/boot" >&2
  exit 1
fi
cp "$kernel" "$work/vmlinuz"
cp "$initrd" "$work/initrd.img"

echo "build-base: rootfs tarball" >&2
tar --numeric-owner --xattrs --acls -C "$root" -cf "$work/rootfs.tar" .

echo "build-base: ext4 disk ($DISK_SIZE)" >&2
truncate -s "$DISK_SIZE" "$scratch/disk.raw"
mkfs.ext4 -q -F -L rootfs -d "$root" "$scratch/disk.raw"
qemu-img convert -O qcow2 "$scratch/disk.raw" "$work/disk.qcow2"
rm -rf "$scratch"

echo "root=/dev/vda rw console=ttyS0 net.ifnames=0 systemd.show_status=0" >"$work/append"
chmod 0755 "$work"
mv -T "$work" "$OUT_DIR"
trap - EXIT
echo "build-base: done: $OUT_DIR" >&2
