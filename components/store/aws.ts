import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type * as Ec2 from "@aws-sdk/client-ec2";
import type { CopyImageCommandInput, EC2Client, Image, Tag } from "@aws-sdk/client-ec2";
import type { ProbeBuilder } from "../lifecycle/plan";
import { type AwsCredentialSettings, awsCredentials } from "./aws-credentials";
import {
  type Wants,
  commonWants,
  decodeWants,
  droppedWants,
  encodeWants,
  noWants,
  unwantedBy,
  wantsOf,
} from "./aws-wants";
import {
  type ClaimKind,
  type ImageMeta,
  type StoredImage,
  claimStack,
  otherClaims,
  othersAsking,
} from "./image";
import { type KeySpelling, readRecord, recordEntries } from "./image-keys";
import { envSeconds } from "../host-env";
import {
  type ImageStore,
  StoreError,
  type StoreLog,
  UnusableImage,
  imageGone,
} from "./image-store";

/**
 * The image store of AWS: this account's AMIs and their tags, through `@aws-sdk/client-ec2`
 * with the credentials the `aws` provider is given (aws-credentials.ts), so no `aws` CLI.
 *
 * Tags (as the earlier Python store wrote them, on the home-region AMI): dse-image:<field> per
 * ImageMeta field (kebab-case), dse-image:manifest-<n> (the manifest JSON in 256-character
 * pieces: EC2 caps a tag value at 256), dse-image:copy:<region> (the copy's AMI ID: one tag per
 * region, as EC2 writes tags key by key, so two stacks copying to two regions at once both keep
 * theirs; earlier versions listed them all in dse-image:copies, "region=ami-...,...", which is
 * still read), the claims dse-image:user:<stack tag> / dse-image:kept:<stack tag> (value: the
 * stack ID) and dse-image:held:<stack tag> (the claim is an ImageClaim's; its value, the copies
 * and shares the claim asks for, aws-wants.ts, or `true` from versions before). Copies in other
 * regions carry the same tags plus dse-image:source-ami (from their create call on, so every copy
 * is found by it) and live and die with the home AMI. Only AMIs of this account count
 * (`Owners: ["self"]`). Builders are instances tagged dse-image:stack=<stack tag>,
 * dse-image:role=builder.
 */
export interface AwsStoreConfig extends AwsCredentialSettings {
  /** The home region: where builds run and the AMI is made. */
  region: string;
  copyToRegions?: string[];
  shareWithAccounts?: string[];
  /** Copies are encrypted (default true), with this KMS key when set. */
  encrypted?: boolean;
  kmsKeyId?: string;
  /** The user's `aws.tags`, in every create call (a tag-enforcing policy checks it). */
  tags?: Record<string, string>;
}

let sdk: typeof Ec2 | undefined;

/**
 * `@aws-sdk/client-ec2`, loaded on first use (about a second): a process that never talks to EC2
 * (the dynamic provider plugin of a local or OpenStack stack) never loads it. The package has no
 * `exports` map, so `import` and `require` give the same CommonJS module everywhere.
 */
export function ec2Sdk(): typeof Ec2 {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  sdk ??= require("@aws-sdk/client-ec2") as typeof Ec2;
  return sdk;
}

/** The EC2 client of a region. */
export type Ec2For = (region: string) => EC2Client;

/**
 * The store's waits: POLL_SECONDS between AMI reads (default 15), AMI_WAIT_MINUTES in all
 * (default 90), and EC2_SETTLE_SECONDS (default 5) from a claim's last write to its read-back
 * (settleClaim).
 */
export interface AmiWait {
  pollSeconds: number;
  minutes: number;
  settleSeconds: number;
}

export function amiWait(env: NodeJS.ProcessEnv = process.env): AmiWait {
  const poll = Number(env.POLL_SECONDS);
  const minutes = Number(env.AMI_WAIT_MINUTES);
  return {
    pollSeconds: Number.isFinite(poll) && poll > 0 ? poll : 15,
    minutes: Number.isFinite(minutes) && minutes > 0 ? minutes : 90,
    settleSeconds: envSeconds(env.EC2_SETTLE_SECONDS, 5),
  };
}

export const PREFIX = "dse-image:";
/** EC2 caps a tag value at 256 characters. */
export const MANIFEST_PIECE = 256;

const META_TAG: Record<keyof ImageMeta, string> = {
  fingerprint: `${PREFIX}fingerprint`,
  state: `${PREFIX}state`,
  gen: `${PREFIX}gen`,
  buildStack: `${PREFIX}build-stack`,
  imageName: `${PREFIX}image-name`,
  finalName: `${PREFIX}final-name`,
  bootTest: `${PREFIX}boot-test`,
  sbomSha256: `${PREFIX}sbom-sha256`,
  sourceImage: `${PREFIX}source-image`,
  supersededBy: `${PREFIX}superseded-by`,
};
/** EC2's spelling of an image's record, in tags. */
const TAGS: KeySpelling = {
  meta: META_TAG,
  claim: { users: `${PREFIX}user:`, kept: `${PREFIX}kept:` },
  held: `${PREFIX}held:`,
  manifestPiece: (n) => `${PREFIX}manifest-${n}`,
  pieceSize: MANIFEST_PIECE,
};
/** One per region: the copy's AMI ID. */
const COPY_TAG = `${PREFIX}copy:`;
/** Every copy in one tag, as versions before the per-region tags wrote it. */
const LEGACY_COPIES_TAG = `${PREFIX}copies`;

const errorName = (e: unknown) => (e as { name?: string }).name ?? "";
const isGone = (e: unknown) => /^InvalidAMIID/.test(errorName(e));

/** An SDK failure as the operator's one line: the call, the region and EC2's own message. */
const failure = (what: string, region: string, e: unknown) =>
  `aws ec2 ${what} in ${region}: ${errorName(e) ? `${errorName(e)}: ` : ""}${(e as Error).message}`;

export async function ec2Call<T>(what: string, region: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    if (e instanceof StoreError) throw e;
    throw new StoreError(failure(what, region, e));
  }
}

/** `region=ami-...,...` of the copies tag. */
export const parseCopies = (text: string): Record<string, string> =>
  Object.fromEntries(
    text
      .split(",")
      .filter((p) => p.includes("="))
      .map((p) => [p.slice(0, p.indexOf("=")), p.slice(p.indexOf("=") + 1)]),
  );

/** The copies an AMI's tags record: the legacy list, then the per-region tags over it. */
function copiesOf(tags: Record<string, string>): Record<string, string> {
  const copies = parseCopies(tags[LEGACY_COPIES_TAG] ?? "");
  for (const [key, id] of Object.entries(tags))
    if (key.startsWith(COPY_TAG)) copies[key.slice(COPY_TAG.length)] = id;
  return copies;
}

/** EC2 takes a client token of up to 64 ASCII characters. */
const TOKEN_DIGITS = 64 - "dse-image-".length;

/**
 * CopyImage's client token: one per AMI, region and copy settings, so every stack copying this
 * AMI to this region with the same settings asks EC2 for the same copy. EC2 makes a request with a
 * client token at most once and answers a repeat with the same token and parameters with the
 * first one's result ("Ensuring idempotency in Amazon EC2 API requests", EC2 developer guide;
 * CopyImage takes ClientToken): two stacks copying at the same moment, each from a read made
 * before the other's copy was recorded, get one copy, and a run whose copy was made but not
 * recorded (its answer lost, the process stopped) gets that copy again instead of a second one.
 * `replacing`, the recorded copy found gone, changes the token: the old one would be answered with
 * the gone copy. Settings that differ give another token (the same one would be refused with
 * IdempotentParameterMismatch), so another copy, which delete() still finds by its source-ami tag.
 */
export function copyToken(
  input: Omit<CopyImageCommandInput, "ClientToken">,
  replacing = "",
): string {
  const digest = createHash("sha256")
    .update(JSON.stringify([input, replacing]))
    .digest("hex");
  return `dse-image-${digest.slice(0, TOKEN_DIGITS)}`;
}

/** The tags of an image's metadata and manifest, as a create or CreateTags call takes them. */
export function metaTags(meta: ImageMeta, manifest?: Record<string, unknown>): Tag[] {
  return recordEntries(TAGS, meta, manifest).map(([Key, Value]) => ({ Key, Value }));
}

const toTags = (tags: Record<string, string>): Tag[] =>
  Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));

export class AwsImageStore implements ImageStore {
  readonly platform = "aws";
  private readonly clients = new Map<string, EC2Client>();
  /** DescribeImageAttribute was refused once: the Read checks copies only (`launchers`). */
  private launchersUnreadable = false;

  constructor(
    private readonly config: AwsStoreConfig,
    private readonly log: StoreLog = () => undefined,
    private readonly ec2For: Ec2For = (region) =>
      new (ec2Sdk().EC2Client)({ region, credentials: awsCredentials(config, config.region) }),
    private readonly wait: AmiWait = amiWait(),
  ) {}

  private ec2(region = this.config.region): EC2Client {
    let client = this.clients.get(region);
    if (client === undefined) {
      client = this.ec2For(region);
      this.clients.set(region, client);
    }
    return client;
  }

  /** The home region's client, for the snapshot (components/aws/snapshot.ts). */
  client(): EC2Client {
    return this.ec2();
  }

  /** A call in the home region, its failure as the operator's one line. */
  run<T>(what: string, run: () => Promise<T>): Promise<T> {
    return this.call(what, this.config.region, run);
  }

  /** How long AMIs and instances are waited for. */
  waitSettings(): AmiWait {
    return this.wait;
  }

  private call<T>(what: string, region: string, run: () => Promise<T>): Promise<T> {
    return ec2Call(what, region, run);
  }

  // --- reading ------------------------------------------------------------------------------
  private imageOf(data: Image): StoredImage | undefined {
    if (data.State === "deregistered" || !data.ImageId) return undefined;
    const tags = Object.fromEntries((data.Tags ?? []).map((t) => [t.Key ?? "", t.Value ?? ""]));
    const record = readRecord(TAGS, tags);
    // A failed AMI keeps its name (so the next CreateImage under it fails) until deregistered.
    // Broken images are never resumed, adopted or exported; discard deletes them.
    if (
      ["failed", "invalid", "error"].includes(data.State ?? "") ||
      (record.meta.state === "complete" && data.State !== "available")
    )
      record.meta.state = "broken";
    const copies = copiesOf(tags);
    return {
      id: data.ImageId,
      name: data.Name ?? "",
      createdAt: data.CreationDate ?? "",
      ...record,
      holds: Object.fromEntries(record.held.map((t) => [t, tags[`${TAGS.held}${t}`]])),
      extra: {
        available: data.State === "available",
        copies,
        regions: this.regionsOf(data.ImageId, copies),
        snapshots: (data.BlockDeviceMappings ?? [])
          .map((m) => m.Ebs?.SnapshotId)
          .filter((s): s is string => !!s),
      },
    };
  }

  /**
   * The AMI and its copies in the regions this stack asks for: the copies other stacks asked for
   * are theirs to export, and go when none of them asks for them any more (withdraw).
   */
  private regionsOf(id: string, copies: Record<string, string>): Record<string, string> {
    const mine = (this.config.copyToRegions ?? []).filter((r) => copies[r] !== undefined);
    return { [this.config.region]: id, ...Object.fromEntries(mine.map((r) => [r, copies[r]])) };
  }

  private async describe(region: string, input: Ec2.DescribeImagesCommandInput): Promise<Image[]> {
    const out = await this.call("describe-images", region, () =>
      this.ec2(region).send(new (ec2Sdk().DescribeImagesCommand)({ Owners: ["self"], ...input })),
    );
    return out.Images ?? [];
  }

  async get(id: string, region = this.config.region): Promise<StoredImage | undefined> {
    try {
      const out = await this.ec2(region).send(
        new (ec2Sdk().DescribeImagesCommand)({ Owners: ["self"], ImageIds: [id] }),
      );
      const data = out.Images?.[0];
      return data === undefined ? undefined : this.imageOf(data);
    } catch (e) {
      if (isGone(e)) return undefined;
      throw new StoreError(`aws ec2 describe-images ${id} in ${region}: ${(e as Error).message}`);
    }
  }

  /** Our AMIs in the home region that match the filter. */
  private async homeImages(filter: Ec2.Filter): Promise<StoredImage[]> {
    const images = await this.describe(this.config.region, { Filters: [filter] });
    return images.map((i) => this.imageOf(i)).filter((i): i is StoredImage => i !== undefined);
  }

  listFamily(imageName: string): Promise<StoredImage[]> {
    return this.homeImages({ Name: `tag:${META_TAG.imageName}`, Values: [imageName] });
  }

  /** Our AMIs of this name in the home region (an AMI name is unique per region). */
  named(name: string): Promise<StoredImage[]> {
    return this.homeImages({ Name: "name", Values: [name] });
  }

  async listBuilders(stackTag: string): Promise<ProbeBuilder[]> {
    const region = this.config.region;
    const builders: ProbeBuilder[] = [];
    await this.call("describe-instances", region, async () => {
      const pages = ec2Sdk().paginateDescribeInstances(
        { client: this.ec2(region) },
        {
          Filters: [
            { Name: `tag:${PREFIX}stack`, Values: [stackTag] },
            { Name: `tag:${PREFIX}role`, Values: ["builder"] },
            { Name: "instance-state-name", Values: ["pending", "running", "stopping", "stopped"] },
          ],
        },
      );
      for await (const page of pages) {
        for (const inst of (page.Reservations ?? []).flatMap((r) => r.Instances ?? [])) {
          const tags = Object.fromEntries(
            (inst.Tags ?? []).map((t) => [t.Key ?? "", t.Value ?? ""]),
          );
          const state = inst.State?.Name ?? "";
          const status =
            state === "pending" || state === "running"
              ? "running"
              : state === "stopped" && tags[`${PREFIX}sealed`] === "true"
                ? "sealed"
                : "stopped";
          builders.push({
            id: inst.InstanceId ?? "",
            build: tags[`${PREFIX}build`] ?? "",
            gen: tags[`${PREFIX}gen`] ?? "",
            status,
          });
        }
      }
    });
    return builders;
  }

  // --- writing ------------------------------------------------------------------------------
  /** Tags an AMI; one deregistered since it was read is gone, said as such. */
  private tag(id: string, tags: Tag[], region = this.config.region): Promise<unknown> {
    return this.call("create-tags", region, () =>
      this.ec2(region)
        .send(new (ec2Sdk().CreateTagsCommand)({ Resources: [id], Tags: tags }))
        .catch((e: unknown) => {
          throw isGone(e) ? imageGone(id) : e;
        }),
    );
  }

  /**
   * Deletes tags by key; a tag given with a value goes only while it has that value (EC2
   * DeleteTags).
   */
  private untag(id: string, keys: (string | Tag)[], region = this.config.region): Promise<unknown> {
    const tags = keys.map((k) => (typeof k === "string" ? { Key: k } : k));
    return this.call("delete-tags", region, () =>
      this.ec2(region).send(new (ec2Sdk().DeleteTagsCommand)({ Resources: [id], Tags: tags })),
    );
  }

  /** [region, id] of the home AMI and every copy. */
  private everywhere(image: StoredImage): [string, string][] {
    const copies = (image.extra.copies ?? {}) as Record<string, string>;
    return [
      [this.config.region, image.id],
      ...Object.keys(copies)
        .sort()
        .map((r): [string, string] => [r, copies[r]]),
    ];
  }

  /** The tags of the pending AMI's create call: the user's, then this build's. */
  creationTags(meta: ImageMeta, manifest?: Record<string, unknown>): Tag[] {
    return [...toTags(this.config.tags ?? {}), ...metaTags(meta, manifest)];
  }

  async setMeta(id: string, meta: ImageMeta, manifest?: Record<string, unknown>): Promise<void> {
    const tags = metaTags(meta, manifest);
    if (tags.length > 0) await this.tag(id, tags);
  }

  async setClaim(image: StoredImage, kind: ClaimKind, tag: string, stackId: string): Promise<void> {
    for (const [region, id] of this.everywhere(image))
      await this.tag(id, [{ Key: `${TAGS.claim[kind]}${tag}`, Value: stackId }], region);
  }

  async dropClaim(image: StoredImage, kind: ClaimKind, tag: string): Promise<void> {
    if (!(tag in image[kind])) return;
    for (const [region, id] of this.everywhere(image))
      await this.untag(id, [`${TAGS.claim[kind]}${tag}`], region);
  }

  /** Held, the tag's value records the copies and shares this stack's claim asks for. */
  async setHeld(image: StoredImage, tag: string, held: boolean): Promise<void> {
    if (!held) {
      if (image.held.includes(tag)) await this.untag(image.id, [`${TAGS.held}${tag}`]);
      return;
    }
    const wants = encodeWants(wantsOf(this.config));
    if (wants === undefined)
      this.log(
        `copyToRegions and shareWithAccounts do not fit in one tag (EC2 takes 256 characters): other stacks never take back a copy or share of ${image.id} while this stack claims it`,
      );
    const value = wants ?? "true";
    if (image.held.includes(tag) && image.holds?.[tag] === value) return;
    await this.tag(image.id, [{ Key: `${TAGS.held}${tag}`, Value: value }]);
  }

  async supersede(image: StoredImage, byName: string): Promise<void> {
    // EC2 rounds to the minute and refuses a time in the past.
    const at = new Date(Date.now() + 2 * 60_000);
    at.setUTCSeconds(0, 0);
    for (const [region, id] of this.everywhere(image)) {
      await this.tag(id, [{ Key: META_TAG.supersededBy, Value: byName }], region);
      await this.call("enable-image-deprecation", region, () =>
        this.ec2(region).send(
          new (ec2Sdk().EnableImageDeprecationCommand)({ ImageId: id, DeprecateAt: at }),
        ),
      );
    }
  }

  /**
   * A release cannot check an AMI's claims and deregister it in one call: one that read this AMI
   * unclaimed just before this claim was written deregisters it just after. Its deregister
   * follows its check by a few calls (the copies first), so EC2_SETTLE_SECONDS after the claim's
   * last write it has landed, and the claim's read-back (claims.ts) tells: gone, the claim fails
   * saying so (the next `up` builds again) instead of exporting a deregistered AMI.
   */
  async settleClaim(): Promise<void> {
    await sleep(this.wait.settleSeconds * 1000);
  }

  /** AMI names are final at creation: publishing is the state tag. */
  async publish(image: StoredImage): Promise<string> {
    await this.tag(image.id, [{ Key: META_TAG.state, Value: "complete" }]);
    return image.id;
  }

  /**
   * Copies first, found by their source-ami tag as well as by the home AMI's record: a copy a
   * stack made with other settings, or whose record another stack's wrote over, goes with the AMI
   * too. The home AMI last, so a failed run leaves it recording the copies still to delete.
   */
  async delete(image: StoredImage): Promise<boolean> {
    for (const [region, copy] of await this.allCopies(image)) await this.deregister(copy, region);
    await this.deregister(image, this.config.region);
    return true;
  }

  /** Every copy of the AMI in the regions its record or this stack's settings name. */
  private async allCopies(image: StoredImage): Promise<[string, StoredImage][]> {
    const recorded = (image.extra.copies ?? {}) as Record<string, string>;
    const regions = [...new Set([...Object.keys(recorded), ...(this.config.copyToRegions ?? [])])];
    const found: [string, StoredImage][] = [];
    for (const region of regions.sort()) {
      const tagged = await this.describe(region, {
        Filters: [{ Name: `tag:${PREFIX}source-ami`, Values: [image.id] }],
      });
      const copies = tagged.map((i) => this.imageOf(i)).filter((i) => i !== undefined);
      const id = recorded[region];
      // A copy from before copies were tagged in their create call may carry no source-ami yet.
      if (id !== undefined && !copies.some((c) => c.id === id)) {
        const copy = await this.get(id, region);
        if (copy !== undefined) copies.push(copy);
      }
      for (const copy of copies) found.push([region, copy]);
    }
    return found;
  }

  /** Deregisters one AMI (already gone is done) and deletes its snapshots. */
  private async deregister(image: StoredImage, region: string): Promise<void> {
    const id = image.id;
    try {
      await this.ec2(region).send(new (ec2Sdk().DeregisterImageCommand)({ ImageId: id }));
    } catch (e) {
      if (!isGone(e))
        throw new StoreError(
          `aws ec2 deregister-image ${id} in ${region}: ${(e as Error).message}`,
        );
    }
    for (const snapshot of (image.extra.snapshots ?? []) as string[]) {
      // A snapshot another AMI still uses, or already gone: not ours to fail on.
      await this.ec2(region)
        .send(new (ec2Sdk().DeleteSnapshotCommand)({ SnapshotId: snapshot }))
        .catch(() => undefined);
    }
  }

  /**
   * The home AMI is gone (deregistered outside Pulumi): its copies, found by their source-ami
   * tag, lose this stack's claim and go unless another stack still claims them.
   */
  async forget(id: string, stackTag: string): Promise<void> {
    for (const region of this.config.copyToRegions ?? []) {
      const found = await this.describe(region, {
        Filters: [{ Name: `tag:${PREFIX}source-ami`, Values: [id] }],
      });
      for (const copy of found.map((i) => this.imageOf(i))) {
        if (copy === undefined) continue;
        if (otherClaims(copy, stackTag).length > 0) {
          await this.untag(
            copy.id,
            [`${TAGS.claim.users}${stackTag}`, `${TAGS.claim.kept}${stackTag}`],
            region,
          );
          this.log(`keeping copy ${copy.id} in ${region}: still claimed by others`);
          continue;
        }
        this.log(`deleting copy ${copy.id} in ${region} of the gone AMI ${id}`);
        await this.deregister(copy, region);
      }
    }
  }

  /**
   * Until EC2 made the AMI available: the SDK's waiter with AMI_WAIT_MINUTES in all (longer than
   * the CLI's ten minutes), stopping at once on a failed AMI with EC2's reason.
   */
  async waitAvailable(id: string, region = this.config.region): Promise<void> {
    const { pollSeconds, minutes } = this.wait;
    try {
      await ec2Sdk().waitUntilImageAvailable(
        {
          client: this.ec2(region),
          maxWaitTime: minutes * 60,
          minDelay: pollSeconds,
          maxDelay: pollSeconds,
        },
        { Owners: ["self"], ImageIds: [id] },
      );
    } catch (e) {
      const [data] = await this.describe(region, { ImageIds: [id] }).catch(() => []);
      const state = data?.State ?? "gone";
      if (state === "pending")
        throw new StoreError(
          `AMI ${id} in ${region} is still pending after ${minutes} minutes (AMI_WAIT_MINUTES)`,
        );
      const reason = data?.StateReason?.Message;
      if (state === "available") throw e;
      const message = `AMI ${id} in ${region} is ${state}${reason ? `: ${reason}` : ""}`;
      // Only a state EC2 reported condemns the AMI: a read that failed ("gone") proves nothing.
      if (data !== undefined) throw new UnusableImage(message);
      throw new StoreError(message);
    }
  }

  /**
   * Copies in every copyToRegions region and launch permissions: the claim's job, so an adopted
   * AMI gets the copies and shares this stack asks for too. A copy is exported only available
   * and tagged: one an earlier attempt started is waited for and tagged now.
   */
  async ensureReplicas(image: StoredImage): Promise<Record<string, unknown>> {
    const home = this.config.region;
    const copies = { ...((image.extra.copies ?? {}) as Record<string, string>) };
    for (const region of this.config.copyToRegions ?? []) {
      let copy = await this.recordedCopy(copies, region);
      if (copy?.meta.state === "broken") {
        // A copy EC2 failed boots nothing: it goes, and the AMI is copied again.
        this.log(`copy ${copy.id} in ${region} is broken: deleting it and copying again`);
        await this.deregister(copy, region);
        copy = undefined;
      }
      if (copy === undefined) {
        copies[region] = await this.copy(image, region, copies[region]);
        this.log(`copying ${image.name} to ${region}: ${copies[region]}`);
        // Recorded at once: a copy that fails later is still found and deleted with it.
        await this.tag(image.id, [{ Key: `${COPY_TAG}${region}`, Value: copies[region] }]);
      } else if (copy.meta.state === "complete" && copy.extra.available === true) {
        continue;
      }
      await this.waitAvailable(copies[region], region);
      await this.tag(copies[region], this.copyTags(image), region);
    }
    const accounts = this.config.shareWithAccounts ?? [];
    if (accounts.length > 0) {
      for (const [region, id] of [[home, image.id], ...Object.entries(copies).sort()]) {
        await this.call("modify-image-attribute", region, () =>
          this.ec2(region).send(
            new (ec2Sdk().ModifyImageAttributeCommand)({
              ImageId: id,
              LaunchPermission: { Add: accounts.map((UserId) => ({ UserId })) },
            }),
          ),
        );
      }
    }
    return { regions: this.regionsOf(image.id, copies) };
  }

  /**
   * Starts a copy of the AMI in `region`; returns its ID. Should EC2 refuse the name as taken
   * (AMI names are unique per region), the copy under it that another stack made of this AMI with
   * other settings is this stack's copy too.
   */
  private async copy(image: StoredImage, region: string, replacing?: string): Promise<string> {
    const input = this.copyInput(image, replacing);
    try {
      const out = await this.ec2(region).send(new (ec2Sdk().CopyImageCommand)(input));
      return out.ImageId ?? "";
    } catch (e) {
      const failed = failure("copy-image", region, e);
      if (errorName(e) !== "InvalidAMIName.Duplicate") throw new StoreError(failed);
      const [taken] = (
        await this.describe(region, {
          Filters: [
            { Name: "name", Values: [image.name] },
            { Name: `tag:${PREFIX}source-ami`, Values: [image.id] },
          ],
        })
      )
        .map((i) => this.imageOf(i))
        .filter((i) => i !== undefined);
      if (taken === undefined)
        throw new StoreError(
          `${failed}; that AMI is not a copy of ${image.id}: deregister it or give it another name`,
        );
      this.log(`${region} has a copy of ${image.name} already: ${taken.id}`);
      return taken.id;
    }
  }

  /** CopyImage's input, its client token included; `replacing`: the recorded copy, gone. */
  private copyInput(image: StoredImage, replacing?: string): CopyImageCommandInput {
    const home = this.config.region;
    const encrypted = this.config.encrypted ?? true;
    const input = {
      SourceRegion: home,
      SourceImageId: image.id,
      Name: image.name,
      Description: `dse-image ${image.name}, copied from ${home}`,
      ...(encrypted
        ? { Encrypted: true, ...(this.config.kmsKeyId ? { KmsKeyId: this.config.kmsKeyId } : {}) }
        : {}),
      // On the copy, in the create call: the user's tags (a tag-enforcing policy checks them) and
      // where it came from (delete() finds it by that whatever happens next). The dse tags
      // follow once it is available.
      TagSpecifications: [
        {
          ResourceType: "image" as const,
          // In key order: the client token is the same whatever order a stack lists them in.
          Tags: [
            ...toTags(this.config.tags ?? {}).sort((a, b) => (a.Key! < b.Key! ? -1 : 1)),
            { Key: `${PREFIX}source-ami`, Value: image.id },
          ],
        },
      ],
    };
    return { ...input, ClientToken: copyToken(input, replacing) };
  }

  /**
   * Takes back the copies and shares this stack's claim asked for and asks for no more: on an
   * update, what the `previous` settings named and these do not; on a release (no `previous`),
   * what these name. Only what no other claim on the AMI asks for (the value of its held tag): a
   * claim that records nothing (one of an earlier version, or a kept image's) may use anything, so
   * everything stays, and the operator is told. `image` is read after this stack's own claim was
   * written; a claim waits EC2_SETTLE_SECONDS (settleClaim) after writing its own before it copies
   * or shares, so a stack asking for the same copy at the same moment has either recorded it
   * before this read, or makes its copy again after this withdraw deleted it.
   */
  async withdraw(
    image: StoredImage,
    tag: string,
    previous?: Partial<AwsStoreConfig>,
  ): Promise<void> {
    const mine = wantsOf(this.config);
    const dropped = previous === undefined ? mine : droppedWants(wantsOf(previous), mine);
    if (noWants(dropped)) return;
    const { asked, silent } = othersAsking(image, tag, decodeWants);
    if (silent.length > 0) {
      this.log(
        `${describeWants(dropped)} of ${image.id} stay: the claims of ${silent.join(", ")} do not record which copies and shares they use (made by an earlier version, or kept by retention); they go with the AMI`,
      );
      return;
    }
    const gone = unwantedBy(
      dropped,
      asked.map(([, w]) => w),
    );
    const stays = droppedWants(dropped, gone);
    if (!noWants(stays)) {
      const by = asked
        .filter(([, w]) => !noWants(commonWants(stays, w)))
        .map(([t]) => claimStack(image, t));
      this.log(
        `${describeWants(stays)} of ${image.id} stay: the claims of ${by.join(", ")} ask for them`,
      );
    }
    const copies = (image.extra.copies ?? {}) as Record<string, string>;
    for (const region of gone.regions) {
      const id = copies[region];
      if (id === undefined) continue;
      this.log(`no stack asks for a copy in ${region} any more: deleting ${id} there`);
      const copy = await this.get(id, region);
      if (copy !== undefined) await this.deregister(copy, region);
      // Only while it names this copy: a stack that copied again meanwhile recorded its new
      // copy there.
      await this.untag(image.id, [{ Key: `${COPY_TAG}${region}`, Value: id }]);
    }
    if (gone.accounts.length === 0) return;
    this.log(
      `no stack shares ${image.id} with ${gone.accounts.join(", ")} any more: revoking their launch permission on it and its copies`,
    );
    const kept = Object.entries(copies).filter(([r]) => !gone.regions.includes(r));
    for (const [region, id] of [[this.config.region, image.id], ...kept.sort()]) {
      await this.call("modify-image-attribute", region, () =>
        this.ec2(region)
          .send(
            new (ec2Sdk().ModifyImageAttributeCommand)({
              ImageId: id,
              LaunchPermission: { Remove: gone.accounts.map((UserId) => ({ UserId })) },
            }),
          )
          // A copy gone already shares nothing.
          .catch((e: unknown) => {
            if (!isGone(e)) throw e;
          }),
      );
    }
  }

  /** The copy the home AMI records in `region`, as it is now; undefined when none or gone. */
  private recordedCopy(copies: Record<string, string>, region: string) {
    return copies[region] ? this.get(copies[region], region) : Promise.resolve(undefined);
  }

  /**
   * The copyToRegions regions whose copy is not recorded, gone, or broken (pending is fine), and
   * the shareWithAccounts accounts the AMI or one of those copies no longer lets launch it (a
   * launch permission removed outside Pulumi, which DescribeImages does not show).
   */
  async replicasGone(image: StoredImage): Promise<string[]> {
    const copies = (image.extra.copies ?? {}) as Record<string, string>;
    const gone: string[] = [];
    const kept: [string, string][] = [[this.config.region, image.id]];
    for (const region of this.config.copyToRegions ?? []) {
      const copy = await this.recordedCopy(copies, region);
      if (copy === undefined || copy.meta.state === "broken") gone.push(region);
      else kept.push([region, copy.id]);
    }
    const accounts = this.config.shareWithAccounts ?? [];
    if (accounts.length === 0) return gone;
    for (const [region, id] of kept) {
      const launchers = await this.launchers(id, region);
      if (launchers === undefined) continue;
      const lost = accounts.filter((a) => !launchers.includes(a));
      if (lost.length > 0)
        gone.push(`launch permission of ${lost.join(", ")} on ${id} in ${region}`);
    }
    return gone;
  }

  /**
   * The accounts an AMI lets launch it; undefined when the AMI is gone, or when the credentials
   * may not read them: ec2:DescribeImageAttribute is the one permission only this check needs, so
   * without it a Read checks the copies only, and says so once.
   */
  private async launchers(id: string, region: string): Promise<string[] | undefined> {
    if (this.launchersUnreadable) return undefined;
    try {
      const out = await this.ec2(region).send(
        new (ec2Sdk().DescribeImageAttributeCommand)({
          ImageId: id,
          Attribute: "launchPermission",
        }),
      );
      return (out.LaunchPermissions ?? []).flatMap((p) => (p.UserId ? [p.UserId] : []));
    } catch (e) {
      if (isGone(e)) return undefined;
      if (errorName(e) !== "UnauthorizedOperation")
        throw new StoreError(failure("describe-image-attribute", region, e));
      this.launchersUnreadable = true;
      this.log(
        `cannot read the launch permissions of ${id} (UnauthorizedOperation): a refresh does not see a share with shareWithAccounts removed outside Pulumi; allow ec2:DescribeImageAttribute to have it checked`,
      );
      return undefined;
    }
  }

  /** A copy's tags: the home AMI's metadata, manifest and users, and where it came from. */
  private copyTags(image: StoredImage): Tag[] {
    return [
      ...metaTags(image.meta, image.manifest),
      ...Object.entries(image.users).map(([t, stack]) => ({
        Key: `${TAGS.claim.users}${t}`,
        Value: stack,
      })),
      { Key: `${PREFIX}source-ami`, Value: image.id },
    ];
  }
}

/** `copies in a, b and shares with 1, 2`, for the log. */
function describeWants(w: Wants): string {
  return [
    ...(w.regions.length > 0 ? [`the copies in ${w.regions.join(", ")}`] : []),
    ...(w.accounts.length > 0 ? [`the shares with ${w.accounts.join(", ")}`] : []),
  ].join(" and ");
}
