import type { ImageRecordOutput } from "../lifecycle/image-record";
import type { ImageState, ProbeImage } from "../lifecycle/plan";

/**
 * What every platform keeps on an image of ours (OpenStack image properties, EC2 tags, the JSON
 * record beside a local file), under normalized keys; each store spells them its own way.
 */
export interface ImageMeta {
  fingerprint?: string;
  state?: ImageState;
  /** Builder generation that made it. */
  gen?: string;
  /** Stack tag of the stack whose build made it. */
  buildStack?: string;
  /** The image family (`imageName`). */
  imageName?: string;
  /** The name a pending image is published under. */
  finalName?: string;
  /** The boot test's result, as JSON. */
  bootTest?: string;
  sbomSha256?: string;
  sourceImage?: string;
  supersededBy?: string;
}

/** Claims by stack tag; the value is the full stack ID, for people reading the image. */
export type Claims = Record<string, string>;

export type ClaimKind = "users" | "kept";

/** An image of ours, normalized. */
export interface StoredImage {
  id: string;
  name: string;
  createdAt: string;
  meta: ImageMeta;
  /** Stacks that run it as their current image. */
  users: Claims;
  /** Stacks that keep it as a previous image (retention). */
  kept: Claims;
  /**
   * Stack tags whose claim in `users` an ImageClaim resource holds: a record step of an earlier
   * version (a `command.local.Command` whose stored delete runs imagestore.py `release`, now a
   * shim to components/store/cli.ts) must
   * leave those alone when the upgrade's first run deletes it (rule E1 deletes it at the end of
   * the run, after the ImageClaim's create).
   */
  held: string[];
  /**
   * The value of each held claim's key, by stack tag, where a store records something there: what
   * the claim asks of the image (AWS copies and shares, aws-wants.ts; OpenStack visibility and
   * properties, glance-wants.ts).
   */
  holds?: Record<string, string>;
  /** What verify.sh printed: each tool and its version. */
  manifest: Record<string, unknown>;
  /** Platform extras of the record (local: sha256; AWS: regions). */
  extra: Record<string, unknown>;
}

export const claimCount = (image: StoredImage): number =>
  Object.keys(image.users).length + Object.keys(image.kept).length;

/** The log line of an image a stack claimed between its read and its delete: it stays. */
export const keptMeanwhile = (image: StoredImage): string =>
  `kept ${image.name} (${image.id}): another stack claimed it meanwhile`;

/** The stack tags of every claim on the image but `tag`'s (users and kept), sorted. */
export const otherClaims = (image: StoredImage, tag: string): string[] =>
  [...new Set([...Object.keys(image.users), ...Object.keys(image.kept)])]
    .filter((t) => t !== tag)
    .sort();

/** The stack ID of a claim on the image, by its tag. */
export const claimStack = (image: StoredImage, tag: string): string =>
  image.users[tag] ?? image.kept[tag] ?? tag;

/**
 * What every other claim on the image records in its held value, decoded, by stack tag; and the
 * stack IDs of those whose claims record nothing (one of an earlier version, or a kept image's),
 * which may rely on anything the image has.
 */
export function othersAsking<W>(
  image: StoredImage,
  tag: string,
  decode: (value: string | undefined) => W | undefined,
): { asked: [string, W][]; silent: string[] } {
  const asked: [string, W][] = [];
  const silent: string[] = [];
  for (const t of otherClaims(image, tag)) {
    const wants = decode(image.holds?.[t]);
    if (wants === undefined) silent.push(claimStack(image, t));
    else asked.push([t, wants]);
  }
  return { asked, silent };
}

/** Who holds a claim on the image, for the log. */
export function claimants(image: StoredImage): string {
  return [...new Set([...Object.values(image.users), ...Object.values(image.kept)])]
    .sort()
    .join(", ");
}

function parseBootTest(text: string | undefined): ImageRecordOutput["bootTest"] | undefined {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as ImageRecordOutput["bootTest"];
  } catch {
    return undefined;
  }
}

/** The image as the stack exports it (the record). */
export function recordOf(image: StoredImage): ImageRecordOutput {
  const bootTest = parseBootTest(image.meta.bootTest);
  return {
    id: image.id,
    name: image.name,
    createdAt: image.createdAt,
    manifest: image.manifest,
    fingerprint: image.meta.fingerprint ?? "",
    imageName: image.meta.imageName ?? "",
    ...(bootTest ? { bootTest } : {}),
    ...(image.meta.sbomSha256 ? { sbomSha256: image.meta.sbomSha256 } : {}),
    ...image.extra,
  };
}

/** The image as the program's lookup sees it (plan.ts). */
export function probeViewOf(image: StoredImage): ProbeImage {
  const state = image.meta.state ?? ("" as ImageState);
  return {
    id: image.id,
    // A pending image may carry a temporary name (OpenStack: <name>.pending).
    name: image.meta.finalName || image.name,
    state,
    fingerprint: image.meta.fingerprint ?? "",
    gen: image.meta.gen ?? "",
    buildStack: image.meta.buildStack ?? "",
    createdAt: image.createdAt,
    users: Object.values(image.users).sort(),
    kept: Object.values(image.kept).sort(),
    ...(state === "complete" ? { record: recordOf(image) } : {}),
  };
}
