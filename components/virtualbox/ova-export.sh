#!/usr/bin/env bash
# The VirtualBox platform's export: makes the OVA of the provisioned (and boot-tested) qcow2 as a
# pending image, <OUTPUT_DIR>/.pending/<NAME>.ova, which the PendingImage resource that runs this
# script records (components/store/pending-provider.ts); the publish step then moves it to
# <OUTPUT_DIR>/<NAME>.ova.
#   BUILDER=qemu:       qemu-img writes a stream-optimized VMDK, this script writes the OVF 1.0
#                       descriptor (VirtualSystem with CPUs, memory, IDE + SATA controllers, the
#                       disk, a NAT network adapter) and the SHA256 manifest (.mf), and tars them
#                       in OVA order: descriptor, manifest, disk.
#   BUILDER=vboxmanage: VirtualBox registers a VM on the disk (converted to VDI) and exports it
#                       with its own OVF 1.0 exporter; the VM is unregistered and deleted after.
#
# Env:
#   SOURCE_QCOW2  provisioned disk (the published QEMU image)
#   OUTPUT_DIR    output folder
#   NAME          final image name, <imageName>-<fp12>-<date>
#   VM_NAME       VirtualSystem name (default NAME)
#   MEMORY_MB     default 2048
#   CPUS          default 2
#   BUILDER       qemu (default) | vboxmanage
# Output: the pending image's path (as configured), on the last line.
set -euo pipefail

log() { printf '==> virtualbox: %s\n' "$*" >&2; }
die() {
  printf 'ova-export: %s\n' "$*" >&2
  exit 1
}

: "${OUTPUT_DIR:?OUTPUT_DIR is required}"
: "${NAME:?NAME is required}"
: "${SOURCE_QCOW2:?SOURCE_QCOW2 is required}"
vm_name="${VM_NAME:-$NAME}"
memory_mb="${MEMORY_MB:-2048}"
cpus="${CPUS:-2}"
builder="${BUILDER:-qemu}"

xml_escape() {
  local s=${1//&/&amp;}
  s=${s//</&lt;}
  s=${s//>/&gt;}
  printf '%s' "${s//\"/&quot;}"
}

virtual_size() {
  qemu-img info --output=json "$1" | node -e '
let text = "";
process.stdin.on("data", (chunk) => (text += chunk));
process.stdin.on("end", () => console.log(JSON.parse(text)["virtual-size"]));'
}

write_ovf() {
  local disk_file=$1 capacity=$2 name
  name=$(xml_escape "$vm_name")
  cat <<XML
<?xml version="1.0" encoding="UTF-8"?>
<Envelope ovf:version="1.0" xml:lang="en-US" xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <References>
    <File ovf:href="$(basename "$disk_file")" ovf:id="file1" ovf:size="$(stat -c %s "$disk_file")"/>
  </References>
  <DiskSection>
    <Info>List of the virtual disks used in the package</Info>
    <Disk ovf:capacity="$capacity" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <NetworkSection>
    <Info>Logical networks used in the package</Info>
    <Network ovf:name="NAT">
      <Description>Logical network used by this appliance.</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="$name">
    <Info>A virtual machine made by dse-image</Info>
    <OperatingSystemSection ovf:id="101">
      <Info>The kind of installed guest operating system</Info>
      <Description>Linux 64-Bit</Description>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements for a virtual machine</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>$name</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>virtualbox-2.2</vssd:VirtualSystemType>
      </System>
      <Item>
        <rasd:Caption>$cpus virtual CPU</rasd:Caption>
        <rasd:Description>Number of virtual CPUs</rasd:Description>
        <rasd:ElementName>$cpus virtual CPU</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>$cpus</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:AllocationUnits>MegaBytes</rasd:AllocationUnits>
        <rasd:Caption>$memory_mb MB of memory</rasd:Caption>
        <rasd:Description>Memory Size</rasd:Description>
        <rasd:ElementName>$memory_mb MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>$memory_mb</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:Caption>ideController0</rasd:Caption>
        <rasd:Description>IDE Controller</rasd:Description>
        <rasd:ElementName>ideController0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>PIIX4</rasd:ResourceSubType>
        <rasd:ResourceType>5</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:Caption>sataController0</rasd:Caption>
        <rasd:Description>SATA Controller</rasd:Description>
        <rasd:ElementName>sataController0</rasd:ElementName>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:ResourceSubType>AHCI</rasd:ResourceSubType>
        <rasd:ResourceType>20</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Caption>Ethernet adapter on 'NAT'</rasd:Caption>
        <rasd:Connection>NAT</rasd:Connection>
        <rasd:ElementName>Ethernet adapter on 'NAT'</rasd:ElementName>
        <rasd:InstanceID>5</rasd:InstanceID>
        <rasd:ResourceSubType>E1000</rasd:ResourceSubType>
        <rasd:ResourceType>10</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:Caption>disk1</rasd:Caption>
        <rasd:Description>Disk Image</rasd:Description>
        <rasd:ElementName>disk1</rasd:ElementName>
        <rasd:HostResource>/disk/vmdisk1</rasd:HostResource>
        <rasd:InstanceID>6</rasd:InstanceID>
        <rasd:Parent>4</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
XML
}

write_manifest() {
  local f
  for f in "$@"; do
    printf 'SHA256(%s)= %s\n' "$(basename "$f")" "$(sha256sum "$f" | cut -d' ' -f1)"
  done
}

build_with_qemu_img() {
  local tmp=$1 out=$2
  local ovf="$NAME.ovf" mf="$NAME.mf" vmdk="$NAME-disk1.vmdk"
  log "converting $SOURCE_QCOW2 to a stream-optimized VMDK"
  qemu-img convert -O vmdk -o subformat=streamOptimized "$SOURCE_QCOW2" "$tmp/$vmdk"
  write_ovf "$tmp/$vmdk" "$(virtual_size "$SOURCE_QCOW2")" >"$tmp/$ovf"
  (cd "$tmp" && write_manifest "$ovf" "$vmdk" >"$mf")
  # OVF 1.0: the descriptor first, then the manifest, then the files in References order.
  tar -C "$tmp" --format=ustar -cf "$out.tmp" "$ovf" "$mf" "$vmdk"
}

build_with_vboxmanage() {
  local tmp=$1 out=$2
  command -v VBoxManage >/dev/null 2>&1 ||
    die "dse-image:virtualbox.builder is vboxmanage but VBoxManage is not installed; install VirtualBox or set it to qemu"
  local vm="dse-build-$NAME"
  log "converting $SOURCE_QCOW2 to VDI for VirtualBox"
  qemu-img convert -O vdi "$SOURCE_QCOW2" "$tmp/disk.vdi"
  # shellcheck disable=SC2064 # vm is fixed now
  trap "VBoxManage unregistervm '$vm' --delete >/dev/null 2>&1 || true; rm -rf '$tmp'" EXIT
  VBoxManage createvm --name "$vm" --ostype Linux_64 --basefolder "$tmp" --register >&2
  VBoxManage modifyvm "$vm" --memory "$memory_mb" --cpus "$cpus" --nic1 nat --ioapic on >&2
  VBoxManage storagectl "$vm" --name SATA --add sata --controller IntelAhci >&2
  VBoxManage storageattach "$vm" --storagectl SATA --port 0 --device 0 --type hdd \
    --medium "$tmp/disk.vdi" >&2
  VBoxManage export "$vm" --output "$tmp/export.ova" --ovf10 --manifest \
    --vsys 0 --vmname "$vm_name" >&2
  mv "$tmp/export.ova" "$out.tmp"
}



main() {
  [ -f "$SOURCE_QCOW2" ] || die "no source disk $SOURCE_QCOW2"
  local pending_dir out tmp
  # As configured: the pending OVA's ID (its path) lands in the state (rule P3).
  pending_dir="$OUTPUT_DIR/.pending"
  mkdir -p "$pending_dir"
  out="$pending_dir/$NAME.ova"
  tmp=$(mktemp -d "$pending_dir/.ova-$NAME.XXXXXX")
  # shellcheck disable=SC2064 # tmp is fixed now
  trap "rm -rf '$tmp' '$out.tmp'" EXIT
  case "$builder" in
    qemu) build_with_qemu_img "$tmp" "$out" ;;
    vboxmanage) build_with_vboxmanage "$tmp" "$out" ;;
    *) die "dse-image:virtualbox.builder must be qemu or vboxmanage, got '$builder'" ;;
  esac
  mv "$out.tmp" "$out"
  log "pending image $out ($(du -h "$out" | cut -f1))"
  printf '%s\n' "$out"
}

main "$@"
