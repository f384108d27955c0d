/**
 * The engine-model scenarios, per platform family: the happy paths of the lifecycle contract
 * (DESIGN.md points 1-5), every recovery path (point 7: the eleven paths of the "recovery paths"
 * issue), and images shared across stacks (point 8). Each suite of each family is a test file of
 * its own (`<family>-<suite>.test.ts`), so that vitest's workers share them out evenly. The
 * invariants (provenance of every published image, nothing left after a successful run, outputs
 * that name live images, no exported image deleted) run after every run (scenario.ts). Test
 * utility, never shipped.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { stackTagOf } from "../../components/lifecycle/names";
import { LocalImageStore, pendingFolder } from "../../components/store/local";
import { markPending, publishPending } from "../../components/store/pending";
import { snapshotInstance } from "../../components/aws/snapshot";
import { AwsImageStore } from "../../components/store/aws";
import { openStore } from "../../components/store/open";
import type { PendingImageInputs } from "../../components/store/pending-provider";
import { AWS_REGION, Family, Scenario, created, roles } from "./scenario";
import { publishedImages } from "./invariants";
import type { Engine } from "./engine";

const PLATFORMS = { openstack: ["openstack"], aws: ["aws"], local: ["qemu", "virtualbox"] };
/** The call that launches a boot test's instance, and how often it is tried (start.sh: 5). */
const REFUSED_TEST_LAUNCH = {
  openstack: { fault: "cli:openstack server create", times: 1 },
  aws: { fault: "cli:aws run-instances", times: 1 },
  local: { fault: "cli:qemu-system-x86_64 test", times: 5 },
};
/** Five tool selections: five fingerprints. */
const TOOLSETS = [
  ["python"],
  ["python", "tools"],
  ["python", "r"],
  ["python", "scipy"],
  ["python", "jupyter"],
];

export function happyPaths(family: Family): void {
  describe(`${family}: happy paths`, () => {
    let s: Scenario;
    beforeEach(async () => {
      s = await Scenario.create();
    });
    afterEach(async () => s.close());

    const images = () => publishedImages(s.world, s.localDirs).filter((i) => !i.copy);

    it("a first up builds, boot-tests and publishes one image per platform and exports it", async () => {
      const dev = s.stack("dev", s.config(family));
      const r = await s.up(dev);
      const published = images();
      expect(published.map((i) => i.platform).sort()).toEqual([...PLATFORMS[family]].sort());
      const info = r.outputs!.images as Record<
        string,
        { name: string; id: string; bootTest?: { passed: boolean } }
      >;
      for (const p of PLATFORMS[family]) {
        expect(info[p].name).toMatch(/^dse_base-[0-9a-f]{12}-\d{8}$/);
        expect(published.some((i) => i.id === info[p].id && i.name === info[p].name)).toBe(true);
      }
      const main = PLATFORMS[family][0];
      expect(info[main].bootTest?.passed).toBe(true);
    });

    it("a second up with unchanged inputs creates, replaces or updates nothing; a third runs no host step", async () => {
      const dev = s.stack("dev", s.config(family));
      await s.up(dev);
      const before = s.providers.commandRuns.length;
      const second = await s.up(dev);
      expect(created(second)).toEqual([]);
      expect(created(second, "replace")).toEqual([]);
      expect(created(second, "update")).toEqual([]);
      // The first run's build chain leaves the state (rule E1): its builder-side resources are
      // gone already, its snapshot step's delete finds the image published and keeps it, and a
      // local builder's delete finds its folder gone.
      const steps = s.providers.commandRuns.slice(before).map((c) => c.script);
      expect(steps.filter((c) => c !== "discard" && c !== "teardown")).toEqual([]);
      expect(second.outputs).toEqual(dev.history[0].outputs);
      const third = s.providers.commandRuns.length;
      await s.up(dev);
      expect(s.providers.commandRuns.slice(third)).toEqual([]);
    });

    it("refresh, then up --refresh, rebuild nothing", async () => {
      const dev = s.stack("dev", s.config(family));
      const first = await s.up(dev);
      await dev.refresh();
      s.check(dev);
      const again = await s.up(dev, { refresh: true });
      expect(created(again)).toEqual([]);
      expect(again.outputs).toEqual(first.outputs);
    });

    it("build, refresh (command outputs emptied, rule P4), rebuild, destroy: no claim or image leaks", async () => {
      const dev = s.stack("dev", s.config(family));
      const first = await s.up(dev);
      await dev.refresh();
      const same = await s.up(dev);
      expect(same.outputs).toEqual(first.outputs);
      await dev.refresh();
      dev.config = s.config(family, { tools: ["python", "tools"] });
      const second = await s.up(dev);
      const newIds = Object.values(second.outputs!.images as Record<string, { id: string }>).map(
        (i) => i.id,
      );
      expect(
        images()
          .map((i) => i.id)
          .sort(),
      ).toEqual(newIds.sort());
      await dev.refresh();
      await s.destroy(dev);
      expect(images()).toEqual([]);
    });

    it("a fingerprint change builds once under a new name and deletes the old image", async () => {
      const dev = s.stack("dev", s.config(family));
      const first = await s.up(dev);
      dev.config = s.config(family, { tools: ["python", "tools"] });
      const second = await s.up(dev);
      const oldIds = Object.values(first.outputs!.images as Record<string, { id: string }>).map(
        (i) => i.id,
      );
      const newInfo = second.outputs!.images as Record<string, { id: string; name: string }>;
      for (const p of PLATFORMS[family]) expect(oldIds).not.toContain(newInfo[p].id);
      expect(
        images()
          .map((i) => i.id)
          .sort(),
      ).toEqual(
        Object.values(newInfo)
          .map((i) => i.id)
          .sort(),
      );
      expect(roles(created(second)).filter((r) => r === "snapshot" || r === "export").length).toBe(
        PLATFORMS[family].length,
      );
      const third = await s.up(dev);
      expect(created(third)).toEqual([]);
    });

    it("with retainImages the old image stays on a rebuild and on destroy", async () => {
      s.retained = true;
      const dev = s.stack("dev", s.config(family, { retainImages: true }));
      await s.up(dev);
      dev.config = s.config(family, { retainImages: true, tools: ["python", "tools"] });
      await s.up(dev);
      expect(images().length).toBe(2 * PLATFORMS[family].length);
      await s.destroy(dev);
      expect(images().length).toBe(2 * PLATFORMS[family].length);
    });

    it("retainImages turned on in the same up as a rebuild keeps the old image (rule C3)", async () => {
      s.retained = true;
      const dev = s.stack("dev", s.config(family));
      await s.up(dev);
      dev.config = s.config(family, { retainImages: true, tools: ["python", "tools"] });
      await s.up(dev);
      expect(images().length).toBe(2 * PLATFORMS[family].length);
    });

    it("destroy deletes the images and everything else the stack made", async () => {
      const dev = s.stack("dev", s.config(family));
      await s.up(dev);
      await s.destroy(dev);
      expect(images()).toEqual([]);
      expect(dev.state.size).toBe(0);
    });
  });
}

export function recoveryPaths(family: Family): void {
  describe(`${family}: recovery paths`, () => {
    let s: Scenario;
    beforeEach(async () => {
      s = await Scenario.create();
    });
    afterEach(async () => s.close());

    const images = () => publishedImages(s.world, s.localDirs).filter((i) => !i.copy);
    const mainPlatform = family === "local" ? "qemu" : family;
    /** The resource that is the builder machine: a typed instance, or the local start step. */
    const BUILDER = family === "local" ? "start" : "builder";
    const exported = (r: { outputs?: Record<string, unknown> }) =>
      (r.outputs!.images as Record<string, { id: string; name: string }>)[mainPlatform];

    it.each([false, true])(
      "a retry after a failed install (refresh %s) builds on a new builder and publishes a provisioned image",
      async (refresh) => {
        const dev = s.stack("dev", s.config(family));
        s.world.faults.fail("remote:install", {
          platform: mainPlatform === "qemu" ? "qemu" : family,
        });
        const failed = await s.up(dev, { expectOk: false });
        expect(failed.error).toMatch(/install\.sh: FAILED \(injected/);
        // onFailure powered the builder off: terminated on AWS, SHUTOFF on OpenStack, gone locally.
        expect(s.world.guests().filter((g) => g.running)).toEqual([]);
        expect(images()).toEqual([]);
        const retry = await s.up(dev, { refresh });
        expect(roles(created(retry))).toContain(BUILDER);
        expect(images().map((i) => i.id)).toContain(exported(retry).id);
      },
    );

    it("a stack renamed between a failed build on a kept builder and its retry publishes and leaves no builder", async () => {
      const dev = s.stack("dev", s.config(family, { keepBuilderOnFailure: true }));
      s.world.faults.fail("remote:cleanup");
      await s.up(dev, { expectOk: false });
      dev.rename("dev2");
      // A new builder (the old one is tagged with the old name); the old chain is deleted at the
      // end of the run (rule E1), its floating IP association after the new one took the address.
      const retry = await s.up(dev);
      expect(roles(created(retry))).toContain(BUILDER);
      expect(images().map((i) => i.id)).toContain(exported(retry).id);
      await s.destroy(dev);
      expect(images()).toEqual([]);
    });

    it("a retry within the 30 s before a failed builder powers off resumes it and disarms the power-off", async () => {
      const dev = s.stack("dev", s.config(family));
      const platform = mainPlatform === "qemu" ? "qemu" : family;
      s.world.faults.fail("remote:install", { platform });
      s.world.faults.fail("guest:retry-within-30s", { platform });
      await s.up(dev, { expectOk: false });
      const builder = s.world.guests().find((g) => g.running)!;
      expect(builder.failurePowerOffArmed).toBe(true);
      const retry = await s.up(dev);
      expect(roles(created(retry))).not.toContain(BUILDER);
      expect(builder.failurePowerOffArmed).toBe(false);
      expect(builder.commands.filter((c) => c.includes("install.sh"))).toHaveLength(2);
      expect(images().map((i) => i.id)).toContain(exported(retry).id);
    });

    it("a retry after a failed step on a kept builder resumes it: done steps do not run again", async () => {
      const dev = s.stack("dev", s.config(family, { keepBuilderOnFailure: true }));
      s.world.faults.fail("remote:cleanup");
      await s.up(dev, { expectOk: false });
      const builder = s.world.guests().find((g) => g.running)!;
      expect(builder).toBeDefined();
      const retry = await s.up(dev);
      expect(roles(created(retry))).not.toContain(BUILDER);
      expect(builder.commands.filter((c) => c.includes("install.sh"))).toHaveLength(1);
      expect(builder.commands.filter((c) => c.includes("cleanup.sh"))).toHaveLength(2);
      expect(images().map((i) => i.id)).toContain(exported(retry).id);
    });

    it("renaming imageName builds the image under the new name and deletes the old one", async () => {
      const dev = s.stack("dev", s.config(family));
      const first = await s.up(dev);
      dev.config = s.config(family, { imageName: "team_base" });
      const second = await s.up(dev);
      expect(exported(second).name).toMatch(/^team_base-[0-9a-f]{12}-\d{8}$/);
      expect(images().map((i) => i.id)).not.toContain(exported(first).id);
    });

    it("a fresh stack adopts an existing image without launching a builder", async () => {
      const dev = s.stack("dev", s.config(family));
      const built = await s.up(dev);
      const prod = s.stack("prod", s.config(family));
      const adopted = await s.up(prod);
      expect(roles(created(adopted))).toEqual(family === "local" ? ["image", "image"] : ["image"]);
      expect(adopted.outputs).toEqual(built.outputs);
    });

    it("an image deleted outside Pulumi is rebuilt, and its record released without error", async () => {
      const dev = s.stack("dev", s.config(family));
      const first = await s.up(dev);
      const id = exported(first).id;
      if (family === "openstack") s.world.openstack.deleteImage(id);
      if (family === "aws") s.world.aws.deregister(id);
      if (family === "local") {
        fs.rmSync(id);
      }
      const second = await s.up(dev);
      // A local image's ID is its path: the rebuilt file may take the same one.
      if (family !== "local") expect(exported(second).id).not.toBe(id);
      expect(roles(created(second))).toContain(BUILDER);
      expect(images().map((i) => i.id)).toContain(exported(second).id);
      const third = await s.up(dev);
      expect(created(third)).toEqual([]);
    });

    it.runIf(family === "openstack")(
      "a visibility narrowed and a property removed outside Pulumi: refresh drops the claim, the next up widens again",
      async () => {
        const c = s.config(family);
        const openstack = {
          ...(c.openstack as object),
          imageVisibility: "shared",
          imageProperties: { hw_qemu_guest_agent: "yes" },
        };
        const dev = s.stack("dev", { ...c, openstack });
        const first = await s.up(dev);
        const image = s.world.openstack.images.get(exported(first).id)!;
        image.visibility = "private";
        delete image.properties.hw_qemu_guest_agent;
        const again = await s.up(dev, { refresh: true });
        expect(roles(created(again))).not.toContain(BUILDER);
        expect(exported(again).id).toBe(exported(first).id);
        expect(image.visibility).toBe("shared");
        expect(image.properties.hw_qemu_guest_agent).toBe("yes");
        await s.destroy(dev);
        expect(publishedImages(s.world, s.localDirs)).toEqual([]);
      },
    );

    it.runIf(family === "aws")(
      "a copy deregistered outside Pulumi: refresh drops the claim, the next up copies again",
      async () => {
        const dev = s.stack("dev", s.config(family));
        const first = await s.up(dev);
        const regions = () =>
          (dev.lastOutputs!.imageIds as Record<string, Record<string, string>>).aws;
        const gone = regions()["eu-central-1"];
        s.world.aws.deregister(gone);
        const again = await s.up(dev, { refresh: true });
        expect(roles(created(again))).not.toContain(BUILDER);
        expect(regions()["eu-central-1"]).not.toBe(gone);
        expect(exported(again).id).toBe(exported(first).id);
        expect(s.world.aws.amis.get(regions()["eu-central-1"])!.state).toBe("available");
        await s.destroy(dev);
        expect(publishedImages(s.world, s.localDirs)).toEqual([]);
      },
    );

    it.runIf(family === "aws")(
      "a launch permission removed outside Pulumi: refresh drops the claim, the next up shares again",
      async () => {
        const c = s.config(family);
        const account = "210987654321";
        const aws = {
          ...(c.aws as object),
          shareWithAccounts: [account],
          kmsKeyId: "alias/images",
        };
        const dev = s.stack("dev", { ...c, aws });
        const first = await s.up(dev);
        const regions = () =>
          (dev.lastOutputs!.imageIds as Record<string, Record<string, string>>).aws;
        const amis = Object.values(regions()).map((id) => s.world.aws.amis.get(id)!);
        expect(amis.map((a) => a.launchPermissions)).toEqual([[account], [account]]);
        amis[1].launchPermissions = [];
        const again = await s.up(dev, { refresh: true });
        expect(roles(created(again))).not.toContain(BUILDER);
        expect(exported(again).id).toBe(exported(first).id);
        expect(amis.map((a) => a.launchPermissions)).toEqual([[account], [account]]);
        await s.destroy(dev);
        expect(publishedImages(s.world, s.localDirs)).toEqual([]);
      },
    );

    it("a store setting changed that leaves the image as it is: the claim is updated, the image stays", async () => {
      const c = s.config(family);
      const section = (key: string, extra: Record<string, unknown>) => ({
        ...c,
        [key]: { ...(c[key] as Record<string, unknown>), ...extra },
      });
      // Settings the store reads and the image's fingerprint does not.
      const changed = {
        aws: () => section("aws", { copyToRegions: ["us-west-2"] }),
        openstack: () =>
          section("openstack", {
            insecure: true,
            imageVisibility: "shared",
            imageProperties: { hw_qemu_guest_agent: "yes" },
          }),
        local: () => section("qemu", { cacheDir: path.join(s.localDirs[0], "..", "cache-2") }),
      }[family];
      const dev = s.stack("dev", c);
      const first = await s.up(dev);
      dev.config = changed();
      const second = await s.up(dev);
      expect(roles(created(second))).not.toContain(BUILDER);
      expect(roles(created(second, "replace"))).toEqual([]);
      expect(exported(second).id).toBe(exported(first).id);
      expect(images().map((i) => i.id)).toContain(exported(first).id);
      // The update claimed with the new settings: the copy in the new region, the wider
      // visibility and the new property.
      if (family === "aws") {
        expect(Object.keys((second.outputs!.imageIds as Record<string, object>).aws)).toContain(
          "us-west-2",
        );
        // The copy the stack no longer asks for, and no other stack does, goes.
        const old = (first.outputs!.imageIds as Record<string, Record<string, string>>).aws;
        expect(s.world.aws.amis.has(old["eu-central-1"])).toBe(false);
        expect(s.providers.dynamic.output).toContain(
          `==> aws: no stack asks for a copy in eu-central-1 any more: deleting ${old["eu-central-1"]} there`,
        );
        expect((second.outputs!.imageIds as Record<string, object>).aws).not.toHaveProperty(
          "eu-central-1",
        );
      }
      if (family === "openstack") {
        const image = s.world.openstack.images.get(exported(first).id)!;
        expect(image.visibility).toBe("shared");
        expect(image.properties.hw_qemu_guest_agent).toBe("yes");
      }
      const third = await s.up(dev);
      expect(created(third)).toEqual([]);
      expect(created(third, "update")).toEqual([]);
      if (family === "openstack") {
        // Back to the first settings: no other stack asks for what it added, so it goes.
        dev.config = c;
        await s.up(dev);
        const image = s.world.openstack.images.get(exported(first).id)!;
        expect(image.visibility).toBe("private");
        expect(image.properties.hw_qemu_guest_agent).toBeUndefined();
      }
      await s.destroy(dev);
      expect(images()).toEqual([]);
    });

    it("a run killed after the snapshot is finished by the next run without a new builder", async () => {
      const dev = s.stack("dev", s.config(family));
      await s.up(dev, { killAfter: "-snapshot", expectOk: false });
      expect(images()).toEqual([]);
      const next = await s.up(dev);
      expect(roles(created(next)), created(next).join(" ")).not.toContain(BUILDER);
      expect(roles(created(next)), created(next).join(" ")).toContain("publish");
    });

    it("a run killed mid-provisioning resumes on the same running builder", async () => {
      const dev = s.stack("dev", s.config(family));
      await s.up(dev, { killAfter: "-provision-install", expectOk: false });
      const builder = s.world.guests().find((g) => g.running)!;
      const next = await s.up(dev);
      expect(roles(created(next))).not.toContain(BUILDER);
      expect(builder.commands.filter((c) => c.includes("install.sh"))).toHaveLength(1);
    });

    it("a run killed in the middle of install.sh: the next warns of the pending step, runs install.sh again on the same builder and publishes", async () => {
      const dev = s.stack("dev", s.config(family));
      await s.up(dev, { killDuring: "-provision-install", expectOk: false });
      expect(dev.pendingOperations.map((op) => [op.urn.split("-").pop(), op.type])).toEqual([
        ["install", "creating"],
      ]);
      const builder = s.world.guests().find((g) => g.running)!;
      const next = await s.up(dev);
      expect(next.logs).toContain(
        "warning: Attempting to deploy or update resources with 1 pending operations from previous deployment.",
      );
      expect(roles(created(next))).not.toContain(BUILDER);
      expect(builder.commands.filter((c) => c.includes("install.sh"))).toHaveLength(1);
      // The pending CREATE stays until a refresh is told to clear it.
      await dev.refresh();
      expect(dev.pendingOperations).toHaveLength(1);
      await dev.refresh({ clearPendingCreates: true });
      expect(dev.pendingOperations).toEqual([]);
    });

    it.runIf(family !== "local")(
      "a run killed while the builder is created: the next run's builder is new and nothing of either is left",
      async () => {
        const dev = s.stack("dev", s.config(family));
        await s.up(dev, { killDuring: "-builder", expectOk: false });
        // The cloud made the server the state never heard of.
        expect(s.world.guests().filter((g) => g.running)).toHaveLength(1);
        await s.up(dev); // the invariants check nothing builder-side is left
      },
    );

    it.runIf(family !== "local")(
      "a run killed while the builder is created, then a stack rename: the next run sweeps the old name's builder",
      async () => {
        const dev = s.stack("dev", s.config(family));
        await s.up(dev, { killDuring: "-builder", expectOk: false });
        dev.rename("dev2");
        // The invariants check that nothing of either name is left.
        await s.up(dev);
        expect(s.world.guests().filter((g) => g.running)).toEqual([]);
      },
    );

    it("a failed build, then a fingerprint change, leaves nothing of the failed build", async () => {
      const dev = s.stack("dev", s.config(family, { keepBuilderOnFailure: true }));
      s.world.faults.fail("remote:verify");
      await s.up(dev, { expectOk: false });
      dev.config = s.config(family, { tools: ["python", "tools"] });
      await s.up(dev); // the invariants check nothing of either build is left
    });

    it("a failed publish leaves no image under its final name; the next run publishes it", async () => {
      const dev = s.stack("dev", s.config(family));
      s.world.faults.fail("host:publish", { platform: mainPlatform });
      await s.up(dev, { expectOk: false });
      expect(images()).toEqual([]);
      const prod = s.stack("prod", s.config(family));
      // Another stack does not adopt the unpublished image.
      await s.up(prod);
      const next = await s.up(dev);
      expect(roles(created(next))).not.toContain(BUILDER);
    });

    it("a test instance the cloud refuses keeps the image pending; the next run tests and publishes it", async () => {
      const dev = s.stack("dev", s.config(family));
      const { fault, times } = REFUSED_TEST_LAUNCH[family];
      s.world.faults.fail(fault, { platform: mainPlatform, times });
      const failed = await s.up(dev, { expectOk: false });
      expect(failed.error).toMatch(/FAILED in check "launch"/);
      expect(failed.error).toMatch(/the image stays pending/);
      expect(images()).toEqual([]);
      const next = await s.up(dev);
      expect(roles(created(next))).not.toContain(BUILDER);
      expect(roles(created(next))).toEqual(expect.arrayContaining(["boot-test", "publish"]));
      expect(images().map((i) => i.id)).toContain(exported(next).id);
    });

    it("a run killed mid boot test: the next removes its test instance, then tests and publishes the same image", async () => {
      const dev = s.stack("dev", s.config(family));
      s.world.faults.fail("kill:scp smoke.sh");
      await s.up(dev, { expectOk: false });
      // The kill skipped the test's own cleanup: its instance still runs (the builder is gone),
      // and its temp folder with the test's private key is still there.
      expect(s.world.guests().filter((g) => g.running)).toHaveLength(1);
      const bootTestTemp = () =>
        fs.readdirSync(s.world.tmpDir).filter((f) => f.startsWith("dse-boot-test-"));
      expect(bootTestTemp()).toHaveLength(1);
      const next = await s.up(dev);
      expect(roles(created(next))).not.toContain(BUILDER);
      expect(images().map((i) => i.id)).toContain(exported(next).id);
      expect(bootTestTemp()).toEqual([]);
    });

    it.runIf(family === "local")(
      "a run killed while the OVA is exported: the next run exports it again and removes what the killed export left",
      async () => {
        const dev = s.stack("dev", s.config(family));
        // The kill takes the dynamic provider plugin that runs the export, with its qemu-img.
        s.world.faults.fail("kill:qemu-img convert vmdk");
        const failed = await s.up(dev, { expectOk: false });
        expect(failed.error).toMatch(/the dynamic provider plugin exited \(SIGKILL\)/);
        const pending = path.join(s.localDirs[0], ".pending");
        const work = () => fs.readdirSync(pending).filter((f) => f.startsWith(".ova-"));
        expect(work()).toHaveLength(1);
        expect(images().filter((i) => i.platform === "virtualbox")).toEqual([]);
        const next = await s.up(dev);
        expect(roles(created(next))).not.toContain(BUILDER);
        expect(work()).toEqual([]);
        const ova = (next.outputs!.images as Record<string, { id: string }>).virtualbox.id;
        expect(images().map((i) => i.id)).toContain(path.resolve(ova));
      },
    );

    it.runIf(family === "local").each(["a fingerprint change", "destroy"])(
      "a run killed while the builder's disk is converted, then %s: nothing of the conversion stays",
      async (then) => {
        const dev = s.stack("dev", s.config(family));
        s.world.faults.fail("kill:qemu-img convert overlay.qcow2");
        await s.up(dev, { expectOk: false });
        const pending = path.join(s.localDirs[0], ".pending");
        const partial = () =>
          fs
            .readdirSync(pending, { recursive: true })
            .map(String)
            .filter((f) => f.endsWith(".qcow2.tmp"));
        // In the stack's own pending folder: another stack's build of the same image never
        // converts into the same file.
        expect(partial()).toEqual([
          expect.stringMatching(new RegExp(`^${stackTagOf(dev.stackId)}/[^/]+\\.qcow2\\.tmp$`)),
        ]);
        // Then teardown.sh removes the killed build's builder folder, which names the partial
        // image: the next build's sweep of this stack's builders, or the stored delete of the
        // start step (rule C3) when the killed build's steps leave the state (rule E1, destroy).
        if (then === "destroy") {
          await s.destroy(dev);
        } else {
          dev.config = s.config(family, { tools: ["python", "tools"] });
          await s.up(dev);
        }
        // The invariants check the pending folder too; say what this scenario is about.
        expect(partial()).toEqual([]);
      },
    );

    it.runIf(family === "openstack")(
      "an image Glance kills before its boot test is discarded; the next run builds anew",
      async () => {
        const dev = s.stack("dev", s.config(family));
        s.world.faults.fail("glance:killed", { platform: "openstack" });
        const failed = await s.up(dev, { expectOk: false });
        expect(failed.error).toMatch(/FAILED in check "image"/);
        expect(
          [...s.world.openstack.images.values()].filter((i) => i.name.startsWith("dse_base")),
        ).toEqual([]);
        const next = await s.up(dev);
        expect(roles(created(next))).toContain(BUILDER);
        expect(images().map((i) => i.id)).toContain(exported(next).id);
      },
    );

    it.runIf(family !== "local")(
      "a snapshot the cloud fails: the next run snapshots the sealed builder again, and no failed image stays",
      async () => {
        const dev = s.stack("dev", s.config(family));
        s.world.faults.fail(family === "aws" ? "ec2:ami-failed" : "glance:killed-upload", {
          platform: family,
        });
        const failed = await s.up(dev, { expectOk: false });
        expect(failed.error).toMatch(
          family === "aws" ? /AMI ami-\w+ in \S+ is failed/ : /is killed/,
        );
        const next = await s.up(dev);
        expect(roles(created(next))).not.toContain(BUILDER);
        expect(roles(created(next))).toContain("snapshot");
        const ours =
          family === "aws"
            ? [...s.world.aws.amis.values()]
                .filter((i) => i.region === AWS_REGION) // not the copies
                .map((i) => [i.id, i.name, i.state])
            : [...s.world.openstack.images.values()].map((i) => [i.id, i.name, i.status]);
        expect(ours.filter(([, name]) => name.startsWith("dse_base"))).toEqual([
          [exported(next).id, exported(next).name, family === "aws" ? "available" : "active"],
        ]);
      },
    );

    it("a failed boot test publishes nothing and leaves nothing; the next run builds anew", async () => {
      const dev = s.stack("dev", s.config(family));
      s.world.faults.fail("remote:smoke");
      const failed = await s.up(dev, { expectOk: false });
      expect(failed.error).toMatch(/^exit status 1: boot-test: /);
      expect(failed.error).toMatch(/boot test of dse_base-\S+ FAILED in check "smoke"/);
      expect(images()).toEqual([]);
      // Nor an SBOM of the image that does not exist.
      expect(fs.existsSync(s.sbomDir) ? fs.readdirSync(s.sbomDir) : []).toEqual([]);
      s.check(dev);
      const next = await s.up(dev);
      expect(roles(created(next))).toContain(BUILDER);
    });
  });
}

export function sharedImages(family: Family): void {
  describe(`${family}: images shared across stacks`, () => {
    let s: Scenario;
    beforeEach(async () => {
      s = await Scenario.create();
    });
    afterEach(async () => s.close());

    const main = family === "local" ? "qemu" : family;
    const images = () => publishedImages(s.world, s.localDirs).filter((i) => !i.copy);
    /** Every AMI of the world, copies included. */
    const allAmis = () => publishedImages(s.world, s.localDirs).filter((i) => i.platform === "aws");
    /**
     * ci's claim at the same moment as prod's up: it read the AMI before prod's copies were
     * recorded, and makes its own after them (the real store, against the world's EC2).
     */
    const ciCopiesDuring = async (prod: Engine, ami: string, copyToRegions: string[]) => {
      const ciStore = new AwsImageStore({ region: AWS_REGION, copyToRegions }, () => undefined);
      const ciRead = (await ciStore.get(ami))!;
      await s.up(prod);
      await ciStore.ensureReplicas(ciRead);
      return ciStore;
    };
    /** The platform's config with `aws.copyToRegions` set. */
    const copyingTo = (copyToRegions: string[]) => {
      const c = s.config(family);
      return { ...c, aws: { ...(c.aws as Record<string, unknown>), copyToRegions } };
    };
    const mainImages = () => images().filter((i) => i.platform === main);
    const mainIds = () =>
      mainImages()
        .map((i) => i.id)
        .sort();
    const exported = (r: { outputs?: Record<string, unknown> }) =>
      (
        r.outputs!.images as Record<
          string,
          { id: string; previous: { id: string; name: string }[] }
        >
      )[main];

    it("dev builds, prod adopts, dev destroys (the image stays), prod destroys (the image goes)", async () => {
      const dev = s.stack("dev", s.config(family));
      const built = await s.up(dev);
      const prod = s.stack("prod", s.config(family));
      const adopted = await s.up(prod);
      expect(exported(adopted).id).toBe(exported(built).id);
      const image = mainImages().find((i) => i.id === exported(built).id)!;
      expect(image.users.sort()).toEqual([dev.stackId, prod.stackId].sort());

      await s.destroy(dev);
      expect(mainImages().map((i) => i.id)).toEqual([exported(built).id]);
      const again = await s.up(prod);
      expect(exported(again).id).toBe(exported(built).id);

      await s.destroy(prod);
      expect(images()).toEqual([]);
    });

    it("prod destroys first, then dev: same end", async () => {
      const dev = s.stack("dev", s.config(family));
      await s.up(dev);
      const prod = s.stack("prod", s.config(family));
      await s.up(prod);
      await s.destroy(prod);
      expect(mainImages()).toHaveLength(1);
      await s.destroy(dev);
      expect(images()).toEqual([]);
    });

    it("dev rebuilds while prod still uses the old image: it stays until prod moves on", async () => {
      const dev = s.stack("dev", s.config(family, { tools: TOOLSETS[0] }));
      const first = await s.up(dev);
      const prod = s.stack("prod", s.config(family, { tools: TOOLSETS[0] }));
      await s.up(prod);
      dev.config = s.config(family, { tools: TOOLSETS[1] });
      const second = await s.up(dev);
      expect(mainIds()).toEqual([exported(first).id, exported(second).id].sort());
      const old = mainImages().find((i) => i.id === exported(first).id)!;
      expect(old.users).toEqual([prod.stackId]);
      // Promotion: prod takes the image dev built, without building.
      prod.config = s.config(family, { tools: TOOLSETS[1] });
      const promoted = await s.up(prod);
      expect(exported(promoted).id).toBe(exported(second).id);
      expect(mainImages().map((i) => i.id)).toEqual([exported(second).id]);
    });

    it.runIf(family === "local")(
      "two stacks build the same image at once: the second to publish keeps the first's image and its claim",
      async () => {
        const dev = s.stack("dev", s.config(family));
        const prod = s.stack("prod", s.config(family));
        // prod's run, between dev's snapshot and dev's publish: it found no image either, built
        // the same one into its own pending folder, published it and claimed it (its providers'
        // store calls, made here: the model runs one program at a time).
        const prodBuildsTheSameImage = async () => {
          const store = new LocalImageStore("qemu", { outputDir: s.localDirs[0] });
          const [devs] = (await store.listFamily("dse_base")).filter(
            (i) => i.meta.state === "pending",
          );
          const tag = stackTagOf(prod.stackId);
          const copy = path.join(pendingFolder(s.localDirs[0], tag), path.basename(devs.id));
          fs.mkdirSync(path.dirname(copy), { recursive: true });
          fs.copyFileSync(devs.id, copy);
          const name = devs.meta.finalName!;
          await markPending(store, copy, {
            name,
            gen: "g-prod",
            stackTag: tag,
            imageName: "dse_base",
            fingerprint: devs.meta.fingerprint!,
            manifest: devs.manifest,
          });
          const id = await publishPending(store, copy, name, "", () => undefined);
          await store.setClaim((await store.get(id))!, "users", tag, prod.stackId);
        };
        const built = await s.up(dev, {
          meanwhile: { before: "-publish", run: prodBuildsTheSameImage },
        });
        expect(roles(created(built))).toContain("publish");
        const [image] = mainImages();
        expect(mainImages()).toHaveLength(1);
        expect(exported(built).id).toBe(image.id);
        // Both claims: prod's, set on its publish, was not written over by dev's.
        expect(image.users.sort()).toEqual([dev.stackId, prod.stackId].sort());

        await s.destroy(dev);
        expect(mainImages().map((i) => i.id)).toEqual([image.id]);
        const adopted = await s.up(prod);
        expect(roles(created(adopted))).not.toContain("start");
        await s.destroy(prod);
        expect(images()).toEqual([]);
      },
    );

    it.runIf(family === "aws")(
      "two stacks build the same image at once: the second's snapshot stops naming the AMI, its next up adopts it",
      async () => {
        const dev = s.stack("dev", s.config(family));
        const prod = s.stack("prod", s.config(family));
        // prod's run, just before dev's snapshot: it found no image either, built the same one,
        // published and claimed it (its providers' calls, made here with the real store against
        // the world's EC2; its builder is dev's, whose disk holds the same build).
        let prodsAmi = "";
        const prodBuildsTheSameImage = async (inputs: Record<string, unknown>) => {
          const step = inputs as unknown as PendingImageInputs;
          const store = openStore(step.store) as AwsImageStore;
          const tag = stackTagOf(prod.stackId);
          const pending = await snapshotInstance(
            store,
            step.environment.INSTANCE_ID,
            {
              ...step,
              gen: "g-prod",
              stackTag: tag,
              manifest: JSON.parse(step.manifest) as Record<string, unknown>,
            },
            () => undefined,
          );
          prodsAmi = await publishPending(store, pending, step.name, "", () => undefined);
          await store.setClaim((await store.get(prodsAmi))!, "users", tag, prod.stackId);
        };
        const failed = await s.up(dev, {
          expectOk: false,
          meanwhile: { before: "-snapshot", run: prodBuildsTheSameImage },
        });
        expect(failed.error).toMatch(
          new RegExp(
            `AMI name \\S+ is taken by ${prodsAmi} \\(state complete, stack [0-9a-f]{8}\\)`,
          ),
        );
        expect(failed.error).toMatch(/run `pulumi up` again to use that AMI once it is complete/);

        const next = await s.up(dev);
        expect(roles(created(next))).not.toContain("snapshot");
        expect(exported(next).id).toBe(prodsAmi);
        expect(mainIds()).toEqual([prodsAmi]);
        expect(mainImages()[0].users.sort()).toEqual([dev.stackId, prod.stackId].sort());
        await s.destroy(dev);
        expect(mainIds()).toEqual([prodsAmi]);
      },
    );

    it.runIf(family === "openstack")(
      "two stacks claim the image at the same moment: the claim Glance lost is made again, and keeps the image",
      async () => {
        const dev = s.stack("dev", s.config(family));
        const built = await s.up(dev);
        const prod = s.stack("prod", s.config(family));
        const ci = s.stack("ci", s.config(family));
        // ci claims the image at the same moment as prod: its change read the image before prod's
        // claim and is saved after it, whole (Glance), so prod's claim is gone once written.
        const prodsClaim = `dse_user_${stackTagOf(prod.stackId)}=`;
        s.world.openstack.concurrent.push({
          when: (args) => args.some((a) => a.startsWith(prodsClaim)),
          change: (image) => (image.properties[`dse_user_${stackTagOf(ci.stackId)}`] = ci.stackId),
        });
        const adopted = await s.up(prod);
        expect(s.world.openstack.concurrent).toEqual([]);
        expect(exported(adopted).id).toBe(exported(built).id);
        const [image] = mainImages();
        expect(image.users.sort()).toEqual([ci.stackId, dev.stackId, prod.stackId].sort());
        // ci's run goes on: its claim is there.
        const ciRun = await s.up(ci);
        expect(roles(created(ciRun))).not.toContain("snapshot");

        // dev and ci go: prod's claim keeps the image it exports.
        await s.destroy(dev);
        await s.destroy(ci);
        expect(mainIds()).toEqual([image.id]);
        const again = await s.up(prod);
        expect(roles(created(again))).toEqual([]);
        expect(exported(again).id).toBe(image.id);
        await s.destroy(prod);
        expect(images()).toEqual([]);
      },
    );

    it.runIf(family === "aws")(
      "a release deregisters the AMI just after another stack's claim: the claim fails, the next up builds",
      async () => {
        const config = copyingTo([]);
        const dev = s.stack("dev", config);
        const built = await s.up(dev);
        const ami = exported(built).id;
        const prod = s.stack("prod", config);
        // dev is destroyed while prod adopts its AMI: dev's release reads the AMI before prod's
        // claim is written (prod's claim waits for dev's deregister to be sent), and the
        // deregister lands just after prod's last claim write.
        const tagged = (key: string) => (args: string[]) =>
          args.includes("create-tags") && args.some((a) => a.includes(key));
        const prodTag = stackTagOf(prod.stackId);
        let deregisterSent!: () => void;
        let claimWritten!: () => void;
        const sent = new Promise<void>((resolve) => (deregisterSent = resolve));
        const written = new Promise<void>((resolve) => (claimWritten = resolve));
        s.world.aws.interleave.push(
          {
            when: (args) => args.includes("deregister-image") && args.includes(ami),
            arrived: deregisterSent,
            after: written,
          },
          { when: tagged(`dse-image:user:${prodTag}`), after: sent },
          { when: tagged(`dse-image:held:${prodTag}`), served: claimWritten },
        );
        const [, failed] = await Promise.all([s.destroy(dev), s.up(prod, { expectOk: false })]);
        expect(s.world.aws.interleave).toEqual([]);
        expect(failed.error).toContain(
          `image ${ami} is gone: another stack's run released it since this run read it`,
        );
        const again = await s.up(prod);
        expect(roles(created(again))).toContain("snapshot");
        expect(exported(again).id).not.toBe(ami);
        await s.destroy(prod);
        expect(allAmis()).toEqual([]);
      },
    );

    it.runIf(family === "aws")(
      "two stacks copy the AMI to two regions at once: both copies stay recorded, and go with it",
      async () => {
        const dev = s.stack("dev", copyingTo([]));
        const built = await s.up(dev);
        const prod = s.stack("prod", copyingTo(["eu-central-1"]));
        const ci = s.stack("ci", copyingTo(["us-west-2"]));
        const ciStore = await ciCopiesDuring(prod, exported(built).id, ["us-west-2"]);
        const copies = async () =>
          Object.keys((await ciStore.get(exported(built).id))!.extra.copies as object).sort();
        expect(await copies()).toEqual(["eu-central-1", "us-west-2"]);
        const ciRun = await s.up(ci);
        expect(roles(created(ciRun))).not.toContain("snapshot");
        // ci exports its own copy: prod's is prod's to export.
        const regions = (ciRun.outputs!.imageIds as Record<string, Record<string, string>>).aws;
        expect(Object.keys(regions).sort()).toEqual([AWS_REGION, "us-west-2"].sort());
        expect(allAmis()).toHaveLength(3);

        for (const stack of [dev, prod, ci]) await s.destroy(stack);
        expect(allAmis()).toEqual([]);
      },
    );

    it.runIf(family === "aws")(
      "two stacks copy the AMI to the same region at once: one copy, and it goes with the AMI",
      async () => {
        const copying = copyingTo(["eu-central-1"]);
        const dev = s.stack("dev", copyingTo([]));
        const built = await s.up(dev);
        const prod = s.stack("prod", copying);
        const ci = s.stack("ci", copying);
        // ci asks EC2 for a copy too.
        await ciCopiesDuring(prod, exported(built).id, ["eu-central-1"]);
        expect(allAmis()).toHaveLength(2);
        const ciRun = await s.up(ci);
        expect(roles(created(ciRun))).not.toContain("snapshot");
        expect(allAmis()).toHaveLength(2);

        for (const stack of [dev, prod, ci]) await s.destroy(stack);
        expect(allAmis()).toEqual([]);
      },
    );

    it.runIf(family === "aws")(
      "a stack stops copying and sharing: what another stack asks for stays until it goes too",
      async () => {
        const [A, B] = ["111111111111", "222222222222"];
        const asking = (copyToRegions: string[], shareWithAccounts: string[]) => {
          const c = copyingTo(copyToRegions);
          const aws = { ...(c.aws as object), shareWithAccounts, kmsKeyId: "alias/images" };
          return { ...c, aws };
        };
        const dev = s.stack("dev", asking(["eu-central-1", "us-west-2"], [A, B]));
        const built = await s.up(dev);
        const ami = exported(built).id;
        const prod = s.stack("prod", asking(["us-west-2"], [B]));
        await s.up(prod);
        const copyIn = (region: string) =>
          [...s.world.aws.amis.values()].find((a) => a.region === region);
        const west = copyIn("us-west-2")!;
        expect(copyIn("eu-central-1")).toBeDefined();

        dev.config = asking([], []);
        const changed = await s.up(dev);
        expect(roles(created(changed, "replace"))).toEqual([]);
        expect(copyIn("eu-central-1")).toBeUndefined();
        expect(s.world.aws.amis.get(ami)!.launchPermissions).toEqual([B]);
        expect(west.launchPermissions).toEqual([B]);
        expect((changed.outputs!.imageIds as Record<string, object>).aws).toEqual({
          [AWS_REGION]: ami,
        });
        expect(s.providers.dynamic.output).toContain(
          `==> aws: the copies in us-west-2 and the shares with ${B} of ${ami} stay: the claims of ${prod.stackId} ask for them`,
        );

        // prod goes; dev, which asks for nothing, keeps the AMI alone.
        await s.destroy(prod);
        expect(allAmis().map((i) => i.id)).toEqual([ami]);
        expect(s.world.aws.amis.get(ami)!.launchPermissions).toEqual([]);
        const again = await s.up(dev);
        expect(created(again, "update")).toEqual([]);
        await s.destroy(dev);
        expect(allAmis()).toEqual([]);
      },
    );

    it.runIf(family === "openstack")(
      "a stack narrows its visibility and drops a property: what another stack asks for stays until it goes too",
      async () => {
        const asking = (imageVisibility: string, imageProperties: Record<string, string>) => {
          const c = s.config(family);
          const openstack = { ...(c.openstack as object), imageVisibility, imageProperties };
          return { ...c, openstack };
        };
        const dev = s.stack("dev", asking("community", { a: "1", b: "2" }));
        const built = await s.up(dev);
        const prod = s.stack("prod", asking("shared", { b: "2" }));
        await s.up(prod);
        const image = s.world.openstack.images.get(exported(built).id)!;
        expect(image.visibility).toBe("community");

        dev.config = asking("private", {});
        const changed = await s.up(dev);
        expect(roles(created(changed, "replace"))).toEqual([]);
        expect(image.visibility).toBe("shared");
        expect(image.properties.a).toBeUndefined();
        expect(image.properties.b).toBe("2");

        // prod goes; dev, which asks for nothing, keeps the image alone.
        await s.destroy(prod);
        expect(image.visibility).toBe("private");
        expect(image.properties.b).toBeUndefined();
        await s.destroy(dev);
        expect(images()).toEqual([]);
      },
    );

    it.runIf(family === "aws")(
      "a release deletes a copy while another stack adopts the AMI asking for it: that stack copies again and keeps its record",
      async () => {
        const dev = s.stack("dev", copyingTo(["eu-central-1"]));
        const built = await s.up(dev);
        const ami = exported(built).id;
        const old = (built.outputs!.imageIds as Record<string, Record<string, string>>).aws[
          "eu-central-1"
        ];
        // ci keeps the AMI when dev goes, asking for no copy.
        const ci = s.stack("ci", copyingTo([]));
        await s.up(ci);
        const prod = s.stack("prod", copyingTo(["eu-central-1"]));
        // dev is destroyed while prod adopts: dev's release reads the AMI before prod's claim is
        // written, so it deletes the copy no claim it read asks for; the deregister lands just
        // after prod's claim, and dev's removal of the copy's record after prod recorded its new
        // copy there.
        const call =
          (command: string, ...parts: string[]) =>
          (args: string[]) =>
            args.includes(command) && parts.every((p) => args.some((a) => a.includes(p)));
        const prodTag = stackTagOf(prod.stackId);
        const signal = () => {
          let done!: () => void;
          const promise = new Promise<void>((resolve) => (done = resolve));
          return { done, promise };
        };
        const [sent, written, recorded] = [signal(), signal(), signal()];
        const copyRecord = "dse-image:copy:eu-central-1";
        s.world.aws.interleave.push(
          { when: call("deregister-image", old), arrived: sent.done, after: written.promise },
          { when: call("create-tags", `dse-image:user:${prodTag}`), after: sent.promise },
          { when: call("create-tags", `dse-image:held:${prodTag}`), served: written.done },
          { when: call("create-tags", copyRecord), served: recorded.done },
          { when: call("delete-tags", copyRecord), after: recorded.promise },
        );
        const [, adopted] = await Promise.all([s.destroy(dev), s.up(prod)]);
        expect(s.world.aws.interleave).toEqual([]);
        const copy = (adopted.outputs!.imageIds as Record<string, Record<string, string>>).aws[
          "eu-central-1"
        ];
        expect(copy).not.toBe(old);
        expect(s.world.aws.amis.has(old)).toBe(false);
        expect(s.world.aws.amis.get(copy)!.state).toBe("available");
        expect(s.world.aws.amis.get(ami)!.tags[copyRecord]).toBe(copy);

        await s.destroy(ci);
        await s.destroy(prod);
        expect(allAmis()).toEqual([]);
      },
    );

    it("retention.keep raised in the same up as a rebuild keeps the old image (rule C3)", async () => {
      const dev = s.stack("dev", s.config(family, { tools: TOOLSETS[0] }));
      const first = await s.up(dev);
      dev.config = s.config(family, { tools: TOOLSETS[1], retention: { keep: 1 } });
      const second = await s.up(dev);
      expect(mainIds()).toEqual([exported(first).id, exported(second).id].sort());
      expect(exported(second).previous.map((p) => p.id)).toEqual([exported(first).id]);
      await s.destroy(dev);
      expect(images()).toEqual([]);
    });

    it.each([
      ["`pulumi stack rename`", "dev2", undefined],
      ["a move to another organisation", "dev", "another-org"],
    ])(
      "%s: the next up moves the stack's claims (retention's included) and builds nothing",
      async (_how, name, org) => {
        const keep = { retention: { keep: 1 } };
        const dev = s.stack("dev", s.config(family, { tools: TOOLSETS[0], ...keep }));
        const first = await s.up(dev);
        dev.config = s.config(family, { tools: TOOLSETS[1], ...keep });
        const second = await s.up(dev);
        const before = dev.stackId;
        dev.rename(name, org);
        const moved = await s.up(dev);
        expect(roles(created(moved))).toEqual([]);
        expect(exported(moved).id).toBe(exported(second).id);
        // The probe ran before the record moved the kept claims: the list is back one up later.
        const next = await s.up(dev);
        expect(roles(created(next))).toEqual([]);
        expect(exported(next).previous.map((p) => p.id)).toEqual([exported(first).id]);
        for (const img of mainImages()) {
          expect([...img.users, ...img.kept]).not.toContain(before);
          expect([...img.users, ...img.kept]).toEqual([dev.stackId]);
        }
        await s.destroy(dev);
        expect(images()).toEqual([]);
      },
    );

    it("retention keep 2 over four rebuilds leaves the two newest previous images, marked superseded", async () => {
      const dev = s.stack("dev", s.config(family, { tools: TOOLSETS[0], retention: { keep: 2 } }));
      let last = await s.up(dev);
      const ids: string[] = [exported(last).id];
      for (const tools of TOOLSETS.slice(1)) {
        dev.config = s.config(family, { tools, retention: { keep: 2 } });
        last = await s.up(dev);
        ids.push(exported(last).id);
      }
      const left = mainImages();
      expect(left.map((i) => i.id).sort()).toEqual(ids.slice(-3).sort());
      const previous = left.filter((i) => i.id !== ids[4]);
      expect(previous.every((i) => i.superseded)).toBe(true);
      expect(previous.every((i) => i.kept.includes(dev.stackId))).toBe(true);
      expect(left.find((i) => i.id === ids[4])!.superseded).toBe(false);
      // The outputs name them, newest first, so a consumer can roll back.
      expect(exported(last).previous.map((p) => p.id)).toEqual([ids[3], ids[2]]);
      await s.destroy(dev);
      expect(images()).toEqual([]);
    });
  });
}
