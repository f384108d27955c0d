import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileSha256 } from "../file-sha256";
import type { ProbeBuilder } from "../lifecycle/plan";
import type { ClaimKind, ImageMeta, StoredImage } from "./image";
import { type ImageStore, StoreError, imageGone } from "./image-store";
import { withRecordLock } from "./record-lock";

/**
 * The image store of the local platforms (qemu: .qcow2, virtualbox: .ova). An image is a file in
 * `outputDir` with two files beside it: `<file>.sha256` and `<file>.json`, the record (state,
 * fingerprint, claims, manifest). A pending image lives in its stack's pending folder
 * (`pendingFolder`) until it is published: publishing renames the file into place, writes the
 * .sha256, then the record last, so a record that says `complete` always has its whole file
 * beside it. Builders are work folders under `<cacheDir>/builds/<stack tag>/`.
 *
 * Paths are as configured, relative to the project folder where Pulumi runs the program and its
 * providers (rule P3): image IDs name no folder of this machine.
 */
export interface LocalStoreConfig {
  outputDir: string;
  ext?: "qcow2" | "ova";
  /** Empty or absent: the user's cache (components/qemu/paths-lib.sh `dse_cache_dir`). */
  cacheDir?: string;
}

/** The record file's fields (as qemu/store.py and the scripts write them). */
interface RecordFile {
  id?: string;
  name?: string;
  createdAt?: string;
  state?: string;
  size?: number;
  sha256?: string;
  manifest?: unknown;
  users?: Record<string, string>;
  kept?: Record<string, string>;
  held?: string[];
  bootTest?: unknown;
  supersededAt?: string;
  [key: string]: unknown;
}

const META_KEYS: (keyof ImageMeta)[] = [
  "fingerprint",
  "state",
  "gen",
  "buildStack",
  "imageName",
  "finalName",
  "bootTest",
  "sbomSha256",
  "sourceImage",
  "supersededBy",
];

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as T;
  } catch {
    return undefined;
  }
}

/** Sorted keys and a final newline, written to a temporary file and renamed: never half a record. */
function writeJson(file: string, data: RecordFile): void {
  const sorted = Object.fromEntries(Object.entries(data).sort(([a], [b]) => (a < b ? -1 : 1)));
  fs.writeFileSync(`${file}.tmp`, `${JSON.stringify(sorted)}\n`);
  fs.renameSync(`${file}.tmp`, file);
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, "utf8").trim();
  } catch {
    return "";
  }
}

/**
 * Where a stack's pending images are made: `<outputDir>/.pending/<stack tag>`. Two stacks that
 * find no image and build the same one at once (same name) each write their own file, never one
 * file together; publishing keeps the first one published (`publish`). Images made by a version
 * before this layout sit in `.pending` itself, and are still found there.
 */
export function pendingFolder(outputDir: string, stackTag: string): string {
  return path.join(outputDir, ".pending", stackTag);
}

/** The folders a family's images may be in: the output folder, `.pending` and its stacks'. */
function imageFolders(out: string): string[] {
  const pending = path.join(out, ".pending");
  let stacks: string[] = [];
  try {
    stacks = fs
      .readdirSync(pending, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.startsWith("."))
      .map((e) => path.join(pending, e.name))
      .sort();
  } catch {
    // No pending folder yet.
  }
  return [out, pending, ...stacks];
}

export function defaultCacheDir(): string {
  return path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"), "dse-image");
}

/** The folder of a stack's builder generations in a cache folder. */
const buildersOf = (cache: string, stackTag: string) => path.join(cache, "builds", stackTag);

/**
 * The work folder of a stack's builder generation (dse_builder_dir in components/qemu/paths-lib.sh);
 * a relative cacheDir is the project folder's, where every step runs (rule P3).
 */
export function builderFolder(cacheDir: string | undefined, stackTag: string, gen: string): string {
  return path.resolve(buildersOf(cacheDir || defaultCacheDir(), stackTag), gen);
}

/**
 * True when the qemu of builder folder `work` runs (builder_alive in components/qemu/proc-lib.sh):
 * its pidfile's process is alive, not a zombie, and its command line names this folder's overlay:
 * a pidfile outlives a qemu killed by SIGKILL, and its PID may be another process's by now.
 */
export function builderAlive(work: string): boolean {
  try {
    const pid = Number.parseInt(readText(path.join(work, "qemu.pid")), 10);
    if (!Number.isInteger(pid) || pid <= 0) return false;
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    if (
      stat
        .slice(stat.lastIndexOf(")") + 1)
        .trim()
        .split(/\s+/)[0] === "Z"
    )
      return false;
    const overlay = `file=${path.join(fs.realpathSync(work), "overlay.qcow2")},`;
    return fs
      .readFileSync(`/proc/${pid}/cmdline`, "utf8")
      .split("\0")
      .some((arg) => arg.startsWith(overlay));
  } catch {
    return false;
  }
}

/** A stack's pending folder goes with its last image; `.pending` and the output folder stay. */
function removeIfEmpty(dir: string): void {
  if (path.basename(path.dirname(dir)) !== ".pending") return;
  try {
    fs.rmdirSync(dir);
  } catch {
    // Not empty (another image of the stack, a lock), or gone already.
  }
}

export class LocalImageStore implements ImageStore {
  private readonly out: string;
  private readonly ext: string;
  private readonly cache: string;

  constructor(
    readonly platform: "qemu" | "virtualbox",
    config: LocalStoreConfig,
  ) {
    this.out = config.outputDir;
    // A config stored by an earlier version may lack it: the platform's own.
    this.ext = config.ext ?? (platform === "virtualbox" ? "ova" : "qcow2");
    this.cache = config.cacheDir || defaultCacheDir();
  }

  private image(file: string): StoredImage | undefined {
    const rec = readJson<RecordFile>(`${file}.json`);
    if (rec === undefined || !fs.existsSync(file) || !fs.statSync(file).isFile()) return undefined;
    // A complete record without its whole file beside it does not count.
    if (
      rec.state === "complete" &&
      (!fs.existsSync(`${file}.sha256`) || fs.statSync(file).size !== rec.size)
    )
      return undefined;
    const meta: ImageMeta = {};
    for (const key of META_KEYS) {
      const v = rec[key];
      if (v === undefined || v === null || v === "") continue;
      (meta as Record<string, string>)[key] = typeof v === "string" ? v : JSON.stringify(v);
    }
    const manifest =
      rec.manifest !== null && typeof rec.manifest === "object"
        ? (rec.manifest as Record<string, unknown>)
        : {};
    return {
      id: file,
      name: rec.name ?? "",
      createdAt: rec.createdAt ?? "",
      meta,
      users: { ...(rec.users ?? {}) },
      kept: { ...(rec.kept ?? {}) },
      held: [...(rec.held ?? [])],
      manifest,
      extra: rec.sha256 ? { sha256: rec.sha256 } : {},
    };
  }

  /**
   * Reads, changes and writes one record under its lock (record-lock.ts: another stack's run may
   * change it at once). `missing` says what a record that is not there means: `create`, a new
   * image's record starts empty; `skip`, nothing to change (a claim dropped from an image that is
   * gone already, removed by hand); `fail`, the image is gone and cannot be claimed (another
   * stack's run deleted it, unclaimed, since this one read it).
   */
  private update(
    id: string,
    change: (rec: RecordFile) => void,
    missing: "create" | "skip" | "fail",
  ): void {
    const file = `${id}.json`;
    const gone = () => {
      if (missing === "skip") return;
      throw imageGone(id);
    };
    // The lock is made beside the record: a stack's pending folder goes with its last image.
    if (missing !== "create" && !fs.existsSync(path.dirname(file))) return gone();
    withRecordLock(file, () => {
      const rec = missing === "create" && !fs.existsSync(file) ? {} : readJson<RecordFile>(file);
      if (rec === undefined) return gone();
      change(rec);
      writeJson(file, rec);
    });
  }

  get(id: string): Promise<StoredImage | undefined> {
    return Promise.resolve(this.image(id));
  }

  listFamily(imageName: string): Promise<StoredImage[]> {
    const found: StoredImage[] = [];
    for (const dir of imageFolders(this.out)) {
      let names: string[];
      try {
        names = fs.readdirSync(dir).sort();
      } catch {
        continue;
      }
      for (const name of names) {
        if (!name.endsWith(`.${this.ext}.json`)) continue;
        const image = this.image(path.join(dir, name.slice(0, -".json".length)));
        if (image !== undefined && image.meta.imageName === imageName) found.push(image);
      }
    }
    return Promise.resolve(found);
  }

  listBuilders(stackTag: string): Promise<ProbeBuilder[]> {
    const root = buildersOf(this.cache, stackTag);
    let works: string[];
    try {
      works = fs.readdirSync(root).sort();
    } catch {
      return Promise.resolve([]);
    }
    const builders: ProbeBuilder[] = [];
    for (const entry of works) {
      const work = path.join(root, entry);
      const build = readText(path.join(work, "build"));
      const gen = readText(path.join(work, "gen"));
      if (!build || !gen) continue;
      const status = builderAlive(work)
        ? "running"
        : fs.existsSync(path.join(work, "export.claim")) &&
            fs.existsSync(path.join(work, "overlay.qcow2"))
          ? "sealed"
          : "stopped";
      builders.push({ id: work, build, gen, status });
    }
    return Promise.resolve(builders);
  }

  setMeta(id: string, meta: ImageMeta, manifest?: Record<string, unknown>): Promise<void> {
    this.update(
      id,
      (rec) => {
        for (const [k, v] of Object.entries(meta)) {
          if (v === undefined) continue;
          rec[k] = k === "bootTest" ? (JSON.parse(v as string) as unknown) : v;
        }
        if (manifest !== undefined) rec.manifest = manifest;
        rec.createdAt ??= new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
        rec.name ??= path.basename(id).slice(0, -`.${this.ext}`.length);
        rec.id = id;
      },
      "create",
    );
    return Promise.resolve();
  }

  setClaim(image: StoredImage, kind: ClaimKind, tag: string, stackId: string): Promise<void> {
    this.update(image.id, (rec) => (rec[kind] = { ...(rec[kind] ?? {}), [tag]: stackId }), "fail");
    return Promise.resolve();
  }

  dropClaim(image: StoredImage, kind: ClaimKind, tag: string): Promise<void> {
    this.update(
      image.id,
      (rec) => {
        const claims = { ...(rec[kind] ?? {}) };
        delete claims[tag];
        rec[kind] = claims;
      },
      "skip",
    );
    return Promise.resolve();
  }

  setHeld(image: StoredImage, tag: string, held: boolean): Promise<void> {
    if (held === image.held.includes(tag)) return Promise.resolve();
    this.update(
      image.id,
      (rec) => {
        const others = (rec.held ?? []).filter((t) => t !== tag);
        rec.held = held ? [...others, tag].sort() : others;
      },
      held ? "fail" : "skip",
    );
    return Promise.resolve();
  }

  supersede(image: StoredImage, byName: string): Promise<void> {
    this.update(
      image.id,
      (rec) => {
        rec.supersededBy = byName;
        rec.supersededAt = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
      },
      "skip",
    );
    return Promise.resolve();
  }

  /**
   * Moves the pending image into place under `name`, unless an image of the same build is already
   * complete there: two stacks that built the same image at once (see `pendingFolder`) both
   * publish, and the second keeps the first's image, with every claim already on it, and deletes
   * its own copy. Under the final record's lock, so a claim on the published image is never
   * written over. A complete image of another fingerprint under the name is never replaced.
   */
  async publish(image: StoredImage, name: string): Promise<string> {
    const final = path.join(this.out, `${name}.${this.ext}`);
    const rec = readJson<RecordFile>(`${image.id}.json`) ?? {};
    // Hashed before the lock: gigabytes take seconds; the lock is held for milliseconds.
    const digest = await fileSha256(image.id);
    const there = withRecordLock(`${final}.json`, () => {
      const published = this.image(final);
      if (published?.meta.state === "complete") return published;
      fs.renameSync(image.id, final);
      fs.writeFileSync(`${final}.sha256.tmp`, `${digest}  ${path.basename(final)}\n`);
      fs.renameSync(`${final}.sha256.tmp`, `${final}.sha256`);
      writeJson(`${final}.json`, {
        ...rec,
        id: final,
        name,
        state: "complete",
        sha256: digest,
        size: fs.statSync(final).size,
      });
      return undefined;
    });
    if (there !== undefined && there.meta.fingerprint !== image.meta.fingerprint) {
      throw new StoreError(
        `${final} is already an image of another build (fingerprint ${there.meta.fingerprint ?? "unknown"}, ` +
          `this one ${image.meta.fingerprint ?? "unknown"}); it is kept, and ${image.id} stays pending: ` +
          `move one of them out of ${this.out}, then run \`pulumi up\` again`,
      );
    }
    if (there !== undefined) {
      await this.delete(image);
      return final;
    }
    fs.rmSync(`${image.id}.json`, { force: true });
    removeIfEmpty(path.dirname(image.id));
    return final;
  }

  /**
   * Deletes the image unless its record holds a claim by now: another stack's run may have
   * claimed it since the caller read it (claims are written under the same lock).
   */
  delete(image: StoredImage): Promise<boolean> {
    if (!fs.existsSync(path.dirname(image.id))) return Promise.resolve(true);
    const deleted = withRecordLock(`${image.id}.json`, () => {
      const rec = readJson<RecordFile>(`${image.id}.json`);
      const claims = { ...(rec?.users ?? {}), ...(rec?.kept ?? {}) };
      if (Object.keys(claims).length > 0) return false;
      for (const file of [image.id, `${image.id}.sha256`, `${image.id}.json`])
        fs.rmSync(file, { force: true });
      return true;
    });
    removeIfEmpty(path.dirname(image.id));
    return Promise.resolve(deleted);
  }

  ensureReplicas(): Promise<Record<string, unknown>> {
    return Promise.resolve({});
  }
}
