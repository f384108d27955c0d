/**
 * QemuImage and VirtualBoxImage under mocks: the host scripts the local platforms run, with which
 * inputs; the OVA packed from the same qcow2; the tools they need. The shared lifecycle graph is
 * in lifecycle.test.ts; multi-run behaviour in test/engine; the scripts for real in test/e2e.
 */
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { stackTagOf } from "../../components/lifecycle/names";
import type { ProbeResult } from "../../components/lifecycle/plan";
import type { StoreRef } from "../../components/lifecycle/store";
import { secretInput, stackConfig } from "./mocks";
import { BASE_SHA256, PUBLIC_KEY, STACK_ID, runProgram, type ProgramRun } from "./program";
import { stackFileConfig } from "./stack-files";

const L = "command:local:Command";
/** Commands name the scripts relative to the project folder, where Pulumi runs them (rule P3). */
const HERE = "components";
const SHA = "a".repeat(64);

const env = (r: ProgramRun, name: string) =>
  secretInput<Record<string, string>>(r.run.get(L, name).inputs.environment).value;

const PENDING = "pulumi-nodejs:dynamic:PendingImage";

/** A PendingImage's script environment with its build's identity, as the script gets them. */
const pendingEnv = (r: ProgramRun, name: string): Record<string, string> => {
  const i = r.run.get(PENDING, name).inputs;
  return {
    ...(i.environment as Record<string, string>),
    NAME: i.name as string,
    GEN: i.gen as string,
    STACK_TAG: i.stackTag as string,
    FINGERPRINT: i.fingerprint as string,
  };
};

const qemu = (
  extra: Record<string, unknown> = {},
  platforms = ["qemu"],
  vb?: Record<string, unknown>,
) =>
  stackConfig({
    platforms,
    qemu: {
      sourceImageUrl: "https://example.org/base.img",
      sourceImageSha256: SHA,
      cacheDir: "/cache",
      outputDir: "/out",
      ...extra,
    },
    ...(vb ? { virtualbox: vb } : {}),
  });

describe("QemuImage: a build", () => {
  it("fetches the base, seeds and starts the builder in one step, its work folder found from the stack tag and generation", async () => {
    const r = await runProgram(
      qemu({ memoryMb: 4096, cpus: 4, accelerator: "tcg", diskSizeGb: 30 }),
    );
    const gen = pendingEnv(r, "qemu-snapshot").GEN;
    const start = r.run.get(L, "qemu-start");
    expect(start.inputs.create).toBe(`bash ${HERE}/qemu/launch.sh`);
    expect(start.inputs.delete).toBe(`bash ${HERE}/qemu/teardown.sh`);
    const { USER_DATA: userData, ...startEnv } = env(r, "qemu-start");
    expect(startEnv).toEqual({
      BUILD: pendingEnv(r, "qemu-snapshot").NAME,
      GEN: gen,
      STACK_TAG: stackTagOf(STACK_ID),
      SOURCE_URL: "https://example.org/base.img",
      SOURCE_SHA256: SHA,
      INSTANCE_ID: `dse-${stackTagOf(STACK_ID)}-qemu-${pendingEnv(r, "qemu-snapshot").NAME}-${gen}`,
      CACHE_DIR: "/cache",
      OUTPUT_DIR: "/out",
      DISK_SIZE_GB: "30",
      MEMORY_MB: "4096",
      CPUS: "4",
      DSE_ACCEL: "tcg",
      KERNEL: "",
      INITRD: "",
      APPEND: "",
      BUILDER_TTL_MINUTES: "120",
    });
    expect(userData).toContain(`users:\n  - name: "ubuntu"`);
    expect(userData).toContain(`      - "${PUBLIC_KEY}"`);
    expect(pendingEnv(r, "qemu-snapshot")).toMatchObject({
      STACK_TAG: stackTagOf(STACK_ID),
      GEN: gen,
      OUTPUT_DIR: "/out",
      SHUTDOWN_TIMEOUT: "300",
    });
  });

  it("provisions over the forwarded loopback port", async () => {
    const r = await runProgram(qemu());
    const { value: c } = secretInput<Record<string, unknown>>(
      r.run.get("command:remote:Command", "qemu-provision-prepare").inputs.connection,
    );
    expect([c.host, c.port, c.user]).toEqual(["127.0.0.1", 40022, "ubuntu"]);
    expect(env(r, "qemu-wait-ssh")).toMatchObject({
      HOST: "127.0.0.1",
      PORT: "40022",
      CONSOLE_COMMAND: "bash components/qemu/console.sh",
      // The builder's folder: the wait ends when its qemu is gone, and removes it on a failure.
      STACK_TAG: stackTagOf(STACK_ID),
      GEN: pendingEnv(r, "qemu-snapshot").GEN,
      CACHE_DIR: "/cache",
      STOP_COMMAND: "bash components/qemu/teardown.sh",
    });
  });

  it("with keepBuilderOnFailure a failed SSH wait leaves the builder running", async () => {
    const r = await runProgram(
      stackConfig({
        platforms: ["qemu"],
        keepBuilderOnFailure: true,
        qemu: { sourceImageUrl: "https://example.org/base.img", sourceImageSha256: SHA },
      }),
    );
    expect(env(r, "qemu-wait-ssh").STOP_COMMAND).toBe("");
  });

  it("boots the test machine like the builder: kernel, accelerator, size", async () => {
    const r = await runProgram(
      qemu({
        kernel: "/k/vmlinuz",
        initrd: "/k/initrd",
        append: "root=/dev/vda",
        accelerator: "kvm",
      }),
    );
    expect(env(r, "qemu-boot-test")).toMatchObject({
      KERNEL: "/k/vmlinuz",
      INITRD: "/k/initrd",
      APPEND: "root=/dev/vda",
      DSE_ACCEL: "kvm",
      CACHE_DIR: "/cache",
      STACK_TAG: stackTagOf(STACK_ID),
    });
  });

  it("exports the published qcow2's path", async () => {
    const r = await runProgram(qemu());
    expect(r.imageIds.qemu).toBe("published-1");
    expect(r.run.get("pulumi-nodejs:dynamic:ImageClaim", "qemu-image").inputs.store).toEqual({
      store: "qemu",
      config: { outputDir: "/out", cacheDir: "/cache", ext: "qcow2" },
    });
  });
});

describe("the local stack (Pulumi.local.yaml)", () => {
  it("builds qemu only, verifying the Ubuntu image against Ubuntu's SHA256SUMS, into ./images", async () => {
    const local = stackFileConfig("local");
    expect(JSON.parse(local["dse-image:platforms"])).toEqual(["qemu"]);
    const r = await runProgram(local);
    expect(env(r, "qemu-start")).toMatchObject({
      SOURCE_URL:
        "https://cloud-images.ubuntu.com/releases/noble/release/ubuntu-24.04-server-cloudimg-amd64.img",
      // The line for the image in Ubuntu's SHA256SUMS, read by the program: fetch-base.ts checks
      // the download against exactly the bytes the fingerprint covers.
      SOURCE_SHA256: BASE_SHA256,
      MEMORY_MB: "4096",
      DSE_ACCEL: "auto",
    });
    expect(r.probed[0].config).toEqual({ outputDir: "images", cacheDir: "", ext: "qcow2" });
  });

  it("stores no path of this machine: not the checkout, not the home folder (rule P3)", async () => {
    const r = await runProgram(stackFileConfig("local"));
    const stored = JSON.stringify(r.run.resources.map((res) => res.inputs));
    for (const local of [path.resolve(__dirname, "..", ".."), os.homedir()]) {
      expect(stored).not.toContain(local);
    }
    expect(r.imageIds.qemu).toBe("published-1");
    expect(pendingEnv(r, "qemu-snapshot").OUTPUT_DIR).toBe("images");
    expect(env(r, "qemu-start").CACHE_DIR).toBe("");
  });
});

describe("the base by content", () => {
  const sums = (sha: string) => ({
    base: {
      fetchText: (url: string) => {
        expect(url).toBe("https://cloud-images.ubuntu.com/releases/noble/release/SHA256SUMS");
        return Promise.resolve(
          `${"0".repeat(64)} *ubuntu-24.04-server-cloudimg-arm64.img\n${sha} *ubuntu-24.04-server-cloudimg-amd64.img\n`,
        );
      },
      sha256File: () => Promise.reject(new Error("not a local base")),
    },
  });
  const fingerprint = (r: ProgramRun) => pendingEnv(r, "qemu-snapshot").FINGERPRINT;

  it("a new image published under the same URL (a new SHA256SUMS line) is a new fingerprint", async () => {
    const local = stackFileConfig("local");
    const before = await runProgram(local, undefined, { host: sums("1".repeat(64)) });
    const same = await runProgram(local, undefined, { host: sums("1".repeat(64)) });
    const republished = await runProgram(local, undefined, { host: sums("2".repeat(64)) });
    expect(fingerprint(same)).toBe(fingerprint(before));
    expect(fingerprint(republished)).not.toBe(fingerprint(before));
    expect(env(republished, "qemu-start").SOURCE_SHA256).toBe("2".repeat(64));
  });

  it("a local base file is known by its own sha256", async () => {
    const file = (sha: string) => ({
      base: {
        fetchText: () => Promise.reject(new Error("no SHA256SUMS")),
        sha256File: (f: string) => {
          expect(f).toBe("/srv/base.qcow2");
          return Promise.resolve(sha);
        },
      },
    });
    const config = qemu({ sourceImageUrl: "file:///srv/base.qcow2", sourceImageSha256: undefined });
    const a = await runProgram(config, undefined, { host: file("3".repeat(64)) });
    const b = await runProgram(config, undefined, { host: file("4".repeat(64)) });
    expect(fingerprint(a)).not.toBe(fingerprint(b));
    expect(env(b, "qemu-start").SOURCE_SHA256).toBe("4".repeat(64));
  });

  it("says which key to fix when the SHA256SUMS file does not list the image", async () => {
    await expect(
      runProgram(stackFileConfig("local"), undefined, {
        host: { base: { ...sums("1".repeat(64)).base, fetchText: () => Promise.resolve("") } },
      }),
    ).rejects.toThrow(
      "dse-image:qemu.sourceImageSha256: https://cloud-images.ubuntu.com/releases/noble/release/SHA256SUMS lists no sha256 for ubuntu-24.04-server-cloudimg-amd64.img",
    );
  });

  it("says which key to fix when the SHA256SUMS file cannot be read", async () => {
    await expect(
      runProgram(stackFileConfig("local"), undefined, {
        host: {
          base: {
            fetchText: () => Promise.reject(new Error("HTTP 404 Not Found")),
            sha256File: () => Promise.reject(new Error("unused")),
          },
        },
      }),
    ).rejects.toThrow(
      "dse-image:qemu.sourceImageSha256: could not read https://cloud-images.ubuntu.com/releases/noble/release/SHA256SUMS: HTTP 404 Not Found",
    );
  });
});

describe("the fingerprint of the qcow2", () => {
  it("changes with the disk size and direct kernel boot, not with the builder's memory or CPUs", async () => {
    const fp = async (extra: Record<string, unknown>) =>
      pendingEnv(await runProgram(qemu(extra)), "qemu-snapshot").FINGERPRINT;
    const base = await fp({});
    expect(await fp({ memoryMb: 8192, cpus: 8 })).toBe(base);
    expect(await fp({ diskSizeGb: 40 })).not.toBe(base);
    expect(await fp({ kernel: "/k/vmlinuz" })).not.toBe(base);
  });
});

describe("VirtualBoxImage", () => {
  const noOva = (found: ProbeResult) => (ref: StoreRef) =>
    ref.store === "qemu" ? found : { images: [], builders: [] };

  it("with qemu enabled too: provisions once and packs the OVA from the published qcow2", async () => {
    const r = await runProgram(
      qemu({}, ["qemu", "virtualbox"], {
        outputDir: "/ova",
        vmName: "DSE",
        memoryMb: 4096,
        cpus: 4,
      }),
    );
    expect(r.run.ofType("dse-image:index:QemuImage")).toHaveLength(1);
    const pack = r.run.get(PENDING, "virtualbox-export");
    expect(pack.inputs).toMatchObject({
      snapshot: "virtualbox",
      store: { store: "virtualbox", config: { outputDir: "/ova", ext: "ova" } },
    });
    expect(pack.inputs.manifest).toContain("python");
    expect(pendingEnv(r, "virtualbox-export")).toMatchObject({
      SOURCE_QCOW2: "published-1",
      OUTPUT_DIR: "/ova",
      VM_NAME: "DSE",
      MEMORY_MB: "4096",
      CPUS: "4",
      BUILDER: "qemu",
    });
    expect(pack.dependencies).toContain(
      r.run.get("pulumi-nodejs:dynamic:ImageClaim", "qemu-image").urn,
    );
    expect(r.run.get("pulumi-nodejs:dynamic:ImageClaim", "virtualbox-image").inputs.store).toEqual({
      store: "virtualbox",
      config: { outputDir: "/ova", ext: "ova" },
    });
  });

  it("alone: still provisions under QEMU, its disk's intermediate", async () => {
    const r = await runProgram(qemu({}, ["virtualbox"]));
    expect(r.run.ofType("dse-image:index:QemuImage")).toHaveLength(1);
    expect(Object.keys(r.imageIds)).toEqual(["virtualbox"]);
  });

  it("with the OVA published: no qcow2 build is needed", async () => {
    const first = await runProgram(qemu({}, ["virtualbox"]));
    const snapshot = pendingEnv(first, "virtualbox-export");
    const found: ProbeResult = {
      images: [
        {
          id: "/ova/x.ova",
          name: snapshot.NAME,
          state: "complete",
          fingerprint: snapshot.FINGERPRINT,
          gen: "g1",
          buildStack: "",
          createdAt: "2026-11-28T00:00:00Z",
          users: [],
          kept: [],
        },
      ],
      builders: [],
    };
    const r = await runProgram(qemu({}, ["virtualbox"]), (ref) =>
      ref.store === "virtualbox" ? found : { images: [], builders: [] },
    );
    expect(r.run.ofType("dse-image:index:QemuImage")).toHaveLength(0);
    expect(r.imageIds.virtualbox).toBe("/ova/x.ova");
    void noOva;
  });

  it("builder vboxmanage without VBoxManage: a clear error naming the key", async () => {
    const { requireVBoxManage } = await import("../../components/virtualbox/prerequisites");
    expect(() => requireVBoxManage(() => false)).toThrow(
      "dse-image:virtualbox.builder: is vboxmanage but VBoxManage is not installed on this machine; install VirtualBox (https://www.virtualbox.org/wiki/Linux_Downloads) or set dse-image:virtualbox.builder to qemu, which needs only qemu-img",
    );
  });

  it("an OVA needs QEMU's tools under either builder, and VBoxManage only for vboxmanage", async () => {
    const { requireVirtualBoxTools } = await import("../../components/virtualbox/prerequisites");
    const noVBox = (t: string) => t !== "VBoxManage";
    expect(() => requireVirtualBoxTools(noVBox, "qemu")).not.toThrow();
    expect(() => requireVirtualBoxTools(noVBox, "vboxmanage")).toThrow(
      "dse-image:virtualbox.builder: is vboxmanage but VBoxManage is not installed",
    );
    expect(() => requireVirtualBoxTools((t) => t !== "qemu-img", "vboxmanage")).toThrow(
      "dse-image:platforms: platform virtualbox needs qemu-img on this machine; install it with `sudo apt-get install qemu-system-x86 qemu-utils`",
    );
  });

  it("a vboxmanage stack without VBoxManage ends the program with that one line", async () => {
    const failed = await runProgram(
      qemu({}, ["virtualbox"], { builder: "vboxmanage" }),
      undefined,
      {
        host: { hasCommand: (t) => t !== "VBoxManage" },
      },
    ).catch((e: unknown) => e);
    expect((failed as Error).message).toBe(
      "dse-image:virtualbox.builder: is vboxmanage but VBoxManage is not installed on this machine; install VirtualBox (https://www.virtualbox.org/wiki/Linux_Downloads) or set dse-image:virtualbox.builder to qemu, which needs only qemu-img",
    );
  });
});

describe("host tools", () => {
  it.each([
    [
      ["qemu-system-x86_64", "qemu-img"],
      "platform qemu needs qemu-system-x86_64 and qemu-img on this machine; install them with `sudo apt-get install qemu-system-x86 qemu-utils`",
    ],
    [
      ["qemu-img"],
      "platform qemu needs qemu-img on this machine; install it with `sudo apt-get install qemu-system-x86 qemu-utils`",
    ],
    [
      ["genisoimage", "xorriso"],
      "platform qemu needs genisoimage (or xorriso) on this machine to write the builder's NoCloud seed; install it with `sudo apt-get install genisoimage`",
    ],
  ])("missing %j: says which packages to install", async (missing, message) => {
    const { requireQemuTools } = await import("../../components/qemu/prerequisites");
    expect(() => requireQemuTools((t) => !missing.includes(t), "qemu")).toThrow(
      `dse-image:platforms: ${message}`,
    );
  });
});
