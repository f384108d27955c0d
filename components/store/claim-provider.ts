import type * as pulumi from "@pulumi/pulumi";
import type { ImageRecordOutput } from "../lifecycle/image-record";
import type { StoreRef } from "../lifecycle/store";
import { type ClaimRequest, claimImage, readClaim, releaseImage } from "./claims";
import { openStore } from "./open";
import { operatorError, storeLog } from "./provider-util";

/**
 * The ImageClaim's implementation, loaded by the thin serialized provider (thin-provider.ts) at
 * call time by package name (`dse-image/providers`), so the state holds no code of ours: a delete
 * after an upgrade runs the code of the checkout that runs it.
 */
export interface ClaimInputs {
  store: Pick<StoreRef, "store" | "config">;
  imageId: string;
  imageName: string;
  /**
   * Generation of the build that made the image. A local image deleted outside Pulumi and built
   * again the same day has the same ID (its path) but a new generation: an update claims the new
   * file again instead of staying "same".
   */
  imageGen: string;
  stackId: string;
  stackTag: string;
  retainImages: boolean;
  keep: number;
}

export interface ClaimOutputs extends ClaimInputs {
  record: ImageRecordOutput;
}

const log = storeLog;

function requestOf(p: ClaimInputs): ClaimRequest {
  return {
    imageId: p.imageId,
    imageName: p.imageName,
    stackId: p.stackId,
    stackTag: p.stackTag,
    retain: p.retainImages === true,
    keep: Number(p.keep) || 0,
  };
}

/** The inputs of the claim without the provider's own key, as the provider stores them. */
function inputsOf(p: ClaimInputs): ClaimInputs {
  return {
    store: p.store,
    imageId: p.imageId,
    imageName: p.imageName,
    imageGen: p.imageGen,
    stackId: p.stackId,
    stackTag: p.stackTag,
    retainImages: p.retainImages,
    keep: p.keep,
  };
}

/**
 * The image identifies a claim (and the kind of store, should a platform ever reuse an ID):
 * another image is a new claim, created before the old one is released. The store's settings are
 * not its identity: a changed `copyToRegions`, `shareWithAccounts`, credential, TLS setting or
 * cache folder leaves the image as it is, and an image in another region, cloud or folder has
 * another ID. A replace is create-before-delete (rule E3: the old claim is deleted at the end of
 * the run), so a replace there released the image the new claim had just taken: both claims are
 * the stack's one claim on the image (its tag or property is keyed by the stack), so the old
 * claim's delete dropped it and, no other stack claiming the image, deleted the image the stack
 * went on exporting.
 */
const replacesOf = (olds: ClaimInputs, news: ClaimInputs): (keyof ClaimInputs)[] => [
  ...(differs(olds.imageId, news.imageId) ? (["imageId"] as const) : []),
  ...(differs(olds.store?.store, news.store?.store) ? (["store"] as const) : []),
];
/** Changed, the same image is claimed again with them (update). */
const SETTINGS: (keyof ClaimInputs)[] = [
  "store",
  "imageName",
  "imageGen",
  "stackId",
  "stackTag",
  "retainImages",
  "keep",
];

const differs = (a: unknown, b: unknown) => JSON.stringify(a) !== JSON.stringify(b);

export const claimProvider: pulumi.dynamic.ResourceProvider = {
  diff(_id: string, olds: ClaimInputs, news: ClaimInputs): Promise<pulumi.dynamic.DiffResult> {
    const replaces = replacesOf(olds, news);
    const changes = replaces.length > 0 || SETTINGS.some((k) => differs(olds[k], news[k]));
    return Promise.resolve({ changes, replaces, deleteBeforeReplace: false });
  },

  create(inputs: ClaimInputs): Promise<pulumi.dynamic.CreateResult> {
    return operatorError(async () => {
      const store = openStore(inputs.store);
      const record = await claimImage(store, requestOf(inputs), log(store.platform));
      return { id: `${inputs.stackTag}:${inputs.imageId}`, outs: { ...inputsOf(inputs), record } };
    });
  },

  /**
   * A changed setting (retainImages, keep, a new generation of the same file, the store's
   * settings) or a renamed stack: the same idempotent claim with the new settings (new copies and
   * shares included, and those the old settings asked for and no stack does any more taken back);
   * the olds name the stack before a rename.
   */
  update(_id: string, olds: ClaimOutputs, news: ClaimInputs): Promise<pulumi.dynamic.UpdateResult> {
    return operatorError(async () => {
      const store = openStore(news.store);
      const record = await claimImage(store, requestOf(news), log(store.platform), {
        stackTag: olds.stackTag,
        stackId: olds.stackId,
        settings: olds.store?.config,
      });
      return { outs: { ...inputsOf(news), record } };
    });
  },

  /**
   * Refresh: gone when the image is no longer complete, the stack's claim on it was dropped, or
   * what the stack asks of it is gone (store.replicasGone: AWS copies and launch permissions,
   * OpenStack visibility and properties). A Read reported gone leaves the state (rule E6), so the
   * next `up` creates the claim again, and its copies, shares and visibility with it.
   */
  read(id: string, props: ClaimOutputs): Promise<pulumi.dynamic.ReadResult> {
    return operatorError(async () => {
      const record = await readClaim(openStore(props.store), requestOf(props));
      if (record === undefined) return { id: "", props: {} };
      return { id, props: { ...inputsOf(props), record } };
    });
  },

  /** Rule C3's counterpart: the stored inputs (and the current code) release the claim. */
  delete(_id: string, props: ClaimOutputs): Promise<void> {
    return operatorError(async () => {
      const store = openStore(props.store);
      await releaseImage(store, requestOf(props), log(store.platform));
    });
  },
};
