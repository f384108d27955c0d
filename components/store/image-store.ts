import type { ProbeBuilder } from "../lifecycle/plan";
import type { SourceImage } from "../lifecycle/store";
import type { ClaimKind, ImageMeta, StoredImage } from "./image";

/** A failure of the store with a message for the operator (no stack trace). */
export class StoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StoreError";
  }
}

/**
 * An image a change cannot reach any more: another stack's run deleted it, unclaimed, since this
 * run read it, or it was removed by hand.
 */
export function imageGone(id: string): StoreError {
  return new StoreError(
    `image ${id} is gone: another stack's run released it since this run read it (or it ` +
      "was removed by hand); run `pulumi up` again to rebuild it",
  );
}

/** An image the cloud failed (Glance `killed`, an AMI `failed`): nothing can boot from it. */
export class UnusableImage extends StoreError {}

/**
 * Where a platform keeps its images, and the primitive operations the image rules (claims.ts)
 * are written in. One implementation per platform; the rules are defined once, above them.
 */
export interface ImageStore {
  /** `openstack`, `aws`, `qemu` or `virtualbox`: the log's prefix. */
  readonly platform: string;
  /** The image with this ID, or undefined when it is gone (or not one of ours, whole). */
  get(id: string): Promise<StoredImage | undefined>;
  /** Every image of ours of the family `imageName`, in any state. */
  listFamily(imageName: string): Promise<StoredImage[]>;
  /** This stack's builders still there. */
  listBuilders(stackTag: string): Promise<ProbeBuilder[]>;
  setMeta(id: string, meta: ImageMeta, manifest?: Record<string, unknown>): Promise<void>;
  setClaim(image: StoredImage, kind: ClaimKind, tag: string, stackId: string): Promise<void>;
  dropClaim(image: StoredImage, kind: ClaimKind, tag: string): Promise<void>;
  /**
   * Marks (or unmarks) the stack's claim in `users` as held by an ImageClaim resource; writes
   * nothing when it is so already (the clouds: and its value records what the store's settings
   * ask of the image).
   */
  setHeld(image: StoredImage, tag: string, held: boolean): Promise<void>;
  /**
   * Optional: setClaim(image, "users", ...) when the claim is not there, and setHeld(image, tag,
   * true), in one change, where each change costs the store a round of its own.
   */
  claimHeld?(image: StoredImage, tag: string, stackId: string): Promise<void>;
  supersede(image: StoredImage, byName: string): Promise<void>;
  /**
   * Makes the pending image complete under `name`; returns its final ID: where names are unique
   * (a local file), that of the image of the same build another stack published first.
   */
  publish(image: StoredImage, name: string): Promise<string>;
  /**
   * Deletes the image; false when a stack claimed it since `image` was read, and it stays. Only
   * the local store can tell (it checks under the record's lock: a claim is written under it
   * too); a cloud's tags or properties cannot be checked and the image deleted in one call.
   */
  delete(image: StoredImage): Promise<boolean>;
  /** Platform extras of a claimed image's record (AWS: the copies per region). */
  ensureReplicas(image: StoredImage): Promise<Record<string, unknown>>;
  /**
   * What this stack asks of the image that is gone (AWS: copies in its copyToRegions gone or
   * broken, launch permissions of its shareWithAccounts; OpenStack: its visibility or
   * properties). A Read then finds the claim gone, so the `up` after a refresh claims again and
   * makes them anew.
   */
  replicasGone?(image: StoredImage): Promise<string[]>;
  /** A cloud's base image by content (ID and digest of its bytes); local bases are files. */
  describeSource?(ref: string): Promise<SourceImage>;
  /**
   * After a claim's writes, waits until a release that read the image unclaimed just before them
   * has deleted it, if it did, so the claim's read-back (claims.ts) sees it gone. Only AWS needs
   * it: Glance changes are read back one by one (OpenStackImageStore.change), and the local store
   * deletes under the record's lock.
   */
  settleClaim?(): Promise<void>;
  /**
   * Takes back what the stack's claim asked for on the image and no longer does (AWS copies and
   * launch permissions, OpenStack visibility and properties): what the `previous` settings asked
   * for and the store's do not (an update), or all the store's settings ask for (a release that
   * leaves the image to other stacks). Only what no other claim on the image asks for.
   */
  withdraw?(image: StoredImage, tag: string, previous?: Record<string, unknown>): Promise<void>;
  /** An image gone outside Pulumi: whatever hangs on it (AWS copies) is released. */
  forget?(id: string, stackTag: string): Promise<void>;
}

/** Progress for the operator: `==> <platform>: message` on stderr, as the scripts print it. */
export type StoreLog = (message: string) => void;
