import { ConfigError, fullKey } from "../config/errors";
import type { HasCommand } from "../host-tools";

/**
 * The lookup, snapshot, teardown and boot test run the `openstack` CLI on the operator's machine
 * (Nova snapshots have no typed resource), so its absence is reported before anything else.
 */
export function requireOpenStackCli(hasCommand: HasCommand): void {
  if (!hasCommand("openstack")) {
    throw new ConfigError(
      fullKey("platforms"),
      "platform openstack needs the openstack CLI on this machine to look up, snapshot, boot-test and tear down builds; install it with `sudo apt-get install python3-openstackclient` or `pipx install python-openstackclient`",
    );
  }
}
