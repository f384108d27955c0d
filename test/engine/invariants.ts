/**
 * What must hold after every simulated run, on every platform (DESIGN.md's lifecycle contract,
 * points 2, 7 and 8). Test utility, never shipped.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { expect } from "vitest";
import { stackTagOf } from "../../components/lifecycle/names";
import { REPO } from "../support/front-door";
import type { Engine } from "./engine";
import type { Disk } from "./world/guest";
import { readDisk } from "./world/local";
import { PROJECT } from "./world/openstack";
import type { World } from "./world/world";

export const ORDER = ["prepare", "upload", "install", "verify", "inventory", "cleanup"] as const;

/**
 * An image under its final name was made from ONE builder on which prepare, upload, install,
 * verify, inventory and cleanup all ran, in that order, the provisioning steps for `fingerprint`.
 */
export function provenanceProblem(disk: Disk, fingerprint: string): string | undefined {
  const cleanups = disk.log.filter((p) => p.step === "cleanup");
  if (cleanups.length === 0)
    return `never provisioned (log: ${disk.log.map((p) => p.step).join(",") || "empty"})`;
  const builder = cleanups[cleanups.length - 1].builder;
  const steps = disk.log.filter((p) => p.builder === builder);
  let at = 0;
  for (const want of ORDER) {
    const i = steps.findIndex((p, j) => j >= at && p.step === want);
    if (i < 0)
      return `step ${want} did not run on builder ${builder} (its steps: ${steps.map((p) => p.step).join(",")})`;
    if (
      ["install", "verify", "inventory", "cleanup"].includes(want) &&
      steps[i].fingerprint !== fingerprint
    ) {
      return `${want} ran for fingerprint ${steps[i].fingerprint.slice(0, 12)}, not ${fingerprint.slice(0, 12)}`;
    }
    at = i + 1;
  }
  return undefined;
}

/**
 * What cleanup.sh left must still be on the disk when it was imaged: no host keys, an empty
 * machine-id, no build key, cloud-init clean. A builder that booted again after its cleanup (a
 * restart, CreateImage's reboot) has all four undone by cloud-init (rule S1).
 */
export function sealProblem(disk: Disk): string | undefined {
  const undone = (
    ["hostKeysRemoved", "machineIdEmptied", "buildKeyRemoved", "cloudInitCleaned"] as const
  ).filter((flag) => !disk[flag]);
  return undone.length > 0
    ? `imaged after its builder booted again: ${undone.join(", ")} undone`
    : undefined;
}

/** One complete (published) image anywhere in the world. */
export interface PublishedImage {
  platform: string;
  id: string;
  name: string;
  fingerprint: string;
  disk: Disk;
  kept: string[];
  users: string[];
  superseded: boolean;
  /** An AWS copy in another region: it lives and dies with its home-region AMI. */
  copy?: boolean;
  /** A copy's home-region AMI. */
  home?: string;
  /** When the cloud (or the store's record, locally) says the image was made. */
  createdAt: string;
  /** A local image's digest, as its record has it. */
  sha256?: string;
}

export function publishedImages(world: World, localDirs: string[] = []): PublishedImage[] {
  const out: PublishedImage[] = [];
  for (const i of world.openstack.images.values()) {
    // Another project's image is not ours, whatever its properties say (rule O4).
    if (i.properties.dse_state !== "complete" || i.owner !== PROJECT) continue;
    const claims = (kind: string) =>
      Object.entries(i.properties)
        .filter(([k]) => k.startsWith(`dse_${kind}_`))
        .map(([, v]) => v);
    out.push({
      platform: "openstack",
      id: i.id,
      name: i.name,
      fingerprint: i.properties.dse_fingerprint,
      disk: i.disk,
      users: claims("user"),
      kept: claims("kept"),
      superseded: i.hidden && i.properties.dse_superseded_by !== undefined,
      createdAt: i.createdAt,
    });
  }
  for (const a of world.aws.amis.values()) {
    if (a.tags["dse-image:state"] !== "complete") continue;
    const claims = (kind: string) =>
      Object.entries(a.tags)
        .filter(([k]) => k.startsWith(`dse-image:${kind}:`))
        .map(([, v]) => v);
    out.push({
      platform: "aws",
      id: a.id,
      name: a.name,
      fingerprint: a.tags["dse-image:fingerprint"],
      disk: a.disk,
      users: claims("user"),
      kept: claims("kept"),
      superseded: a.deprecationTime !== undefined,
      copy: a.tags["dse-image:source-ami"] !== undefined,
      home: a.tags["dse-image:source-ami"],
      createdAt: a.creationDate,
    });
  }
  for (const dir of localDirs) {
    for (const f of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
      if (!f.endsWith(".json")) continue;
      const rec = JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")) as Record<string, unknown>;
      if (rec.state !== "complete") continue;
      const file = path.join(dir, f.slice(0, -".json".length));
      const disk = file.endsWith(".ova") ? undefined : readDisk(file);
      out.push({
        platform: file.endsWith(".ova") ? "virtualbox" : "qemu",
        id: file,
        name: String(rec.name),
        fingerprint: String(rec.fingerprint),
        disk: disk ?? {
          log: [],
          files: {},
          hostKeysRemoved: true,
          machineIdEmptied: true,
          buildKeyRemoved: true,
          cloudInitCleaned: true,
        },
        users: Object.values((rec.users ?? {}) as Record<string, string>),
        kept: Object.values((rec.kept ?? {}) as Record<string, string>),
        superseded: rec.supersededBy !== undefined,
        createdAt: rec.createdAt as string,
        sha256: rec.sha256 as string | undefined,
      });
    }
  }
  return out;
}

/** The image IDs a stack's outputs name; a local image's path resolved in its project folder. */
export function exportedIds(engine: Engine): string[] {
  const ids = (engine.lastOutputs?.imageIds ?? {}) as Record<string, unknown>;
  return Object.values(ids)
    .flatMap((v) => (typeof v === "string" ? [v] : Object.values(v as Record<string, string>)))
    .map((id) => (/\.(qcow2|ova)$/.test(id) ? path.resolve(engine.projectDir, id) : id));
}

/** Builder-side objects of one stack still in the clouds or on the machine. */
export function leftovers(world: World, engine: Engine, localCache?: string): string[] {
  const ids = [engine.stackId, ...engine.formerStackIds];
  return [...new Set(ids.flatMap((id) => leftoversOf(world, stackTagOf(id), localCache)))];
}

function leftoversOf(world: World, tag: string, localCache?: string): string[] {
  const prefix = `dse-${tag}-`;
  const left: string[] = [];
  for (const s of world.openstack.servers.values())
    if (s.name.startsWith(prefix)) left.push(`openstack server ${s.name} (${s.status})`);
  for (const k of world.openstack.keypairs.keys())
    if (k.startsWith(prefix)) left.push(`openstack keypair ${k}`);
  for (const g of world.openstack.groups.values())
    if (g.name.startsWith(prefix)) left.push(`openstack security group ${g.name}`);
  for (const f of world.openstack.fips.values())
    if (f.description.startsWith(prefix)) left.push(`openstack floating ip ${f.address}`);
  for (const i of world.aws.instances.values()) {
    if (i.state !== "terminated" && i.tags["dse-image:stack"] === tag)
      left.push(`aws instance ${i.id} (${i.state})`);
  }
  for (const k of world.aws.keyPairs.keys())
    if (k.startsWith(prefix)) left.push(`aws key pair ${k}`);
  for (const g of world.aws.groups.values())
    if (g.name.startsWith(prefix)) left.push(`aws security group ${g.name}`);
  if (localCache) {
    const builds = path.join(localCache, "builds", tag);
    for (const d of fs.existsSync(builds) ? fs.readdirSync(builds) : [])
      left.push(`local builder folder ${d}`);
  }
  for (const vm of world.local.vms.values())
    if (vm.guest.running) left.push(`qemu process on port ${vm.port}`);
  return left;
}

/**
 * Work in the output folders: OVA export folders (`.pending/.ova-*`, the converted disk), partial
 * conversions (`*.tmp` in `.pending` or a stack's pending folder, a qcow2 being written), record
 * locks (`*.json.lock`, components/store/record-lock.ts) and empty stack pending folders
 * (`.pending/<stack tag>`, removed with their last image). Runs here are one at a time, so after a
 * successful run none is in use, and one left is work that died and that nothing since removed.
 */
function pendingWork(localDirs: string[]): string[] {
  const list = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir) : []);
  return localDirs.flatMap((dir) => {
    const pending = path.join(dir, ".pending");
    const stacks = list(pending)
      .filter((f) => !f.startsWith(".") && fs.statSync(path.join(pending, f)).isDirectory())
      .map((f) => path.join(pending, f));
    return [
      ...list(pending)
        .filter((f) => f.startsWith(".ova-"))
        .map((f) => `OVA export work ${path.join(pending, f)}`),
      ...stacks.filter((d) => list(d).length === 0).map((d) => `empty pending folder ${d}`),
      ...[dir, pending, ...stacks].flatMap((d) =>
        list(d).flatMap((f) =>
          f.endsWith(".json.lock")
            ? [`record lock ${path.join(d, f)}`]
            : d !== dir && f.endsWith(".tmp")
              ? [`partial conversion ${path.join(d, f)}`]
              : [],
        ),
      ),
    ];
  });
}

export interface InvariantOptions {
  /** Stacks whose outputs must name existing, complete images. */
  stacks: Engine[];
  /** The stack whose last run succeeded: it must have left nothing running. */
  succeeded?: Engine;
  localDirs?: string[];
  localCache?: string;
  /** Published images that may exist without being exported (retainImages). */
  retained?: boolean;
}

/** Checks every invariant; fails the test naming what broke. */
export function checkInvariants(world: World, o: InvariantOptions): void {
  const published = publishedImages(world, o.localDirs);
  for (const img of published) {
    if (img.platform === "virtualbox") continue;
    const problem = provenanceProblem(img.disk, img.fingerprint) ?? sealProblem(img.disk);
    expect(problem, `published ${img.platform} image ${img.name} (${img.id})`).toBeUndefined();
  }
  const live = new Set(published.map((p) => p.id));
  for (const engine of o.stacks) {
    for (const id of exportedIds(engine)) {
      expect(
        live.has(id),
        `stack ${engine.stack} exports ${id}, which is not a published image`,
      ).toBe(true);
    }
  }
  // Contract point 8: no image a stack still exports was deleted by anyone.
  const deleted = new Set([...world.openstack.deletedImages, ...world.aws.deletedImages]);
  for (const engine of o.stacks) {
    for (const id of exportedIds(engine))
      expect(deleted.has(id), `${id} exported by ${engine.stack} was deleted`).toBe(false);
  }
  // What a stack exports about an image is that image's: not a previous image's under the same ID.
  for (const engine of o.stacks) {
    const records = (engine.lastOutputs?.images ?? {}) as Record<
      string,
      { id: string; createdAt?: string; sha256?: string }
    >;
    for (const [platform, rec] of Object.entries(records)) {
      const id = /\.(qcow2|ova)$/.test(rec.id) ? path.resolve(engine.projectDir, rec.id) : rec.id;
      const img = published.find((p) => p.id === id);
      if (!img) continue; // named above as not published
      const what = `stack ${engine.stack} exports ${platform} image ${id} with`;
      expect(rec.createdAt, `${what} another image's createdAt`).toBe(img.createdAt);
      if (img.sha256 !== undefined)
        expect(rec.sha256, `${what} another image's sha256`).toBe(img.sha256);
    }
  }
  // A claim names a stack that exists under that name: a claim of a renamed or moved stack's old
  // name is dropped by no one (no program runs under it again) and keeps the image forever.
  const names = new Set(o.stacks.map((e) => e.stackId));
  for (const img of published) {
    for (const who of [...img.users, ...img.kept])
      expect(
        names.has(who),
        `${img.platform} image ${img.name} (${img.id}) is claimed by ${who}, which is no stack: an orphan claim`,
      ).toBe(true);
  }
  // An AWS copy lives and dies with its home-region AMI: a copy whose home is gone is a leak.
  for (const img of published) {
    if (img.copy)
      expect(
        live.has(img.home!),
        `AWS copy ${img.name} (${img.id}) outlived its home AMI ${img.home}: a leak`,
      ).toBe(true);
  }
  if (!o.retained) {
    const exported = new Set(o.stacks.flatMap(exportedIds));
    for (const img of published) {
      if (img.copy) continue;
      const keptSomewhere = img.kept.length > 0;
      expect(
        exported.has(img.id) || keptSomewhere || img.users.length > 0,
        `published image ${img.name} (${img.id}) is neither exported, kept nor used: a leak`,
      ).toBe(true);
    }
  }
  if (o.succeeded) {
    expect(
      [...leftovers(world, o.succeeded, o.localCache), ...pendingWork(o.localDirs ?? [])],
      `left behind by ${o.succeeded.stack}`,
    ).toEqual([]);
    checkClaims(published, o.succeeded);
  }
  for (const engine of o.stacks) checkStatePaths(engine);
}

/**
 * Rule P3: the state names no folder of the machine that ran the program: not its checkout (a
 * later `up` or `destroy` runs the stored commands from another clone), not the user's home
 * (the default cache). Paths the stack config names itself are the user's and may appear. A
 * command's stderr is its progress log, shown to the operator and never read back.
 */
export function checkStatePaths(engine: Engine): void {
  const local = [engine.projectDir, REPO, os.homedir()];
  const stored = [...engine.state.values()].map((e) => {
    const { stderr: _log, ...outputs } = e.outputs;
    return { urn: e.urn, text: JSON.stringify([e.inputs, outputs]) };
  });
  stored.push({ urn: "the stack outputs", text: JSON.stringify(engine.lastOutputs ?? {}) });
  for (const { urn, text } of stored) {
    for (const dir of local)
      expect(text.includes(dir), `${urn} stores the path ${dir}`).toBe(false);
  }
}

/**
 * After a successful run a stack claims exactly the images it exports (contract point 8): a claim
 * it no longer exports is a leak that keeps the image forever, and an exported image it does not
 * claim can be deleted under it by another stack.
 */
function checkClaims(published: PublishedImage[], engine: Engine): void {
  const exported = new Set(exportedIds(engine));
  for (const img of published) {
    if (img.copy) continue;
    const claims = img.users.includes(engine.stackId);
    if (claims)
      expect(
        exported.has(img.id),
        `${engine.stack} still claims ${img.platform} image ${img.name} (${img.id}), which it does not export: a leaked claim`,
      ).toBe(true);
    if (exported.has(img.id))
      expect(
        claims,
        `${engine.stack} exports ${img.platform} image ${img.name} (${img.id}) without a claim on it`,
      ).toBe(true);
  }
}
