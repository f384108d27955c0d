/**
 * The ImageClaim dynamic resource under the engine's rules (dynamic.ts): what its state holds, and
 * what its Read lets `pulumi refresh` see.
 */
import * as fs from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { REPO } from "../support/front-door";
import type { RunResult } from "./engine";
import { publishedImages } from "./invariants";
import { Scenario, created, roles } from "./scenario";

const CLAIM = "pulumi-nodejs:dynamic:ImageClaim";

/** The claims a refresh found gone (a published build's PendingImage goes too: nothing pending). */
const claimsGone = (r: RunResult) =>
  r.steps.filter((st) => st.op === "refresh-gone" && st.urn.includes(CLAIM)).map((st) => st.urn);

describe("local: the ImageClaim resource", () => {
  let s: Scenario;
  beforeEach(async () => {
    s = await Scenario.create();
  });
  afterEach(async () => s.close());

  it("stores a provider that names its implementation by package, with no code or path of ours", async () => {
    const dev = s.stack("dev", s.config("local"));
    await s.up(dev);
    const claims = [...dev.state.values()].filter((e) => e.type === CLAIM);
    expect(claims).toHaveLength(2);
    for (const claim of claims) {
      const text = String(claim.outputs.__provider);
      expect(text).toContain('"dse-image/providers"');
      expect(text).toContain('"ImageClaim"');
      for (const absent of [REPO, s.world.root, "claimImage", "listFamily", "readdirSync"])
        expect(text).not.toContain(absent);
      expect(claim.inputs.__provider).toBe(text);
    }
  });

  it("refresh sees an image deleted outside Pulumi; the next up rebuilds only that image", async () => {
    const dev = s.stack("dev", s.config("local"));
    await s.up(dev);
    const qcow2 = publishedImages(s.world, s.localDirs).find((i) => i.platform === "qemu")!;
    for (const f of [qcow2.id, `${qcow2.id}.json`, `${qcow2.id}.sha256`]) fs.rmSync(f);

    const refreshed = await dev.refresh();
    expect(claimsGone(refreshed)).toEqual([
      expect.stringMatching(/QemuImage\$pulumi-nodejs:dynamic:ImageClaim::qemu-.*-image$/),
    ]);

    const rebuilt = await s.up(dev);
    expect(roles(created(rebuilt)).filter((r) => r === "image")).toHaveLength(1);
    expect(created(rebuilt).some((n) => n.startsWith("qemu-") && n.endsWith("-snapshot"))).toBe(
      true,
    );
    const now = publishedImages(s.world, s.localDirs).find((i) => i.platform === "qemu")!;
    expect(now.users).toEqual([dev.stackId]);
    await s.destroy(dev);
    expect(publishedImages(s.world, s.localDirs)).toEqual([]);
  });

  it("refresh sees a claim dropped outside Pulumi; the next up claims the image again", async () => {
    const dev = s.stack("dev", s.config("local"));
    await s.up(dev);
    const ova = publishedImages(s.world, s.localDirs).find((i) => i.platform === "virtualbox")!;
    const record = JSON.parse(fs.readFileSync(`${ova.id}.json`, "utf8")) as { users: object };
    fs.writeFileSync(`${ova.id}.json`, JSON.stringify({ ...record, users: {} }));

    const refreshed = await dev.refresh();
    expect(claimsGone(refreshed)).toEqual([expect.stringContaining("VirtualBoxImage$")]);
    const again = await s.up(dev);
    expect(roles(created(again))).toEqual(["image"]);
    const now = publishedImages(s.world, s.localDirs).find((i) => i.platform === "virtualbox")!;
    expect([now.id, now.users]).toEqual([ova.id, [dev.stackId]]);
  });

  it("a rename followed by `pulumi refresh`: the next up still moves every claim (the stored inputs name the old stack)", async () => {
    const keep = { retention: { keep: 1 } };
    const dev = s.stack("dev", s.config("local", { tools: ["python"], ...keep }));
    await s.up(dev);
    dev.config = s.config("local", { tools: ["python", "tools"], ...keep });
    await s.up(dev);
    const before = dev.stackId;
    dev.rename("dev2");
    const refreshed = await dev.refresh();
    expect(claimsGone(refreshed)).toEqual([]);
    const moved = await s.up(dev);
    expect(roles(created(moved))).toEqual([]);
    const images = publishedImages(s.world, s.localDirs);
    expect(images).toHaveLength(4);
    for (const img of images) {
      expect([...img.users, ...img.kept]).not.toContain(before);
      expect([...img.users, ...img.kept]).toEqual([dev.stackId]);
    }
    await s.destroy(dev);
    expect(publishedImages(s.world, s.localDirs)).toEqual([]);
  });
});

describe("openstack: the ImageClaim resource", () => {
  let s: Scenario;
  beforeEach(async () => {
    s = await Scenario.create();
  });
  afterEach(async () => s.close());

  const images = () => publishedImages(s.world);

  it("refresh sees an image deleted outside Pulumi (`openstack image delete`); the next up rebuilds it", async () => {
    const dev = s.stack("dev", s.config("openstack"));
    await s.up(dev);
    const [image] = images();
    s.world.openstack.deleteImage(image.id);

    const refreshed = await dev.refresh();
    expect(claimsGone(refreshed)).toEqual([
      expect.stringMatching(
        /OpenStackImage\$pulumi-nodejs:dynamic:ImageClaim::openstack-.*-image$/,
      ),
    ]);
    const rebuilt = await s.up(dev);
    expect(roles(created(rebuilt))).toContain("builder");
    expect(images().map((i) => [i.id === image.id, i.users])).toEqual([[false, [dev.stackId]]]);
    await s.destroy(dev);
    expect(images()).toEqual([]);
  });

  it("refresh sees a claim dropped outside Pulumi (`openstack image unset`); the next up claims it again", async () => {
    const dev = s.stack("dev", s.config("openstack"));
    await s.up(dev);
    const [image] = images();
    const glance = s.world.openstack.images.get(image.id)!;
    for (const key of Object.keys(glance.properties))
      if (key.startsWith("dse_user_")) delete glance.properties[key];

    const refreshed = await dev.refresh();
    expect(claimsGone(refreshed)).toEqual([expect.stringContaining("OpenStackImage$")]);
    const again = await s.up(dev);
    expect(roles(created(again))).toEqual(["image"]);
    expect(images().map((i) => [i.id, i.users])).toEqual([[image.id, [dev.stackId]]]);
  });

  it("a rename followed by `pulumi refresh`: the next up still moves every claim (no record step's stdout to lose)", async () => {
    const keep = { retention: { keep: 1 } };
    const dev = s.stack("dev", s.config("openstack", { tools: ["python"], ...keep }));
    await s.up(dev);
    dev.config = s.config("openstack", { tools: ["python", "tools"], ...keep });
    await s.up(dev);
    const before = dev.stackId;
    dev.rename("dev2");
    expect(claimsGone(await dev.refresh())).toEqual([]);
    const moved = await s.up(dev);
    expect(roles(created(moved))).toEqual([]);
    expect(images()).toHaveLength(2);
    for (const img of images()) expect([...img.users, ...img.kept]).toEqual([dev.stackId]);
    expect(images().flatMap((i) => [...i.users, ...i.kept])).not.toContain(before);
    await s.destroy(dev);
    expect(images()).toEqual([]);
  });
});
