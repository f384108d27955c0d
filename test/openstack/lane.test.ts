/**
 * The OpenStack lane: the real program's OpenStack stacks on a real single-node OpenStack
 * (cloud.sh: Debian 12's Zed, Nova on QEMU TCG, a flat network on a bridge it made). The engine
 * model runs the program; the typed OpenStack resources go through an adapter making the
 * provider's calls on the real cloud (test/engine/real-openstack.ts); the lifecycle's store,
 * snapshot, teardown and boot test, the builder's cloud-init, the pinned host key, SSH and the
 * provisioning are the real thing. Each step below depends on the one before.
 *
 * Needs root on Debian 12 (it installs and runs the cloud); elsewhere it skips with one line.
 * `OS_LANE_KEEP=1` leaves the cloud running after the lane (the next run starts in seconds).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Engine, type RunResult } from "../engine/engine";
import { RealOpenStackProviders } from "../engine/real-openstack";
import { OpenStackImageStore, runOpenStack } from "../../components/store/openstack";
import { ensureDebianBase } from "../vm";
import {
  laneCloudDown,
  laneCloudUp,
  laneUnavailable,
  projectObjects,
  type LaneCloud,
} from "./lane-cloud";

const log = (line: string) => process.stderr.write(`[openstack lane] ${line}\n`);
const unavailable = laneUnavailable();
if (unavailable) log(`skipped: ${unavailable}`);

interface Published {
  name: string;
  id: string;
  bootTest?: { passed: boolean; checks: string[] };
}

function published(r: RunResult): Published {
  const image = (r.outputs?.images as Record<string, Published> | undefined)?.openstack;
  if (!image) {
    const detail = `outputs ${JSON.stringify(r.outputs)}; log:\n${r.logs.join("\n")}`;
    log(`the run exported no images.openstack: ${detail}`);
    throw new Error(`the run exported no images.openstack: ${detail}`);
  }
  return image;
}

/** A run's outcome, with a failure's whole error in the lane's log (a report may cut it). */
function logged(what: string, r: RunResult): RunResult {
  if (!r.ok) log(`${what} failed: ${r.error ?? "(no error)"}`);
  return r;
}

/** A stack of the lane: the lane's network, flavor and proxy, python from apt. */
function laneConfig(cloud: LaneCloud, sbomDir: string): Record<string, unknown> {
  return {
    platforms: ["openstack"],
    imageName: "dse_lane",
    tools: ["python"],
    pythonSource: "apt",
    builderTtlMinutes: 60,
    sbomDir,
    // The guests reach Debian's mirror only through the lane's proxy on the bridge.
    httpProxy: cloud.env.OS_LANE_PROXY,
    openstack: {
      sourceImage: cloud.sourceImage,
      flavor: cloud.env.OS_LANE_FLAVOR,
      networks: [cloud.env.OS_LANE_NETWORK_ID],
      sshUser: "debian",
      sshAllowedCidrs: [`${cloud.env.OS_LANE_HOST_IP}/32`],
    },
  };
}

/** The lane's config with a wider visibility and a property: the second stack asks for them. */
function sharing(config: Record<string, unknown>): Record<string, unknown> {
  const openstack = {
    ...(config.openstack as object),
    imageVisibility: "shared",
    imageProperties: { os_distro: "debian" },
  };
  return { ...config, openstack };
}

interface GlanceImage {
  name: string;
  status: string;
  visibility: string;
  properties: Record<string, string>;
}

describe.skipIf(unavailable)("OpenStack platform on a real single-node OpenStack", () => {
  let cloud: LaneCloud;
  let tmp = "";
  let providers: RealOpenStackProviders;
  let dev: Engine;
  let prod: Engine;
  let built: Published;
  const glanceImage = async (id: string) =>
    JSON.parse(await providers.cli(["image", "show", id, "-f", "json"])) as GlanceImage;

  beforeAll(async () => {
    const base = await ensureDebianBase({ log });
    cloud = await laneCloudUp(base, log);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "dse-openstack-lane-"));
    providers = new RealOpenStackProviders({ env: cloud.env, log });
    // The host scripts call the `openstack` CLI with the operator's credentials (rule C4).
    Object.assign(process.env, cloud.env);
    const leftovers = await projectObjects(providers.cli);
    if (leftovers.length) {
      throw new Error(
        `the lane's test project is not empty (an interrupted run?): ${leftovers.join(", ")}; ` +
          "delete them, or run `test/openstack/cloud.sh reset` for a fresh cloud",
      );
    }
    const config = laneConfig(cloud, tmp);
    dev = new Engine("lane-dev", providers, config);
    prod = new Engine("lane-prod", providers, sharing(config));
  });

  afterAll(async () => {
    providers?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    if (!unavailable && process.env.OS_LANE_KEEP !== "1") await laneCloudDown(log);
  });

  it("a failed install.sh (the mirror unreachable) fails the build and publishes nothing", async () => {
    // A proxy that refuses connections: apt inside the builder fails, as with a wrong mirror.
    const config = dev.config;
    dev.config = { ...config, httpProxy: `http://${cloud.env.OS_LANE_HOST_IP}:9` };
    try {
      const r = logged("lane-dev up", await dev.up());
      expect(r.ok).toBe(false);
      expect(r.error).toMatch(/provision-install/);
    } finally {
      dev.config = config;
    }
    // The failed builder powers itself off 30 s later (onFailure); an operator fixing the cause
    // takes longer than that, so the retry finds it stopped. (A quicker retry resumes on it: the
    // engine model's "retry within the 30 s" scenario.)
    const deadline = Date.now() + 5 * 60_000;
    let servers: { Status: string }[] = [];
    do {
      await new Promise((resolve) => setTimeout(resolve, 5000));
      servers = JSON.parse(await providers.cli(["server", "list", "-f", "json"])) as typeof servers;
    } while (servers.some((s) => s.Status !== "SHUTOFF") && Date.now() < deadline);
    expect(servers.map((s) => s.Status)).toEqual(["SHUTOFF"]);
    const images = await projectObjects(providers.cli);
    expect(images.filter((o) => o.startsWith("image "))).toEqual([]);
  });

  it("the retry (the proxy fixed) builds, boot-tests and publishes the image, and leaves no builder", async () => {
    const r = logged("lane-dev up", await dev.up());
    expect(r.ok, r.error).toBe(true);
    built = published(r);
    expect(built.name).toMatch(/^dse_lane-[0-9a-f]{12}-\d{8}$/);
    expect(built.bootTest).toMatchObject({ passed: true });
    const image = await glanceImage(built.id);
    expect(image).toMatchObject({ name: built.name, status: "active", visibility: "private" });
    expect(image.properties).toMatchObject({ dse_state: "complete" });
    expect(await projectObjects(providers.cli)).toEqual([
      expect.stringMatching(new RegExp(`^image ${built.id} ${built.name} active$`)),
    ]);
  });

  it("a second up builds nothing, and a third changes nothing", async () => {
    // The second deletes (or, for components, drops) the finished build's steps (rule E1).
    const r = logged("lane-dev up", await dev.up());
    expect(r.ok, r.error).toBe(true);
    expect(published(r)).toEqual(built);
    expect(r.steps.filter((s) => !["same", "delete", "drop"].includes(s.op))).toEqual([]);
    const again = logged("lane-dev up", await dev.up());
    expect(again.ok, again.error).toBe(true);
    expect(again.steps.filter((s) => s.op !== "same")).toEqual([]);
  });

  it("a second stack adopts the image without building, widening it as it asks", async () => {
    const r = logged("lane-prod up", await prod.up());
    expect(r.ok, r.error).toBe(true);
    expect(published(r).id).toBe(built.id);
    expect(r.steps.filter((s) => s.urn.includes("openstack:compute/instance:Instance"))).toEqual(
      [],
    );
    const image = await glanceImage(built.id);
    expect(image.visibility).toBe("shared");
    expect(image.properties.os_distro).toBe("debian");
  });

  it("claims eight stacks write to the image at the same moment all hold, and all go", async () => {
    // Glance saves an image's whole record on every change: claims made at once undo each other
    // unless the store reads each back and makes it again (components/store/glance-change.ts).
    const stacks = Array.from({ length: 8 }, (_, n) => ({
      stackTag: `lane000${n}`,
      stackId: `organization/dse-lane/race-${n}`,
    }));
    const again: string[] = [];
    const store = new OpenStackImageStore({}, runOpenStack, { log: (m) => again.push(m) });
    const image = (await store.get(built.id))!;
    await Promise.all(stacks.map((s) => store.setClaim(image, "users", s.stackTag, s.stackId)));
    const claimed = (await store.get(built.id))!;
    for (const s of stacks) expect(claimed.users[s.stackTag]).toBe(s.stackId);
    await Promise.all(stacks.map((s) => store.dropClaim(claimed, "users", s.stackTag)));
    expect(Object.keys((await store.get(built.id))!.users).sort()).toEqual(
      Object.keys(image.users).sort(),
    );
    log(`eight claims and their releases at once: ${again.length} made again`);
    for (const line of again) log(line);
  });

  it("destroying the first stack keeps the image the second exports", async () => {
    const r = logged("lane-dev destroy", await dev.destroy());
    expect(r.ok, r.error).toBe(true);
    expect(await projectObjects(providers.cli)).toEqual([
      expect.stringMatching(new RegExp(`^image ${built.id} `)),
    ]);
  });

  it("the second stack, left alone on the image, no longer asks for them: Glance takes them back", async () => {
    prod.config = laneConfig(cloud, tmp);
    const r = logged("lane-prod up", await prod.up());
    expect(r.ok, r.error).toBe(true);
    expect(published(r).id).toBe(built.id);
    const image = await glanceImage(built.id);
    expect(image.visibility).toBe("private");
    expect(image.properties.os_distro).toBeUndefined();
  });

  it("destroying the second leaves nothing in the project", async () => {
    const r = logged("lane-prod destroy", await prod.destroy());
    expect(r.ok, r.error).toBe(true);
    expect(await projectObjects(providers.cli)).toEqual([]);
  });
});
