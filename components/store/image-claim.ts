import * as pulumi from "@pulumi/pulumi";
import type { ImageRecordOutput } from "../lifecycle/image-record";
import type { StoreRef } from "../lifecycle/store";
import { thinProvider } from "./thin-provider";

export interface ImageClaimArgs {
  /** The store of the image (platform and its settings, as configured). */
  store: pulumi.Input<Pick<StoreRef, "store" | "config">>;
  /** The complete image this stack uses: found by the program, or published by this run. */
  imageId: pulumi.Input<string>;
  /** The image family (`imageName`): retention looks for the stack's other images in it. */
  imageName: pulumi.Input<string>;
  /** Generation of the build that made the image (a rebuilt file of the same path re-claims). */
  imageGen: pulumi.Input<string>;
  /** `<org>/<project>/<stack>`. */
  stackId: pulumi.Input<string>;
  /** Short tag of the stack ID: the claim's key on the image. */
  stackTag: pulumi.Input<string>;
  /** Never delete the image (a release only drops the claim). Default false. */
  retainImages?: pulumi.Input<boolean>;
  /** Previous images of this stack kept after a rebuild. Default 0. */
  keep?: pulumi.Input<number>;
}

/**
 * This stack's claim on one complete image, declared in every run: create claims it and applies
 * retention, read sees whether the image and the claim are still there (so `pulumi refresh` sees
 * an image deleted outside Pulumi), update re-claims with new settings or a renamed stack, delete
 * drops the claim and deletes what no stack claims any more (point 8).
 */
export class ImageClaim extends pulumi.dynamic.Resource {
  /** The image as the stack exports it. */
  declare public readonly record: pulumi.Output<ImageRecordOutput>;

  constructor(name: string, args: ImageClaimArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      thinProvider("ImageClaim"),
      name,
      { retainImages: false, keep: 0, ...args, record: undefined },
      opts,
      undefined,
      "ImageClaim",
    );
  }
}
