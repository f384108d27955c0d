import { fail, show } from "../config/errors";
import { RawObject, integerOr, object, oneOf, optionalString, stringOr } from "../config/validate";

const KEYS = ["outputDir", "builder", "vmName", "memoryMb", "cpus"] as const;

export const VIRTUALBOX_BUILDERS = ["qemu", "vboxmanage"] as const;
export type VirtualBoxBuilder = (typeof VIRTUALBOX_BUILDERS)[number];

/** `dse-image:virtualbox`: the OVA made from the QEMU-provisioned disk. */
export interface VirtualBoxConfig {
  /** Where `<imageName>-<fingerprint>.ova` is written. */
  outputDir: string;
  /**
   * `qemu` (default, works anywhere): qemu-img makes the stream-optimized VMDK and the OVF is
   * written here; `vboxmanage`: VirtualBox's own exporter, needs VBoxManage installed.
   */
  builder: VirtualBoxBuilder;
  /** Name of the virtual machine in the OVF. Default: the image name. */
  vmName?: string;
  memoryMb: number;
  cpus: number;
}

const VM_NAME = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,79}$/;

export function parseVirtualBoxConfig(value: unknown): VirtualBoxConfig {
  const p = "virtualbox";
  const raw: RawObject = object(p, value, KEYS);
  const vmName = optionalString(`${p}.vmName`, raw.vmName, "a VM name");
  if (vmName !== undefined && !VM_NAME.test(vmName)) {
    fail(
      `${p}.vmName`,
      `expected letters, digits, spaces, '.', '_' or '-' (at most 80), got ${show(vmName)}`,
    );
  }
  return {
    outputDir: stringOr(`${p}.outputDir`, raw.outputDir, "./images", "a folder path"),
    builder: oneOf(`${p}.builder`, raw.builder, VIRTUALBOX_BUILDERS, "qemu"),
    vmName,
    memoryMb: integerOr(`${p}.memoryMb`, raw.memoryMb, 2048, 256, 1048576)!,
    cpus: integerOr(`${p}.cpus`, raw.cpus, 2, 1, 128)!,
  };
}
