import { describe, expect, it } from "vitest";
import * as pulumi from "@pulumi/pulumi";
import { installMocks, valueOf } from "./mocks";

const PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nsecret-material\n";

const run = installMocks(
  {
    "aws:ec2/getAmi:getAmi": () => ({ name: "n", creationDate: "t", tags: {} }),
  },
  {
    "tls:index/privateKey:PrivateKey": () => ({
      privateKeyOpenssh: PRIVATE_KEY,
      publicKeyOpenssh: "ssh-ed25519 AAAA",
    }),
    "command:remote:Command": () => ({ stdout: "{}" }),
  },
);

const args = {
  imageName: "dse_base-0123456789ab",
  fingerprint: "0123456789ab".padEnd(64, "0"),
  region: "eu-central-1",
  sourceAmi: "ami-0c1c30571d2dae5c9",
  tools: ["python" as const],
};

describe("AwsImage", () => {
  it("keeps the build key secret", async () => {
    const { AwsImage } = await import("../../components/aws/image");
    const image = new AwsImage("k", { ...args, sshAllowedCidrs: ["203.0.113.7/32"] });
    expect(image.privateKey).toBeDefined();
    expect(await pulumi.isSecret(image.privateKey!)).toBe(true);
    expect(await valueOf(image.privateKey!)).toBe(PRIVATE_KEY);
    expect(await valueOf(image.imageId)).toBe("k-0123456789ab-ami-id");
  });

  it("has no key and no builder when the AMI exists", async () => {
    const { AwsImage } = await import("../../components/aws/image");
    const image = new AwsImage("e", {
      ...args,
      existing: {
        id: "ami-0aaaaaaaaaaaaaaaa",
        tags: { "dse-image:builder": "i-0bbbbbbbbbbbbbbbb" },
      },
    });
    expect(image.privateKey).toBeUndefined();
    await valueOf(image.imageId);
    const mine = run.resources.filter((r) => r.name.startsWith("e-"));
    expect(mine.map((r) => [r.type, r.name])).toEqual([
      ["aws:ec2/amiFromInstance:AmiFromInstance", "e-0123456789ab-ami"],
    ]);
    expect(mine[0].inputs.sourceInstanceId).toBe("i-0bbbbbbbbbbbbbbbb");
  });

  it("refuses a public builder without sshAllowedCidrs", async () => {
    const { AwsImage } = await import("../../components/aws/image");
    expect(() => new AwsImage("p", args)).toThrow(
      "aws: sshAllowedCidrs is required while the builder has a public IP",
    );
  });
});
