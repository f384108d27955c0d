/**
 * The pending image's rules (components/store/pending.ts) over the local store on a temporary
 * folder: recorded, published under its final name, discarded unless published; two stacks'
 * copies of one build end as one image.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ownerTag } from "../../components/owner-tag";
import { StoreError } from "../../components/store/image-store";
import { LocalImageStore, pendingFolder } from "../../components/store/local";
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

/**
 * A fresh snapshot file of `build` in its stack's pending folder (as snapshot.sh and
 * ova-export.ts make it; `folder` for another layout), recorded as pending.
 */
async function snapshot(
  b = build,
  {
    fingerprint = "f".repeat(64),
    folder = pendingFolder(dir, b.stackTag),
    bytes = "qcow2-bytes",
  } = {},
): Promise<string> {
  const file = path.join(folder, `${b.name}.qcow2`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, bytes);
  await markPending(store, file, {
    ...b,
    fingerprint,
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
    // The stack's pending folder goes with its last image.
    expect(fs.readdirSync(path.join(dir, ".pending"))).toEqual([]);
    expect(logs).toEqual([`published ${build.name} (${id})`]);
  });

  it("an image pending in `.pending` itself (made before the per-stack folders) is found and published", async () => {
    const pending = await snapshot(build, { folder: path.join(dir, ".pending") });
    expect((await store.listFamily("dse_base")).map((i) => i.id)).toEqual([pending]);
    const id = await publishPending(store, pending, build.name, "", log);
    expect(id).toBe(path.join(dir, `${build.name}.qcow2`));
    expect((await store.get(id))?.meta.state).toBe("complete");
    expect(fs.readdirSync(path.join(dir, ".pending"))).toEqual([]);
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

describe("two stacks that built the same image at once", () => {
  const other = { ...build, gen: "g2", stackTag: "aaaaaaaa" };

  it("each made its own file; the first published is kept with its claims, the second's copy goes", async () => {
    const first = await snapshot(build, { bytes: "first-copy" });
    const second = await snapshot(other, { bytes: "second-copy" });
    expect(first).not.toBe(second);
    expect((await store.listFamily("dse_base")).map((i) => i.id).sort()).toEqual(
      [first, second].sort(),
    );
    const id = await publishPending(store, first, build.name, "", log);
    await store.setClaim((await store.get(id))!, "users", build.stackTag, "org/p/dev");

    expect(await publishPending(store, second, other.name, "", log)).toBe(id);
    const image = (await store.get(id))!;
    expect(fs.readFileSync(id, "utf8")).toBe("first-copy");
    expect(image.users).toEqual({ [build.stackTag]: "org/p/dev" });
    expect(image.meta).toMatchObject({ state: "complete", gen: "g1", buildStack: build.stackTag });
    expect(fs.readdirSync(dir).sort()).toEqual(
      [
        ".pending",
        `${build.name}.qcow2`,
        `${build.name}.qcow2.json`,
        `${build.name}.qcow2.sha256`,
      ].sort(),
    );
    expect(fs.readdirSync(path.join(dir, ".pending"))).toEqual([]);
  });

  it("a complete image of another fingerprint under the name is never replaced: the copy stays pending", async () => {
    const id = await publishPending(store, await snapshot(), build.name, "", log);
    const second = await snapshot(other, { fingerprint: "e".repeat(64), bytes: "other-build" });
    await expect(publishPending(store, second, other.name, "", log)).rejects.toThrow(
      new StoreError(
        `${id} is already an image of another build (fingerprint ${"f".repeat(64)}, this one ` +
          `${"e".repeat(64)}); it is kept, and ${second} stays pending: move one of them out of ` +
          `${dir}, then run \`pulumi up\` again`,
      ),
    );
    expect(fs.readFileSync(id, "utf8")).toBe("qcow2-bytes");
    expect((await store.get(second))?.meta.state).toBe("pending");
  });

  it("publishing waits for the final record's lock (another stack's run claiming or publishing)", async () => {
    const pending = await snapshot();
    const final = path.join(dir, `${build.name}.qcow2`);
    const lock = `${final}.json.lock`;
    const seen = path.join(dir, "seen");
    // The lock's owner: a live process that notes whether the image was moved into place while
    // it held the lock, then lets go. publish blocks this process while it waits.
    const holder = spawn("sh", [
      "-c",
      `sleep 0.5; if [ -e '${final}' ]; then echo moved; else echo waited; fi >'${seen}'; rm -f '${lock}'`,
    ]);
    fs.writeFileSync(lock, ownerTag(os.hostname(), holder.pid));
    const exited = new Promise((resolve) => holder.on("exit", resolve));
    expect(await publishPending(store, pending, build.name, "", log)).toBe(final);
    await exited;
    expect(fs.readFileSync(seen, "utf8")).toBe("waited\n");
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
