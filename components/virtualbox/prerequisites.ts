import { ConfigError, fullKey } from "../config/errors";
import type { HasCommand } from "../host-tools";
import { requireQemuTools } from "../qemu/prerequisites";
import type { VirtualBoxBuilder } from "./config";

/** The `vboxmanage` builder drives VirtualBox's own exporter: VBoxManage must be installed. */
export function requireVBoxManage(hasCommand: HasCommand): void {
  if (!hasCommand("VBoxManage")) {
    throw new ConfigError(
      fullKey("virtualbox.builder"),
      "is vboxmanage but VBoxManage is not installed on this machine; install VirtualBox (https://www.virtualbox.org/wiki/Linux_Downloads) or set dse-image:virtualbox.builder to qemu, which needs only qemu-img",
    );
  }
}

/** What an OVA needs: the disk is provisioned under QEMU whichever builder packs it. */
export function requireVirtualBoxTools(hasCommand: HasCommand, builder: VirtualBoxBuilder): void {
  requireQemuTools(hasCommand, "virtualbox");
  if (builder === "vboxmanage") requireVBoxManage(hasCommand);
}
