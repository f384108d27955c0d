import type { ImageRecordOutput } from "./image-record";
import { familyPrefix, newBuildName, newGeneration } from "./names";

/**
 * States an image of ours goes through; only `complete` images are ever looked up or exported.
 * `broken`: the cloud cannot boot it (a killed or failed upload, a published image no longer
 * available); it is never resumed, and the next snapshot under its name discards it.
 */
export type ImageState = "pending" | "complete" | "failed" | "broken";

/** One image of this image family, as the probe (the platform's image store) sees it. */
export interface ProbeImage {
  id: string;
  name: string;
  state: ImageState;
  fingerprint: string;
  /** Builder generation that made it. */
  gen: string;
  /** Stack tag of the stack whose build made it (pending images belong to that stack). */
  buildStack: string;
  /** ISO 8601, as the cloud (or the export) recorded it. */
  createdAt: string;
  /** Stack IDs using it now / keeping it as a previous image. */
  users: string[];
  kept: string[];
  /** A complete image's record, as the record step prints it. */
  record?: ImageRecordOutput;
}

/** A builder of this stack on this platform that is still there. */
export interface ProbeBuilder {
  id: string;
  /** The final image name of the build it works for. */
  build: string;
  gen: string;
  /**
   * `running`: reachable, may resume; `sealed`: provisioned and stopped for its snapshot;
   * `stopped`: anything else (powered off after a failure, TTL, terminated): never reused.
   */
  status: "running" | "sealed" | "stopped";
}

export interface ProbeResult {
  images: ProbeImage[];
  builders: ProbeBuilder[];
}

export interface PlanInputs {
  probe: ProbeResult;
  imageName: string;
  fingerprint: string;
  stackId: string;
  stackTag: string;
  now: Date;
  /** Images older than this count as missing; 0 turns the rule off. */
  maxImageAgeDays: number;
  /** How many previous images of this stack the outputs list. */
  keep: number;
}

/**
 * What this run declares for one platform:
 * - `published`: a complete image with this fingerprint exists: only the record (adoption);
 * - `pending`: this stack's build already made the image but did not publish it: boot test and
 *   publish only, no builder;
 * - `build`: a builder (generation `gen`, possibly a running one to resume) and the whole chain.
 */
export interface Plan {
  phase: "published" | "pending" | "build";
  /** Final image name. */
  name: string;
  /** Generation of the build that made (published, pending) or makes (build) the image. */
  gen?: string;
  /** The complete image (published) or the pending one (pending). */
  imageId?: string;
  /** The complete image's record as the probe read it (published). */
  record?: ImageRecordOutput;
  /** One line for the log: why this phase. */
  reason: string;
  /** Complete images this stack used before, newest first, at most `keep`. */
  previous: ProbeImage[];
}

const DAY_MS = 24 * 60 * 60 * 1000;

const newestFirst = (a: { createdAt: string }, b: { createdAt: string }) =>
  Date.parse(b.createdAt) - Date.parse(a.createdAt);

/** Age in whole days, for the log. */
function ageDays(image: ProbeImage, now: Date): number {
  return Math.floor((now.getTime() - Date.parse(image.createdAt)) / DAY_MS);
}

/**
 * Decides the phase from what exists in the cloud right now (engine rule E7: program-time reads
 * see the cloud at that moment, in preview and in the update). The Pulumi state is not consulted:
 * it may be stale (no refresh) or lost (a new stack), and the cloud is the truth.
 */
export function planBuild(p: PlanInputs): Plan {
  const prefix = familyPrefix(p.imageName, p.fingerprint);
  const ours = p.probe.images.filter(
    (i) => i.fingerprint === p.fingerprint && i.name.startsWith(prefix),
  );
  const complete = ours.filter((i) => i.state === "complete").sort(newestFirst);
  const fresh = complete.filter(
    (i) =>
      p.maxImageAgeDays <= 0 ||
      p.now.getTime() - Date.parse(i.createdAt) < p.maxImageAgeDays * DAY_MS,
  );
  const previous = (currentId?: string) =>
    p.probe.images
      .filter((i) => i.state === "complete" && i.id !== currentId)
      .filter((i) => i.users.includes(p.stackId) || i.kept.includes(p.stackId))
      .sort(newestFirst)
      .slice(0, Math.max(0, p.keep));

  if (fresh.length > 0) {
    const image = fresh[0];
    return {
      phase: "published",
      name: image.name,
      gen: image.gen,
      imageId: image.id,
      record: image.record,
      reason: `image ${image.name} (${image.id}) is up to date; no builder needed`,
      previous: previous(image.id),
    };
  }
  const stale =
    complete.length > 0
      ? `image ${complete[0].name} is ${ageDays(complete[0], p.now)} days old (maxImageAgeDays ${p.maxImageAgeDays}): building a fresh one`
      : undefined;

  const pending = ours
    .filter((i) => i.state === "pending" && i.buildStack === p.stackTag)
    .sort(newestFirst)[0];
  if (pending !== undefined) {
    return {
      phase: "pending",
      name: pending.name,
      gen: pending.gen,
      imageId: pending.id,
      reason: `image ${pending.name} (${pending.id}) was made by an earlier run but not published: testing and publishing it`,
      previous: previous(),
    };
  }

  const resumable = p.probe.builders
    .filter((b) => b.build.startsWith(prefix) && b.status !== "stopped")
    .sort((a, b) => (a.gen < b.gen ? 1 : -1))[0];
  if (resumable !== undefined) {
    return {
      phase: "build",
      name: resumable.build,
      gen: resumable.gen,
      reason: `resuming the build of ${resumable.build} on its ${resumable.status} builder ${resumable.id}`,
      previous: previous(),
    };
  }

  const taken = new Set(p.probe.images.map((i) => i.name));
  const name = newBuildName(p.imageName, p.fingerprint, p.now, taken);
  return {
    phase: "build",
    name,
    gen: newGeneration(p.now),
    reason: stale ?? `no image ${prefix}* yet: building ${name}`,
    previous: previous(),
  };
}
