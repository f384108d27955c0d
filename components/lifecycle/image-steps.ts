import * as path from "node:path";
import type * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { ImagePublish } from "../store/image-publish";
import { TYPED_STORES } from "../store/open";
import { PendingImage } from "../store/pending-image";
import type { PendingImageInputs } from "../store/pending-provider";
import { type PlatformDriver, lastLine, script } from "./driver";
import { type StoreRef, storeCommand, storeEnv } from "./store";

/*
 * The image's two steps around the boot test: the snapshot that makes the pending image, and
 * the publish that gives it its final name. Typed resources (components/store/) where the
 * platform's store is typed, else command steps of imagestore.py.
 */

/** The snapshot of a platform whose store is still imagestore.py: a command step. */
export function snapshotStep(
  name: string,
  driver: PlatformDriver,
  o: {
    parent: pulumi.Resource;
    environment: Record<string, pulumi.Input<string>>;
    dependsOn: pulumi.Resource[];
  },
): { snapshot: pulumi.Resource; pendingId: pulumi.Output<string> } {
  const snapshot = new command.local.Command(
    name,
    {
      create: script(path.join(driver.scripts, "snapshot.sh")),
      environment: o.environment,
      // The pending image dies with this step unless it was published (teardown of an
      // abandoned build: rule E1 deletes the step at the end of a later run, C3 runs this).
      delete: storeCommand("discard"),
      logging: "stderr",
    },
    { parent: o.parent, dependsOn: o.dependsOn },
  );
  return {
    snapshot,
    pendingId: snapshot.stdout.apply((out) => (JSON.parse(lastLine(out)) as { id: string }).id),
  };
}

const snapshotKind = (store: StoreRef["store"]): PendingImageInputs["snapshot"] => store;

/**
 * The snapshot where the platform's store is typed: a PendingImage resource that makes the image
 * and records it in one step, and discards it unless published when it leaves the program.
 */
export function typedSnapshot(
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

/** Publishes the pending image: an ImagePublish where the store is typed, else a command step. */
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
  if (TYPED_STORES.includes(store.store)) {
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
  const publish = new command.local.Command(
    name,
    {
      create: storeCommand("publish"),
      environment: {
        ...storeEnv(store),
        PENDING_ID: o.pendingId,
        NAME: o.name,
        BOOT_TEST: o.bootTest,
      },
      logging: "stderr",
    },
    { parent: o.parent, dependsOn: o.dependsOn },
  );
  return {
    resource: publish,
    imageId: publish.stdout.apply((out) => (JSON.parse(lastLine(out)) as { id: string }).id),
  };
}
