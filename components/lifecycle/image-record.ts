import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { ImageClaim } from "../store/image-claim";
import { TYPED_STORES } from "../store/open";
import { lastLine } from "./driver";
import { StoreRef, storeCommand, storeEnv } from "./store";

export interface ImageRecordArgs {
  /** The complete image this stack uses: found by the program, or published by this run. */
  imageId: pulumi.Input<string>;
  /** The image family (`imageName`): the release looks for this stack's other images in it. */
  imageName: string;
  /**
   * Generation of the build that made the image. A local image deleted outside Pulumi and built
   * again the same day has the same ID (its path) but a new generation: a changed input, so the
   * record claims the new file again (rule C2) instead of staying "same".
   */
  imageGen: string;
  store: StoreRef;
  stackId: string;
  stackTag: string;
  /** Never delete the image (the release only drops this stack's claim). */
  retainImages: boolean;
  /** Previous images of this stack kept when a rebuild supersedes this one. */
  keep: number;
  /** The publish step, when this run builds the image. */
  dependsOn: pulumi.Resource[];
}

/** What the record step prints: the image as the stack exports it. */
export interface ImageRecordOutput {
  id: string;
  name: string;
  createdAt: string;
  manifest: Record<string, unknown>;
  fingerprint: string;
  imageName: string;
  sha256?: string;
  bootTest?: { passed: boolean; seconds: number; checks: string[] };
  sbomSha256?: string;
  /** AWS: region -> AMI ID of the home AMI and its copies. */
  regions?: Record<string, string>;
}

/**
 * The record step's output. `known` is the record the probe read before the run: an unchanged
 * record step returns its stored stdout, which a refresh may have emptied (rule P4).
 */
export function parseImageRecord(
  stdout: string | undefined,
  known?: ImageRecordOutput,
): ImageRecordOutput {
  if ((stdout ?? "").trim() === "" && known !== undefined) return known;
  const last = lastLine(stdout ?? "");
  try {
    return JSON.parse(last) as ImageRecordOutput;
  } catch {
    throw new Error(`the image record step printed no record; its last line was: ${last}`);
  }
}

/** The stack's claim as the program declares it: the resource, and the image it exports. */
export interface DeclaredRecord {
  /** Anything consuming the image depends on it. */
  resource: pulumi.Resource;
  image: pulumi.Output<ImageRecordOutput>;
}

/**
 * This stack's claim on one complete image, declared in every run: an ImageClaim resource
 * (components/store/image-claim.ts) where the platform's store is typed, else the record step
 * below. `known` is the record the program's lookup read (see parseImageRecord).
 */
export function imageRecord(
  name: string,
  args: ImageRecordArgs,
  parent: pulumi.Resource,
  known?: ImageRecordOutput,
): DeclaredRecord {
  if (TYPED_STORES.includes(args.store.store)) {
    const claim = new ImageClaim(
      name,
      {
        store: { store: args.store.store, config: args.store.config },
        imageId: args.imageId,
        imageName: args.imageName,
        imageGen: args.imageGen,
        stackId: args.stackId,
        stackTag: args.stackTag,
        retainImages: args.retainImages,
        keep: args.keep,
      },
      { parent, dependsOn: args.dependsOn },
    );
    return { resource: claim, image: claim.record };
  }
  const step = imageRecordStep(name, args, parent);
  return { resource: step, image: step.stdout.apply((out) => parseImageRecord(out, known)) };
}

/**
 * The record step of the platforms whose store is still imagestore.py. It holds no builder-derived
 * input (nothing to ignore, so rule E2 cannot feed it a gone builder's values): `create` finds the
 * image by ID and adds the stack to its users, `delete` (rule C3: run with the stored
 * environment when the record leaves the program, E1, or is replaced, E3) removes the claim and
 * deletes the image only when no stack uses or keeps it. The delete reads only that environment,
 * never the stored stdout, which a refresh can empty (rule P4). The image ID is its trigger (C1), so an
 * image rebuilt after an outside deletion gets a new record and the old one is released.
 */
function imageRecordStep(
  name: string,
  args: ImageRecordArgs,
  parent: pulumi.Resource,
): command.local.Command {
  const record = storeCommand("record");
  return new command.local.Command(
    name,
    {
      create: record,
      // Rule C2: a changed input (retainImages, keep, copy regions) runs this instead of
      // create: the same idempotent claim, with the new settings stored for the release.
      update: record,
      delete: storeCommand("release"),
      environment: {
        ...storeEnv(args.store),
        IMAGE_ID: args.imageId,
        IMAGE_NAME: args.imageName,
        IMAGE_GEN: args.imageGen,
        STACK_ID: args.stackId,
        STACK_TAG: args.stackTag,
        RETAIN: String(args.retainImages),
        KEEP: String(args.keep),
      },
      triggers: [args.imageId],
      logging: "stderr",
    },
    { parent, dependsOn: args.dependsOn },
  );
}
