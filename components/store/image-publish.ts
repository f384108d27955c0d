import * as pulumi from "@pulumi/pulumi";
import type { StoreRef } from "../lifecycle/store";
import { thinProvider } from "./thin-provider";

export interface ImagePublishArgs {
  store: pulumi.Input<Pick<StoreRef, "store" | "config">>;
  /** The pending image. */
  pendingId: pulumi.Input<string>;
  /** The final name. */
  name: pulumi.Input<string>;
  /** The boot test's result (JSON). Default "": the platform has no boot test. */
  bootTest?: pulumi.Input<string>;
}

/** Publishes a pending image under its final name: a one-shot step whose create does it all. */
export class ImagePublish extends pulumi.dynamic.Resource {
  /** The complete image's ID. */
  declare public readonly imageId: pulumi.Output<string>;

  constructor(name: string, args: ImagePublishArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      thinProvider("ImagePublish"),
      name,
      { bootTest: "", ...args, imageId: undefined },
      opts,
      undefined,
      "ImagePublish",
    );
  }
}
