/**
 * Rule P3: a stack built from one checkout is carried on from another. Pulumi stores each
 * command's text and environment, and a later `up` or `destroy` runs the stored delete from
 * wherever it is started (pulumi-command provider/pkg/provider/local/commandController.go
 * `Delete`, run in the project folder: pkg/engine/project.go `getPwdMain`). The checkout is moved
 * after the first build; the rebuild, the rename and the destroy run from the new folder.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { checkout } from "../support/checkout";
import { publishedImages } from "./invariants";
import { Family, Scenario } from "./scenario";

describe.each<Family>(["local", "openstack", "aws"])("%s: a moved checkout", (family) => {
  let s: Scenario;
  const xdg = process.env.XDG_CACHE_HOME;
  beforeEach(async () => {
    s = await Scenario.create();
    // The default cache (qemu.cacheDir unset) is the user's: here the world's.
    process.env.XDG_CACHE_HOME = path.join(s.world.root, "xdg");
    s.localCache = path.join(s.world.root, "xdg", "dse-image");
  });
  afterEach(async () => {
    if (xdg === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = xdg;
    await s.close();
  });

  /** The family's config with every local folder as the defaults leave it: relative or unset. */
  const config = (extra: Record<string, unknown> = {}) => {
    const c = s.config(family, { sbomDir: "images", ...extra });
    if (family !== "local") return c;
    const qemu: Record<string, unknown> = { ...(c.qemu as object), outputDir: "images" };
    delete qemu.cacheDir;
    return { ...c, qemu, virtualbox: { outputDir: "images" } };
  };

  it("builds from one folder, then rebuilds, renames and destroys from another", async () => {
    const first = path.join(s.world.root, "work", "dse-image");
    const moved = path.join(s.world.root, "elsewhere", "dse-image-clone");
    checkout(first);
    const dev = s.stack("dev", config());
    dev.projectDir = first;
    await s.up(dev);

    fs.mkdirSync(path.dirname(moved), { recursive: true });
    fs.renameSync(first, moved);
    dev.projectDir = moved;
    const images = () => publishedImages(s.world, s.localDirs).filter((i) => !i.copy);
    const before = images().map((i) => i.id);
    expect(before.length).toBeGreaterThan(0);

    dev.config = config({ tools: ["python", "tools"] });
    await s.up(dev);
    const rebuilt = images().map((i) => i.id);
    for (const id of before) expect(rebuilt).not.toContain(id);

    dev.config = config({ tools: ["python", "tools"], imageName: "team_base" });
    const renamed = await s.up(dev);
    const names = Object.values(renamed.outputs!.images as Record<string, { name: string }>);
    for (const { name } of names) expect(name).toMatch(/^team_base-/);
    expect(images().map((i) => i.name)).toEqual(names.map((i) => i.name).sort());

    await s.destroy(dev);
    expect(images()).toEqual([]);
  });
});
