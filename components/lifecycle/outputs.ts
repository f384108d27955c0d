import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { ImageSettings } from "../config/stack";
import type { BuildSettings } from "./driver";
import type { ImageRecordOutput } from "./image-record";
import type { Plan } from "./plan";
import type { DseImageInfo, DsePreviousImage } from "../reader";

/**
 * One platform's entry in the `images` stack output: the public shape consumers read
 * (components/reader.ts), with `previous` always present.
 */
export type ImageInfo = DseImageInfo & { previous: DsePreviousImage[] };

/** What a platform contributes to the stack outputs. */
export interface PlatformResult {
  /** `imageIds.<platform>`: an ID, a region map or a file path. */
  imageId: pulumi.Output<unknown>;
  image: pulumi.Output<ImageInfo>;
  /** Settles once the platform's component declared its children; rejects with why not. */
  ready: Promise<void>;
}

/** The stack-wide settings every build takes. */
export function buildSettings(config: ImageSettings): BuildSettings {
  return {
    tools: config.tools,
    pythonSource: config.pythonSource,
    provisionEnv: config.provisionEnv,
    keepBuilderOnFailure: config.keepBuilderOnFailure,
    builderTtlMinutes: config.builderTtlMinutes,
    sshTimeoutMinutes: config.sshTimeoutMinutes,
    bootTest: config.bootTest,
    retainImages: config.retainImages,
    keep: config.retention.keep,
    // As configured (relative to the project folder): SBOM paths reach the state (rule P3).
    sbomDir: path.normalize(config.sbomDir),
  };
}

/** `images.<platform>` from a component's image record and the program's plan. */
export function imageInfo(
  record: pulumi.Output<ImageRecordOutput>,
  plan: Plan,
  sourceImage: string,
  sbom?: pulumi.Input<string | undefined>,
): pulumi.Output<ImageInfo> {
  return pulumi.all([record, sbom]).apply(([unwrapped, sbomPath]): ImageInfo => {
    const r = unwrapped as ImageRecordOutput;
    return {
      name: r.name,
      id: r.id,
      fingerprint: r.fingerprint,
      createdAt: r.createdAt,
      sourceImage,
      manifest: r.manifest,
      ...(r.sha256 === undefined ? {} : { sha256: r.sha256 }),
      ...(r.bootTest === undefined ? {} : { bootTest: r.bootTest }),
      ...(sbomPath ? { sbom: sbomPath } : {}),
      previous: plan.previous.map((p) => ({ name: p.name, id: p.id, createdAt: p.createdAt })),
    };
  });
}
