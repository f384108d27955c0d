import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, expectTypeOf, it } from "vitest";
import { parse } from "yaml";
import type { DseImageInfo, DseImages } from "../../components/reader";
import type { ImageInfo } from "../../components/lifecycle/outputs";
import type { StackOutputs } from "../../components";
import { InvokeMocks, MockRun, freshProgram, installMocks, valueOf } from "./mocks";

const ROOT = path.resolve(__dirname, "..", "..");
const IMAGE_STACK = "my-org/dse-image/dev";
const GLANCE_ID = "5f3c2a1e-8d47-4b9a-a0c6-2e1f9b7d4c38";
const AMIS = { "eu-west-1": "ami-0a1b2c3d4e5f60718", "eu-central-1": "ami-0f1e2d3c4b5a69788" };
const ACCESS_IP = "203.0.113.7";
const PUBLIC_IP = "198.51.100.7";

const T = {
  ref: "pulumi:pulumi:StackReference",
  osInstance: "openstack:compute/instance:Instance",
  osSecGroup: "openstack:networking/secGroup:SecGroup",
  osSecGroupRule: "openstack:networking/secGroupRule:SecGroupRule",
  ec2Instance: "aws:ec2/instance:Instance",
  ec2SecurityGroup: "aws:ec2/securityGroup:SecurityGroup",
  getRegion: "aws:index/getRegion:getRegion",
  getSubnet: "aws:ec2/getSubnet:getSubnet",
};
const CIDR = "198.51.100.7/32";
/** What every example requires besides imageStack: a way in (the image has no other login). */
const LOGIN = {
  "openstack-vm": { keyPair: "alice", sshAllowedCidr: CIDR },
  "aws-vm": { keyName: "alice", sshAllowedCidr: CIDR },
};

const INFO: DseImageInfo = {
  name: "dse_base-0123456789ab",
  id: GLANCE_ID,
  fingerprint: "f".repeat(64),
  createdAt: "2026-11-28T12:34:56.000Z",
  sourceImage: "22a2004b-8cb6-4526-aa87-8fed5b3ad1e5",
  manifest: { python: "3.12.3", numpy: "1.26.4" },
  bootTest: { passed: true, seconds: 41, checks: ["python", "jupyter"] },
  previous: [{ name: "dse_base-ba9876543210", id: "old", createdAt: "2026-11-01T08:00:00.000Z" }],
};

/** A dse-image stack that built every platform. */
const FULL = {
  imageIds: { openstack: GLANCE_ID, aws: AMIS, qemu: "/srv/images/dse_base.qcow2" },
  images: { openstack: INFO },
};

const EXAMPLES = {
  "openstack-vm": () => import("../../examples/openstack-vm/index"),
  "aws-vm": () => import("../../examples/aws-vm/index"),
};
type ExampleName = keyof typeof EXAMPLES;

interface ProjectFile {
  name: string;
  runtime: { name: string; options: Record<string, unknown> };
  main: string;
  config: Record<string, { type: string; default?: unknown }>;
}

function projectFile(example: ExampleName): ProjectFile {
  const file = path.join(ROOT, "examples", example, "Pulumi.yaml");
  return parse(fs.readFileSync(file, "utf8")) as ProjectFile;
}

interface Run<M> {
  run: MockRun;
  /** The example's module: its exports are the stack outputs. */
  program: M;
  /** Every StackReference the program read: resource name and inputs. */
  refs: { name: string; inputs: Record<string, unknown> }[];
  /** Distinct errors that reached the process as unhandled rejections (what `pulumi` prints). */
  errors: Error[];
}

/**
 * One simulated `pulumi up` (or preview) of an example program, as its own project, against a
 * dse-image stack whose outputs are `outputs` (`undefined`: the reference reports none, as when
 * its stack name is unknown in a preview).
 */
async function up<N extends ExampleName>(
  example: N,
  config: Record<string, string>,
  outputs: Record<string, unknown> | undefined,
  opts: { preview?: boolean; invokes?: InvokeMocks; without?: string } = {},
): Promise<Run<Awaited<ReturnType<(typeof EXAMPLES)[N]>>>> {
  freshProgram();
  const refs: Run<unknown>["refs"] = [];
  const run = installMocks(opts.invokes ?? {}, {
    [T.ref]: (name, inputs) => {
      refs.push({ name, inputs });
      return outputs === undefined ? {} : { outputs };
    },
    [T.osInstance]: () => ({ accessIpV4: ACCESS_IP }),
    [T.ec2Instance]: () => ({ publicIp: PUBLIC_IP }),
    // Provider-side autonaming: the mock's state is the inputs, so the name is set here.
    [T.osSecGroup]: (name) => ({ name: `${name}-5c1d0e2` }),
  });
  // Run as the example's project: `new pulumi.Config()` reads `<project>:<key>`.
  const project = projectFile(example).name;
  pulumi.runtime.setMockOptions(pulumi.runtime.getMonitor(), project, "dev", opts.preview ?? false);
  const full: Record<string, string> = { ...LOGIN[example], ...config };
  if (opts.without !== undefined) delete full[opts.without];
  pulumi.runtime.setAllConfig(
    Object.fromEntries(
      Object.entries(full).map(([k, v]) => [k.includes(":") ? k : `${project}:${k}`, v]),
    ),
  );
  let program: Awaited<ReturnType<(typeof EXAMPLES)[N]>> | undefined;
  const errors = await reportedErrors(async () => {
    program = (await EXAMPLES[example]()) as Awaited<ReturnType<(typeof EXAMPLES)[N]>>;
  });
  return { run, program: program!, refs, errors };
}

/**
 * Runs `body` and waits until the program is done as Pulumi does (`disconnect`). A failed
 * resource input or a failed Output nobody consumes surfaces as an unhandled rejection, which
 * Pulumi's run loop reports: once per error, message only for a RunError. This stands in for
 * that handler (instead of Vitest's) and returns the distinct errors it saw.
 */
async function reportedErrors(body: () => Promise<void>): Promise<Error[]> {
  const errors = new Set<Error>();
  const record = (err: unknown) => errors.add(err as Error);
  const vitestHandlers = process.listeners("unhandledRejection");
  process.removeAllListeners("unhandledRejection");
  process.on("unhandledRejection", record);
  try {
    await body();
    await pulumi.runtime.disconnect();
    await new Promise((resolve) => setImmediate(resolve)); // let Node report the rejections
    return [...errors];
  } finally {
    process.removeListener("unhandledRejection", record);
    vitestHandlers.forEach((handler) => process.on("unhandledRejection", handler));
  }
}

/** The one error a failed run reported, checked to print without a stack trace. */
function onlyError(errors: Error[]): string {
  expect(errors).toHaveLength(1);
  expect(pulumi.RunError.isInstance(errors[0])).toBe(true);
  return errors[0].message;
}

describe("examples/openstack-vm", () => {
  it("launches one instance from the stack's Glance image and exports its address", async () => {
    const { run, program, refs, errors } = await up(
      "openstack-vm",
      { imageStack: IMAGE_STACK, flavor: "m1.large", network: "lab", keyPair: "bob" },
      FULL,
    );
    expect(errors).toEqual([]);
    expect(refs).toEqual([{ name: "dse-image", inputs: { name: IMAGE_STACK } }]);
    expect(run.resources.map((r) => `${r.type} ${r.name}`)).toEqual([
      `${T.osSecGroup} dse-vm-ssh`,
      `${T.osSecGroupRule} dse-vm-ssh`,
      `${T.osInstance} dse-vm`,
    ]);
    expect(run.get(T.osInstance, "dse-vm").inputs).toEqual({
      imageId: GLANCE_ID,
      flavorName: "m1.large",
      keyPair: "bob",
      securityGroups: ["default", "dse-vm-ssh-5c1d0e2"],
      networks: [{ name: "lab" }],
    });
    expect(run.get(T.osSecGroup, "dse-vm-ssh").inputs).toEqual({
      description: "SSH to the dse-image VM",
    });
    expect(run.get(T.osSecGroupRule, "dse-vm-ssh").inputs).toEqual({
      securityGroupId: "dse-vm-ssh-id",
      direction: "ingress",
      ethertype: "IPv4",
      protocol: "tcp",
      portRangeMin: 22,
      portRangeMax: 22,
      remoteIpPrefix: CIDR,
    });
    expect(await valueOf(program.imageId)).toBe(GLANCE_ID);
    expect(await valueOf(program.address)).toBe(ACCESS_IP);
    expect(run.invokes).toEqual([]);
  });

  it("takes a network UUID as a UUID, and its Pulumi.yaml defaults are the program's", async () => {
    const network = "c18e3d7d-1b38-433e-8fdd-84389291b119";
    const { run, errors } = await up("openstack-vm", { imageStack: IMAGE_STACK, network }, FULL);
    expect(errors).toEqual([]);
    expect(run.get(T.osInstance, "dse-vm").inputs).toEqual({
      imageId: GLANCE_ID,
      flavorName: projectFile("openstack-vm").config.flavor.default,
      keyPair: "alice",
      securityGroups: ["default", "dse-vm-ssh-5c1d0e2"],
      networks: [{ uuid: network }],
    });
    expect(projectFile("openstack-vm").config.flavor.default).toBe("m1.small");
  });

  it("fails naming the stack and what it has when it built no OpenStack image", async () => {
    const { run, errors } = await up(
      "openstack-vm",
      { imageStack: IMAGE_STACK },
      {
        imageIds: { qemu: "/srv/images/dse_base.qcow2", aws: AMIS },
        images: {},
      },
    );
    expect(onlyError(errors)).toBe(
      'error serializing property "imageId": stack my-org/dse-image/dev has no openstack image ' +
        "(it has images for: aws, qemu); build one there with npx pulumi up " +
        "(dse-image:platforms must include openstack)",
    );
    expect(run.ofType(T.osInstance)).toEqual([]);
  });

  it("fails when the stack has no imageIds output at all", async () => {
    const { run, errors } = await up(
      "openstack-vm",
      { imageStack: "my-org/network/dev" },
      { vpcId: "x" },
    );
    expect(onlyError(errors)).toBe(
      'error serializing property "imageId": stack my-org/network/dev has no imageIds output; ' +
        "is it a dse-image stack, and has npx pulumi up finished there?",
    );
    expect(run.ofType(T.osInstance)).toEqual([]);
  });

  it("fails when imageIds is empty, saying so", async () => {
    const { errors } = await up("openstack-vm", { imageStack: IMAGE_STACK }, { imageIds: {} });
    expect(onlyError(errors)).toBe(
      'error serializing property "imageId": stack my-org/dse-image/dev has no openstack image ' +
        "(it has no images); build one there with npx pulumi up " +
        "(dse-image:platforms must include openstack)",
    );
  });

  it("previews with an unknown image while the reference's outputs are unknown", async () => {
    const { run, errors } = await up("openstack-vm", { imageStack: IMAGE_STACK }, undefined, {
      preview: true,
    });
    expect(errors).toEqual([]);
    // The instance is planned with its image ID unknown, as `pulumi preview` shows it.
    const { imageId, securityGroups, ...rest } = run.get(T.osInstance, "dse-vm").inputs;
    expect(pulumi.isUnknown(imageId)).toBe(true);
    expect(securityGroups).toEqual(["default", expect.anything()]);
    expect(rest).toEqual({ flavorName: "m1.small", keyPair: "alice" });
  });

  it("requires imageStack", async () => {
    freshProgram();
    installMocks();
    pulumi.runtime.setMockOptions(pulumi.runtime.getMonitor(), "dse-openstack-vm", "dev", false);
    pulumi.runtime.setAllConfig({});
    await expect(EXAMPLES["openstack-vm"]()).rejects.toThrow(
      "Missing required configuration variable 'dse-openstack-vm:imageStack'",
    );
  });
});

describe("examples/aws-vm", () => {
  const region = (name: string): InvokeMocks => ({
    [T.getRegion]: () => ({ region: name, name, id: name, description: "", endpoint: "" }),
  });

  it("launches one instance from the AMI of the provider's region and exports its IP", async () => {
    const { run, program, refs, errors } = await up(
      "aws-vm",
      { imageStack: IMAGE_STACK, keyName: "bob", subnetId: "subnet-0123456789abcdef0" },
      FULL,
      { invokes: { ...region("eu-central-1"), [T.getSubnet]: () => ({ vpcId: "vpc-0c0ffee" }) } },
    );
    expect(errors).toEqual([]);
    expect(refs).toEqual([{ name: "dse-image", inputs: { name: IMAGE_STACK } }]);
    // Both invokes run concurrently: their order is not the program's.
    expect([...run.invokes].sort((a, b) => a.token.localeCompare(b.token))).toEqual([
      { token: T.getSubnet, inputs: { id: "subnet-0123456789abcdef0" } },
      { token: T.getRegion, inputs: {} },
    ]);
    expect(run.resources.map((r) => `${r.type} ${r.name}`)).toEqual([
      `${T.ec2SecurityGroup} dse-vm-ssh`,
      `${T.ec2Instance} dse-vm`,
    ]);
    // The group is in the subnet's VPC, admits SSH from sshAllowedCidr only.
    expect(run.get(T.ec2SecurityGroup, "dse-vm-ssh").inputs).toEqual({
      vpcId: "vpc-0c0ffee",
      description: "SSH to the dse-image VM",
      ingress: [{ protocol: "tcp", fromPort: 22, toPort: 22, cidrBlocks: [CIDR] }],
      egress: [{ protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"] }],
    });
    expect(run.get(T.ec2Instance, "dse-vm").inputs).toEqual({
      ami: AMIS["eu-central-1"],
      instanceType: projectFile("aws-vm").config.instanceType.default,
      keyName: "bob",
      subnetId: "subnet-0123456789abcdef0",
      vpcSecurityGroupIds: ["dse-vm-ssh-id"],
      associatePublicIpAddress: true,
      metadataOptions: { httpTokens: "required" },
      tags: { Name: "dse-vm" },
    });
    expect(projectFile("aws-vm").config.instanceType.default).toBe("t3.micro");
    expect(await valueOf(program.ami)).toBe(AMIS["eu-central-1"]);
    expect(await valueOf(program.publicIp)).toBe(PUBLIC_IP);
  });

  it("launches in its own region config without asking the provider", async () => {
    const { run, errors } = await up(
      "aws-vm",
      { imageStack: IMAGE_STACK, region: "eu-west-1", instanceType: "m7i.large" },
      FULL,
    );
    expect(errors).toEqual([]);
    expect(run.invokes).toEqual([]);
    expect(run.get(T.ec2SecurityGroup, "dse-vm-ssh").inputs).toEqual({
      region: "eu-west-1",
      description: "SSH to the dse-image VM",
      ingress: [{ protocol: "tcp", fromPort: 22, toPort: 22, cidrBlocks: [CIDR] }],
      egress: [{ protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"] }],
    });
    expect(run.get(T.ec2Instance, "dse-vm").inputs).toEqual({
      region: "eu-west-1",
      ami: AMIS["eu-west-1"],
      instanceType: "m7i.large",
      keyName: "alice",
      vpcSecurityGroupIds: ["dse-vm-ssh-id"],
      associatePublicIpAddress: true,
      metadataOptions: { httpTokens: "required" },
      tags: { Name: "dse-vm" },
    });
  });

  it("fails listing the regions it has when the AMI was not copied to this one", async () => {
    const { run, errors } = await up("aws-vm", { imageStack: IMAGE_STACK }, FULL, {
      invokes: region("us-east-1"),
    });
    expect(onlyError(errors)).toBe(
      'error serializing property "ami": stack my-org/dse-image/dev has no AMI in us-east-1 ' +
        "(its AMIs are in: eu-central-1, eu-west-1); copy one there by adding us-east-1 to " +
        "dse-image:aws.copyToRegions in that stack and running npx pulumi up",
    );
    expect(run.ofType(T.ec2Instance)).toEqual([]);
  });

  it("fails naming the stack and what it has when it built no AWS image", async () => {
    const { errors } = await up(
      "aws-vm",
      { imageStack: IMAGE_STACK, region: "eu-west-1" },
      { imageIds: { openstack: GLANCE_ID } },
    );
    expect(onlyError(errors)).toBe(
      'error serializing property "ami": stack my-org/dse-image/dev has no aws image ' +
        "(it has images for: openstack); build one there with npx pulumi up " +
        "(dse-image:platforms must include aws)",
    );
  });

  it("fails when the stack has no imageIds output at all", async () => {
    const { errors } = await up(
      "aws-vm",
      { imageStack: IMAGE_STACK, region: "eu-west-1" },
      { images: {} },
    );
    expect(onlyError(errors)).toBe(
      'error serializing property "ami": stack my-org/dse-image/dev has no imageIds output; ' +
        "is it a dse-image stack, and has npx pulumi up finished there?",
    );
  });
});

describe("example projects", () => {
  const examples = Object.keys(EXAMPLES) as ExampleName[];
  const logins = examples.flatMap((e) => Object.keys(LOGIN[e]).map((key) => [e, key] as const));

  it.each(logins)("%s requires %s: the image has no other login", async (example, key) => {
    const project = projectFile(example).name;
    await expect(up(example, { imageStack: IMAGE_STACK }, FULL, { without: key })).rejects.toThrow(
      `Missing required configuration variable '${project}:${key}'`,
    );
  });

  it.each(
    examples.flatMap((e) => ["198.51.100.7", "10.0.0.300/8", "10.0.0.0/33"].map((c) => [e, c])),
  )("%s refuses the sshAllowedCidr %s, naming the key", async (example, cidr) => {
    const project = projectFile(example as ExampleName).name;
    await expect(
      up(example as ExampleName, { imageStack: IMAGE_STACK, sshAllowedCidr: cidr }, FULL),
    ).rejects.toThrow(
      `${project}:sshAllowedCidr: expected an IPv4 CIDR such as 203.0.113.7/32 (your ` +
        `address: curl -s https://checkip.amazonaws.com), got "${cidr}"`,
    );
  });

  it.each(Object.keys(EXAMPLES) as ExampleName[])(
    "%s runs its own index.ts with this repo's node_modules",
    (example) => {
      const project = projectFile(example);
      expect(project.runtime).toEqual({ name: "nodejs", options: { typescript: true } });
      // Without `main`, Pulumi would take the entry point from the repo's package.json.
      expect(project.main).toBe("index.ts");
      expect(fs.existsSync(path.join(ROOT, "examples", example, "index.ts"))).toBe(true);
      expect(fs.existsSync(path.join(ROOT, "examples", example, "package.json"))).toBe(false);
      // A declared key without a default is one `pulumi up` demands: the image stack, and a
      // way in (the image has no key and no password).
      const required = Object.entries(project.config).filter(([, c]) => !("default" in c));
      expect(required.map(([key]) => key)).toEqual([
        "imageStack",
        ...Object.keys(LOGIN[example]).filter((key) => key !== "sshAllowedCidr"),
        "sshAllowedCidr",
      ]);
    },
  );
});

describe("reader", () => {
  /** The reader's functions and a StackReference to a stack whose outputs are `outputs`. */
  async function reader(outputs: Record<string, unknown>) {
    freshProgram();
    installMocks({}, { [T.ref]: () => ({ outputs }) });
    const mod = await import("../../components/reader");
    return { ...mod, ref: new pulumi.StackReference("dse-image", { name: IMAGE_STACK }) };
  }

  it("reads the typed outputs", async () => {
    const { ref, dseImageIds, dseImages, dseImage, dseImageId, dseAmiId } = await reader(FULL);
    expect(await valueOf(dseImageIds(ref))).toEqual(FULL.imageIds);
    expect(await valueOf(dseImages(ref))).toEqual(FULL.images);
    expect(await valueOf(dseImage(ref, "openstack"))).toEqual(INFO);
    expect(await valueOf(dseImageId(ref, "qemu"))).toBe("/srv/images/dse_base.qcow2");
    expect(await valueOf(dseAmiId(ref, pulumi.output("eu-west-1")))).toBe(AMIS["eu-west-1"]);
  });

  it("fails for a platform missing from images, with the stack's name on the error", async () => {
    let DseImageStackError: typeof import("../../components/reader").DseImageStackError;
    const errors = await reportedErrors(async () => {
      const mod = await reader(FULL);
      DseImageStackError = mod.DseImageStackError;
      mod.dseImage(mod.ref, "virtualbox");
    });
    expect(onlyError(errors)).toBe(
      "stack my-org/dse-image/dev has no virtualbox image (it has images for: openstack); " +
        "build one there with npx pulumi up (dse-image:platforms must include virtualbox)",
    );
    expect(errors[0]).toBeInstanceOf(DseImageStackError!);
    expect(errors[0]).toMatchObject({ name: "DseImageStackError", referencedStack: IMAGE_STACK });
  });

  it.each([
    [{ openstack: 42 }, "has imageIds.openstack = 42, not an image ID; is it a dse-image stack?"],
    [
      { aws: "ami-1" },
      'has imageIds.aws = "ami-1", not a map of region to AMI ID; is it a dse-image stack?',
    ],
    [
      { aws: { "eu-west-1": "" } },
      'has imageIds.aws = {"eu-west-1":""}, not a map of region to AMI ID; is it a dse-image stack?',
    ],
    [["ami-1"], 'has imageIds = ["ami-1"], not an object; is it a dse-image stack?'],
  ])("rejects imageIds %j", async (imageIds, problem) => {
    const errors = await reportedErrors(async () => {
      const { ref, dseImageIds } = await reader({ imageIds });
      dseImageIds(ref);
    });
    expect(onlyError(errors)).toBe(`stack my-org/dse-image/dev ${problem}`);
  });

  it("keeps AWS out of dseImageId: one AMI per region", async () => {
    const { ref, dseImageId } = await reader(FULL);
    // @ts-expect-error AWS has no single image ID
    expect(() => dseImageId(ref, "aws")).toThrow("use dseAmiId(ref, region) instead");
  });

  it("types what the build exports", () => {
    expectTypeOf<ImageInfo>().toExtend<DseImageInfo>();
    expectTypeOf<keyof StackOutputs["images"]>().toEqualTypeOf<keyof DseImages>();
  });
});
