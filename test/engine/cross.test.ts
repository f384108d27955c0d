/**
 * Engine-model scenarios that concern one platform's own rules (OpenStack O2, O3, O4, cloud-init
 * S1) or several platforms at once (rule E5).
 */
import * as fs from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Scenario, created, roles } from "./scenario";

describe("openstack: specific paths", () => {
  let s: Scenario;
  beforeEach(async () => {
    s = await Scenario.create();
  });
  afterEach(async () => s.close());

  it("a stopped builder is never started again: up --refresh replaces it (rule O2)", async () => {
    const dev = s.stack("dev", s.config("openstack"));
    s.world.faults.fail("remote:install");
    await s.up(dev, { expectOk: false });
    const stopped = [...s.world.openstack.servers.values()][0];
    expect(stopped.status).toBe("SHUTOFF");
    await s.up(dev, { refresh: true });
    expect(stopped.guest.boots).toBe(1);
  });

  it("the dead-man switch is armed again when a builder boots again (rule S1)", async () => {
    const dev = s.stack("dev", s.config("openstack", { keepBuilderOnFailure: true }));
    s.world.faults.fail("remote:install");
    await s.up(dev, { expectOk: false });
    const server = [...s.world.openstack.servers.values()][0];
    server.guest.powerOff();
    server.guest.restart();
    expect(server.guest.ttlArmed).toBe(true);
  });

  it("a public image of another project with the same name and properties is not adopted (rule O4)", async () => {
    const dev = s.stack("dev", s.config("openstack"));
    const first = await s.up(dev);
    const mine = s.world.openstack.images.get(
      (first.outputs!.imageIds as Record<string, string>).openstack,
    )!;
    await s.destroy(dev);
    s.world.openstack.addImage({
      name: mine.name,
      owner: "proj-other",
      visibility: "public",
      properties: { ...mine.properties, dse_user_x: "someone/else/prod" },
    });
    const second = await s.up(dev);
    expect(roles(created(second))).toContain("builder");
    const info = (second.outputs!.images as Record<string, { id: string }>).openstack;
    expect(s.world.openstack.images.get(info.id)!.owner).toBe("proj-dse");
  });

  it("a server replaced while its floating IP moves is built on, not snapshotted unprovisioned", async () => {
    const dev = s.stack("dev", s.config("openstack", { keepBuilderOnFailure: true }));
    s.world.faults.fail("remote:install");
    await s.up(dev, { expectOk: false });
    // builderTtlMinutes changes the user data: rule O3 replaces the server; the fixed floating
    // IP stays the same address, so the connection looks unchanged.
    dev.config = s.config("openstack", { keepBuilderOnFailure: true, builderTtlMinutes: 90 });
    await s.up(dev);
  });
});

describe("one platform's failure cancels the others (rule E5)", () => {
  let s: Scenario;
  beforeEach(async () => {
    s = await Scenario.create();
  });
  afterEach(async () => s.close());

  it("the next run completes both, with nothing left and provisioned images only", async () => {
    const both = {
      ...s.config("openstack"),
      ...s.config("aws"),
      platforms: ["openstack", "aws"],
    };
    const dev = s.stack("dev", both);
    s.world.faults.fail("remote:install", { platform: "aws" });
    await s.up(dev, { expectOk: false });
    const next = await s.up(dev);
    const info = next.outputs!.images as Record<string, { id: string }>;
    expect(Object.keys(info).sort()).toEqual(["aws", "openstack"]);
  });
});

describe("a base republished under the same name or path is a new base (the fingerprint covers its bytes)", () => {
  let s: Scenario;
  beforeEach(async () => {
    s = await Scenario.create();
  });
  afterEach(async () => s.close());

  const ids = (r: { outputs?: Record<string, unknown> }) =>
    Object.values(r.outputs!.images as Record<string, { id: string }>).map((i) => i.id);

  it("local: a base file rewritten in place: the next up rebuilds from it; unchanged, nothing", async () => {
    const dev = s.stack("dev", s.config("local"));
    const first = await s.up(dev);
    expect(created(await s.up(dev))).toEqual([]);
    // The same fake disk, a new file: what a publisher's new image of the day is.
    const disk = JSON.parse(fs.readFileSync(s.world.baseImage, "utf8")) as Record<string, unknown>;
    fs.writeFileSync(s.world.baseImage, JSON.stringify({ ...disk, release: "20261205" }));
    const next = await s.up(dev);
    expect(roles(created(next))).toContain("start");
    for (const id of ids(first)) expect(ids(next)).not.toContain(id);
  });

  it("openstack: a source image by name published again: the next up rebuilds from the new one", async () => {
    const byName = s.config("openstack");
    const dev = s.stack("dev", {
      ...byName,
      openstack: { ...(byName.openstack as object), sourceImage: "debian-12" },
    });
    const first = await s.up(dev);
    expect(created(await s.up(dev))).toEqual([]);
    s.world.openstack.images.delete("debian-12-base");
    s.world.openstack.addImage({ name: "debian-12", owner: "proj-public", visibility: "public" });
    const next = await s.up(dev);
    expect(roles(created(next))).toContain("builder");
    expect(ids(next)).not.toEqual(ids(first));
  });

  it("openstack: a source image that is not active stops the run before anything is created", async () => {
    s.world.openstack.images.get("debian-12-base")!.status = "queued";
    const dev = s.stack("dev", s.config("openstack"));
    const r = await s.up(dev, { expectOk: false });
    expect(r.error).toBe(
      "dse-image:openstack.sourceImage: source image debian-12-base (debian-12-base) is queued, not active: a builder cannot boot it",
    );
    expect(r.steps).toEqual([]);
  });
});
