import { type ImageMeta, type StoredImage, claimCount, claimants, keptMeanwhile } from "./image";
import { type ImageStore, StoreError, type StoreLog } from "./image-store";

/**
 * A build's image between the snapshot and the publish: pending, never looked up under its final
 * name, discarded unless published (contract point 7). The same rules for every platform.
 */
export interface PendingBuild {
  /** The final name it is published under. */
  name: string;
  /** Builder generation of the build that made it. */
  gen: string;
  stackTag: string;
  /** The image family. */
  imageName: string;
}

export interface PendingMeta extends PendingBuild {
  fingerprint: string;
  sbomSha256?: string;
  sourceImage?: string;
  /** What verify.sh printed. */
  manifest: Record<string, unknown>;
}

/** The metadata of this build's pending image (in the cloud's create call, or set after). */
export function pendingMeta(p: PendingMeta): ImageMeta {
  return {
    fingerprint: p.fingerprint,
    state: "pending",
    gen: p.gen,
    buildStack: p.stackTag,
    imageName: p.imageName,
    finalName: p.name,
    ...(p.sbomSha256 ? { sbomSha256: p.sbomSha256 } : {}),
    ...(p.sourceImage ? { sourceImage: p.sourceImage } : {}),
  };
}

/** Records a fresh snapshot as the stack's pending image of this build. */
export async function markPending(store: ImageStore, id: string, p: PendingMeta): Promise<void> {
  await store.setMeta(id, pendingMeta(p), p.manifest);
}

/**
 * Deletes an image that never became anyone's: not complete, and claimed by no stack. A published
 * image the cloud reads as broken for a while keeps its claims, and a stack that uses it is never
 * left exporting a deleted image (point 8).
 */
export async function discardUnpublished(
  store: ImageStore,
  image: StoredImage,
  log: StoreLog,
): Promise<void> {
  if (image.meta.state === "complete") return;
  if (claimCount(image) > 0) {
    log(
      `keeping ${image.meta.state} image ${image.name} (${image.id}): used by ${claimants(image)}`,
    );
    return;
  }
  log(`deleting unpublished image ${image.name} (${image.id})`);
  if (!(await store.delete(image))) log(keptMeanwhile(image));
}

const ofBuild = (image: StoredImage, b: PendingBuild) =>
  image.meta.finalName === b.name &&
  image.meta.gen === b.gen &&
  image.meta.buildStack === b.stackTag;

/** The images of this build not published yet (found by build, not by a stored ID). */
export async function unpublishedOf(store: ImageStore, b: PendingBuild): Promise<StoredImage[]> {
  return (await store.listFamily(b.imageName)).filter(
    (i) => ofBuild(i, b) && i.meta.state !== "complete",
  );
}

/** Deletes the image this stack's build made unless it was published (an abandoned build). */
export async function discardBuild(
  store: ImageStore,
  b: PendingBuild,
  log: StoreLog,
): Promise<void> {
  for (const image of await unpublishedOf(store, b)) await discardUnpublished(store, image, log);
}

/**
 * Before a snapshot: this stack's unpublished or broken images for the same final name (an
 * earlier attempt's, e.g. an upload the cloud killed) go, so none is left behind or resumed.
 * Names are not unique in Glance: without this an earlier attempt's image would stay.
 */
export async function discardEarlier(
  store: ImageStore,
  b: Omit<PendingBuild, "gen">,
  log: StoreLog,
): Promise<void> {
  for (const image of await store.listFamily(b.imageName)) {
    const { finalName, state, buildStack } = image.meta;
    if (
      finalName === b.name &&
      buildStack === b.stackTag &&
      (state === "pending" || state === "broken")
    )
      await discardUnpublished(store, image, log);
  }
}

/** Deletes this image unless it is complete (a rejected or stale pending image). */
export async function discardImage(store: ImageStore, id: string, log: StoreLog): Promise<void> {
  const image = await store.get(id);
  if (image !== undefined) await discardUnpublished(store, image, log);
}

/** Marks a pending image failed: kept for debugging, never published. */
export async function failImage(store: ImageStore, id: string): Promise<void> {
  await store.setMeta(id, { state: "failed" });
}

/** Makes the pending image complete under its final name; returns the final ID. */
export async function publishPending(
  store: ImageStore,
  pendingId: string,
  name: string,
  bootTest: string,
  log: StoreLog,
): Promise<string> {
  const image = await store.get(pendingId);
  if (image === undefined)
    throw new StoreError(`pending image ${pendingId} is gone; the next pulumi up builds it again`);
  if (image.meta.state === "failed")
    throw new StoreError(`image ${pendingId} failed its boot test; it is never published`);
  if (bootTest) {
    await store.setMeta(pendingId, { bootTest: JSON.stringify(JSON.parse(bootTest)) });
  }
  const finalId = await store.publish((await store.get(pendingId)) ?? image, name);
  log(`published ${name} (${finalId})`);
  return finalId;
}
