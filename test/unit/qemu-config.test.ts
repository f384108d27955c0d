import { describe, expect, it } from "vitest";
import { stackConfig } from "./mocks";

const SHA = "a".repeat(64);

describe("qemu config", () => {
  const parse = async (qemu: unknown) => {
    const { loadConfig } = await import("../../components/config");
    return loadConfig(stackConfig({ platforms: ["qemu"], qemu }));
  };

  it("defaults", async () => {
    const config = await parse({ sourceImageSha256: SHA.toUpperCase() });
    expect(config.qemu).toEqual({
      sourceImageUrl:
        "https://cloud-images.ubuntu.com/releases/noble/release/ubuntu-24.04-server-cloudimg-amd64.img",
      sourceImageSha256: SHA,
      // Resolved where each step runs (components/qemu/paths-lib.sh), never in the program.
      cacheDir: undefined,
      outputDir: "./images",
      diskSizeGb: 20,
      memoryMb: 2048,
      cpus: 2,
      accelerator: "auto",
      sshUser: "ubuntu",
      kernel: undefined,
      initrd: undefined,
      append: undefined,
    });
  });

  it("local files need no sha256", async () => {
    const config = await parse({ sourceImageUrl: "file:///var/lib/base.qcow2" });
    expect(config.qemu?.sourceImageSha256).toBeUndefined();
    const plain = await parse({ sourceImageUrl: "./base.qcow2" });
    expect(plain.qemu?.sourceImageUrl).toBe("./base.qcow2");
  });

  it.each([
    [
      {},
      "dse-image:qemu.sourceImageSha256: required when qemu.sourceImageUrl is an http(s) URL (https://cloud-images.ubuntu.com/releases/noble/release/ubuntu-24.04-server-cloudimg-amd64.img); set it to the line for ubuntu-24.04-server-cloudimg-amd64.img in https://cloud-images.ubuntu.com/releases/noble/release/SHA256SUMS, or to file:<URL of that SHA256SUMS>: npx pulumi config set --path --type string 'dse-image:qemu.sourceImageSha256' <sha256>",
    ],
    [
      { sourceImageUrl: "https://example.org/x.img" },
      "dse-image:qemu.sourceImageSha256: required when qemu.sourceImageUrl is an http(s) URL (https://example.org/x.img); set it to the publisher's SHA256SUMS, or to file:<URL of that SHA256SUMS>: npx pulumi config set --path --type string 'dse-image:qemu.sourceImageSha256' <sha256>",
    ],
    [
      { sourceImageSha256: "abc" },
      'dse-image:qemu.sourceImageSha256: expected 64 hex digits or file:<URL of a SHA256SUMS file>, got "abc"',
    ],
    [
      { sourceImageUrl: "ftp://example.org/x.img" },
      'dse-image:qemu.sourceImageUrl: expected an http(s) URL, file:// URL or path, got "ftp://example.org/x.img"',
    ],
    [
      { sourceImageSha256: SHA, accelerator: "hvf" },
      'dse-image:qemu.accelerator: expected one of auto, kvm, tcg, got "hvf"',
    ],
    [
      { sourceImageSha256: SHA, diskSizeGb: 1 },
      "dse-image:qemu.diskSizeGb: expected a whole number from 2 to 4096, got 1",
    ],
    [
      { sourceImageSha256: SHA, initrd: "/boot/initrd" },
      "dse-image:qemu.initrd: needs qemu.kernel (direct kernel boot)",
    ],
    [
      { sourceImageSha256: SHA, append: "root=/dev/vda" },
      "dse-image:qemu.append: needs qemu.kernel (direct kernel boot)",
    ],
    [
      { sourceImageSha256: SHA, sourceImage: "x" },
      "dse-image:qemu.sourceImage: unknown key; expected one of sourceImageUrl, sourceImageSha256, cacheDir, outputDir, diskSizeGb, memoryMb, cpus, accelerator, sshUser, kernel, initrd, append",
    ],
  ])("%j is rejected naming the key", async (qemu, message) => {
    await expect(parse(qemu)).rejects.toThrow(message);
  });
});
