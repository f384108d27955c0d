import * as pulumi from "@pulumi/pulumi";
import type { Platform, StackConfig } from "./config/stack";
import { Host, realHost, requireLifecycleTools } from "./lifecycle/host";
import { awsPlatform } from "./aws/platform";
import { openStackPlatform } from "./openstack/platform";
import { qemuPlatform } from "./qemu/platform";
import type { ImageInfo, PlatformResult } from "./lifecycle/outputs";
import { virtualBoxPlatform } from "./virtualbox/platform";

type PlatformBuilder = (config: StackConfig, host: Host) => Promise<PlatformResult>;

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
 * `host` answers what the program reads before declaring anything (tools on PATH, existing
 * images and builders, the clock, the stack's identity): tests pass their own.
 */
export async function buildImages(
  config: StackConfig,
  host: Partial<Host> = {},
): Promise<StackOutputs> {
  const facts = realHost(host);
  requireLifecycleTools(facts.hasCommand);
  const results = await Promise.all(
    config.platforms.map(async (platform) => {
      return [platform, await BUILDERS[platform](config, facts)] as const;
    }),
  );
  const outputs: StackOutputs = { imageIds: {}, images: {} };
  for (const [platform, result] of results) {
    outputs.imageIds[platform] = result.imageId;
    outputs.images[platform] = result.image;
  }
  return outputs;
}
