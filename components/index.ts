import * as pulumi from "@pulumi/pulumi";
import type { Platform, StackConfig } from "./config/stack";
import { HasCommand, hasCommand as realHasCommand } from "./host-tools";
import { awsPlatform } from "./aws/platform";
import { openStackPlatform } from "./openstack/platform";
import { qemuPlatform } from "./qemu/platform";
import type { ImageInfo, PlatformResult } from "./lifecycle/outputs";
import { virtualBoxPlatform } from "./virtualbox/platform";

type PlatformBuilder = (config: StackConfig, hasCommand: HasCommand) => Promise<PlatformResult>;

/** How each platform is built; a complete record, so a platform without a builder is a type error. */
const BUILDERS: Record<Platform, PlatformBuilder> = {
  openstack: openStackPlatform,
  aws: awsPlatform,
  qemu: qemuPlatform,
  virtualbox: virtualBoxPlatform,
};

export interface StackOutputs {
  imageIds: Partial<Record<Platform, pulumi.Output<unknown>>>;
  images: Partial<Record<Platform, pulumi.Output<ImageInfo>>>;
}

/**
 * Declares every enabled platform. They share no resources, so Pulumi builds them in parallel.
 */
export async function buildImages(
  config: StackConfig,
  hasCommand: HasCommand = realHasCommand,
): Promise<StackOutputs> {
  const results = await Promise.all(
    config.platforms.map(async (platform) => {
      return [platform, await BUILDERS[platform](config, hasCommand)] as const;
    }),
  );
  const outputs: StackOutputs = { imageIds: {}, images: {} };
  for (const [platform, result] of results) {
    outputs.imageIds[platform] = result.imageId;
    outputs.images[platform] = result.image;
  }
  return outputs;
}
