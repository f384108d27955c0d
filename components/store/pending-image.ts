import * as pulumi from "@pulumi/pulumi";
import type { StoreRef } from "../lifecycle/store";
import { thinProvider } from "./thin-provider";

export interface PendingImageArgs {
  /** The store the image goes to (platform and its settings, as configured). */
  store: pulumi.Input<Pick<StoreRef, "store" | "config">>;
  /**
   * How the image is made: `qemu` (snapshot.sh), `virtualbox` (ova-export.ts) or `openstack`
   * (a Nova snapshot of the server SERVER_ID) or `aws` (CreateImage of the instance INSTANCE_ID).
   */
  snapshot: pulumi.Input<"qemu" | "virtualbox" | "openstack" | "aws">;
  /** The builder (SERVER_ID, folders, ...). Never a secret: it is stored in plain. */
  environment: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** The final name the image is published under. */
  name: pulumi.Input<string>;
  /** Builder generation of the build. */
  gen: pulumi.Input<string>;
  stackTag: pulumi.Input<string>;
  /** The image family (`imageName`). */
  imageName: pulumi.Input<string>;
  fingerprint: pulumi.Input<string>;
  /** The SBOM's sha256, recorded on the image. Default "". */
  sbomSha256?: pulumi.Input<string>;
  /** What the build started from, recorded on the image. Default "". */
  sourceImage?: pulumi.Input<string>;
  /** What verify.sh printed (JSON), recorded on the image. */
  manifest: pulumi.Input<string>;
}

/**
 * A build's image from its snapshot until it is published: create makes the image (the platform's
 * script, or the cloud's snapshot) and records it as this build's pending image in the same step; delete discards it
 * unless it was published (an abandoned build, rule E1); read drops it once published or gone.
 */
export class PendingImage extends pulumi.dynamic.Resource {
  /** The pending image's ID. */
  declare public readonly imageId: pulumi.Output<string>;

  constructor(name: string, args: PendingImageArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      thinProvider("PendingImage"),
      name,
      { sbomSha256: "", sourceImage: "", ...args, imageId: undefined },
      opts,
      undefined,
      "PendingImage",
    );
  }
}
