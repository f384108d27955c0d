import type * as pulumi from "@pulumi/pulumi";
import type { StoreRef } from "../lifecycle/store";
import { openStore } from "./open";
import { publishPending } from "./pending";
import { operatorError, storeLog } from "./provider-util";

export interface ImagePublishInputs {
  store: Pick<StoreRef, "store" | "config">;
  pendingId: string;
  /** The final name. */
  name: string;
  /** The boot test's result (JSON), or "" when the platform has none. */
  bootTest: string;
}

export interface ImagePublishOutputs extends ImagePublishInputs {
  imageId: string;
}

/**
 * Publishing is one step whose create does all the work: the pending image becomes complete under
 * its final name. Nothing to undo on delete: from then on the stack's claim decides its fate.
 */
export const publishProvider: pulumi.dynamic.ResourceProvider = {
  diff(_id: string, olds: ImagePublishOutputs, news: ImagePublishInputs) {
    const keys: (keyof ImagePublishInputs)[] = ["store", "pendingId", "name"];
    const replaces = keys.filter((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k]));
    return Promise.resolve({ changes: replaces.length > 0, replaces });
  },

  create(inputs: ImagePublishInputs): Promise<pulumi.dynamic.CreateResult> {
    return operatorError(async () => {
      const store = openStore(inputs.store);
      const imageId = await publishPending(
        store,
        inputs.pendingId,
        inputs.name,
        inputs.bootTest,
        storeLog(store.platform),
      );
      return { id: imageId, outs: { ...inputs, imageId } };
    });
  },
};
