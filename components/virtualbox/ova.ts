/**
 * The OVF 1.0 package of a VirtualBox image: the descriptor (VirtualSystem with CPUs, memory, IDE
 * and SATA controllers, the disk, a NAT network adapter) and the SHA256 manifest (.mf). Pure
 * text, so the export (ova-export.ts) only runs qemu-img and tar.
 */

export interface OvfSettings {
  /** VirtualSystem name. */
  vmName: string;
  memoryMb: number;
  cpus: number;
  /** File name of the stream-optimized VMDK in the package. */
  diskFile: string;
  /** Its size in bytes. */
  diskBytes: number;
  /** The disk's virtual size in bytes (what the guest sees). */
  capacityBytes: number;
}

const escapeXml = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

interface Rasd {
  [field: string]: string | number | boolean;
}

const item = (rasd: Rasd) =>
  [
    "      <Item>",
    ...Object.entries(rasd).map(([k, v]) => `        <rasd:${k}>${v}</rasd:${k}>`),
    "      </Item>",
  ].join("\n");

/** The descriptor VirtualBox's importer reads (its own exporter's shape, OVF 1.0). */
export function ovfDescriptor(s: OvfSettings): string {
  const name = escapeXml(s.vmName);
  const hardware = [
    item({
      Caption: `${s.cpus} virtual CPU`,
      Description: "Number of virtual CPUs",
      ElementName: `${s.cpus} virtual CPU`,
      InstanceID: 1,
      ResourceType: 3,
      VirtualQuantity: s.cpus,
    }),
    item({
      AllocationUnits: "MegaBytes",
      Caption: `${s.memoryMb} MB of memory`,
      Description: "Memory Size",
      ElementName: `${s.memoryMb} MB of memory`,
      InstanceID: 2,
      ResourceType: 4,
      VirtualQuantity: s.memoryMb,
    }),
    item({
      Address: 0,
      Caption: "ideController0",
      Description: "IDE Controller",
      ElementName: "ideController0",
      InstanceID: 3,
      ResourceSubType: "PIIX4",
      ResourceType: 5,
    }),
    item({
      Address: 0,
      Caption: "sataController0",
      Description: "SATA Controller",
      ElementName: "sataController0",
      InstanceID: 4,
      ResourceSubType: "AHCI",
      ResourceType: 20,
    }),
    item({
      AutomaticAllocation: true,
      Caption: "Ethernet adapter on 'NAT'",
      Connection: "NAT",
      ElementName: "Ethernet adapter on 'NAT'",
      InstanceID: 5,
      ResourceSubType: "E1000",
      ResourceType: 10,
    }),
    item({
      AddressOnParent: 0,
      Caption: "disk1",
      Description: "Disk Image",
      ElementName: "disk1",
      HostResource: "/disk/vmdisk1",
      InstanceID: 6,
      Parent: 4,
      ResourceType: 17,
    }),
  ];
  return `<?xml version="1.0" encoding="UTF-8"?>
<Envelope ovf:version="1.0" xml:lang="en-US" xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <References>
    <File ovf:href="${escapeXml(s.diskFile)}" ovf:id="file1" ovf:size="${s.diskBytes}"/>
  </References>
  <DiskSection>
    <Info>List of the virtual disks used in the package</Info>
    <Disk ovf:capacity="${s.capacityBytes}" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <NetworkSection>
    <Info>Logical networks used in the package</Info>
    <Network ovf:name="NAT">
      <Description>Logical network used by this appliance.</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="${name}">
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
        <vssd:VirtualSystemIdentifier>${name}</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>virtualbox-2.2</vssd:VirtualSystemType>
      </System>
${hardware.join("\n")}
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`;
}

/** The manifest: `SHA256(<file>)= <hex>` per packaged file, in package order. */
export function ovaManifest(files: { name: string; sha256: string }[]): string {
  return files.map((f) => `SHA256(${f.name})= ${f.sha256}\n`).join("");
}
