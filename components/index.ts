import * as pulumi from "@pulumi/pulumi";
import type { Platform, StackConfig } from "./config/stack";
import { Host, realHost, requireLifecycleTools } from "./lifecycle/host";
import { awsPlatform } from "./aws/platform";
import { openStackPlatform } from "./openstack/platform";
import { requirePlatformTools } from "./prerequisites";
import { qemuPlatform } from "./qemu/platform";
import type { ImageInfo, PlatformResult } from "./lifecycle/outputs";
import { virtualBoxPlatform } from "./virtualbox/platform";

type PlatformBuilder = (config: StackConfig, host: Host) => PlatformResult;

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
 * `host` answers what the components read before declaring their children (tools on PATH,
 * existing images and builders, the clock, the stack's identity): tests pass their own.
 */
export async function buildImages(
  config: StackConfig,
  host: Partial<Host> = {},
): Promise<StackOutputs> {
  const facts = realHost(host);
  requireLifecycleTools(facts.hasCommand);
  requirePlatformTools(config, facts.hasCommand);
  const results = config.platforms.map((p) => [p, BUILDERS[p](config, facts)] as const);
  // A component finds its plan first (async): its ConfigError ends the program here.
  await Promise.all(results.map(([, result]) => result.ready));
  const outputs: StackOutputs = { imageIds: {}, images: {} };
  for (const [platform, result] of results) {
    outputs.imageIds[platform] = result.imageId;
    outputs.images[platform] = result.image;
  }
  return outputs;
}
