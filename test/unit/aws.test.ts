/**
 * AwsImage under mocks: how the stack config reaches the builder, its key pair and security
 * group, the scripts and the image store (copies, shares, encryption). The shared lifecycle graph
 * is in lifecycle.test.ts; multi-run behaviour in test/engine.
 */
import { describe, expect, it } from "vitest";
import { builderObjectName, stackTagOf } from "../../components/lifecycle/names";
import { secretInput, stackConfig } from "./mocks";
import { STACK_ID, runProgram, type ProgramRun } from "./program";

const T = {
  instance: "aws:ec2/instance:Instance",
  keyPair: "aws:ec2/keyPair:KeyPair",
  group: "aws:ec2/securityGroup:SecurityGroup",
  local: "command:local:Command",
  remote: "command:remote:Command",
  component: "dse-image:index:AwsImage",
  openstack: "dse-image:index:OpenStackImage",
};

const FULL = {
  region: "eu-west-1",
  sourceAmiFilter: {
    owners: ["099720109477"],
    name: "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*",
  },
  instanceType: "m6i.large",
  subnetId: "subnet-0123456789abcdef0",
  sshUser: "admin",
  sshAllowedCidrs: ["203.0.113.0/24", "2001:db8::/32"],
  rootVolumeSizeGb: 30,
  encrypted: true,
  kmsKeyId: "alias/dse",
  copyToRegions: ["eu-central-1", "us-east-1"],
  shareWithAccounts: ["123456789012"],
  tags: { team: "data" },
  spot: true,
};

const INVOKES = {
  "aws:ec2/getAmi:getAmi": () => ({ id: "ami-0abcdef0123456789", tags: {} }),
  "aws:ec2/getSubnet:getSubnet": () => ({
    id: "subnet-0123456789abcdef0",
    vpcId: "vpc-0123456789abcdef0",
  }),
};

const env = (r: ProgramRun, name: string) =>
  secretInput<Record<string, string>>(r.run.get(T.local, name).inputs.environment).value;

/** The snapshot's inputs: this build's name, generation and fingerprint, and the builder. */
const snapshotOf = (r: ProgramRun) =>
  r.run.get("pulumi-nodejs:dynamic:PendingImage", "aws-snapshot").inputs as Record<
    string,
    unknown
  > & {
    name: string;
    gen: string;
    fingerprint: string;
    environment: Record<string, string>;
  };

async function full(extra: Record<string, unknown> = {}) {
  return runProgram(stackConfig({ platforms: ["aws"], aws: { ...FULL, ...extra } }), undefined, {
    invokes: INVOKES,
  });
}

describe("AwsImage with every aws key set", () => {
  it("resolves the source AMI filter (most recent) and the subnet's VPC in the home region", async () => {
    const r = await full();
    expect(r.run.invokes).toEqual([
      {
        token: "aws:ec2/getAmi:getAmi",
        inputs: {
          owners: ["099720109477"],
          mostRecent: true,
          filters: [{ name: "name", values: [FULL.sourceAmiFilter.name] }],
        },
      },
      { token: "aws:ec2/getSubnet:getSubnet", inputs: { id: FULL.subnetId } },
    ]);
    expect(r.probed).toEqual([
      {
        store: "aws",
        config: {
          region: "eu-west-1",
          copyToRegions: ["eu-central-1", "us-east-1"],
          shareWithAccounts: ["123456789012"],
          encrypted: true,
          kmsKeyId: "alias/dse",
          // On every AMI and copy the store creates (a tag-enforcing policy checks the call).
          tags: { team: "data" },
        },
        env: {},
      },
    ]);
  });

  it("launches the builder with exactly the configured inputs, IMDSv2 and terminate-on-shutdown", async () => {
    const r = await full();
    const snapshot = snapshotOf(r);
    const name = builderObjectName(stackTagOf(STACK_ID), "aws", snapshot.name, snapshot.gen);
    const tags = {
      team: "data",
      Name: name,
      "dse-image:stack": stackTagOf(STACK_ID),
      "dse-image:build": snapshot.name,
      "dse-image:gen": snapshot.gen,
      "dse-image:role": "builder",
      "dse-image:fingerprint": snapshot.fingerprint,
    };
    const builder = r.run.get(T.instance, "aws-builder");
    expect(builder.inputs).toMatchObject({
      ami: "ami-0abcdef0123456789",
      instanceType: "m6i.large",
      subnetId: FULL.subnetId,
      associatePublicIpAddress: true,
      vpcSecurityGroupIds: [`${r.run.get(T.group, "aws-ssh").name}-id`],
      keyName: name,
      instanceInitiatedShutdownBehavior: "terminate",
      metadataOptions: { httpTokens: "required", httpEndpoint: "enabled" },
      rootBlockDevice: {
        encrypted: true,
        kmsKeyId: "alias/dse",
        volumeSize: 30,
        volumeType: "gp3",
        deleteOnTermination: true,
      },
      instanceMarketOptions: {
        marketType: "spot",
        spotOptions: { spotInstanceType: "one-time", instanceInterruptionBehavior: "terminate" },
      },
      tags,
      volumeTags: tags,
    });
    expect(r.run.get(T.keyPair, "aws-keypair").inputs).toMatchObject({ keyName: name, tags });
    expect(r.run.get(T.group, "aws-ssh").inputs).toMatchObject({
      name,
      vpcId: "vpc-0123456789abcdef0",
      ingress: [
        {
          description: "SSH from sshAllowedCidrs",
          protocol: "tcp",
          fromPort: 22,
          toPort: 22,
          cidrBlocks: ["203.0.113.0/24"],
          ipv6CidrBlocks: ["2001:db8::/32"],
        },
      ],
    });
    for (const res of [
      builder,
      r.run.get(T.keyPair, "aws-keypair"),
      r.run.get(T.group, "aws-ssh"),
    ]) {
      expect(res.retainOnDelete, res.name).toBe(false);
    }
  });

  it("provisions over SSH to the public IP as sshUser", async () => {
    const r = await full();
    const { value: connection } = secretInput<Record<string, unknown>>(
      r.run.get(T.remote, "aws-provision-install").inputs.connection,
    );
    expect(connection).toMatchObject({ host: "198.51.100.7", user: "admin", port: 22 });
  });

  it("hands the scripts the region and the store the copies, shares and encryption", async () => {
    const r = await full();
    for (const step of ["aws-sweep", "aws-teardown", "aws-boot-test", "aws-wait-ssh"]) {
      expect(env(r, step).REGION, step).toBe("eu-west-1");
    }
    // The console's tail in the SSH wait's errors, over the SDK with the same settings.
    expect(env(r, "aws-wait-ssh").CONSOLE_COMMAND).toBe(
      "node --require ./components/ts-hook.cjs components/aws/cli.ts console",
    );
    expect(env(r, "aws-wait-ssh").STOP_COMMAND).toBe(
      "node --require ./components/ts-hook.cjs components/aws/cli.ts stop",
    );
    expect(snapshotOf(r).snapshot).toBe("aws");
    const { store, config } = r.probed[0];
    expect(snapshotOf(r).store).toEqual({ store, config });
    expect(env(r, "aws-boot-test")).toMatchObject({
      INSTANCE_TYPE: "m6i.large",
      SUBNET_ID: FULL.subnetId,
      VPC_ID: "vpc-0123456789abcdef0",
      ASSOCIATE_PUBLIC_IP: "true",
      SSH_ALLOWED_CIDRS: "203.0.113.0/24 2001:db8::/32",
      USER_TAGS: JSON.stringify({ team: "data" }),
    });
    expect(snapshotOf(r).environment.INSTANCE_ID).toBe(
      `${r.run.get(T.instance, "aws-builder").name}-id`,
    );
  });

  it("exports the region map of the claim's record", async () => {
    const regions = { "eu-west-1": "published-1", "eu-central-1": "ami-c", "us-east-1": "ami-u" };
    const r = await runProgram(stackConfig({ platforms: ["aws"], aws: FULL }), undefined, {
      invokes: INVOKES,
      state: {
        // The claim's record: the copies its ensureReplicas made.
        "pulumi-nodejs:dynamic:ImageClaim": (_name, inputs) => ({
          record: {
            id: inputs.imageId as string,
            name: "x",
            createdAt: "",
            manifest: {},
            fingerprint: "",
            imageName: "dse_base",
            regions,
          },
        }),
      },
    });
    expect(r.imageIds.aws).toEqual(regions);
  });

  it("passes aws:profile and the shared files to the CLI steps, the store and the provider", async () => {
    const config = stackConfig({ platforms: ["aws"], aws: FULL });
    config["aws:profile"] = "research";
    config["aws:sharedConfigFiles"] = JSON.stringify(["/etc/dse/aws-config"]);
    config["aws:sharedCredentialsFiles"] = JSON.stringify(["/etc/dse/aws-credentials"]);
    const r = await runProgram(config, undefined, { invokes: INVOKES });
    const cliEnv = {
      AWS_PROFILE: "research",
      AWS_CONFIG_FILE: "/etc/dse/aws-config",
      AWS_SHARED_CREDENTIALS_FILE: "/etc/dse/aws-credentials",
    };
    expect(r.probed[0].env).toEqual(cliEnv);
    for (const step of ["aws-boot-test", "aws-teardown"])
      expect(env(r, step), step).toMatchObject(cliEnv);
    // The typed store acts as the provider's principal: the same settings in its config.
    expect(snapshotOf(r).store).toMatchObject({
      store: "aws",
      config: {
        profile: "research",
        sharedConfigFiles: ["/etc/dse/aws-config"],
        sharedCredentialsFiles: ["/etc/dse/aws-credentials"],
      },
    });
    expect(r.run.get("pulumi:providers:aws", "aws").inputs).toMatchObject({
      region: "eu-west-1",
      profile: "research",
      sharedConfigFiles: JSON.stringify(["/etc/dse/aws-config"]),
      sharedCredentialsFiles: JSON.stringify(["/etc/dse/aws-credentials"]),
    });
  });

  it("hands aws:assumeRoles to the provider, the store and the host commands", async () => {
    const config = stackConfig({ platforms: ["aws"], aws: FULL });
    const roles = [{ roleArn: "arn:aws:iam::1:role/build", sessionName: "dse" }];
    config["aws:assumeRoles"] = JSON.stringify(roles);
    const r = await runProgram(config, undefined, { invokes: INVOKES });
    for (const step of ["aws-boot-test", "aws-teardown"])
      expect(env(r, step), step).toMatchObject({ AWS_ASSUME_ROLES: JSON.stringify(roles) });
    expect(snapshotOf(r).store).toMatchObject({ store: "aws", config: { assumeRoles: roles } });
    expect(r.run.get("pulumi:providers:aws", "aws").inputs).toMatchObject({
      region: "eu-west-1",
      assumeRoles: JSON.stringify(roles),
    });
  });
});

describe("a builder without a public IP", () => {
  it("connects to the private IP and allows SSH from private ranges only", async () => {
    const r = await runProgram(
      stackConfig({
        platforms: ["aws"],
        aws: { region: "eu-west-1", sourceAmi: "ami-0123456789abcdef0", associatePublicIp: false },
      }),
    );
    const { value: connection } = secretInput<Record<string, unknown>>(
      r.run.get(T.remote, "aws-provision-prepare").inputs.connection,
    );
    expect(connection.host).toBe("172.31.0.7");
    expect(r.run.get(T.group, "aws-ssh").inputs.ingress).toEqual([
      expect.objectContaining({ cidrBlocks: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"] }),
    ]);
    expect(r.run.invokes).toEqual([]);
  });
});

describe("OpenStack and AWS in one stack", () => {
  it("declares both components with no dependency between them", async () => {
    const r = await runProgram(
      stackConfig({
        platforms: ["openstack", "aws"],
        openstack: {
          sourceImage: "ubuntu-24.04",
          flavor: "m1.small",
          sshAllowedCidrs: ["203.0.113.0/24"],
        },
        aws: {
          region: "eu-west-1",
          sourceAmi: "ami-0123456789abcdef0",
          sshAllowedCidrs: ["203.0.113.0/24"],
        },
      }),
    );
    const under = (component: string) =>
      new Set(
        r.run.resources
          .filter((x) => x.parent.includes(component) || x.type === component)
          .map((x) => x.urn),
      );
    const os = under(T.openstack);
    const aws = under(T.component);
    for (const res of r.run.resources) {
      if (os.has(res.urn))
        expect(
          res.dependencies.filter((d) => aws.has(d)),
          res.name,
        ).toEqual([]);
      if (aws.has(res.urn))
        expect(
          res.dependencies.filter((d) => os.has(d)),
          res.name,
        ).toEqual([]);
    }
    expect(Object.keys(r.imageIds).sort()).toEqual(["aws", "openstack"]);
  });
});
