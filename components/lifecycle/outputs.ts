import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../config/stack";
import type { ImageRecordOutput } from "./image-record";

/** One platform's entry in the `images` stack output. */
export interface ImageInfo {
  name: string;
  id: string;
  fingerprint: string;
  createdAt: string;
  sourceImage: string;
  manifest: Record<string, unknown>;
  sha256?: string;
}

/** What a platform contributes to the stack outputs. */
export interface PlatformResult {
  /** `imageIds.<platform>`: an ID, a region map or a file path. */
  imageId: pulumi.Output<unknown>;
  image: pulumi.Output<ImageInfo>;
}

/** The stack-wide settings every platform component takes, as its args name them. */
export function buildSettings(config: StackConfig) {
  return {
    tools: config.tools,
    pythonSource: config.pythonSource,
    provisionEnv: config.provisionEnv,
    retainImages: config.retainImages,
    keepBuilderOnFailure: config.keepBuilderOnFailure,
    builderTtlMinutes: config.builderTtlMinutes,
  };
}

/** `images.<platform>` from a component's image record. */
export function imageInfo(
  record: pulumi.Output<ImageRecordOutput>,
  fingerprint: string,
  sourceImage: string,
): pulumi.Output<ImageInfo> {
  return record.apply((r) => ({
    name: r.name,
    id: r.id,
    fingerprint,
    createdAt: r.createdAt,
    sourceImage,
    manifest: r.manifest,
    ...(r.sha256 === undefined ? {} : { sha256: r.sha256 }),
  }));
}
