import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { type StackConfig, imageSettings } from "../config/stack";
import type { Host } from "../lifecycle/host";
import type { PlatformResult } from "../lifecycle/outputs";
import { awsCredentials } from "./credentials";
import { AwsImage } from "./image";

/** The stack's AMI, with the explicit provider of its home region. */
export function awsPlatform(config: StackConfig, host: Host): PlatformResult {
  const cfg = config.aws!;
  // Explicit providers do not read the stack's aws:* config: its credentials are handed to the
  // provider, the image store and the host commands alike (or refused with what does the same).
  const credentials = awsCredentials(new pulumi.Config("aws"));
  // Top-level, outside the component: its URN, and so every resource on it, stays put.
  const provider = new aws.Provider("aws", { region: cfg.region, ...credentials.provider });
  const image = new AwsImage(
    "aws",
    { ...imageSettings(config), ...cfg, credentials },
    { providers: { aws: provider }, host },
  );
  return { imageId: image.imageIds, image: image.image, ready: image.ready };
}
