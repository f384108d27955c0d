import { describe, expect, it } from "vitest";
import * as pulumi from "@pulumi/pulumi";
import {
  MockRun,
  RecordedResource,
  freshProgram,
  installMocks,
  secretInput,
  valueOf,
} from "./mocks";

const PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nsecret-material\n";
const PUBLIC_KEY = "ssh-ed25519 AAAAC3 build";
const MANIFEST = '{"python":"3.12.3","numpy":"1.26.4"}';
const SOURCE_AMI = "ami-0c1c30571d2dae5c9";
const CREATED = "2026-11-28T12:34:56.000Z";

const T = {
  component: "dse-image:index:AwsImage",
  provisioner: "dse-image:index:Provisioner",
  instance: "aws:ec2/instance:Instance",
  keyPair: "aws:ec2/keyPair:KeyPair",
  securityGroup: "aws:ec2/securityGroup:SecurityGroup",
  ami: "aws:ec2/amiFromInstance:AmiFromInstance",
  copy: "aws:ec2/amiCopy:AmiCopy",
  permission: "aws:ec2/amiLaunchPermission:AmiLaunchPermission",
  provider: "pulumi:providers:aws",
  key: "tls:index/privateKey:PrivateKey",
  remote: "command:remote:Command",
  upload: "command:remote:CopyToRemote",
  local: "command:local:Command",
};

/** What a simulated account holds between program runs: AMIs by ID. */
interface Cloud {
  amis: Map<string, { name: string; tags: Record<string, string> }>;
}

interface Run {
  run: MockRun;
  imageIds: Record<string, Record<string, string>>;
  images: Record<
    string,
    {
      name: string;
      id: string;
      fingerprint: string;
      createdAt: string;
      sourceImage: string;
      manifest: unknown;
    }
  >;
  /** Resource name -> the `import` ID it was registered with (only the ones that had one). */
  imports: Record<string, string>;
}

type Filters = { name: string; values: string[] }[];

/** One simulated `pulumi up` of the real program against `cloud`. */
async function up(
  config: Record<string, unknown>,
  cloud: Cloud,
  hasCommand: (name: string) => boolean = () => true,
): Promise<Run> {
  freshProgram();
  const run = installMocks(
    {
      "aws:ec2/getAmi:getAmi": (inputs) => {
        const filters = inputs.filters as Filters;
        const imageId = filters.find((f) => f.name === "image-id")?.values[0];
        if (imageId !== undefined) {
          const ami = cloud.amis.get(imageId);
          if (!ami) throw new Error(`no AMI ${imageId}`);
          return { id: imageId, name: ami.name, creationDate: CREATED, tags: ami.tags };
        }
        return { id: SOURCE_AMI, name: "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64" };
      },
      "aws:ec2/getAmiIds:getAmiIds": (inputs) => {
        const name = (inputs.filters as Filters)[0].values[0];
        const ids = [...cloud.amis].filter(([, ami]) => ami.name === name).map(([id]) => id);
        return { id: "self", ids };
      },
      "aws:ec2/getSubnet:getSubnet": () => ({ vpcId: "vpc-0123456789abcdef0" }),
    },
    {
      [T.key]: () => ({ privateKeyOpenssh: PRIVATE_KEY, publicKeyOpenssh: PUBLIC_KEY }),
      [T.instance]: () => ({ publicIp: "198.51.100.20", privateIp: "10.0.1.20" }),
      [T.remote]: (name) => ({ stdout: name.endsWith("-verify") ? `${MANIFEST}\n` : "" }),
      [T.local]: () => ({ stdout: "" }),
      [T.ami]: (name, inputs) => {
        cloud.amis.set(`${name}-id`, {
          name: inputs.name as string,
          tags: inputs.tags as Record<string, string>,
        });
        return {};
      },
    },
  );
  const imports: Record<string, string> = {};
  const monitor = pulumi.runtime.getMonitor() as unknown as {
    registerResource(req: { getName(): string; getImportid(): string }, cb: unknown): unknown;
  };
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) => {
    if (req.getImportid()) imports[req.getName()] = req.getImportid();
    return register(req, cb);
  };
  const { loadConfig } = await import("../../components/config");
  const { buildImages } = await import("../../components");
  const values = Object.fromEntries(
    Object.entries(config).map(([k, v]) => [
      `dse-image:${k}`,
      typeof v === "string" ? v : JSON.stringify(v),
    ]),
  );
  const outputs = await buildImages(loadConfig(values), hasCommand);
  const imageIds = (await valueOf(pulumi.output(outputs.imageIds))) as Run["imageIds"];
  const images = (await valueOf(pulumi.output(outputs.images))) as Run["images"];
  return { run, imageIds, images, imports };
}

const newCloud = (): Cloud => ({ amis: new Map() });

const UBUNTU = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*";
const KMS = "arn:aws:kms:eu-central-1:111122223333:key/mrk-0123456789abcdef";

/** Every `aws` key set, unlike any default. */
const full = {
  imageName: "dse_ds",
  platforms: ["aws"],
  tools: ["python", "scipy"],
  builderTtlMinutes: 90,
  aws: {
    region: "eu-central-1",
    sourceAmiFilter: { owners: ["099720109477"], name: UBUNTU },
    instanceType: "m6i.large",
    subnetId: "subnet-0a1b2c3d4e5f60718",
    sshUser: "admin",
    sshAllowedCidrs: ["203.0.113.0/24", "2001:db8::/48"],
    associatePublicIp: true,
    rootVolumeSizeGb: 40,
    encrypted: true,
    kmsKeyId: KMS,
    copyToRegions: ["eu-west-1"],
    shareWithAccounts: ["444455556666"],
    tags: { team: "data-science" },
    spot: true,
  },
};

const minimal = {
  platforms: ["aws"],
  aws: { region: "eu-central-1", sourceAmi: SOURCE_AMI, sshAllowedCidrs: ["203.0.113.7/32"] },
};

/** Resources of the build with this fingerprint prefix, by suffix. */
function build(run: MockRun, fp: string) {
  const base = `aws-${fp.slice(0, 12)}`;
  return {
    base,
    get: (type: string, suffix: string): RecordedResource => run.get(type, `${base}-${suffix}`),
  };
}

describe("AwsImage with every aws key set", () => {
  it("looks up the source AMI, the fingerprinted AMI and the subnet's VPC in the home region", async () => {
    const { run, images } = await up(full, newCloud());
    const name = images.aws.name;
    expect(run.invokes.map((i) => [i.token, i.inputs])).toEqual([
      [
        "aws:ec2/getAmi:getAmi",
        {
          owners: ["099720109477"],
          mostRecent: true,
          filters: [{ name: "name", values: [UBUNTU] }],
        },
      ],
      [
        "aws:ec2/getAmiIds:getAmiIds",
        { owners: ["self"], filters: [{ name: "name", values: [name] }] },
      ],
      ["aws:ec2/getSubnet:getSubnet", { id: "subnet-0a1b2c3d4e5f60718" }],
      [
        "aws:ec2/getAmi:getAmi",
        { owners: ["self"], filters: [{ name: "image-id", values: [images.aws.id] }] },
      ],
    ]);
    const home = run.get(T.provider, "aws");
    expect(home.inputs.region).toBe("eu-central-1");
    for (const r of run.resources.filter(
      (r) => r.type.startsWith("aws:ec2/") && r.type !== T.copy,
    )) {
      if (r.type === T.permission && r.name.endsWith("-eu-west-1")) continue;
      expect([r.name, r.provider]).toEqual([r.name, `${home.urn}::aws-id`]);
    }
  });

  it("declares the builder chain with exactly the configured inputs", async () => {
    const { run, images } = await up(full, newCloud());
    const { fingerprint: fp, name } = images.aws;
    expect(name).toBe(`dse_ds-${fp.slice(0, 12)}`);
    const b = build(run, fp);
    const buildTags = {
      team: "data-science",
      Name: `${name}-build`,
      "dse-image:role": "builder",
      "dse-image:fingerprint": fp,
    };

    expect(b.get(T.key, "key").inputs).toEqual({ algorithm: "ED25519" });
    expect(b.get(T.keyPair, "keypair").inputs).toEqual({
      keyName: `${name}-build`,
      publicKey: PUBLIC_KEY,
      tags: buildTags,
    });
    expect(b.get(T.securityGroup, "ssh").inputs).toEqual({
      name: `${name}-build`,
      description: "dse-image builder: SSH from sshAllowedCidrs",
      vpcId: "vpc-0123456789abcdef0",
      ingress: [
        {
          description: "SSH from sshAllowedCidrs",
          protocol: "tcp",
          fromPort: 22,
          toPort: 22,
          cidrBlocks: ["203.0.113.0/24"],
          ipv6CidrBlocks: ["2001:db8::/48"],
        },
      ],
      egress: [
        {
          description: "packages and pip downloads",
          protocol: "-1",
          fromPort: 0,
          toPort: 0,
          cidrBlocks: ["0.0.0.0/0"],
          ipv6CidrBlocks: ["::/0"],
        },
      ],
      tags: buildTags,
    });
    const instance = b.get(T.instance, "builder");
    expect(instance.inputs).toEqual({
      ami: SOURCE_AMI,
      instanceType: "m6i.large",
      subnetId: "subnet-0a1b2c3d4e5f60718",
      associatePublicIpAddress: true,
      vpcSecurityGroupIds: [`${b.base}-ssh-id`],
      keyName: `${name}-build`,
      userData:
        '#cloud-config\nruncmd:\n  - [sh, -c, "systemd-run --no-block --unit=dse-builder-ttl-boot --on-active=90m /bin/systemctl poweroff || shutdown -P +90"]\n',
      instanceInitiatedShutdownBehavior: "terminate",
      metadataOptions: { httpTokens: "required", httpEndpoint: "enabled" },
      rootBlockDevice: {
        encrypted: true,
        kmsKeyId: KMS,
        volumeSize: 40,
        volumeType: "gp3",
        deleteOnTermination: true,
      },
      instanceMarketOptions: {
        marketType: "spot",
        spotOptions: { spotInstanceType: "one-time", instanceInterruptionBehavior: "terminate" },
      },
      tags: buildTags,
      volumeTags: buildTags,
    });
    expect(instance.dependencies).toEqual(
      expect.arrayContaining([b.get(T.securityGroup, "ssh").urn, b.get(T.keyPair, "keypair").urn]),
    );
    for (const r of [instance, b.get(T.keyPair, "keypair"), b.get(T.securityGroup, "ssh")]) {
      expect([r.name, r.retainOnDelete]).toEqual([r.name, true]);
    }
  });

  it("provisions over SSH to the public IP as sshUser, every step in order", async () => {
    const { run, images } = await up(full, newCloud());
    const b = build(run, images.aws.fingerprint);
    const steps = ["prepare", "install", "verify", "cleanup"];
    for (const step of steps) {
      const { secret, value } = secretInput(b.get(T.remote, `provision-${step}`).inputs.connection);
      expect([step, secret, value]).toEqual([
        step,
        true,
        {
          host: "198.51.100.20",
          port: 22,
          user: "admin",
          privateKey: PRIVATE_KEY,
          dialErrorLimit: 40,
          perDialTimeout: 15,
        },
      ]);
    }
    expect(b.get(T.remote, "provision-prepare").inputs.create).toContain("--on-active=90m");
    expect(b.get(T.remote, "provision-install").inputs.create).toMatch(
      /^sudo env DSE_FINGERPRINT=[0-9a-f]{64} DSE_PYTHON_SOURCE=pip 'DSE_TOOLS=python scipy' bash \/var\/tmp\/dse-build\/provision\/install\.sh \|\| /,
    );
    // EBS snapshots keep only written blocks: no zero-fill.
    expect(b.get(T.remote, "provision-cleanup").inputs.create).toContain("DSE_ZERO_FREE_SPACE=0 ");
    expect(b.get(T.upload, "provision-upload").dependencies).toContain(
      b.get(T.remote, "provision-prepare").urn,
    );
    expect(b.get(T.remote, "provision-install").dependencies).toContain(
      b.get(T.upload, "provision-upload").urn,
    );
    expect(b.get(T.remote, "provision-verify").dependencies).toContain(
      b.get(T.remote, "provision-install").urn,
    );
    expect(b.get(T.remote, "provision-cleanup").dependencies).toContain(
      b.get(T.remote, "provision-verify").urn,
    );
  });

  it("makes the AMI after the cleanup step, named and tagged with fingerprint and manifest", async () => {
    const { run, images, imageIds } = await up(full, newCloud());
    const { fingerprint: fp, name } = images.aws;
    const b = build(run, fp);
    const ami = b.get(T.ami, "ami");
    const amiTags = {
      team: "data-science",
      Name: name,
      "dse-image:fingerprint": fp,
      "dse-image:source-ami": SOURCE_AMI,
      "dse-image:builder": `${b.base}-builder-id`,
      "dse-image:manifest-0": MANIFEST,
    };
    expect(ami.inputs).toEqual({
      name,
      description: `dse-image ${name} (fingerprint ${fp})`,
      sourceInstanceId: `${b.base}-builder-id`,
      tags: amiTags,
    });
    expect(ami.dependencies).toContain(b.get(T.remote, "provision-cleanup").urn);
    expect(ami.ignoreChanges).toEqual(["sourceInstanceId"]);
    expect(ami.retainOnDelete).toBe(false);

    const copy = b.get(T.copy, "copy-eu-west-1");
    expect(copy.inputs).toEqual({
      name,
      description: `dse-image ${name} (fingerprint ${fp}), copied from eu-central-1`,
      sourceAmiId: `${b.base}-ami-id`,
      sourceAmiRegion: "eu-central-1",
      encrypted: true,
      tags: amiTags,
    });
    const west = run.get(T.provider, "aws-eu-west-1");
    expect(west.inputs.region).toBe("eu-west-1");
    expect(copy.provider).toBe(`${west.urn}::aws-eu-west-1-id`);

    expect(b.get(T.permission, "share-444455556666").inputs).toEqual({
      imageId: `${b.base}-ami-id`,
      accountId: "444455556666",
    });
    const sharedCopy = b.get(T.permission, "share-444455556666-eu-west-1");
    expect(sharedCopy.inputs).toEqual({
      imageId: `${b.base}-copy-eu-west-1-id`,
      accountId: "444455556666",
    });
    expect(sharedCopy.provider).toBe(`${west.urn}::aws-eu-west-1-id`);

    expect(imageIds).toEqual({
      aws: { "eu-central-1": `${b.base}-ami-id`, "eu-west-1": `${b.base}-copy-eu-west-1-id` },
    });
    expect(images.aws).toEqual({
      name,
      id: `${b.base}-ami-id`,
      fingerprint: fp,
      createdAt: CREATED,
      sourceImage: SOURCE_AMI,
      manifest: { python: "3.12.3", numpy: "1.26.4" },
    });
  });

  it("tears down builder, key pair and security group once the AMI exists", async () => {
    const { run, images } = await up(full, newCloud());
    const b = build(run, images.aws.fingerprint);
    const teardown = b.get(T.local, "teardown");
    expect(teardown.inputs.create).toMatch(/^bash \/\S+\/components\/aws\/teardown\.sh$/);
    expect(teardown.inputs.environment).toEqual({
      REGION: "eu-central-1",
      INSTANCE_ID: `${b.base}-builder-id`,
      KEY_NAME: `${images.aws.name}-build`,
      SECURITY_GROUP_ID: `${b.base}-ssh-id`,
    });
    expect(teardown.dependencies).toContain(b.get(T.ami, "ami").urn);
    // Runs once; no later run may try to undo it.
    expect(teardown.retainOnDelete).toBe(true);
    expect(teardown.inputs.delete).toBeUndefined();
    // Builder-side resources are already gone when Pulumi forgets them.
    for (const type of [T.instance, T.keyPair, T.securityGroup, T.remote, T.upload]) {
      for (const r of run.ofType(type)) expect([r.name, r.retainOnDelete]).toEqual([r.name, true]);
    }
  });

  it("keeps the private key out of every input but the secret SSH connection", async () => {
    const { run } = await up(full, newCloud());
    for (const r of run.resources) {
      const { connection, ...rest } = r.inputs;
      expect([r.name, JSON.stringify(rest).includes("secret-material")]).toEqual([r.name, false]);
      if (connection !== undefined) expect(secretInput(connection).secret).toBe(true);
    }
  });
});

describe("lifecycle: two successive runs", () => {
  it("declares no builder once the AMI exists, and keeps the same AMI resource and outputs", async () => {
    const cloud = newCloud();
    const first = await up(full, cloud);
    const second = await up(full, cloud);
    const fp = first.images.aws.fingerprint;

    for (const type of [T.instance, T.keyPair, T.securityGroup, T.key, T.remote, T.upload]) {
      expect([type, second.run.ofType(type).length]).toEqual([type, 0]);
    }
    expect(second.run.ofType(T.provisioner)).toHaveLength(0);
    expect(second.run.ofType(T.local)).toHaveLength(0);
    expect(second.run.invokes.map((i) => i.token)).not.toContain("aws:ec2/getSubnet:getSubnet");

    const b1 = build(first.run, fp);
    const b2 = build(second.run, fp);
    const before = b1.get(T.ami, "ami");
    const after = b2.get(T.ami, "ami");
    // Same name and the same inputs: Pulumi sees no change, so nothing is replaced or updated.
    expect(after.name).toBe(before.name);
    expect(after.inputs).toEqual(before.inputs);
    expect(after.ignoreChanges).toEqual(["sourceInstanceId"]);
    expect(after.dependencies).toEqual([]);
    for (const [type, suffix] of [
      [T.copy, "copy-eu-west-1"],
      [T.permission, "share-444455556666"],
      [T.permission, "share-444455556666-eu-west-1"],
    ]) {
      expect(b2.get(type, suffix).inputs).toEqual(b1.get(type, suffix).inputs);
    }
    expect(second.imageIds).toEqual(first.imageIds);
    expect(second.images).toEqual(first.images);
    // A state without the AMI (e.g. a new stack) adopts it instead of building it again; a state
    // with it ignores the option, as the ID is the same.
    expect(first.imports).toEqual({});
    expect(second.imports).toEqual({ [after.name]: first.images.aws.id });
  });

  it("needs the aws CLI only when it builds", async () => {
    const cloud = newCloud();
    const noCli = (name: string) => name !== "aws";
    await expect(up(full, cloud, noCli)).rejects.toThrow(
      "dse-image:platforms: platform aws needs the AWS CLI",
    );
    expect(cloud.amis.size).toBe(0);
    await up(full, cloud);
    const second = await up(full, cloud, noCli);
    expect(second.run.ofType(T.ami)).toHaveLength(1);
  });

  it("rebuilds under a new AMI name, as new resources, when the fingerprint changes", async () => {
    const cloud = newCloud();
    const first = await up(full, cloud);
    const second = await up({ ...full, tools: ["python", "scipy", "r"] }, cloud);
    const [old, now] = [first.images.aws, second.images.aws];
    expect(now.fingerprint).not.toBe(old.fingerprint);
    expect(now.name).toBe(`dse_ds-${now.fingerprint.slice(0, 12)}`);
    expect(now.name).not.toBe(old.name);

    const b = build(second.run, now.fingerprint);
    expect(b.get(T.ami, "ami").inputs.name).toBe(now.name);
    expect(b.get(T.ami, "ami").inputs.sourceInstanceId).toBe(`${b.base}-builder-id`);
    expect(second.run.ofType(T.instance).map((r) => r.name)).toEqual([`${b.base}-builder`]);
    // The old AMI's resource is no longer declared: Pulumi deletes it after the new one exists.
    expect(second.run.ofType(T.ami).map((r) => r.name)).toEqual([`${b.base}-ami`]);
    expect(second.imageIds.aws["eu-central-1"]).toBe(`${b.base}-ami-id`);
  });

  it("changes the fingerprint with the source AMI and the disk, not with instance type or spot", async () => {
    const cloud = newCloud();
    const fpOf = async (aws: Record<string, unknown>) =>
      (await up({ ...minimal, aws: { ...minimal.aws, ...aws } }, cloud)).images.aws.fingerprint;
    const base = await fpOf({});
    expect(await fpOf({ instanceType: "c7i.xlarge", spot: true })).toBe(base);
    expect(await fpOf({ sourceAmi: "ami-0123456789abcdef0" })).not.toBe(base);
    expect(await fpOf({ rootVolumeSizeGb: 64 })).not.toBe(base);
  });
});

describe("copies to other regions", () => {
  it("copies through a provider per region and exports all three IDs", async () => {
    const config = {
      ...minimal,
      aws: { ...minimal.aws, copyToRegions: ["eu-west-1", "us-west-2"] },
    };
    const { run, images, imageIds } = await up(config, newCloud());
    const b = build(run, images.aws.fingerprint);
    const copies = run.ofType(T.copy);
    expect(copies.map((c) => c.name)).toEqual([
      `${b.base}-copy-eu-west-1`,
      `${b.base}-copy-us-west-2`,
    ]);
    for (const region of ["eu-west-1", "us-west-2"]) {
      const provider = run.get(T.provider, `aws-${region}`);
      expect(provider.inputs.region).toBe(region);
      const copy = b.get(T.copy, `copy-${region}`);
      expect(copy.provider).toBe(`${provider.urn}::aws-${region}-id`);
      expect(copy.inputs.sourceAmiId).toBe(`${b.base}-ami-id`);
      expect(copy.inputs.sourceAmiRegion).toBe("eu-central-1");
    }
    expect(imageIds.aws).toEqual({
      "eu-central-1": `${b.base}-ami-id`,
      "eu-west-1": `${b.base}-copy-eu-west-1-id`,
      "us-west-2": `${b.base}-copy-us-west-2-id`,
    });
    expect(run.ofType(T.permission)).toHaveLength(0);
  });
});

describe("retainImages", () => {
  it("keeps the AMI, its copies and their launch permissions on destroy and rebuild", async () => {
    const retained = await up({ ...full, retainImages: true }, newCloud());
    for (const type of [T.ami, T.copy, T.permission]) {
      const found = retained.run.ofType(type);
      expect(found.length).toBeGreaterThan(0);
      for (const r of found) expect([r.name, r.retainOnDelete]).toEqual([r.name, true]);
    }
    const deleted = await up(full, newCloud());
    for (const type of [T.ami, T.copy, T.permission]) {
      for (const r of deleted.run.ofType(type)) {
        expect([r.name, r.retainOnDelete]).toEqual([r.name, false]);
      }
    }
  });
});

describe("a builder without a public IP", () => {
  it("connects to the private IP and allows SSH from private ranges only", async () => {
    const config = {
      platforms: ["aws"],
      aws: { region: "us-east-1", sourceAmi: SOURCE_AMI, associatePublicIp: false },
    };
    const { run, images } = await up(config, newCloud());
    const b = build(run, images.aws.fingerprint);
    expect(b.get(T.instance, "builder").inputs.associatePublicIpAddress).toBe(false);
    expect(b.get(T.securityGroup, "ssh").inputs.ingress).toEqual([
      {
        description: "SSH from sshAllowedCidrs",
        protocol: "tcp",
        fromPort: 22,
        toPort: 22,
        cidrBlocks: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"],
      },
    ]);
    const { value } = secretInput(b.get(T.remote, "provision-install").inputs.connection);
    expect(value.host).toBe("10.0.1.20");
  });
});

describe("OpenStack and AWS in one stack", () => {
  it("declares both components with no dependency between them", async () => {
    const cloud = newCloud();
    freshProgram();
    const run = installMocks(
      {
        "openstack:images/getImageIds:getImageIds": () => ({ ids: [] }),
        "aws:ec2/getAmiIds:getAmiIds": () => ({ ids: [] }),
        "aws:ec2/getAmi:getAmi": (inputs) => {
          const id = (inputs.filters as Filters)[0].values[0];
          return { id, name: cloud.amis.get(id)?.name, creationDate: CREATED, tags: {} };
        },
      },
      {
        [T.key]: () => ({ privateKeyOpenssh: PRIVATE_KEY, publicKeyOpenssh: PUBLIC_KEY }),
        [T.instance]: () => ({ publicIp: "198.51.100.20" }),
        "openstack:compute/instance:Instance": () => ({ accessIpV4: "10.1.2.3" }),
        [T.remote]: () => ({ stdout: MANIFEST }),
        [T.local]: () => ({
          stdout: '{"id":"img-1","name":"n","createdAt":"t","manifest":{}}\n',
        }),
        [T.ami]: (name, inputs) => {
          cloud.amis.set(`${name}-id`, { name: inputs.name as string, tags: {} });
          return {};
        },
      },
    );
    const { loadConfig } = await import("../../components/config");
    const { buildImages } = await import("../../components");
    const outputs = await buildImages(
      loadConfig(
        Object.fromEntries(
          Object.entries({
            platforms: ["openstack", "aws"],
            openstack: { sourceImage: "ubuntu-24.04", flavor: "m1.small" },
            aws: minimal.aws,
          }).map(([k, v]) => [`dse-image:${k}`, JSON.stringify(v)]),
        ),
      ),
      () => true,
    );
    const ids = (await valueOf(pulumi.output(outputs.imageIds))) as Record<string, unknown>;
    expect(Object.keys(ids).sort()).toEqual(["aws", "openstack"]);

    const os = run.get("dse-image:index:OpenStackImage", "openstack");
    const aws = run.get(T.component, "aws");
    expect(aws.parent).toBe(os.parent);
    const byUrn = new Map(run.resources.map((r) => [r.urn, r]));
    const root = (r: RecordedResource): string => {
      let at: RecordedResource | undefined = r;
      while (at && at.urn !== os.urn && at.urn !== aws.urn) at = byUrn.get(at.parent);
      return at?.urn ?? "";
    };
    const sides = { [os.urn]: new Set<string>(), [aws.urn]: new Set<string>() };
    for (const r of run.resources) sides[root(r)]?.add(r.urn);
    expect(sides[os.urn].size).toBeGreaterThan(5);
    expect(sides[aws.urn].size).toBeGreaterThan(5);
    for (const [mine, theirs] of [
      [sides[os.urn], sides[aws.urn]],
      [sides[aws.urn], sides[os.urn]],
    ]) {
      for (const urn of mine) {
        const r = byUrn.get(urn)!;
        const crossing = r.dependencies.filter((d) => theirs.has(d));
        expect([r.name, crossing]).toEqual([r.name, []]);
        expect(theirs.has(r.parent)).toBe(false);
        expect([...theirs].some((t) => r.provider.startsWith(`${t}::`))).toBe(false);
      }
    }
  });
});

describe("manifest tags", () => {
  it("splits a long manifest into 256-character tag values and joins it back", async () => {
    const { manifestTags, manifestFromTags } = await import("../../components/aws/image");
    const manifest = JSON.stringify(
      Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`package-${i}`, `1.${i}.0`])),
    );
    const tags = manifestTags(manifest, 40);
    const values = Object.values(tags);
    expect(values.length).toBe(Math.ceil(manifest.length / 256));
    expect(values.every((v) => v.length <= 256)).toBe(true);
    expect(Object.keys(tags)[0]).toBe("dse-image:manifest-0");
    expect(manifestFromTags(tags)).toEqual(JSON.parse(manifest));
    // Past the 50-tag limit the manifest is cut, and says so instead of failing the build.
    const cut = manifestTags(manifest, 1);
    expect(Object.keys(cut)).toEqual(["dse-image:manifest-0"]);
    expect(manifestFromTags(cut)).toEqual({ truncated: true });
    expect(manifestFromTags({})).toEqual({});
  });
});

describe("aws CLI check", () => {
  it("names the missing tool and how to install it", async () => {
    const { requireAwsCli } = await import("../../components/aws/platform");
    expect(() => requireAwsCli((name) => name !== "aws")).toThrow(
      "dse-image:platforms: platform aws needs the AWS CLI on this machine to tear the builder down; install it with `pip install awscli` or from https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html",
    );
    expect(() => requireAwsCli(() => true)).not.toThrow();
  });
});
