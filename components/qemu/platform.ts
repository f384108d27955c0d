import { type StackConfig, imageSettings } from "../config/stack";
import type { Host } from "../lifecycle/host";
import type { PlatformResult } from "../lifecycle/outputs";
import { type QemuConfig, parseQemuConfig } from "./config";
import { stackQemuImage } from "./image";

/** `dse-image:qemu` with its defaults: the disk is built with these for virtualbox too. */
export function qemuConfigOf(config: StackConfig): QemuConfig {
  return config.qemu ?? parseQemuConfig(undefined);
}

/** The stack's qcow2: the one QemuImage a VirtualBox image of the stack also packs. */
export function qemuPlatform(config: StackConfig, host: Host): PlatformResult {
  const image = stackQemuImage({ ...imageSettings(config), ...qemuConfigOf(config) }, host);
  return { imageId: image.imageId, image: image.image, ready: image.ready };
}
