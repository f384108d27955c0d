import { createHash } from "node:crypto";

/**
 * Who owns what. Every name the lifecycle gives to a cloud object, a file or a Pulumi resource is
 * made here, so a rule such as "a new build is new resources" (engine rule E1: a new name is a
 * new resource, the old one is deleted at the end of the run) holds on every platform.
 */

/** `<org>/<project>/<stack>`: the key of a stack's claims on an image. */
export function stackIdOf(org: string, project: string, stack: string): string {
  return `${org}/${project}/${stack}`;
}

/** 8 hex of the stack ID: short enough for tag keys and cloud names, stable for the stack. */
export function stackTagOf(stackId: string): string {
  return createHash("sha256").update(stackId).digest("hex").slice(0, 8);
}

/** `YYYYMMDD` (UTC): the build date that tells two builds of one fingerprint apart. */
export function buildStamp(now: Date): string {
  return now.toISOString().slice(0, 10).replace(/-/g, "");
}

/** `<imageName>-<first 12 hex of the fingerprint>-`: every build of this content starts so. */
export function familyPrefix(imageName: string, fingerprint: string): string {
  return `${imageName}-${fingerprint.slice(0, 12)}-`;
}

/**
 * The final image name of a new build: `<imageName>-<fp12>-<YYYYMMDD>`, with `-2`, `-3`, ...
 * when an image of this account already carries the name (EC2 AMI names are unique; a failed
 * image kept for debugging still holds its name).
 */
export function newBuildName(
  imageName: string,
  fingerprint: string,
  now: Date,
  taken: ReadonlySet<string>,
): string {
  const base = `${familyPrefix(imageName, fingerprint)}${buildStamp(now)}`;
  if (!taken.has(base)) return base;
  for (let n = 2; ; n++) {
    if (!taken.has(`${base}-${n}`)) return `${base}-${n}`;
  }
}

/** A builder generation: a new one for every builder launched, sortable by launch time. */
export function newGeneration(now: Date): string {
  return `g${now.getTime().toString(36)}`;
}

/**
 * Prefix of every builder-side cloud object (server, key pair, security group, floating IP,
 * test instance, work folder) of one stack on one platform. The teardown deletes by this prefix,
 * so it also finds what a failed or abandoned build of this stack left.
 */
export function builderPrefix(stackTag: string, platform: string): string {
  return `dse-${stackTag}-${platform}-`;
}

/** Cloud name of a builder-side object of generation `gen` of build `buildName`. */
export function builderObjectName(
  stackTag: string,
  platform: string,
  buildName: string,
  gen: string,
): string {
  return `${builderPrefix(stackTag, platform)}${buildName}-${gen}`;
}
