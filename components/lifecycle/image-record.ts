import * as pulumi from "@pulumi/pulumi";
import { ImageClaim } from "../store/image-claim";
import type { StoreRef } from "./store";

export interface ImageRecordArgs {
  /** The complete image this stack uses: found by the program, or published by this run. */
  imageId: pulumi.Input<string>;
  /** The image family (`imageName`): the release looks for this stack's other images in it. */
  imageName: string;
  /**
   * Generation of the build that made the image. A local image deleted outside Pulumi and built
   * again the same day has the same ID (its path) but a new generation: a changed input, so the
   * record claims the new file again (rule C2) instead of staying "same".
   */
  imageGen: string;
  store: StoreRef;
  stackId: string;
  stackTag: string;
  /** Never delete the image (the release only drops this stack's claim). */
  retainImages: boolean;
  /** Previous images of this stack kept when a rebuild supersedes this one. */
  keep: number;
  /** The publish step, when this run builds the image. */
  dependsOn: pulumi.Resource[];
}

/** What the record step prints: the image as the stack exports it. */
export interface ImageRecordOutput {
  id: string;
  name: string;
  createdAt: string;
  manifest: Record<string, unknown>;
  fingerprint: string;
  imageName: string;
  sha256?: string;
  bootTest?: { passed: boolean; seconds: number; checks: string[] };
  sbomSha256?: string;
  /** AWS: region -> AMI ID of the home AMI and its copies. */
  regions?: Record<string, string>;
}

/** The stack's claim as the program declares it: the resource, and the image it exports. */
export interface DeclaredRecord {
  /** Anything consuming the image depends on it. */
  resource: pulumi.Resource;
  image: pulumi.Output<ImageRecordOutput>;
}

/**
 * This stack's claim on one complete image, declared in every run: an ImageClaim resource
 * (components/store/image-claim.ts) whose Read lets a refresh see the image or the claim gone.
 */
export function imageRecord(
  name: string,
  args: ImageRecordArgs,
  parent: pulumi.Resource,
): DeclaredRecord {
  const claim = new ImageClaim(
    name,
    {
      store: { store: args.store.store, config: args.store.config },
      imageId: args.imageId,
      imageName: args.imageName,
      imageGen: args.imageGen,
      stackId: args.stackId,
      stackTag: args.stackTag,
      retainImages: args.retainImages,
      keep: args.keep,
    },
    { parent, dependsOn: args.dependsOn },
  );
  return { resource: claim, image: claim.record };
}
