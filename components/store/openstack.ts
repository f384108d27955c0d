import { execFile } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { envSeconds } from "../host-env";
import type { ProbeBuilder } from "../lifecycle/plan";
import type { SourceImage } from "../lifecycle/store";
import { type ClaimKind, type ImageMeta, type StoredImage, othersAsking } from "./image";
import { type KeySpelling, readRecord, recordEntries } from "./image-keys";
import {
  type GlanceRow,
  type ImageChange,
  changeCalls,
  undoneParts,
  wider,
  widening,
} from "./glance-change";
import {
  type GlanceWants,
  decodeGlanceWants,
  encodeGlanceWants,
  glanceWantsOf,
  takingBack,
} from "./glance-wants";
import { type ImageStore, StoreError, type StoreLog, imageGone } from "./image-store";
import { storeLog } from "./provider-util";

/**
 * The image store of OpenStack: Glance image properties, through the `openstack` CLI with
 * `-f json` as its transport. The CLI, not keystone + Glance + Nova REST with `fetch`, because it
 * is what the operator's openrc, clouds.yaml, CA bundle and `--insecure` already configure, and
 * what the OpenStack lane and the engine model's fake answer; the transport is one function
 * (`OpenStackCli`), so REST can replace it behind the same store.
 *
 * Properties (as the earlier Python store wrote them): dse_<field> per ImageMeta field,
 * dse_manifest_<n> (the manifest JSON in 240-character pieces: Glance caps a value at 255),
 * dse_user_<stack tag> / dse_kept_<stack tag> (claims; the value is the stack ID) and
 * dse_held_<stack tag> (the claim is an ImageClaim's; its value, the visibility and properties the
 * claim asks for, glance-wants.ts, or `true` from versions before). Only images the current
 * project owns count (rule O4: a property filter alone also matches other projects' public
 * images). Builders are servers named dse-<stack tag>-openstack-*. Every change to an image is
 * read back and made again while another change at the same moment undid it (glance-change.ts).
 */
export interface OpenStackStoreConfig {
  /** Flags on every call (`--insecure`, `--os-cacert FILE`). */
  osFlags?: string[];
  /** Visibility of a published image. Default `private`. */
  visibility?: string;
  /** Extra properties of a published image (`openstack.imageProperties`). */
  properties?: Record<string, string>;
}

/** One `openstack` call's result. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}
export type OpenStackCli = (args: string[]) => Promise<CliResult>;

/** Glance caps a property value at 255 characters. */
export const MANIFEST_PIECE = 240;
const NOT_FOUND = /No (Image|Server) found|Could not find|not found|404/i;

const META_PROPERTY: Record<keyof ImageMeta, string> = {
  fingerprint: "dse_fingerprint",
  state: "dse_state",
  gen: "dse_gen",
  buildStack: "dse_build_stack",
  imageName: "dse_image_name",
  finalName: "dse_final_name",
  bootTest: "dse_boot_test",
  sbomSha256: "dse_sbom_sha256",
  sourceImage: "dse_source_image",
  supersededBy: "dse_superseded_by",
};
/** Glance's spelling of an image's record. */
const PROPERTIES: KeySpelling = {
  meta: META_PROPERTY,
  claim: { users: "dse_user_", kept: "dse_kept_" },
  held: "dse_held_",
  manifestPiece: (n) => `dse_manifest_${n}`,
  pieceSize: MANIFEST_PIECE,
};

/** The `openstack` CLI on this machine. */
export const runOpenStack: OpenStackCli = (args) =>
  new Promise((resolve) => {
    execFile("openstack", args, { maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : 127) : 0;
      resolve({ code, stdout, stderr: error && !stderr ? error.message : stderr });
    });
  });

/** Image or server properties as strings: a JSON object, or an older client's `k='v', ...`. */
export function propertiesOf(value: unknown): Record<string, string> {
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [
        k,
        typeof v === "string" ? v : JSON.stringify(v),
      ]),
    );
  }
  const text = typeof value === "string" ? value : "";
  return Object.fromEntries(
    [...text.matchAll(/(\w+)='((?:[^'\\]|\\.)*)'/g)].map((m) => [m[1], m[2]]),
  );
}

/** `--property k=v` arguments of an image's metadata, as its create or set call takes them. */
export function propertyArgs(meta: ImageMeta, manifest?: Record<string, unknown>): string[] {
  return recordEntries(PROPERTIES, meta, manifest).flatMap(([k, v]) => ["--property", `${k}=${v}`]);
}

/**
 * Glance's answer to a change that would take an image past `image_property_quota`
 * (glance/quota/__init__.py raises ImagePropertyLimitExceeded, api/v2/images.py answers it with
 * 413); the CLI prints only "HttpException: 413: Client Error for url: ..., Request Entity Too
 * Large" (seen on the lane's Glance 25).
 */
const TOO_MANY_PROPERTIES = /\b413\b.*Request Entity Too Large/;
const PROPERTY_QUOTA =
  "The image holds as many properties as Glance's image_property_quota allows (glance-api.conf, " +
  "default 128): each stack using it adds up to three (dse_user_, dse_held_, dse_kept_ and its " +
  "stack tag). Destroy stacks that no longer use it, or ask the cloud's operator to raise " +
  "image_property_quota";

/** A failed `openstack` call, with the last lines of what it printed. */
function failed(what: string, r: CliResult): StoreError {
  const tail = r.stderr.trim().split("\n").slice(-3).join(" | ");
  return new StoreError(`openstack ${what} exited ${r.code}: ${tail}`);
}

interface ImageRow extends GlanceRow {
  status?: string;
  owner?: string;
  created_at?: string;
}

/** How the store makes its changes hold (glance-change.ts). */
export interface ChangeOptions {
  /**
   * Seconds between a change and its read-back: by then every change in flight with it has been
   * saved. Default GLANCE_SETTLE_SECONDS, else 2.
   */
  settleSeconds?: number;
  /** Times a change is made before the store gives up. Default 5. */
  attempts?: number;
  log?: StoreLog;
}

export class OpenStackImageStore implements ImageStore {
  readonly platform = "openstack";
  private project?: Promise<string>;

  private readonly settleSeconds: number;
  private readonly attempts: number;
  private readonly log: StoreLog;

  constructor(
    private readonly config: OpenStackStoreConfig = {},
    private readonly cli: OpenStackCli = runOpenStack,
    options: ChangeOptions = {},
  ) {
    this.settleSeconds = options.settleSeconds ?? envSeconds(process.env.GLANCE_SETTLE_SECONDS, 2);
    this.attempts = options.attempts ?? 5;
    this.log = options.log ?? storeLog("openstack");
  }

  /** Runs one `openstack` call with the configured flags; its stdout, or a StoreError. */
  async run(args: string[], what = args.slice(0, 3).join(" ")): Promise<string> {
    const r = await this.cli([...(this.config.osFlags ?? []), ...args]);
    if (r.code !== 0) throw failed(what, r);
    return r.stdout;
  }

  private async json<T>(args: string[]): Promise<T> {
    const out = await this.run([...args, "-f", "json"]);
    try {
      return JSON.parse(out || "null") as T;
    } catch {
      throw new StoreError(
        `openstack ${args.slice(0, 3).join(" ")}: not JSON: ${out.slice(0, 200)}`,
      );
    }
  }

  /** The project of the credentials: only its images are ours. */
  private projectId(): Promise<string> {
    this.project ??= this.run(["token", "issue", "-f", "value", "-c", "project_id"]).then((out) =>
      out.trim(),
    );
    return this.project;
  }

  async get(id: string): Promise<StoredImage | undefined> {
    const row = await this.row(id);
    return row === undefined ? undefined : this.imageOf(row);
  }

  /** The image as Glance shows it; undefined when it is gone. */
  private async row(id: string): Promise<ImageRow | undefined> {
    const r = await this.cli([...(this.config.osFlags ?? []), "image", "show", "-f", "json", id]);
    if (r.code !== 0) {
      if (NOT_FOUND.test(r.stderr)) return undefined;
      throw new StoreError(`openstack image show ${id}: ${r.stderr.trim()}`);
    }
    const row = JSON.parse(r.stdout) as ImageRow;
    return row.status === "deleted" || row.status === "pending_delete" ? undefined : row;
  }

  /**
   * Makes the change and reads it back once every change in flight with it has been saved; makes
   * it again while another change undid it (glance-change.ts). `whenGone` says what an image
   * that is not there means: `fail`, it cannot be changed (another stack's run released it since
   * this run read it); `done`, nothing is left to change (a claim dropped from a deleted image).
   */
  private async change(id: string, change: ImageChange, whenGone: "fail" | "done"): Promise<void> {
    const gone = () => {
      if (whenGone === "fail") throw imageGone(id);
    };
    for (let attempt = 1; ; attempt++) {
      for (const args of changeCalls(id, change)) {
        const r = await this.cli([...(this.config.osFlags ?? []), ...args]);
        if (r.code === 0) continue;
        if (NOT_FOUND.test(r.stderr)) return gone();
        const error = failed(`${args.slice(0, 2).join(" ")} ${id}`, r);
        if (TOO_MANY_PROPERTIES.test(r.stderr))
          throw new StoreError(`${error.message}. ${PROPERTY_QUOTA}`);
        throw error;
      }
      await sleep(this.settleSeconds * 1000);
      const row = await this.row(id);
      if (row === undefined) return gone();
      const undone = undoneParts(change, row);
      if (undone.length === 0) return;
      const what = `another change to image ${id} at the same moment undid this one (${undone.join(", ")}): Glance keeps the whole record each change read`;
      if (attempt >= this.attempts)
        throw new StoreError(`${what}, ${attempt} times; run \`pulumi up\` again`);
      this.log(`${what}; making it again`);
    }
  }

  private imageOf(row: ImageRow): StoredImage {
    const props = propertiesOf(row.properties);
    const record = readRecord(PROPERTIES, props);
    // `killed`: the upload failed and nothing can boot it, but it stays until deleted. A
    // complete image Glance no longer serves is as broken: never resumed, adopted or exported.
    if (row.status === "killed" || (record.meta.state === "complete" && row.status !== "active"))
      record.meta.state = "broken";
    return {
      id: row.id,
      name: row.name ?? "",
      createdAt: row.created_at ?? "",
      ...record,
      holds: Object.fromEntries(record.held.map((t) => [t, props[`${PROPERTIES.held}${t}`]])),
      extra: { owner: row.owner ?? "" },
    };
  }

  /**
   * The source image (an ID or a name) by what it holds: its ID and Glance's digest of its bytes,
   * so an image republished under the same name is another base.
   */
  async describeSource(ref: string): Promise<SourceImage> {
    const r = await this.cli([...(this.config.osFlags ?? []), "image", "show", "-f", "json", ref]);
    if (r.code !== 0) {
      const why = r.stderr.trim().split("\n").slice(-2).join(" | ");
      throw new StoreError(`source image ${ref}: ${why}`);
    }
    const row = JSON.parse(r.stdout) as ImageRow & { os_hash_value?: string; checksum?: string };
    if (row.status !== "active") {
      throw new StoreError(
        `source image ${ref} (${row.id}) is ${row.status}, not active: a builder cannot boot it`,
      );
    }
    return { id: row.id, checksum: row.os_hash_value || row.checksum || "" };
  }

  async listFamily(imageName: string): Promise<StoredImage[]> {
    // Superseded images are hidden (os_hidden): listed only with --hidden. The project and both
    // lists at once: each `openstack` call is seconds of client start and a token.
    const list = (hidden: string[]) =>
      this.json<{ ID: string; Project?: string }[] | null>([
        "image",
        "list",
        "--long",
        "--property",
        `dse_image_name=${imageName}`,
        ...hidden,
      ]);
    const [project, ...lists] = await Promise.all([this.projectId(), list([]), list(["--hidden"])]);
    const ids: string[] = [];
    for (const row of lists.flatMap((rows) => rows ?? []))
      if (row.Project === project && !ids.includes(row.ID)) ids.push(row.ID);
    const images = await Promise.all(ids.map((id) => this.get(id)));
    return images.filter((i): i is StoredImage => i !== undefined);
  }

  async listBuilders(stackTag: string): Promise<ProbeBuilder[]> {
    const rows = await this.json<{ ID: string; Status?: string; Properties?: unknown }[] | null>([
      "server",
      "list",
      "--long",
      "--name",
      `^dse-${stackTag}-openstack-`,
    ]);
    const builders: ProbeBuilder[] = [];
    for (const row of rows ?? []) {
      const props = propertiesOf(row.Properties);
      if (props.dse_role !== "builder" || !props.dse_build) continue;
      const status =
        row.Status === "ACTIVE"
          ? "running"
          : row.Status === "SHUTOFF" && props.dse_sealed === "true"
            ? "sealed"
            : "stopped";
      builders.push({ id: row.ID, build: props.dse_build, gen: props.dse_gen ?? "", status });
    }
    return builders;
  }

  setMeta(id: string, meta: ImageMeta, manifest?: Record<string, unknown>): Promise<void> {
    const set = Object.fromEntries(recordEntries(PROPERTIES, meta, manifest));
    return Object.keys(set).length > 0 ? this.change(id, { set }, "fail") : Promise.resolve();
  }

  setClaim(image: StoredImage, kind: ClaimKind, tag: string, stackId: string): Promise<void> {
    return this.change(image.id, { set: { [`${PROPERTIES.claim[kind]}${tag}`]: stackId } }, "fail");
  }

  async dropClaim(image: StoredImage, kind: ClaimKind, tag: string): Promise<void> {
    if (!(tag in image[kind])) return;
    await this.change(image.id, { unset: [`${PROPERTIES.claim[kind]}${tag}`] }, "done");
  }

  /** Held, the property's value records the visibility and properties this stack asks for. */
  async setHeld(image: StoredImage, tag: string, held: boolean): Promise<void> {
    if (!held) {
      if (image.held.includes(tag))
        await this.change(image.id, { unset: [`${PROPERTIES.held}${tag}`] }, "done");
      return;
    }
    const set = this.heldEntry(image, tag);
    if (Object.keys(set).length > 0) await this.change(image.id, { set }, "fail");
  }

  /**
   * setClaim(users) and setHeld(true) in one change: one `image set`, one settle and one read
   * back instead of two of each (claims.ts claimImage).
   */
  async claimHeld(image: StoredImage, tag: string, stackId: string): Promise<void> {
    const set = {
      ...(tag in image.users ? {} : { [`${PROPERTIES.claim.users}${tag}`]: stackId }),
      ...this.heldEntry(image, tag),
    };
    if (Object.keys(set).length > 0) await this.change(image.id, { set }, "fail");
  }

  /** The held property as this stack's settings ask for it; nothing when it is so already. */
  private heldEntry(image: StoredImage, tag: string): Record<string, string> {
    const wants = encodeGlanceWants(this.wants());
    if (wants === undefined)
      this.log(
        `imageProperties' names do not fit in one property (Glance takes 255 characters): other stacks never take back a visibility or property of ${image.id} while this stack claims it`,
      );
    const value = wants ?? "true";
    if (image.held.includes(tag) && image.holds?.[tag] === value) return {};
    return { [`${PROPERTIES.held}${tag}`]: value };
  }

  private wants(): GlanceWants {
    return glanceWantsOf(this.config);
  }

  supersede(image: StoredImage, byName: string): Promise<void> {
    // Glance hides os_hidden images from default listings; the ID still works.
    const set = { [META_PROPERTY.supersededBy]: byName };
    return this.change(image.id, { hidden: true, set }, "done");
  }

  async publish(image: StoredImage, name: string): Promise<string> {
    const extra = Object.entries(this.config.properties ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
    const set = { ...Object.fromEntries(extra), [META_PROPERTY.state]: "complete" };
    const visibility = this.config.visibility ?? "private";
    await this.change(image.id, { name, visibility, set }, "fail");
    return image.id;
  }

  async delete(image: StoredImage): Promise<boolean> {
    const r = await this.cli([...(this.config.osFlags ?? []), "image", "delete", image.id]);
    if (r.code !== 0 && !NOT_FOUND.test(r.stderr))
      throw new StoreError(`openstack image delete ${image.id}: ${r.stderr.trim()}`);
    return true;
  }

  /**
   * Takes back the visibility and properties this stack's claim asked for and asks for no more: on
   * an update, what the `previous` settings asked for beyond these; on a release (no `previous`),
   * all these ask for. The visibility narrows to the widest any other claim (and these settings)
   * asks for, the properties none of them names go. A claim that records nothing (one of an
   * earlier version, or a kept image's) may rely on anything: everything stays, and the operator
   * is told. The change is read back and made again as every change is (glance-change.ts).
   */
  async withdraw(
    image: StoredImage,
    tag: string,
    previous?: Partial<OpenStackStoreConfig>,
  ): Promise<void> {
    const before = previous === undefined ? this.wants() : glanceWantsOf(previous);
    const now: GlanceWants[] = previous === undefined ? [] : [this.wants()];
    const dropsVisibility = wider(before.visibility, now[0]?.visibility ?? "private");
    const dropsProperties = before.properties.some(
      (k) => !now.some((w) => w.properties.includes(k)),
    );
    if (!dropsVisibility && !dropsProperties) return;
    const { asked, silent } = othersAsking(image, tag, decodeGlanceWants);
    if (silent.length > 0) {
      const who = silent.join(", ");
      this.log(
        `image ${image.id} keeps its visibility and properties: the claims of ${who} do not record which they rely on (made by an earlier version, or kept by retention)`,
      );
      return;
    }
    const row = await this.row(image.id);
    if (row === undefined) return;
    const change = takingBack(before, [...now, ...asked.map(([, w]) => w)], {
      visibility: row.visibility ?? "private",
      properties: propertiesOf(row.properties),
    });
    if (change.visibility === undefined && change.unset === undefined) return;
    this.log(
      `no stack asks for ${[
        ...(change.visibility ? [`visibility ${row.visibility}`] : []),
        ...(change.unset ?? []),
      ].join(", ")} on image ${image.id} any more: ${[
        ...(change.visibility ? [`it goes ${change.visibility}`] : []),
        ...(change.unset ? [`removing ${change.unset.join(", ")}`] : []),
      ].join(", ")}`,
    );
    await this.change(image.id, change, "done");
  }

  /**
   * What the stack asks of the image that it lacks: a visibility narrower than the stack's, or a
   * property of the stack's missing (taken back by hand, or by a stack that read the image just
   * before this stack's claim). A Read then finds the claim gone, so `up --refresh` claims again
   * and widens it anew.
   */
  async replicasGone(image: StoredImage): Promise<string[]> {
    const row = await this.row(image.id);
    return row === undefined ? [] : this.missing(row).parts;
  }

  /** The widening the stack's settings ask of the image as Glance shows it, and its parts. */
  private missing(row: ImageRow): { change: ImageChange; parts: string[] } {
    const change = widening(
      { ...row, properties: propertiesOf(row.properties) },
      this.config.visibility ?? "private",
      this.config.properties ?? {},
    );
    const parts = [
      ...(change.visibility ? [`visibility ${change.visibility}`] : []),
      ...Object.keys(change.set ?? {}),
    ];
    return { change, parts };
  }

  /**
   * The stack's imageVisibility and imageProperties on the image it claims, as the AWS store
   * shares an AMI with the stack's accounts: an adopted image, or one whose settings the stack
   * changed since its build, gets them. Only ever widening (glance-change.ts `widening`), so a
   * claim never narrows what another stack sharing the image asked for.
   */
  async ensureReplicas(image: StoredImage): Promise<Record<string, unknown>> {
    const row = await this.row(image.id);
    if (row === undefined) throw imageGone(image.id);
    const { change, parts } = this.missing(row);
    if (parts.length === 0) return {};
    this.log(`${image.name} (${image.id}): setting ${parts.join(", ")} as this stack asks`);
    await this.change(image.id, change, "fail");
    return {};
  }
}
