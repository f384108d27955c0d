/**
 * The pending image's rules (components/store/pending.ts) over the local store on a temporary
 * folder: recorded, published under its final name, discarded unless published.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { StoreError } from "../../components/store/image-store";
import { LocalImageStore } from "../../components/store/local";
import {
  discardBuild,
  discardImage,
  failImage,
  markPending,
  publishPending,
} from "../../components/store/pending";

let dir: string;
let store: LocalImageStore;
let logs: string[];
const log = (m: string) => logs.push(m);
const build = {
  name: "dse_base-ffffffffffff-20261205",
  gen: "g1",
  stackTag: "3476bb56",
  imageName: "dse_base",
};

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dse-pending-"));
  store = new LocalImageStore("qemu", { outputDir: dir, ext: "qcow2", cacheDir: dir });
  logs = [];
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A fresh snapshot file of `build`, recorded as pending. */
async function snapshot(b = build): Promise<string> {
  const file = path.join(dir, ".pending", `${b.name}.qcow2`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, "qcow2-bytes");
  await markPending(store, file, {
    ...b,
    fingerprint: "f".repeat(64),
    sbomSha256: "5".repeat(64),
    sourceImage: "sha256:abc",
    manifest: { python: "3.11" },
  });
  return file;
}

describe("markPending and publishPending", () => {
  it("records the build's image as pending, then publishes it complete under its final name", async () => {
    const pending = await snapshot();
    expect((await store.get(pending))?.meta).toMatchObject({
      state: "pending",
      gen: "g1",
      buildStack: "3476bb56",
      finalName: build.name,
    });
    const id = await publishPending(
      store,
      pending,
      build.name,
      '{"passed":true,"seconds":3,"checks":["ssh"]}',
      log,
    );
    expect(id).toBe(path.join(dir, `${build.name}.qcow2`));
    const image = (await store.get(id))!;
    expect(image.meta.state).toBe("complete");
    expect(JSON.parse(image.meta.bootTest!)).toEqual({ passed: true, seconds: 3, checks: ["ssh"] });
    expect(image.extra.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(fs.existsSync(pending)).toBe(false);
    expect(logs).toEqual([`published ${build.name} (${id})`]);
  });

  it("refuses a pending image that is gone, and one that failed its boot test", async () => {
    const gone = path.join(dir, ".pending", "nothing.qcow2");
    await expect(publishPending(store, gone, build.name, "", log)).rejects.toThrow(
      new StoreError(`pending image ${gone} is gone; the next pulumi up builds it again`),
    );
    const pending = await snapshot();
    await failImage(store, pending);
    await expect(publishPending(store, pending, build.name, "", log)).rejects.toThrow(
      `image ${pending} failed its boot test; it is never published`,
    );
  });
});

describe("discardBuild and discardImage", () => {
  it("discard only the unpublished image of their own build", async () => {
    const mine = await snapshot();
    const otherGen = await snapshot({ ...build, name: "b", gen: "g2" });
    const otherStack = await snapshot({ ...build, name: "c", stackTag: "aaaaaaaa" });
    await discardBuild(store, build, log);
    expect([mine, otherGen, otherStack].map((f) => fs.existsSync(f))).toEqual([false, true, true]);
    expect(logs).toEqual([`deleting unpublished image ${build.name} (${mine})`]);
  });

  it("never discard a published image", async () => {
    const id = await publishPending(store, await snapshot(), build.name, "", log);
    await discardBuild(store, build, log);
    await discardImage(store, id, log);
    expect(fs.existsSync(id)).toBe(true);
  });
});
