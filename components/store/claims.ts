import type { ImageRecordOutput } from "../lifecycle/image-record";
import { type StoredImage, claimCount, claimants, keptMeanwhile, recordOf } from "./image";
import { type ImageStore, StoreError, type StoreLog, imageGone } from "./image-store";

/**
 * A stack's claim on one complete image, and what follows from it: retention of its previous
 * images, and deletion of what no stack claims any more (contract points 4, 5 and 8). The same
 * rules for every platform; the ImageClaim resource (image-claim.ts) runs them.
 */
export interface ClaimRequest {
  imageId: string;
  /** The image family: retention looks for the stack's other images in it. */
  imageName: string;
  stackId: string;
  stackTag: string;
  /** Never delete an image of this stack (a release only drops the claim). */
  retain: boolean;
  /** Previous images of this stack kept after a rebuild. */
  keep: number;
}

/** The claim as it was before an update: its stack (tag and ID) and its store's settings. */
export interface PreviousStack {
  stackTag: string;
  stackId: string;
  /** The store's settings the claim was made with: what they asked for and these do not goes. */
  settings?: Record<string, unknown>;
}

function whyNotClaimable(image: StoredImage | undefined): string | undefined {
  if (image === undefined) return "gone: it was deleted outside Pulumi";
  const state = image.meta.state ?? "";
  if (state === "complete") return undefined;
  if (state === "broken") return "broken: the cloud can no longer boot it";
  return `${state}: it was changed outside Pulumi`;
}

/**
 * Claims the image for the stack and applies the stack's retention to its previous images; with
 * `previous` (the resource's stored stack, when a rename changed it), first moves every claim of
 * the old name to the new one. Returns the record the stack exports.
 */
export async function claimImage(
  store: ImageStore,
  req: ClaimRequest,
  log: StoreLog,
  previous?: PreviousStack,
): Promise<ImageRecordOutput> {
  let image = await store.get(req.imageId);
  const why = whyNotClaimable(image);
  if (why !== undefined || image === undefined) {
    throw new StoreError(`image ${req.imageId} is ${why}; run \`pulumi up\` again to rebuild it`);
  }
  const family = req.imageName || image.meta.imageName || "";
  if (previous !== undefined && previous.stackTag !== req.stackTag && family) {
    await takeOverClaims(store, family, previous, req, log);
    image = (await store.get(req.imageId)) ?? image;
  }
  if (store.claimHeld) {
    await store.claimHeld(image, req.stackTag, req.stackId);
  } else {
    if (!(req.stackTag in image.users))
      await store.setClaim(image, "users", req.stackTag, req.stackId);
    // Also when held already: the AWS store records what the claim asks for on it (aws-wants.ts).
    await store.setHeld(image, req.stackTag, true);
  }
  if (family) await applyRetention(store, req, image.id, family, log);
  await store.settleClaim?.();
  // The image as claimed now: a new copy carries this stack's claim from the start. Gone, a
  // release deleted it meanwhile: the stack must not export it.
  const claimed = await store.get(req.imageId);
  if (claimed === undefined) throw imageGone(req.imageId);
  const extra = await store.ensureReplicas(claimed);
  if (previous?.settings !== undefined)
    await store.withdraw?.(claimed, req.stackTag, previous.settings);
  // Only replicas (AWS copies) change the image after that read.
  const fresh =
    Object.keys(extra).length > 0 ? ((await store.get(req.imageId)) ?? claimed) : claimed;
  return { ...recordOf(fresh), ...extra };
}

/**
 * Moves every claim the stack holds under its previous name (its current image, the images
 * retention keeps) to its current name: no claim is left that no program drops. `pulumi stack
 * rename` keeps the state and the resource's stored inputs (pulumi/pulumi
 * pkg/resource/edit/operations.go RenameStack rewrites URNs only), so the next `up` diffs the
 * claim against inputs that still name the old stack.
 */
async function takeOverClaims(
  store: ImageStore,
  family: string,
  previous: PreviousStack,
  req: ClaimRequest,
  log: StoreLog,
): Promise<void> {
  log(`this stack was ${previous.stackId}: its claims move to ${req.stackId}`);
  for (const image of await store.listFamily(family)) {
    for (const kind of ["users", "kept"] as const) {
      if (!(previous.stackTag in image[kind])) continue;
      if (!(req.stackTag in image[kind]))
        await store.setClaim(image, kind, req.stackTag, req.stackId);
      await store.dropClaim(image, kind, previous.stackTag);
    }
    if (image.held.includes(previous.stackTag)) {
      await store.setHeld(image, previous.stackTag, false);
      await store.setHeld(image, req.stackTag, true);
    }
  }
}

/**
 * Applies this run's retainImages and retention.keep to the stack's previous images, now that
 * `currentId` is its image. The claim's create (or update) does it, with the settings of the run
 * that made the change: the release of the replaced claim runs later with the settings stored
 * when it was made (rule C3), which may be older.
 */
async function applyRetention(
  store: ImageStore,
  req: ClaimRequest,
  currentId: string,
  family: string,
  log: StoreLog,
): Promise<void> {
  const tag = req.stackTag;
  // One listing serves both passes: only this stack changes its own kept claims (a stack's runs
  // never overlap), so the images as listed, with the claims set here, are what a second
  // listing would show. Each listing costs the OpenStack store a read per image.
  const images = await store.listFamily(family);
  const others: StoredImage[] = [];
  for (const image of images) {
    if (image.id === currentId) continue;
    const keep =
      image.meta.state === "complete" &&
      tag in image.users &&
      !(tag in image.kept) &&
      (req.retain || req.keep > 0);
    if (keep) await store.setClaim(image, "kept", tag, req.stackId);
    others.push(keep ? { ...image, kept: { ...image.kept, [tag]: req.stackId } } : image);
  }
  if (req.retain) return;
  const kept = others
    .filter((i) => tag in i.kept)
    .sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
  for (const old of kept.slice(req.keep)) {
    await store.dropClaim(old, "kept", tag);
    await deleteIfUnclaimed(store, old.id, false, log);
  }
}

/** Deletes the image unless a stack still claims it (point 8) or the stack retains images. */
export async function deleteIfUnclaimed(
  store: ImageStore,
  id: string,
  retain: boolean,
  log: StoreLog,
): Promise<void> {
  const image = await store.get(id);
  if (image === undefined) return;
  if (retain) {
    log(`retainImages is set: keeping ${image.name} (${image.id})`);
    return;
  }
  if (claimCount(image) > 0) {
    log(`keeping ${image.name} (${image.id}): still used by ${claimants(image)}`);
    return;
  }
  log(`deleting ${image.name} (${image.id})`);
  if (!(await store.delete(image))) log(keptMeanwhile(image));
}

/**
 * Drops the stack's claim on the image (the claim left the program, was replaced, or the stack
 * is destroyed) and deletes what no stack claims any more. Reads only the claim's stored inputs.
 */
export async function releaseImage(
  store: ImageStore,
  req: ClaimRequest,
  log: StoreLog,
): Promise<void> {
  const tag = req.stackTag;
  const image = await store.get(req.imageId);
  const family = req.imageName || image?.meta.imageName || "";
  if (!family) {
    throw new StoreError(
      `cannot tell the image family of ${req.imageId}: the claim names none and the image is gone; nothing else of this stack was released`,
    );
  }
  if (image === undefined) {
    log(`image ${req.imageId} is already gone`);
    await store.forget?.(req.imageId, tag);
  } else {
    await store.dropClaim(image, "users", tag);
    if (image.held.includes(tag)) await store.setHeld(image, tag, false);
  }
  const complete = (await store.listFamily(family)).filter((i) => i.meta.state === "complete");
  const successor = complete.find((i) => tag in i.users && i.id !== req.imageId);
  if (successor !== undefined) {
    // The stack moved on to `successor`: its claim already applied the current retention
    // settings (applyRetention), so the ones stored here (maybe older) decide nothing.
    if (image !== undefined) {
      const fresh = await store.get(image.id);
      // Marked only once no stack runs it as its current image.
      if (fresh !== undefined && tag in fresh.kept && Object.keys(fresh.users).length === 0)
        await store.supersede(fresh, successor.name);
      await deleteIfUnclaimed(store, image.id, false, log);
      if (!req.retain) await withdrawLeft(store, req);
    }
    return;
  }
  // The stack stops using this platform (destroy, removed platform): it keeps nothing, and the
  // stored settings are its last.
  for (const old of complete.filter((i) => tag in i.kept)) {
    await store.dropClaim(old, "kept", tag);
    await deleteIfUnclaimed(store, old.id, req.retain, log);
  }
  if (image !== undefined) await deleteIfUnclaimed(store, image.id, req.retain, log);
  if (image !== undefined && !req.retain) await withdrawLeft(store, req);
}

/**
 * The image stays, other stacks claiming it: what this stack's claim asked for (AWS copies and
 * shares, OpenStack visibility and properties) goes unless one of them asks for it too. Read
 * after the claim was dropped (the ordering withdraw relies on). A replaced claim is released at
 * the end of the run, after its successor's create (rule E3), so a stack that moved to another
 * image has its new claim written by then, and a stack keeping this one (retention) is skipped.
 */
async function withdrawLeft(store: ImageStore, req: ClaimRequest): Promise<void> {
  if (store.withdraw === undefined) return;
  const left = await store.get(req.imageId);
  if (left === undefined || req.stackTag in left.users || req.stackTag in left.kept) return;
  await store.withdraw(left, req.stackTag);
}

/**
 * The claim as a Read sees it: the image complete, the stack's claim on it still there, and the
 * replicas the stack asks for (AWS copies and launch permissions, OpenStack visibility and
 * properties) still there too.
 */
export async function readClaim(
  store: ImageStore,
  req: ClaimRequest,
): Promise<ImageRecordOutput | undefined> {
  const image = await store.get(req.imageId);
  if (image === undefined || image.meta.state !== "complete" || !(req.stackTag in image.users))
    return undefined;
  if (((await store.replicasGone?.(image)) ?? []).length > 0) return undefined;
  return recordOf(image);
}
