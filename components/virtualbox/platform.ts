import { type StackConfig, imageSettings } from "../config/stack";
import type { Host } from "../lifecycle/host";
import type { PlatformResult } from "../lifecycle/outputs";
import { qemuConfigOf } from "../qemu/platform";
import { parseVirtualBoxConfig } from "./config";
import { VirtualBoxImage } from "./image";

/** The stack's OVA, packed from the stack's qcow2 when it is built. */
export function virtualBoxPlatform(config: StackConfig, host: Host): PlatformResult {
  const vb = config.virtualbox ?? parseVirtualBoxConfig(undefined);
  const image = new VirtualBoxImage(
    "virtualbox",
    { ...imageSettings(config), ...vb, qemu: qemuConfigOf(config) },
    { host },
  );
  return { imageId: image.imageId, image: image.image, ready: image.ready };
}
