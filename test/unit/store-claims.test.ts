/**
 * The image rules of components/store/claims.ts over the local store (its transport is the file
 * system, so the real adapter runs on a temporary folder): claim, retention, release, read.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type ClaimRequest,
  claimImage,
  readClaim,
  releaseImage,
} from "../../components/store/claims";
import type { ClaimKind, StoredImage } from "../../components/store/image";
import { StoreError } from "../../components/store/image-store";
import { LocalImageStore } from "../../components/store/local";

let dir: string;
let store: LocalImageStore;
let logs: string[];
const log = (m: string) => logs.push(m);

const dev = { stackTag: "3476bb56", stackId: "organization/dse-image/dev" };
const prod = { stackTag: "aaaaaaaa", stackId: "organization/dse-image/prod" };

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dse-store-"));
  store = new LocalImageStore("qemu", { outputDir: dir, ext: "qcow2", cacheDir: dir });
  logs = [];
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const fileOf = (name: string) => path.join(dir, `${name}.qcow2`);

/** A complete image `name` of family dse_base, made at `createdAt`, with these claims. */
function complete(
  name: string,
  claims: { users?: Record<string, string>; kept?: Record<string, string>; held?: string[] } = {},
  createdAt = "2026-12-01T00:00:00Z",
  state = "complete",
): string {
  const file = fileOf(name);
  fs.writeFileSync(file, "qcow2");
  fs.writeFileSync(`${file}.sha256`, "x");
  fs.writeFileSync(
    `${file}.json`,
    JSON.stringify({
      id: file,
      name,
      state,
      size: 5,
      sha256: "ab",
      imageName: "dse_base",
      fingerprint: "f".repeat(64),
      createdAt,
      manifest: { python: "3.11" },
      ...claims,
    }),
  );
  return file;
}

const recordFile = (file: string) =>
  JSON.parse(fs.readFileSync(`${file}.json`, "utf8")) as {
    users: Record<string, string>;
    kept?: Record<string, string>;
    held?: string[];
    supersededBy?: string;
  };

const request = (imageId: string, extra: Partial<ClaimRequest> = {}): ClaimRequest => ({
  imageId,
  imageName: "dse_base",
  ...dev,
  retain: false,
  keep: 0,
  ...extra,
});

describe("claimImage", () => {
  it("claims a complete image, marks the claim held by the resource and returns its record", async () => {
    const file = complete("dse_base-ffffffffffff-20261201");
    const record = await claimImage(store, request(file), log);
    expect(record).toEqual({
      id: file,
      name: "dse_base-ffffffffffff-20261201",
      createdAt: "2026-12-01T00:00:00Z",
      manifest: { python: "3.11" },
      fingerprint: "f".repeat(64),
      imageName: "dse_base",
      sha256: "ab",
    });
    expect(recordFile(file).users).toEqual({ [dev.stackTag]: dev.stackId });
    expect(recordFile(file).held).toEqual([dev.stackTag]);
  });

  it("refuses an image another stack's run deleted after this claim read it, naming it", async () => {
    const file = complete("a");
    const prods = new LocalImageStore("qemu", { outputDir: dir, ext: "qcow2", cacheDir: dir });
    class DeletedMeanwhile extends LocalImageStore {
      override async setClaim(image: StoredImage, ...rest: [ClaimKind, string, string]) {
        await prods.delete(image);
        return super.setClaim(image, ...rest);
      }
    }
    const racing = new DeletedMeanwhile("qemu", { outputDir: dir, ext: "qcow2", cacheDir: dir });
    const claim = claimImage(racing, request(file), log);
    await expect(claim).rejects.toThrow(
      new StoreError(
        `image ${file} is gone: another stack's run released it since this run read it (or it ` +
          "was removed by hand); run `pulumi up` again to rebuild it",
      ),
    );
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it.each([
    ["gone", undefined, "gone: it was deleted outside Pulumi"],
    ["broken", "broken", "broken: the cloud can no longer boot it"],
    ["pending", "pending", "pending: it was changed outside Pulumi"],
  ])("refuses an image that is %s, saying the next up rebuilds it", async (_, state, why) => {
    const file = state ? complete("x", {}, undefined, state) : fileOf("x");
    const claim = claimImage(store, request(file), log);
    await expect(claim).rejects.toThrow(StoreError);
    await expect(claim).rejects.toThrow(
      `image ${file} is ${why}; run \`pulumi up\` again to rebuild it`,
    );
  });

  it("moves the previous image to kept with retention.keep, and drops kept images beyond it", async () => {
    const oldest = complete("a", { kept: { [dev.stackTag]: dev.stackId } }, "2026-11-01T00:00:00Z");
    const older = complete("b", { users: { [dev.stackTag]: dev.stackId } }, "2026-11-15T00:00:00Z");
    const current = complete("c", {}, "2026-12-01T00:00:00Z");
    await claimImage(store, request(current, { keep: 1 }), log);
    expect(recordFile(older).kept).toEqual({ [dev.stackTag]: dev.stackId });
    expect(fs.existsSync(oldest)).toBe(false);
    expect(logs).toContain(`deleting a (${oldest})`);
  });

  it("after a rename, moves the old name's claims (users, kept, held) to the new one", async () => {
    const kept = complete("a", { kept: { [prod.stackTag]: prod.stackId } });
    const current = complete("b", {
      users: { [prod.stackTag]: prod.stackId },
      held: [prod.stackTag],
    });
    await claimImage(store, request(current, { keep: 1 }), log, prod);
    expect(recordFile(current).users).toEqual({ [dev.stackTag]: dev.stackId });
    expect(recordFile(current).held).toEqual([dev.stackTag]);
    expect(recordFile(kept).kept).toEqual({ [dev.stackTag]: dev.stackId });
    expect(logs).toContain(`this stack was ${prod.stackId}: its claims move to ${dev.stackId}`);
  });
});

describe("releaseImage", () => {
  it("deletes the image when no other stack claims it", async () => {
    const file = complete("a", { users: { [dev.stackTag]: dev.stackId }, held: [dev.stackTag] });
    await releaseImage(store, request(file), log);
    expect(fs.existsSync(file)).toBe(false);
    expect(fs.existsSync(`${file}.json`)).toBe(false);
  });

  it("keeps an image another stack still uses, dropping only this stack's claim", async () => {
    const file = complete("a", {
      users: { [dev.stackTag]: dev.stackId, ...{ [prod.stackTag]: prod.stackId } },
    });
    await releaseImage(store, request(file), log);
    expect(recordFile(file).users).toEqual({ [prod.stackTag]: prod.stackId });
    expect(logs).toEqual([`keeping a (${file}): still used by ${prod.stackId}`]);
  });

  it("keeps an image another stack claims between this release's read and its delete", async () => {
    const file = complete("a", { users: { [dev.stackTag]: dev.stackId } });
    // prod's run (its own store, another process) adopts the image in that instant.
    const prods = new LocalImageStore("qemu", { outputDir: dir, ext: "qcow2", cacheDir: dir });
    class ClaimedMeanwhile extends LocalImageStore {
      override async delete(image: StoredImage): Promise<boolean> {
        await prods.setClaim(image, "users", prod.stackTag, prod.stackId);
        return super.delete(image);
      }
    }
    const racing = new ClaimedMeanwhile("qemu", { outputDir: dir, ext: "qcow2", cacheDir: dir });
    await releaseImage(racing, request(file), log);
    expect(fs.readFileSync(file, "utf8")).toBe("qcow2");
    expect(recordFile(file).users).toEqual({ [prod.stackTag]: prod.stackId });
    expect(logs).toEqual([
      `deleting a (${file})`,
      `kept a (${file}): another stack claimed it meanwhile`,
    ]);
  });

  it("an image removed by hand after this release read it is released without error", async () => {
    // Another stack's run cannot delete it meanwhile: this stack's claim is in its record.
    const file = complete("a", { users: { [dev.stackTag]: dev.stackId }, held: [dev.stackTag] });
    class RemovedMeanwhile extends LocalImageStore {
      override async dropClaim(image: StoredImage, kind: ClaimKind, tag: string): Promise<void> {
        for (const f of [file, `${file}.sha256`, `${file}.json`]) fs.rmSync(f);
        return super.dropClaim(image, kind, tag);
      }
    }
    const racing = new RemovedMeanwhile("qemu", { outputDir: dir, ext: "qcow2", cacheDir: dir });
    await releaseImage(racing, request(file), log);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it("with retainImages drops the claim and keeps the image", async () => {
    const file = complete("a", { users: { [dev.stackTag]: dev.stackId } });
    await releaseImage(store, request(file, { retain: true }), log);
    expect(fs.existsSync(file)).toBe(true);
    expect(recordFile(file).users).toEqual({});
  });

  it("with a successor, marks a kept image superseded and leaves its fate to the successor's claim", async () => {
    const old = complete("a", {
      users: { [dev.stackTag]: dev.stackId },
      kept: { [dev.stackTag]: dev.stackId },
    });
    complete("b", { users: { [dev.stackTag]: dev.stackId } }, "2026-12-02T00:00:00Z");
    await releaseImage(store, request(old), log);
    expect(recordFile(old).supersededBy).toBe("b");
    expect(fs.existsSync(old)).toBe(true);
  });

  it("on destroy (no successor) drops kept claims and deletes what nobody claims", async () => {
    const kept = complete("a", { kept: { [dev.stackTag]: dev.stackId } });
    const current = complete("b", { users: { [dev.stackTag]: dev.stackId } });
    await releaseImage(store, request(current), log);
    expect([kept, current].map((f) => fs.existsSync(f))).toEqual([false, false]);
  });

  it("says what it cannot tell when neither the claim nor the image names the family", async () => {
    await expect(releaseImage(store, request(fileOf("x"), { imageName: "" }), log)).rejects.toThrow(
      `cannot tell the image family of ${fileOf("x")}: the claim names none and the image is gone; nothing else of this stack was released`,
    );
  });

  it("an image already gone is released without error", async () => {
    await releaseImage(store, request(fileOf("x")), log);
    expect(logs).toEqual([`image ${fileOf("x")} is already gone`]);
  });
});

describe("readClaim (refresh)", () => {
  it("sees the record while the image is complete and claimed by the stack", async () => {
    const file = complete("a", { users: { [dev.stackTag]: dev.stackId } });
    expect((await readClaim(store, request(file)))?.id).toBe(file);
  });

  it.each([
    ["the image is gone", () => fileOf("x")],
    ["the claim was dropped", () => complete("a", { users: {} })],
    [
      "the image is no longer complete",
      () => complete("a", { users: { [dev.stackTag]: dev.stackId } }, undefined, "broken"),
    ],
  ])("reports the claim gone when %s", async (_, make) => {
    expect(await readClaim(store, request(make()))).toBeUndefined();
  });
});
