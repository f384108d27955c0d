import { ConfigError, fullKey } from "../config/errors";
import type { HasCommand } from "../host-tools";

/** The `vboxmanage` builder drives VirtualBox's own exporter: VBoxManage must be installed. */
export function requireVBoxManage(hasCommand: HasCommand): void {
  if (!hasCommand("VBoxManage")) {
    throw new ConfigError(
      fullKey("virtualbox.builder"),
      "is vboxmanage but VBoxManage is not installed on this machine; install VirtualBox (https://www.virtualbox.org/wiki/Linux_Downloads) or set dse-image:virtualbox.builder to qemu, which needs only qemu-img",
    );
  }
}
