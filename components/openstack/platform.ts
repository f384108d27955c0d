import * as openstack from "@pulumi/openstack";
import type { StackConfig } from "../config/stack";
import { ConfigError, fullKey } from "../config/errors";
import type { HasCommand } from "../host-tools";
import { stackFingerprint } from "../lifecycle/fingerprint";
import type { Host } from "../lifecycle/host";
import { type PlatformResult, buildSettings, imageInfo } from "../lifecycle/outputs";
import { resolvePlan } from "../lifecycle/resolve";
import { OpenStackImage, openStackStore } from "./image";

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

export async function openStackPlatform(config: StackConfig, host: Host): Promise<PlatformResult> {
  const os = config.openstack!;
  requireOpenStackCli(host.hasCommand);
  const store = openStackStore(os);
  // By content: an image republished under the same name is another base (a new ID and digest).
  const source = await host.describeSource(store, os.sourceImage).catch((e: Error) => {
    throw new ConfigError(fullKey("openstack.sourceImage"), e.message.replace(/^imagestore: /, ""));
  });
  const fp = stackFingerprint(config, `glance:${source.id}:${source.checksum}`, {
    platform: "openstack",
    flavor: os.flavor,
  });
  const plan = await resolvePlan("openstack", host, store, config, fp);
  const provider = new openstack.Provider("openstack", {
    insecure: os.insecure,
    cacertFile: os.cacertFile,
  });
  const image = new OpenStackImage(
    "openstack",
    {
      plan,
      fingerprint: fp,
      imageName: config.imageName,
      stackId: host.stackId,
      stackTag: host.stackTag,
      settings: buildSettings(config),
      ...os,
    },
    { providers: { openstack: provider } },
  );
  return {
    imageId: image.imageId,
    image: imageInfo(image.image, plan, os.sourceImage, image.sbom),
  };
}
