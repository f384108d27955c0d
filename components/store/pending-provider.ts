import * as path from "node:path";
import type * as pulumi from "@pulumi/pulumi";
import type { StoreRef } from "../lifecycle/store";
import { openStore } from "./open";
import { snapshotInstance } from "../aws/snapshot";
import { snapshotServer } from "../openstack/snapshot";
import { AwsImageStore } from "./aws";
import { type ImageStore, StoreError, type StoreLog } from "./image-store";
import { OpenStackImageStore } from "./openstack";
import {
  type PendingBuild,
  type PendingMeta,
  discardBuild,
  markPending,
  unpublishedOf,
} from "./pending";
import { runHostScript } from "./run-script";
import { exportOva } from "../virtualbox/ova-export";
import { operatorError, storeLog } from "./provider-util";

/**
 * How each platform makes the image file or cloud image, found from this module at call time
 * (never stored). QEMU runs its host script (snapshot.sh), the image is recorded as pending,
 * then the script frees its builder; the OVA is packed here (ova-export.ts) and recorded; the
 * clouds' snapshots (Nova, CreateImage) create the image with its pending record in one call.
 */
type MakeImage = (inputs: PendingImageInputs, store: ImageStore, log: StoreLog) => Promise<string>;

function hostScript(script: string): MakeImage {
  return async (inputs, store, log) => {
    const env = {
      ...inputs.environment,
      NAME: inputs.name,
      GEN: inputs.gen,
      STACK_TAG: inputs.stackTag,
    };
    const imageId = await runHostScript(script, env);
    await markPending(store, imageId, metaOf(inputs));
    log(`pending image ${imageId} (${inputs.name})`);
    await runHostScript(script, env, ["release"]);
    return imageId;
  };
}

const MAKERS = {
  qemu: hostScript(path.join(__dirname, "..", "qemu", "snapshot.sh")),
  virtualbox: async (inputs: PendingImageInputs, store: ImageStore, log: StoreLog) => {
    // The environment keeps the names the step had as a script: the inputs stay as stored.
    const env = inputs.environment;
    const imageId = await exportOva({
      sourceQcow2: env.SOURCE_QCOW2,
      outputDir: env.OUTPUT_DIR,
      name: inputs.name,
      stackTag: inputs.stackTag,
      vmName: env.VM_NAME || inputs.name,
      memoryMb: Number(env.MEMORY_MB || 2048),
      cpus: Number(env.CPUS || 2),
      builder: env.BUILDER === "vboxmanage" ? "vboxmanage" : "qemu",
      log: (line) => process.stderr.write(`==> virtualbox: ${line}\n`),
    });
    await markPending(store, imageId, metaOf(inputs));
    log(`pending image ${imageId} (${inputs.name})`);
    return imageId;
  },
  openstack: (inputs: PendingImageInputs, store: ImageStore, log: StoreLog) => {
    const serverId = inputs.environment.SERVER_ID;
    if (!serverId || !(store instanceof OpenStackImageStore))
      throw new StoreError("the OpenStack snapshot needs the builder's SERVER_ID and Glance");
    return snapshotServer(store, serverId, metaOf(inputs), log);
  },
  aws: (inputs: PendingImageInputs, store: ImageStore, log: StoreLog) => {
    const instanceId = inputs.environment.INSTANCE_ID;
    if (!instanceId || !(store instanceof AwsImageStore))
      throw new StoreError("the AWS snapshot needs the builder's INSTANCE_ID and EC2");
    return snapshotInstance(store, instanceId, metaOf(inputs), log);
  },
} satisfies Record<string, MakeImage>;

export interface PendingImageInputs extends PendingBuild {
  store: Pick<StoreRef, "store" | "config">;
  /** Which platform makes the image: qemu (snapshot.sh), virtualbox (ova-export.ts), openstack, aws. */
  snapshot: keyof typeof MAKERS;
  /** The builder and its folders (SERVER_ID, INSTANCE_ID, ...; nothing secret). */
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

const metaOf = (p: PendingImageInputs): PendingMeta => ({
  ...buildOf(p),
  fingerprint: p.fingerprint,
  sbomSha256: p.sbomSha256,
  sourceImage: p.sourceImage,
  manifest: manifestOf(p.manifest),
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
   * The snapshot and its record in one step: a run killed between the two leaves this step to do
   * again, never an image the next run cannot tell is ours.
   */
  create(inputs: PendingImageInputs): Promise<pulumi.dynamic.CreateResult> {
    return operatorError(async () => {
      const store = openStore(inputs.store);
      const imageId = await MAKERS[inputs.snapshot](inputs, store, storeLog(store.platform));
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
