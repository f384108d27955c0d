import type { StoreRef } from "../lifecycle/store";
import { type ImageStore, StoreError } from "./image-store";
import { LocalImageStore, type LocalStoreConfig } from "./local";
import { OpenStackImageStore } from "./openstack";

/** Platforms whose images the TypeScript stores hold (the others still go through imagestore.py). */
export const TYPED_STORES: readonly StoreRef["store"][] = ["qemu", "virtualbox", "openstack"];

/** The store a StoreRef names, as stored in a resource's inputs. */
export function openStore(ref: Pick<StoreRef, "store" | "config">): ImageStore {
  switch (ref.store) {
    case "qemu":
    case "virtualbox":
      return new LocalImageStore(ref.store, ref.config as unknown as LocalStoreConfig);
    case "openstack":
      return new OpenStackImageStore(ref.config);
    default:
      throw new StoreError(`no typed image store for ${ref.store} yet`);
  }
}
