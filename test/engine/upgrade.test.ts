/**
 * Upgrade in place: a stack built by the previous release (test/engine/fixtures/release-202c22e,
 * whose claim on an image is a `command.local.Command` record step) is carried on by today's code
 * (`git pull`). The first `up` of the new code creates the stack's ImageClaim,
 * then deletes the old record step at the end of the run (rule E1) by running its STORED delete
 * (rule C3: `python3 components/lifecycle/imagestore.py release`, the file of the new checkout):
 * it must neither lose the claim the ImageClaim now holds nor release an image twice.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { checkout } from "../support/checkout";
import type { Engine } from "./engine";
import { publishedImages } from "./invariants";
import { Scenario, created, roles } from "./scenario";

const RELEASE = path.join(__dirname, "fixtures", "release-202c22e.tar.gz");

/**
 * The previous release, unpacked in `dir` with this checkout's node_modules and today's
 * `provision/` (what the user edits: the same files, so the same fingerprint, and the scenario is
 * about the program's code alone).
 */
function previousRelease(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const tar = spawnSync("tar", ["-xzf", RELEASE, "-C", dir], { encoding: "utf8" });
  expect(tar.stderr).toBe("");
  fs.rmSync(path.join(dir, "provision"), { recursive: true });
  fs.cpSync(path.resolve(__dirname, "..", "..", "provision"), path.join(dir, "provision"), {
    recursive: true,
  });
  fs.symlinkSync(
    path.resolve(__dirname, "..", "..", "node_modules"),
    path.join(dir, "node_modules"),
  );
}

/**
 * Today's code for the stacks of `engines`: a checkout next to the old one (vitest caches a
 * module's transform by its path, so the same folder would run the old code again; where the
 * checkout is does not matter here, the images' folders being absolute, and rule P3 has its own
 * scenario in checkout.test.ts).
 */
function pullToday(dir: string, engines: Engine[]): void {
  const today = `${dir}-today`;
  if (!fs.existsSync(today)) checkout(today);
  for (const e of engines) e.projectDir = today;
}

const typeOf = (e: Engine, suffix: string) =>
  [...e.state.values()].filter((r) => r.name.endsWith(suffix)).map((r) => r.type);

/** Each family's platforms: how many images one stack builds. */
const FAMILIES = [
  { family: "local" as const, perStack: 2 },
  { family: "openstack" as const, perStack: 1 },
  { family: "aws" as const, perStack: 1 },
];

describe.each(FAMILIES)(
  "$family: upgrade in place from the previous release",
  ({ family, perStack }) => {
    let s: Scenario;
    let dir: string;
    beforeEach(async () => {
      s = await Scenario.create();
      dir = path.join(s.world.root, "work", "dse-image");
      previousRelease(dir);
    });
    afterEach(async () => s.close());

    // The images a stack claims (an AMI's copies live and die with it).
    const images = () => publishedImages(s.world, s.localDirs).filter((i) => !i.copy);
    const stack = (name: string, extra: Record<string, unknown> = {}) => {
      const e = s.stack(name, s.config(family, extra));
      e.projectDir = dir;
      return e;
    };

    it("moves two stacks' claims to ImageClaims without losing or releasing one twice", async () => {
      const dev = stack("dev");
      const prod = stack("prod");
      await s.up(dev);
      await s.up(prod);
      expect(typeOf(dev, "-image")).toEqual(Array(perStack).fill("command:local:Command"));
      const before = images().map((i) => [i.id, [...i.users].sort()]);
      expect(before).toHaveLength(perStack);
      for (const [, users] of before) expect(users).toEqual([prod.stackId, dev.stackId].sort());

      pullToday(dir, [dev, prod]);
      const upgraded = await s.up(dev);
      expect(roles(created(upgraded))).toEqual(Array(perStack).fill("image"));
      // The old record steps go at the end of the run, their stored release finding the claims held.
      expect(roles(created(upgraded, "delete")).filter((r) => r === "image")).toEqual(
        Array(perStack).fill("image"),
      );
      expect(typeOf(dev, "-image")).toEqual(
        Array(perStack).fill("pulumi-nodejs:dynamic:ImageClaim"),
      );
      // The same images, claimed by both stacks as before.
      expect(images().map((i) => [i.id, [...i.users].sort()])).toEqual(before);

      await s.destroy(dev);
      expect(images().map((i) => [i.id, i.users])).toEqual(
        before.map(([id]) => [id, [prod.stackId]]),
      );
      await s.up(prod);
      await s.destroy(prod);
      expect(images()).toEqual([]);
    });

    it("a build the previous release left pending is published by today's code, and released once", async () => {
      const platform = family === "local" ? "qemu" : family;
      const dev = stack("dev");
      s.world.faults.fail("host:publish", { platform });
      await s.up(dev, { expectOk: false });
      expect(typeOf(dev, "-snapshot")).toContain("command:local:Command");

      pullToday(dir, [dev]);
      const next = await s.up(dev);
      expect(roles(created(next))).not.toContain(family === "local" ? "start" : "builder");
      // The old snapshot step leaves the program; its stored discard keeps the published image.
      expect(roles(created(next, "delete"))).toContain("snapshot");
      expect(images().map((i) => i.users)).toEqual(Array(perStack).fill([dev.stackId]));

      await s.destroy(dev);
      expect(images()).toEqual([]);
      // Nothing pending or failed left either.
      expect(
        [...s.world.openstack.images.values(), ...s.world.aws.amis.values()]
          .map((i) => i.name)
          .filter((name) => name.startsWith("dse_base")),
      ).toEqual([]);
    });

    it("an upgrade in the same up as a rebuild releases the old image once, and keeps what another stack uses", async () => {
      const dev = stack("dev");
      const prod = stack("prod");
      await s.up(dev);
      await s.up(prod);
      const old = images().map((i) => i.id);

      pullToday(dir, [dev, prod]);
      dev.config = s.config(family, { tools: ["python", "tools"] });
      await s.up(dev);
      const now = images();
      // prod still runs the old images; dev runs the new ones only.
      for (const id of old) expect(now.find((i) => i.id === id)?.users).toEqual([prod.stackId]);
      expect(now.filter((i) => !old.includes(i.id)).map((i) => i.users)).toEqual(
        Array(perStack).fill([dev.stackId]),
      );

      await s.destroy(prod);
      expect(
        images()
          .map((i) => i.id)
          .sort(),
      ).toEqual(
        now
          .filter((i) => !old.includes(i.id))
          .map((i) => i.id)
          .sort(),
      );
      await s.destroy(dev);
      expect(images()).toEqual([]);
    });
  },
);
