import { describe, expect, it } from "vitest";
import * as pulumi from "@pulumi/pulumi";
import { installMocks, valueOf } from "./mocks";

installMocks(
  {},
  {
    "tls:index/privateKey:PrivateKey": () => ({
      privateKeyOpenssh: "PRIVATE",
      publicKeyOpenssh: "ssh-rsa AAAA",
    }),
    "command:local:Command": () => ({
      stdout: '{"id":"i","name":"n","createdAt":"t","manifest":{}}\n',
    }),
  },
);

describe("OpenStackImage", () => {
  it("keeps the build key secret", async () => {
    const { OpenStackImage } = await import("../../components/openstack/image");
    const image = new OpenStackImage("os", {
      imageName: "dse_base-0123456789ab",
      fingerprint: "f".repeat(64),
      sourceImage: "ubuntu-24.04",
      flavor: "m1.small",
      tools: ["python"],
    });
    expect(image.privateKey).toBeDefined();
    expect(await pulumi.isSecret(image.privateKey!)).toBe(true);
    expect(await valueOf(image.imageId)).toBe("i");
  });

  it("has no key when no builder is needed", async () => {
    const { OpenStackImage } = await import("../../components/openstack/image");
    const image = new OpenStackImage("os2", {
      imageName: "dse_base-0123456789ab",
      fingerprint: "f".repeat(64),
      build: false,
      sourceImage: "ubuntu-24.04",
      flavor: "m1.small",
      tools: ["python"],
    });
    expect(image.privateKey).toBeUndefined();
  });

  it.each([
    ["22a2004b-8cb6-4526-aa87-8fed5b3ad1e5", { imageId: "22a2004b-8cb6-4526-aa87-8fed5b3ad1e5" }],
    ["Ubuntu 24.04", { imageName: "Ubuntu 24.04" }],
  ])("takes source image %s as %j", async (source, ref) => {
    const { imageRef } = await import("../../components/openstack/image");
    expect(imageRef(source)).toEqual(ref);
  });

  it.each([
    ["2", { flavorId: "2" }],
    ["m1.small", { flavorName: "m1.small" }],
    ["0a4e7d57-5b1c-4d4c-9c8e-2f0b7a1f3c11", { flavorId: "0a4e7d57-5b1c-4d4c-9c8e-2f0b7a1f3c11" }],
  ])("takes flavor %s as %j", async (flavor, ref) => {
    const { flavorRef } = await import("../../components/openstack/image");
    expect(flavorRef(flavor)).toEqual(ref);
  });
});

describe("openstack CLI check", () => {
  it("names the missing tool and how to install it", async () => {
    const { requireOpenStackCli } = await import("../../components/openstack/platform");
    expect(() => requireOpenStackCli((name) => name !== "openstack")).toThrow(
      "dse-image:platforms: platform openstack needs the openstack CLI on this machine to snapshot the builder; install it with `pip install python-openstackclient` or `sudo apt-get install python3-openstackclient`",
    );
    expect(() => requireOpenStackCli(() => true)).not.toThrow();
  });
});
