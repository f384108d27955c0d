import * as pulumi from "@pulumi/pulumi";
import * as openstack from "@pulumi/openstack";
import type { StackConfig } from "../config/stack";
import { ConfigError, fullKey } from "../config/errors";
import { PROVISION_DIR, fingerprint, imageNameFor } from "../lifecycle/fingerprint";
import { HasCommand } from "../host-tools";
import { OpenStackImage, findOpenStackImage } from "./image";
import { type PlatformResult, buildSettings, imageInfo } from "../lifecycle/outputs";

/**
 * The snapshot and the teardown run the `openstack` CLI on the operator's machine (Nova snapshots
 * have no typed resource), so its absence is reported before anything is created.
 */
export function requireOpenStackCli(hasCommand: HasCommand): void {
  if (!hasCommand("openstack")) {
    throw new ConfigError(
      fullKey("platforms"),
      "platform openstack needs the openstack CLI on this machine to snapshot the builder; install it with `pip install python-openstackclient` or `sudo apt-get install python3-openstackclient`",
    );
  }
}

export async function openStackPlatform(
  config: StackConfig,
  hasCommand: HasCommand,
): Promise<PlatformResult> {
  const os = config.openstack!;
  requireOpenStackCli(hasCommand);
  const fp = fingerprint({
    provisionDir: PROVISION_DIR,
    tools: config.tools,
    pythonSource: config.pythonSource,
    sourceImage: os.sourceImage,
    settings: { platform: "openstack", flavor: os.flavor },
  });
  const name = imageNameFor(config.imageName, fp);
  const provider = new openstack.Provider("openstack", {
    insecure: os.insecure,
    cacertFile: os.cacertFile,
  });
  const existing = await findOpenStackImage(name, { provider });
  if (existing) {
    void pulumi.log.info(`openstack: image ${name} (${existing}) is up to date; no builder needed`);
  }
  const image = new OpenStackImage(
    "openstack",
    {
      imageName: name,
      fingerprint: fp,
      build: existing === undefined,
      ...os,
      ...buildSettings(config),
    },
    { providers: { openstack: provider } },
  );
  return {
    imageId: image.imageId,
    image: imageInfo(image.image, fp, os.sourceImage),
  };
}
