import * as pulumi from "@pulumi/pulumi";

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
