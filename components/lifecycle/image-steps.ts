import type * as pulumi from "@pulumi/pulumi";
import { ImagePublish } from "../store/image-publish";
import { PendingImage } from "../store/pending-image";
import type { PendingImageInputs } from "../store/pending-provider";
import type { PlatformDriver } from "./driver";
import type { StoreRef } from "./store";

/*
 * The image's two steps around the boot test: the snapshot that makes the pending image, and
 * the publish that gives it its final name, typed resources of the image store (components/store/).
 */

const snapshotKind = (store: StoreRef["store"]): PendingImageInputs["snapshot"] => store;

/**
 * The snapshot: a PendingImage resource that makes the image and records it in one step, and
 * discards it unless published when it leaves the program.
 */
export function declareSnapshot(
  name: string,
  driver: PlatformDriver,
  o: {
    parent: pulumi.Resource;
    environment: Record<string, pulumi.Input<string>>;
    name: string;
    gen: string;
    stackTag: string;
    imageName: string;
    fingerprint: string;
    sbomSha256: pulumi.Input<string>;
    sourceImage: string;
    manifest: pulumi.Input<string>;
    dependsOn: pulumi.Resource[];
  },
): { snapshot: pulumi.Resource; pendingId: pulumi.Output<string> } {
  const snapshot = new PendingImage(
    name,
    {
      store: { store: driver.store.store, config: driver.store.config },
      snapshot: snapshotKind(driver.store.store),
      environment: o.environment,
      name: o.name,
      gen: o.gen,
      stackTag: o.stackTag,
      imageName: o.imageName,
      fingerprint: o.fingerprint,
      sbomSha256: o.sbomSha256,
      sourceImage: o.sourceImage,
      manifest: o.manifest,
    },
    { parent: o.parent, dependsOn: o.dependsOn },
  );
  return { snapshot, pendingId: snapshot.imageId };
}

/** Publishes the pending image: an ImagePublish. */
export function declarePublish(
  name: string,
  store: StoreRef,
  o: {
    parent: pulumi.Resource;
    pendingId: pulumi.Input<string>;
    name: string;
    bootTest: pulumi.Input<string>;
    dependsOn: pulumi.Resource[];
  },
): { resource: pulumi.Resource; imageId: pulumi.Output<string> } {
  const publish = new ImagePublish(
    name,
    {
      store: { store: store.store, config: store.config },
      pendingId: o.pendingId,
      name: o.name,
      bootTest: o.bootTest,
    },
    { parent: o.parent, dependsOn: o.dependsOn },
  );
  return { resource: publish, imageId: publish.imageId };
}
