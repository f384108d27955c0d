import * as openstack from "@pulumi/openstack";
import { type StackConfig, imageSettings } from "../config/stack";
import type { Host } from "../lifecycle/host";
import type { PlatformResult } from "../lifecycle/outputs";
import { OpenStackImage } from "./image";

/** The stack's OpenStack image, with the explicit provider its TLS settings need. */
export function openStackPlatform(config: StackConfig, host: Host): PlatformResult {
  const os = config.openstack!;
  // Top-level, outside the component: its URN, and so every resource on it, stays put.
  const provider = new openstack.Provider("openstack", {
    insecure: os.insecure,
    cacertFile: os.cacertFile,
  });
  const image = new OpenStackImage(
    "openstack",
    { ...imageSettings(config), ...os },
    { providers: { openstack: provider }, host },
  );
  return { imageId: image.imageId, image: image.image, ready: image.ready };
}
