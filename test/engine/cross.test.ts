/**
 * Engine-model scenarios that concern one platform's own rules (OpenStack O2, O3, O4, cloud-init
 * S1) or several platforms at once (rule E5).
 */
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AWS_REGION, Scenario, created, roles } from "./scenario";

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

  it("a source image whose kernel panics: the SSH wait ends at the console, not after sshTimeoutMinutes", async () => {
    // One minute: without the console read the wait fails after it, with another message.
    const byName = s.config("openstack", { sshTimeoutMinutes: 1 });
    const dev = s.stack("dev", {
      ...byName,
      openstack: { ...(byName.openstack as object), sourceImage: "debian-12-daily" },
    });
    const broken = s.world.openstack.addImage({ name: "debian-12-daily" });
    broken.disk.broken = "boot";
    const r = await s.up(dev, { expectOk: false });
    expect(r.error).toMatch(
      /cannot boot: after \d+s its console shows "\[ {4}0\.900000\] Kernel panic - not syncing: VFS: Unable to mount root fs"/,
    );
    // It cannot power itself off (no SSH, no dead-man switch): the wait stops it from the host.
    expect(r.error).toContain(
      "the machine is stopped; the next up replaces it (set dse-image:keepBuilderOnFailure to keep it running)",
    );
    expect([...s.world.openstack.servers.values()].map((x) => x.status)).toEqual(["SHUTOFF"]);
    // The image published again, as it should be: the next up builds from it.
    s.world.openstack.images.delete(broken.id);
    s.world.openstack.addImage({ name: "debian-12-daily" });
    const again = await s.up(dev);
    expect(roles(created(again))).toContain("builder");
    expect([...s.world.openstack.servers.values()]).toEqual([]);
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

describe("a builder that cannot boot is stopped from the host: it cannot power itself off", () => {
  let s: Scenario;
  beforeEach(async () => {
    s = await Scenario.create();
  });
  afterEach(async () => s.close());

  it("openstack: with keepBuilderOnFailure it is left running, for the operator to look at", async () => {
    const byName = s.config("openstack", { keepBuilderOnFailure: true });
    const dev = s.stack("dev", {
      ...byName,
      openstack: { ...(byName.openstack as object), sourceImage: "debian-12-daily" },
    });
    s.world.openstack.addImage({ name: "debian-12-daily" }).disk.broken = "boot";
    const r = await s.up(dev, { expectOk: false });
    expect(r.error).toContain("cannot boot");
    expect(r.error).not.toContain("the machine is stopped");
    expect([...s.world.openstack.servers.values()].map((x) => x.status)).toEqual(["ACTIVE"]);
  });

  it("aws: a source AMI whose kernel panics: the builder is terminated, as its own power-off would", async () => {
    const dev = s.stack("dev", s.config("aws", { sshTimeoutMinutes: 1 }));
    const source = s.world.aws.addAmi({
      id: "ami-0b0b0000000000001",
      name: "ubuntu-noble",
      region: AWS_REGION,
    });
    source.disk.broken = "boot";
    const r = await s.up(dev, { expectOk: false });
    expect(r.error).toMatch(
      /cannot boot: after \d+s its console shows ".*Kernel panic - not syncing/,
    );
    expect(r.error).toContain("the machine is stopped; the next up replaces it");
    // The console's lines only: not what the SDK says on stderr about Node's version.
    expect(r.error).not.toContain("upgrade to node");
    expect([...s.world.aws.instances.values()].map((i) => i.state)).toEqual(["terminated"]);
    // Fixed at the source: the next up builds anew; nothing of the failed builder is left.
    delete source.disk.broken;
    const again = await s.up(dev);
    expect(roles(created(again))).toContain("builder");
    expect([...s.world.aws.instances.values()].filter((i) => i.state !== "terminated")).toEqual([]);
  });

  it("local: a base whose kernel panics: the wait ends when its qemu exits, and the next up builds", async () => {
    const base = path.join(s.world.root, "base", "debian-12-panics.qcow2");
    const file = JSON.parse(fs.readFileSync(s.world.baseImage, "utf8")) as {
      disk: { broken?: string };
    };
    file.disk.broken = "boot";
    fs.writeFileSync(base, JSON.stringify(file));
    const config = s.config("local", { sshTimeoutMinutes: 1 });
    const qemu = config.qemu as Record<string, unknown>;
    const dev = s.stack("dev", { ...config, qemu: { ...qemu, sourceImageUrl: base } });
    const r = await s.up(dev, { expectOk: false });
    expect(r.error).toContain("the builder stopped before SSH came up on 127.0.0.1:");
    dev.config = config;
    const again = await s.up(dev);
    expect(roles(created(again))).toContain("start");
    // The sweep removed the folder of the builder that never booted.
    expect(fs.readdirSync(path.join(s.localCache, "builds", s.tag(dev)))).toEqual([]);
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

describe("aws: a builder imaged once is never imaged again after it booted again", () => {
  let s: Scenario;
  beforeEach(async () => {
    s = await Scenario.create();
  });
  afterEach(async () => s.close());

  it.each([false, true])(
    "a failed AMI (bootTest %s): the retry images the sealed disk, not one cloud-init rewrote",
    async (bootTest) => {
      const dev = s.stack("dev", s.config("aws", { bootTest }));
      s.world.faults.fail("ec2:ami-failed", { platform: "aws" });
      await s.up(dev, { expectOk: false });
      // The invariants after this run check every published image's disk is still sealed.
      await s.up(dev);
    },
  );
});

describe("an image the cloud made unusable for a while is never deleted under a stack that uses it", () => {
  let s: Scenario;
  beforeEach(async () => {
    s = await Scenario.create();
  });
  afterEach(async () => s.close());

  it.each(["openstack", "aws"] as const)(
    "%s: dev's next run cleans up its build steps; prod's image stays",
    async (family) => {
      const dev = s.stack("dev", s.config(family));
      const built = await s.up(dev);
      const prod = s.stack("prod", s.config(family));
      await s.up(prod);
      const id = (built.outputs!.imageIds as Record<string, unknown>)[family];
      const home = typeof id === "string" ? id : (id as Record<string, string>)[AWS_REGION];
      // Glance deactivates an image; EC2 disables an AMI: both come back later.
      if (family === "openstack") s.world.openstack.images.get(home)!.status = "deactivated";
      else s.world.aws.amis.get(home)!.state = "disabled";
      await dev.up();
      const still =
        family === "openstack" ? s.world.openstack.images.has(home) : s.world.aws.amis.has(home);
      expect(still, `${home}, which prod uses, was deleted`).toBe(true);
      if (family === "openstack") s.world.openstack.images.get(home)!.status = "active";
      else s.world.aws.amis.get(home)!.state = "available";
      s.check();
    },
  );
});

/** SIGKILLs every process whose environment holds `entry` (the watchdog and its sleep); returns how many. */
function killProcessesWithEnv(entry: string): number {
  let killed = 0;
  for (const pid of fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    let env: string[];
    try {
      env = fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
    } catch {
      continue; // gone, or not ours
    }
    if (env.includes(entry)) {
      process.kill(Number(pid), "SIGKILL");
      killed++;
    }
  }
  return killed;
}

describe("local: a stale pidfile whose PID another process took", () => {
  let s: Scenario;
  let other: ChildProcess | undefined;
  beforeEach(async () => {
    s = await Scenario.create();
  });
  afterEach(async () => {
    other?.kill("SIGKILL");
    await s.close();
  });

  it("is not the builder: the next run neither resumes on it nor kills that process", async () => {
    const dev = s.stack("dev", s.config("local", { keepBuilderOnFailure: true }));
    s.world.faults.fail("remote:cleanup");
    await s.up(dev, { expectOk: false });
    const [vm] = [...s.world.local.vms.values()].filter((v) => v.guest.running);
    const work = path.dirname(vm.overlay);
    // The host goes down hard: the builder's watchdog and qemu die with it (the pidfile stays),
    // and after the restart the kernel hands qemu's PID to another process.
    expect(killProcessesWithEnv(`WORK_DIR=${work}`)).toBeGreaterThan(0);
    vm.process.kill("SIGKILL");
    await new Promise((r) => setTimeout(r, 200));
    other = spawn("sleep", ["300"], { stdio: "ignore" });
    fs.writeFileSync(path.join(work, "qemu.pid"), `${other.pid}\n`);
    const next = await s.up(dev);
    // A new builder, not a resumed one.
    expect(roles(created(next))).toContain("start");
    expect(other.exitCode ?? other.signalCode).toBeNull();
  });
});

describe("aws: AMIs and copies slower than the CLI's waiter (40 polls x 15 s)", () => {
  let s: Scenario;
  beforeEach(async () => {
    s = await Scenario.create();
  });
  afterEach(async () => s.close());

  it.each([
    ["the home AMI", "ec2:slow-ami"],
    ["a copy in another region", "ec2:slow-copy"],
  ])("%s: the up waits for it, then tags and exports it available", async (_what, fault) => {
    const dev = s.stack("dev", s.config("aws"));
    s.world.faults.fail(fault, { platform: "aws" });
    const r = await s.up(dev);
    for (const id of Object.values(
      (r.outputs!.imageIds as Record<string, Record<string, string>>).aws,
    ))
      expect(s.world.aws.amis.get(id)?.state).toBe("available");
  });
});

describe("aws: an account whose policy refuses any create without the tag CostCenter", () => {
  let s: Scenario;
  beforeEach(async () => {
    s = await Scenario.create();
    s.world.aws.requiredTag = "CostCenter";
  });
  afterEach(async () => s.close());

  const tagged = (config: Record<string, unknown>) => ({
    ...config,
    aws: { ...(config.aws as object), tags: { CostCenter: "ds-42" } },
  });

  it("with aws.tags every create carries it: builder, boot test, AMI, snapshots, copies", async () => {
    const dev = s.stack("dev", tagged(s.config("aws")));
    const r = await s.up(dev);
    const amis = Object.values((r.outputs!.imageIds as Record<string, Record<string, string>>).aws);
    expect(amis).toHaveLength(2);
    for (const id of amis) expect(s.world.aws.amis.get(id)!.tags.CostCenter).toBe("ds-42");
    // Every kind of create call a build makes, typed (the builder) or by script (the rest).
    expect([...new Set(s.world.aws.created.map((c) => c.what))].sort()).toEqual([
      "CopyImage image",
      "CreateImage image",
      "CreateImage snapshot",
      "CreateSecurityGroup security-group",
      "ImportKeyPair key-pair",
      "RunInstances instance",
      "RunInstances volume",
    ]);
    expect(s.world.aws.created.filter((c) => c.tags.CostCenter !== "ds-42")).toEqual([]);
    // The builder's and the boot test's instances, each with its volumes.
    expect(s.world.aws.created.filter((c) => c.what === "RunInstances instance")).toHaveLength(2);
    await s.destroy(dev);
  });

  it("without aws.tags the up fails naming the policy; with them the next up builds", async () => {
    const dev = s.stack("dev", s.config("aws"));
    const failed = await s.up(dev, { expectOk: false });
    expect(failed.error).toMatch(/UnauthorizedOperation.*without the tag CostCenter/);
    expect(s.world.aws.amis.size).toBe(0);
    dev.config = tagged(dev.config);
    const r = await s.up(dev);
    expect(
      Object.keys((r.outputs!.imageIds as Record<string, unknown>).aws as object).sort(),
    ).toEqual(["eu-central-1", AWS_REGION]);
    await s.destroy(dev);
  });
});
