import { ConfigError, fullKey } from "../config/errors";
import type { HasCommand } from "../host-tools";

/**
 * The local builder runs qemu-system-x86_64, qemu-img and make-seed.sh (genisoimage or xorriso)
 * on this machine, and the boot test ssh: a missing tool is reported before anything is created.
 */
export function requireQemuTools(hasCommand: HasCommand, platform: "qemu" | "virtualbox"): void {
  const missing = ["qemu-system-x86_64", "qemu-img"].filter((tool) => !hasCommand(tool));
  if (missing.length > 0) {
    throw new ConfigError(
      fullKey("platforms"),
      `platform ${platform} needs ${missing.join(" and ")} on this machine; install ${missing.length > 1 ? "them" : "it"} with \`sudo apt-get install qemu-system-x86 qemu-utils\``,
    );
  }
  if (!hasCommand("genisoimage") && !hasCommand("xorriso")) {
    throw new ConfigError(
      fullKey("platforms"),
      `platform ${platform} needs genisoimage (or xorriso) on this machine to write the builder's NoCloud seed; install it with \`sudo apt-get install genisoimage\``,
    );
  }
}
