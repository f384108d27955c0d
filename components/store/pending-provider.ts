import * as path from "node:path";
import type * as pulumi from "@pulumi/pulumi";
import type { StoreRef } from "../lifecycle/store";
import { openStore } from "./open";
import { type PendingBuild, discardBuild, markPending, unpublishedOf } from "./pending";
import { runHostScript } from "./run-script";
import { operatorError, storeLog } from "./provider-util";

/**
 * The snapshot scripts by platform, found from this module at call time (never stored), and
 * whether the script frees its builder (`release`) once the image is recorded.
 */
const SNAPSHOT_SCRIPTS = {
  qemu: { script: path.join(__dirname, "..", "qemu", "snapshot.sh"), release: true },
  virtualbox: { script: path.join(__dirname, "..", "virtualbox", "ova-export.sh"), release: false },
};

export interface PendingImageInputs extends PendingBuild {
  store: Pick<StoreRef, "store" | "config">;
  /** Which platform's script makes the image file: qemu (snapshot.sh), virtualbox (ova-export.sh). */
  snapshot: keyof typeof SNAPSHOT_SCRIPTS;
  /** The script's environment (builder, folders, ...; nothing secret). */
  environment: Record<string, string>;
  fingerprint: string;
  sbomSha256: string;
  sourceImage: string;
  /** What verify.sh printed (JSON). */
  manifest: string;
}

export interface PendingImageOutputs extends PendingImageInputs {
  /** The pending image's ID (a local image: its path, as configured). */
  imageId: string;
}

const buildOf = (p: PendingBuild): PendingBuild => ({
  name: p.name,
  gen: p.gen,
  stackTag: p.stackTag,
  imageName: p.imageName,
});

function manifestOf(text: string): Record<string, unknown> {
  try {
    const parsed = JSON.parse(text) as unknown;
    return parsed !== null && typeof parsed === "object" ? (parsed as Record<string, unknown>) : {};
  } catch {
    return { raw: text };
  }
}

/** Which build the image belongs to: another one is another image. */
const IDENTITY: (keyof PendingImageInputs)[] = ["store", "name", "gen", "stackTag", "imageName"];

export const pendingImageProvider: pulumi.dynamic.ResourceProvider = {
  diff(_id: string, olds: PendingImageOutputs, news: PendingImageInputs) {
    const replaces = IDENTITY.filter((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k]));
    return Promise.resolve({ changes: replaces.length > 0, replaces });
  },

  /**
   * The snapshot and its record in one step: the script stops the builder and writes the image
   * file, then the image is recorded as this build's pending one. A run killed between the two
   * leaves this step to do again, never a file the next run cannot tell is ours.
   */
  create(inputs: PendingImageInputs): Promise<pulumi.dynamic.CreateResult> {
    return operatorError(async () => {
      const store = openStore(inputs.store);
      const snapshot = SNAPSHOT_SCRIPTS[inputs.snapshot];
      const env = {
        ...inputs.environment,
        NAME: inputs.name,
        GEN: inputs.gen,
        STACK_TAG: inputs.stackTag,
      };
      const imageId = await runHostScript(snapshot.script, env);
      await markPending(store, imageId, {
        ...buildOf(inputs),
        fingerprint: inputs.fingerprint,
        sbomSha256: inputs.sbomSha256,
        sourceImage: inputs.sourceImage,
        manifest: manifestOf(inputs.manifest),
      });
      storeLog(store.platform)(`pending image ${imageId} (${inputs.name})`);
      if (snapshot.release) await runHostScript(snapshot.script, env, ["release"]);
      return { id: imageId, outs: { ...inputs, imageId } };
    });
  },

  /** Refresh: gone once the build's image was published or deleted. */
  read(id: string, props: PendingImageOutputs): Promise<pulumi.dynamic.ReadResult> {
    return operatorError(async () => {
      const left = await unpublishedOf(openStore(props.store), buildOf(props));
      return left.length > 0 ? { id, props } : { id: "", props: {} };
    });
  },

  /** An abandoned build (rule E1): its image goes unless it was published or is claimed. */
  delete(_id: string, props: PendingImageOutputs): Promise<void> {
    return operatorError(async () => {
      const store = openStore(props.store);
      await discardBuild(store, buildOf(props), storeLog(store.platform));
    });
  },
};
