/**
 * A local image record changed by two processes at once keeps both changes
 * (components/store/record-lock.ts): two stacks' runs may claim or release one image together.
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ownerTag } from "../../components/owner-tag";
import { StoreError } from "../../components/store/image-store";
import { LocalImageStore } from "../../components/store/local";
import { withRecordLock } from "../../components/store/record-lock";
import type { StoredImage } from "../../components/store/image";

const REPO = path.resolve(__dirname, "..", "..");
const WRITER = path.join(REPO, "test", "support", "claim-writer.ts");

let dir: string;
let image: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dse-record-lock-"));
  image = path.join(dir, "dse_base-ffffffffffff-20261207.qcow2");
  fs.writeFileSync(image, "disk");
  fs.writeFileSync(`${image}.json`, `${JSON.stringify({ state: "complete", users: {} })}\n`);
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const users = () =>
  Object.keys((JSON.parse(fs.readFileSync(`${image}.json`, "utf8")) as { users: object }).users);

function claimWriter(prefix: string, count: number): Promise<number | null> {
  const child = spawn(process.execPath, ["--require", "./components/ts-hook.cjs", WRITER], {
    cwd: REPO,
    env: { ...process.env, OUTPUT_DIR: dir, IMAGE_ID: image, PREFIX: prefix, COUNT: `${count}` },
    stdio: ["ignore", "ignore", "inherit"],
  });
  return new Promise((resolve) => child.on("exit", (code) => resolve(code)));
}

describe("a local image record", () => {
  it("changed by two processes at once keeps every change of both", async () => {
    expect(await Promise.all([claimWriter("a", 300), claimWriter("b", 300)])).toEqual([0, 0]);
    expect(users()).toHaveLength(600);
    expect(fs.readdirSync(dir).sort()).toEqual([
      path.basename(image),
      `${path.basename(image)}.json`,
    ]);
  });

  it("is taken over from a lock whose process died (a killed run)", async () => {
    const dead = spawnSync(process.execPath, ["-e", "0"]).pid;
    fs.writeFileSync(`${image}.json.lock`, ownerTag(os.hostname(), dead));
    const store = new LocalImageStore("qemu", { outputDir: dir, ext: "qcow2" });
    await store.setClaim({ id: image } as StoredImage, "users", "t1", "organization/p/s");
    expect(users()).toEqual(["t1"]);
    expect(fs.existsSync(`${image}.json.lock`)).toBe(false);
  });

  it("locked by a live process: waits, then fails naming the lock and what to do", () => {
    const file = `${image}.json`;
    fs.writeFileSync(`${file}.lock`, ownerTag());
    let ran = false;
    expect(() => withRecordLock(file, () => (ran = true), 50)).toThrow(
      new StoreError(
        `${file} stayed locked by ${ownerTag()} for 0.05 s; if no dse-image run is running, remove ${file}.lock`,
      ),
    );
    expect(ran).toBe(false);
    expect(fs.readFileSync(`${file}.lock`, "utf8")).toBe(ownerTag());
  });
});
