import { describe, expect, it } from "vitest";
import { stackConfig } from "./mocks";

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
