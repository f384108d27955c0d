import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { stackConfig } from "./mocks";
import { HOST, MANIFEST, SHA, T, up, writeImage } from "./qemu-harness";

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "dse-vbox-unit-"));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

const stack = (
  platforms: string[],
  virtualbox: Record<string, unknown> = {},
  top: Record<string, unknown> = {},
) =>
  stackConfig({
    platforms,
    tools: ["python"],
    qemu: {
      sourceImageSha256: SHA,
      outputDir: path.join(tmp, "qcow2"),
      cacheDir: path.join(tmp, "cache"),
    },
    virtualbox: { outputDir: path.join(tmp, "ova"), ...virtualbox },
    ...top,
  });

const localNames = (run: Awaited<ReturnType<typeof up>>) =>
  run.run.ofType(T.local).map((r) => r.logical);

describe("VirtualBoxImage", () => {
  it("with qemu enabled too: provisions once and packs the OVA from the same qcow2", async () => {
    const both = await up(stack(["qemu", "virtualbox"]));
    expect(both.run.ofType(T.qemu)).toHaveLength(1);
    expect(both.run.ofType(T.provisioner)).toHaveLength(1);
    expect(localNames(both)).toEqual([
      "qemu-fetch",
      "qemu-seed",
      "qemu-start",
      "qemu-stop",
      "qemu-image",
      "virtualbox-image",
    ]);
    const ova = both.run.get(T.local, "virtualbox-image");
    expect(ova.inputs.create).toBe(
      `bash ${path.resolve(HOST, "..", "virtualbox", "ova-export.sh")}`,
    );
    expect(ova.dependencies).toContain(both.run.get(T.local, "qemu-image").urn);
    expect(ova.inputs.environment).toEqual({
      SOURCE_QCOW2: both.imageIds.qemu,
      MANIFEST,
      OUTPUT_DIR: path.join(tmp, "ova"),
      IMAGE_NAME: both.images.virtualbox.name,
      VM_NAME: "dse_base",
      MEMORY_MB: "2048",
      CPUS: "2",
      BUILDER: "qemu",
      FINGERPRINT: both.images.virtualbox.fingerprint,
      SOURCE_IMAGE:
        "https://cloud-images.ubuntu.com/releases/noble/release/ubuntu-24.04-server-cloudimg-amd64.img",
    });
    expect(ova.ignoreChanges).toEqual(["create", "environment"]);
    expect(ova.inputs.delete).toBe(`bash ${HOST}/delete-output.sh`);
    expect(both.imageIds.virtualbox).toBe(
      path.join(tmp, "ova", `${both.images.virtualbox.name}.ova`),
    );
    expect(both.images.virtualbox.name).not.toBe(both.images.qemu.name);
  });

  it("alone: still provisions under QEMU (the qcow2 is its intermediate)", async () => {
    const alone = await up(stack(["virtualbox"]));
    expect(Object.keys(alone.imageIds)).toEqual(["virtualbox"]);
    expect(localNames(alone)).toContain("qemu-start");
    expect(localNames(alone)).toContain("virtualbox-image");
  });

  it("second run with the OVA present: no builder and no qcow2 needed", async () => {
    const first = await up(stack(["virtualbox"]));
    writeImage(first.imageIds.virtualbox as string, "ova bytes");
    const second = await up(stack(["virtualbox"]));
    expect(localNames(second)).toEqual(["virtualbox-image"]);
    expect(second.run.get(T.local, "virtualbox-image").inputs.environment).not.toHaveProperty(
      "SOURCE_QCOW2",
    );
    expect(second.imageIds).toEqual(first.imageIds);
  });

  it("qcow2 present, OVA missing: packs the OVA from it without a builder", async () => {
    const first = await up(stack(["qemu", "virtualbox"]));
    writeImage(first.imageIds.qemu as string);
    const second = await up(stack(["qemu", "virtualbox"]));
    expect(localNames(second)).toEqual(["qemu-image", "virtualbox-image"]);
    expect(second.run.get(T.local, "virtualbox-image").inputs.environment).toMatchObject({
      SOURCE_QCOW2: first.imageIds.qemu,
    });
  });

  it("VM settings reach the OVF and rename the OVA, not the qcow2", async () => {
    const first = await up(stack(["qemu", "virtualbox"]));
    const sized = await up(stack(["qemu", "virtualbox"], { vmName: "DSE lab", memoryMb: 4096 }));
    expect(sized.images.qemu.name).toBe(first.images.qemu.name);
    expect(sized.images.virtualbox.name).not.toBe(first.images.virtualbox.name);
    expect(sized.run.get(T.local, "virtualbox-image").inputs.environment).toMatchObject({
      VM_NAME: "DSE lab",
      MEMORY_MB: "4096",
    });
  });

  it("builder vboxmanage without VBoxManage: a clear error naming the key", async () => {
    await expect(
      up(stack(["virtualbox"], { builder: "vboxmanage" }), (n) => n !== "VBoxManage"),
    ).rejects.toThrow(
      "dse-image:virtualbox.builder: is vboxmanage but VBoxManage is not installed on this machine; install VirtualBox (https://www.virtualbox.org/wiki/Linux_Downloads) or set dse-image:virtualbox.builder to qemu, which needs only qemu-img",
    );
  });

  it("builder vboxmanage with VBoxManage installed", async () => {
    const run = await up(stack(["virtualbox"], { builder: "vboxmanage" }));
    expect(run.run.get(T.local, "virtualbox-image").inputs.environment).toMatchObject({
      BUILDER: "vboxmanage",
    });
  });

  it("needs the qemu tools, since the disk is provisioned under QEMU", async () => {
    await expect(up(stack(["virtualbox"]), (n) => n !== "qemu-system-x86_64")).rejects.toThrow(
      "dse-image:platforms: platform virtualbox needs qemu-system-x86_64 on this machine; install it with `sudo apt-get install qemu-system-x86 qemu-utils`",
    );
  });
});

describe("virtualbox config", () => {
  const parse = async (virtualbox: unknown) => {
    const { loadConfig } = await import("../../components/config");
    return loadConfig(stackConfig({ platforms: ["virtualbox"], virtualbox }));
  };

  it("defaults", async () => {
    expect((await parse(undefined)).virtualbox).toEqual({
      outputDir: "./images",
      builder: "qemu",
      vmName: undefined,
      memoryMb: 2048,
      cpus: 2,
    });
  });

  it.each([
    [
      { builder: "packer" },
      'dse-image:virtualbox.builder: expected one of qemu, vboxmanage, got "packer"',
    ],
    [{ cpus: 0 }, "dse-image:virtualbox.cpus: expected a whole number from 1 to 128, got 0"],
    [
      { vmName: "a/b" },
      "dse-image:virtualbox.vmName: expected letters, digits, spaces, '.', '_' or '-' (at most 80), got \"a/b\"",
    ],
    [
      { disk: 1 },
      "dse-image:virtualbox.disk: unknown key; expected one of outputDir, builder, vmName, memoryMb, cpus",
    ],
  ])("%j is rejected naming the key", async (virtualbox, message) => {
    await expect(parse(virtualbox)).rejects.toThrow(message);
  });
});
