import type { StoreRef } from "../lifecycle/store";
import { type ImageStore, StoreError } from "./image-store";
import { LocalImageStore, type LocalStoreConfig } from "./local";
import { OpenStackImageStore } from "./openstack";
import { AwsImageStore, type AwsStoreConfig } from "./aws";
import { storeLog } from "./provider-util";

/** The store a StoreRef names, as stored in a resource's inputs. */
export function openStore(ref: Pick<StoreRef, "store" | "config">): ImageStore {
  switch (ref.store) {
    case "qemu":
    case "virtualbox":
      return new LocalImageStore(ref.store, ref.config as unknown as LocalStoreConfig);
    case "openstack":
      return new OpenStackImageStore(ref.config);
    case "aws":
      return new AwsImageStore(ref.config as unknown as AwsStoreConfig, storeLog("aws"));
    default:
      // A state written by a later version, read by this one.
      throw new StoreError(`no image store ${String(ref.store)}`);
  }
}
