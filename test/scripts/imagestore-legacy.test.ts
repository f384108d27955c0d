/**
 * components/lifecycle/imagestore.py, kept for the steps that stacks made by earlier versions
 * have in their state: Pulumi runs a step's STORED delete (rule C3), `python3
 * components/lifecycle/imagestore.py release` for a record step and `... discard` for a snapshot
 * step, and the file hands them to the TypeScript store (components/store/cli.ts). Run through the
 * local store, whose records are files the test can write.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

const IMAGESTORE = path.join(__dirname, "..", "..", "components", "lifecycle", "imagestore.py");

let dir: string;
let image: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dse-imagestore-"));
  image = path.join(dir, "dse_base-0123456789ab-20261129.qcow2");
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** imagestore.py with the local store over `dir`. */
function store(command: string, env: Record<string, string>) {
  const r = spawnSync("python3", [IMAGESTORE, command], {
    env: {
      ...process.env,
      STORE: "qemu",
      STORE_CONFIG: JSON.stringify({ outputDir: dir, cacheDir: path.join(dir, "cache") }),
      ...env,
    },
    encoding: "utf8",
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A complete image of family dse_base claimed by the given stacks (tag -> stack ID). */
function complete(users: Record<string, string>, held: string[] = []) {
  fs.writeFileSync(image, "qcow2");
  fs.writeFileSync(`${image}.sha256`, "x");
  fs.writeFileSync(
    `${image}.json`,
    JSON.stringify({ state: "complete", size: 5, imageName: "dse_base", users, held, name: "n" }),
  );
}

describe("imagestore.py release (a record's delete: rule C3)", () => {
  const dev = { STACK_TAG: "3476bb56", STACK_ID: "organization/dse-image/dev" };

  it("reads only its stored environment: an empty stdout (a refresh, rule P4) still releases", () => {
    complete({ [dev.STACK_TAG]: dev.STACK_ID });
    const r = store("release", {
      ...dev,
      IMAGE_ID: image,
      IMAGE_NAME: "dse_base",
      PULUMI_COMMAND_STDOUT: "",
    });
    expect(r.stderr).toContain(`deleting n (${image})`);
    expect(r.status).toBe(0);
    expect(fs.existsSync(image)).toBe(false);
  });

  it("keeps an image another stack still uses, dropping only this stack's claim", () => {
    complete({ [dev.STACK_TAG]: dev.STACK_ID, aaaaaaaa: "organization/dse-image/prod" });
    const r = store("release", { ...dev, IMAGE_ID: image, IMAGE_NAME: "dse_base" });
    expect(r.status).toBe(0);
    const rec = JSON.parse(fs.readFileSync(`${image}.json`, "utf8")) as { users: object };
    expect(rec.users).toEqual({ aaaaaaaa: "organization/dse-image/prod" });
  });

  it("releases a record stored before IMAGE_NAME was (an upgraded stack) by the image's family", () => {
    complete({ [dev.STACK_TAG]: dev.STACK_ID });
    const r = store("release", { ...dev, IMAGE_ID: image, PULUMI_COMMAND_STDOUT: "" });
    expect(r.status).toBe(0);
    expect(fs.existsSync(image)).toBe(false);
  });

  it("finds the family in what the record step printed, when its environment lacks it", () => {
    complete({ [dev.STACK_TAG]: dev.STACK_ID });
    fs.rmSync(`${image}.json`);
    fs.rmSync(image);
    const r = store("release", {
      ...dev,
      IMAGE_ID: image,
      PULUMI_COMMAND_STDOUT: '{"stack": {}}\n{"id": "x", "imageName": "dse_base"}\n',
    });
    expect(r.stderr).toBe(`==> qemu: image ${image} is already gone\n`);
    expect(r.status).toBe(0);
  });

  it("says what it cannot tell when neither the environment nor the image names the family", () => {
    const r = store("release", { ...dev, IMAGE_ID: image, PULUMI_COMMAND_STDOUT: "" });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `imagestore: cannot tell the image family of ${image}: the claim names none and the image is gone; nothing else of this stack was released\n`,
    );
  });

  it("leaves a claim the stack's ImageClaim holds (the upgrade's first run deletes the old step)", () => {
    complete({ [dev.STACK_TAG]: dev.STACK_ID }, [dev.STACK_TAG]);
    const r = store("release", { ...dev, IMAGE_ID: image, IMAGE_NAME: "dse_base" });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe(
      "==> qemu: n: this stack's ImageClaim holds its claim; nothing to release here\n",
    );
    const rec = JSON.parse(fs.readFileSync(`${image}.json`, "utf8")) as { users: object };
    expect(rec.users).toEqual({ [dev.STACK_TAG]: dev.STACK_ID });
  });
});

describe("imagestore.py discard (a snapshot step's delete)", () => {
  /** A pending image of build `gen` of stack `tag` for final name NAME. */
  function pending(file: string, gen: string, tag: string) {
    const p = path.join(dir, ".pending", file);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, "qcow2");
    fs.writeFileSync(
      `${p}.json`,
      JSON.stringify({
        state: "pending",
        imageName: "dse_base",
        finalName: "NAME",
        gen,
        buildStack: tag,
      }),
    );
    return p;
  }

  it("deletes only the unpublished image its own build made, found by NAME, GEN and STACK_TAG", () => {
    const mine = pending("a.qcow2", "g1", "3476bb56");
    const otherGen = pending("b.qcow2", "g2", "3476bb56");
    const otherStack = pending("c.qcow2", "g1", "aaaaaaaa");
    const r = store("discard", {
      NAME: "NAME",
      GEN: "g1",
      STACK_TAG: "3476bb56",
      IMAGE_NAME: "dse_base",
      PULUMI_COMMAND_STDOUT: "",
    });
    expect(r.status).toBe(0);
    expect([mine, otherGen, otherStack].map((p) => fs.existsSync(p))).toEqual([false, true, true]);
  });
});
