/**
 * Typed access to a dse-image stack's outputs for the Pulumi programs that launch VMs from its
 * images. Self-contained (it imports nothing but `@pulumi/pulumi`), so another program can import
 * it by path, e.g. `import { dseImageId } from "../../components/reader"`.
 *
 * ```ts
 * const images = new pulumi.StackReference("dse-image", { name: "my-org/dse-image/dev" });
 * new openstack.compute.Instance("vm", { imageId: dseImageId(images, "openstack"), ... });
 * new aws.ec2.Instance("vm", { ami: dseAmiId(images, "eu-west-1"), ... });
 * ```
 *
 * Every function returns an Output that waits for the reference: while its outputs are unknown
 * (a preview whose stack name is itself unknown), so is the result, and nothing is checked. Once
 * known, a missing output, platform or region fails `pulumi preview`/`up` with one line naming
 * the referenced stack, what it has and how to build what is missing.
 */
import * as pulumi from "@pulumi/pulumi";

/** The platforms a dse-image stack builds images for. */
export const DSE_PLATFORMS = ["openstack", "aws", "qemu", "virtualbox"] as const;
export type DsePlatform = (typeof DSE_PLATFORMS)[number];
/** The platforms whose image has one ID; AWS has one AMI per region (see {@link dseAmiId}). */
export type DseSingleIdPlatform = Exclude<DsePlatform, "aws">;

/** The `imageIds` stack output: what to launch a VM from, per built platform. */
export interface DseImageIds {
  /** Glance image ID. */
  openstack?: string;
  /** Region -> AMI ID, for the home region and every `aws.copyToRegions` region. */
  aws?: Record<string, string>;
  /** Absolute path of the .qcow2 on the machine that ran the build. */
  qemu?: string;
  /** Path of the .ova on the machine that ran the build. */
  virtualbox?: string;
}

/** The boot test an image passed or failed after its build. */
export interface DseBootTest {
  passed: boolean;
  seconds: number;
  /** What the test checked, e.g. the tools it ran. */
  checks: string[];
}

/** An older image the stack keeps (`retention.keep`), for rollback. */
export interface DsePreviousImage {
  name: string;
  id: string;
  /** ISO 8601. */
  createdAt: string;
}

/** One platform's entry in the `images` stack output. */
export interface DseImageInfo {
  /** `<imageName>-<first 12 hex of the fingerprint>-<build date>`. */
  name: string;
  /** The image ID; for AWS the AMI in the home region. */
  id: string;
  /** SHA-256 of everything that shapes the image. */
  fingerprint: string;
  /** ISO 8601. */
  createdAt: string;
  /** The image the build started from. */
  sourceImage: string;
  /** Tool -> installed version. */
  manifest: Record<string, unknown>;
  /** SHA-256 of the image file (file platforms: qemu, virtualbox). */
  sha256?: string;
  bootTest?: DseBootTest;
  /** Path of the CycloneDX SBOM. */
  sbom?: string;
  /** Kept older images, newest first. */
  previous?: DsePreviousImage[];
}

/** The `images` stack output: details per built platform. */
export type DseImages = { [P in DsePlatform]?: DseImageInfo };

/**
 * The referenced stack lacks what the program needs. A `RunError`, so Pulumi prints the one-line
 * message without a stack trace.
 */
export class DseImageStackError extends pulumi.RunError {
  constructor(
    /** The referenced stack, e.g. `my-org/dse-image/dev`. */
    readonly referencedStack: string,
    problem: string,
  ) {
    super(`stack ${referencedStack} ${problem}`);
    this.name = "DseImageStackError";
  }
}

/** The whole `imageIds` output; fails when the stack has none or it is not an object. */
export function dseImageIds(ref: pulumi.StackReference): pulumi.Output<DseImageIds> {
  return stackOutput(ref, "imageIds").apply(([stack, value]) => checkImageIds(stack, value));
}

/** The whole `images` output; fails when the stack has none or it is not an object. */
export function dseImages(ref: pulumi.StackReference): pulumi.Output<DseImages> {
  return stackOutput(ref, "images").apply(([stack, value]): DseImages => {
    if (!isRecord(value)) throw notAn(stack, "images", value);
    return value; // entries as the build wrote them; not checked field by field
  });
}

/**
 * The image ID for `platform`: a Glance ID for openstack, a file path for qemu and virtualbox.
 * Fails when the stack has no image for it. For AWS use {@link dseAmiId}.
 */
export function dseImageId(
  ref: pulumi.StackReference,
  platform: DseSingleIdPlatform,
): pulumi.Output<string> {
  if ((platform as DsePlatform) === "aws") {
    throw new Error("dseImageId: AWS has one AMI per region; use dseAmiId(ref, region) instead");
  }
  return pulumi.all([ref.name, dseImageIds(ref)]).apply(([stack, ids]) => {
    const id = ids[platform];
    if (id === undefined) throw noImage(stack, ids, platform);
    return id;
  });
}

/** The AMI ID in `region`. Fails when the stack has no AWS image, or none copied to `region`. */
export function dseAmiId(
  ref: pulumi.StackReference,
  region: pulumi.Input<string>,
): pulumi.Output<string> {
  return pulumi.all([ref.name, dseImageIds(ref), region]).apply(([stack, ids, wanted]) => {
    const amis = ids.aws;
    if (amis === undefined) throw noImage(stack, ids, "aws");
    if (!Object.prototype.hasOwnProperty.call(amis, wanted)) {
      const regions = Object.keys(amis).sort().join(", ");
      throw new DseImageStackError(
        stack,
        `has no AMI in ${wanted} (its AMIs are in: ${regions}); copy one there by adding ` +
          `${wanted} to dse-image:aws.copyToRegions in that stack and running npx pulumi up`,
      );
    }
    return amis[wanted];
  });
}

/** `platform`'s entry in the `images` output; fails when the stack has no image for it. */
export function dseImage(
  ref: pulumi.StackReference,
  platform: DsePlatform,
): pulumi.Output<DseImageInfo> {
  return pulumi.all([ref.name, dseImages(ref)]).apply(([stack, images]): DseImageInfo => {
    const image = images[platform];
    if (image === undefined) throw noImage(stack, images, platform);
    return image;
  });
}

/** `[stack name, output value]`; fails when the stack has no such output. */
function stackOutput(ref: pulumi.StackReference, name: string): pulumi.Output<[string, unknown]> {
  // getOutput, not requireOutput: requireOutput's plain Error would print a stack trace.
  const value: pulumi.Output<unknown> = ref.getOutput(name);
  return pulumi.all([ref.name, value]).apply(([stack, found]): [string, unknown] => {
    if (found === undefined || found === null) {
      throw new DseImageStackError(
        stack,
        `has no ${name} output; is it a dse-image stack, and has npx pulumi up finished there?`,
      );
    }
    return [stack, found];
  });
}

function checkImageIds(stack: string, value: unknown): DseImageIds {
  if (!isRecord(value)) throw notAn(stack, "imageIds", value);
  for (const [platform, id] of Object.entries(value)) {
    const valid =
      platform === "aws"
        ? isRecord(id) && Object.values(id).every((ami) => typeof ami === "string" && ami !== "")
        : typeof id === "string" && id !== "";
    if (!valid) {
      const expected = platform === "aws" ? "a map of region to AMI ID" : "an image ID";
      throw new DseImageStackError(
        stack,
        `has imageIds.${platform} = ${show(id)}, not ${expected}; is it a dse-image stack?`,
      );
    }
  }
  return value;
}

function noImage(
  stack: string,
  have: Record<string, unknown>,
  platform: DsePlatform,
): DseImageStackError {
  const platforms = Object.keys(have).sort();
  const listing =
    platforms.length === 0 ? "it has no images" : `it has images for: ${platforms.join(", ")}`;
  return new DseImageStackError(
    stack,
    `has no ${platform} image (${listing}); build one there with npx pulumi up ` +
      `(dse-image:platforms must include ${platform})`,
  );
}

function notAn(stack: string, name: string, value: unknown): DseImageStackError {
  return new DseImageStackError(
    stack,
    `has ${name} = ${show(value)}, not an object; is it a dse-image stack?`,
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Shows a bad value in an error message without flooding the terminal. */
function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
