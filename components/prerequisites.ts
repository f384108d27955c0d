import type { Platform, StackConfig } from "./config/stack";
import type { HasCommand } from "./host-tools";
import { requireOpenStackCli } from "./openstack/prerequisites";
import { requireQemuTools } from "./qemu/prerequisites";
import { parseVirtualBoxConfig } from "./virtualbox/config";
import { requireVirtualBoxTools } from "./virtualbox/prerequisites";

/** What a platform needs on this machine beyond the lifecycle's OpenSSH (lifecycle/host.ts). */
const CHECKS: Record<Platform, (config: StackConfig, has: HasCommand) => void> = {
  openstack: (_config, has) => requireOpenStackCli(has),
  // The AWS lifecycle is the SDK in-process: nothing beyond node and OpenSSH.
  aws: () => undefined,
  qemu: (_config, has) => requireQemuTools(has, "qemu"),
  virtualbox: (config, has) =>
    requireVirtualBoxTools(has, (config.virtualbox ?? parseVirtualBoxConfig(undefined)).builder),
};

/**
 * Every enabled platform's tools, checked before any component is declared: a missing one stops
 * `pulumi up` with how to install it, before anything is created. (Each component checks its own
 * again, for programs that declare it directly.)
 */
export function requirePlatformTools(config: StackConfig, has: HasCommand): void {
  for (const platform of config.platforms) CHECKS[platform](config, has);
}
