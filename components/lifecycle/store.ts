import * as pulumi from "@pulumi/pulumi";
import { probeViewOf } from "../store/image";
import { openStore } from "../store/open";
import type { ProbeResult } from "./plan";

/** Which store, and its settings (`STORE`, `STORE_CONFIG`). */
export interface StoreRef {
  store: "openstack" | "aws" | "qemu" | "virtualbox";
  config: Record<string, unknown>;
  /** Extra environment for the CLIs (e.g. AWS_PROFILE). */
  env?: Record<string, string>;
}

export function storeEnv(ref: StoreRef): Record<string, string> {
  return { STORE: ref.store, STORE_CONFIG: JSON.stringify(ref.config), ...ref.env };
}

/** What the program asks the store before it declares anything. */
export type Probe = (
  ref: StoreRef,
  query: { imageName: string; stackTag: string },
) => Promise<ProbeResult>;

/** A cloud's base image by content: its ID and the cloud's digest of its bytes. */
export interface SourceImage {
  id: string;
  checksum: string;
}

/** What the program asks the store about the image a build starts from. */
export type DescribeSource = (ref: StoreRef, sourceImage: string) => Promise<SourceImage>;

/** The images of the family and the stack's builders, from the platform's typed store. */
async function probeTyped(
  ref: StoreRef,
  query: { imageName: string; stackTag: string },
): Promise<ProbeResult> {
  const store = openStore(ref);
  const images = (await store.listFamily(query.imageName)).map(probeViewOf);
  return { images, builders: await store.listBuilders(query.stackTag) };
}

export const probeStore: Probe = (ref, query) =>
  probeTyped(ref, query).catch((e: Error) => {
    throw new pulumi.RunError(`${ref.store}: could not look up existing images: ${e.message}`);
  });

export const describeSourceImage: DescribeSource = (ref, sourceImage) => {
  const store = openStore(ref);
  if (!store.describeSource)
    return Promise.reject(new Error(`${ref.store} images have no source lookup by content`));
  return store.describeSource(sourceImage);
};
