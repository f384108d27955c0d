/**
 * The AWS platform's host commands (components/aws/cli.ts, components/aws/instances.ts) over
 * `@aws-sdk/client-ec2`, its transport mocked by the in-memory EC2 of
 * test/support/fake-ec2-sdk.ts: the sweep of a stack's builder-side objects, the boot test's
 * instance (launched with the user's tags in the create calls, removed on every way out) and the
 * console tail.
 */
import {
  DescribeInstancesCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from "@aws-sdk/client-ec2";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { credentialSettings, main } from "../../components/aws/cli";
import { awsTestInstance } from "../../components/aws/test-instance";
import { UnusableImage } from "../../components/store/image-store";
import { FakeEc2 } from "../support/fake-ec2-sdk";

const REGION = "eu-west-1";
const TAG = "3476bb56";
const PREFIX = `dse-${TAG}-aws-`;

let ec2: FakeEc2;
let stdout: string[];
let stderr: string[];

beforeEach(() => {
  ec2 = new FakeEc2();
  stdout = [];
  stderr = [];
  vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
    stderr.push(String(chunk));
    return true;
  });
});
afterEach(() => {
  vi.restoreAllMocks();
  ec2.restore();
});

/** Runs a command as cli.ts does; what it prints goes to `stdout`. */
const run = async (command: string, env: Record<string, string>) => {
  const out = await main(command, { REGION, RETRY_SECONDS: "0", ...env });
  if (out) stdout.push(out);
};

function instance(id: string, name: string, state = "running", stack = TAG) {
  ec2.instances.push({ id, state, tags: { Name: name, "dse-image:stack": stack } });
}

function group(id: string, name: string) {
  ec2.groups.push({ id, name, vpcId: "vpc-default", tags: {}, ingress: [] });
}

describe("aws teardown", () => {
  it("terminates the stack's live instances under the prefix and deletes its key pairs and groups", async () => {
    instance("i-builder", `${PREFIX}dse_base-g1`);
    instance("i-gone", `${PREFIX}dse_base-g0`, "terminated");
    instance("i-other-stack", `${PREFIX}dse_base-g1`, "running", "aaaaaaaa");
    instance("i-other-prefix", "dse-aaaaaaaa-aws-dse_base-g1", "running", TAG);
    ec2.keyPairs.push(`${PREFIX}dse_base-g1`, "someone-elses");
    group("sg-1", `${PREFIX}dse_base-g1`);
    group("sg-2", "default");
    await run("teardown", { PREFIX, STACK_TAG: TAG });
    expect(ec2.instances.map((i) => [i.id, i.state])).toEqual([
      ["i-builder", "terminated"],
      ["i-gone", "terminated"],
      ["i-other-stack", "running"],
      ["i-other-prefix", "running"],
    ]);
    expect(ec2.keyPairs).toEqual(["someone-elses"]);
    expect(ec2.groups.map((g) => g.id)).toEqual(["sg-2"]);
    expect(stderr.join("")).toBe(
      [
        "==> aws: Terminating i-builder ...",
        `==> aws: Deleting key pair ${PREFIX}dse_base-g1 ...`,
        "==> aws: Deleting security group sg-1 ...",
        "",
      ].join("\n"),
    );
  });

  it("retries a group a terminated instance's interface still holds", async () => {
    group("sg-1", `${PREFIX}x`);
    ec2.groupBusy["sg-1"] = 3;
    await run("teardown", { PREFIX, STACK_TAG: TAG });
    expect(ec2.groups).toEqual([]);
    expect(
      ec2.calls.filter((c) => c.command === "DeleteSecurityGroupCommand").map((c) => c.input),
    ).toEqual(Array(4).fill({ GroupId: "sg-1" }));
  });

  it("counts a group deleted meanwhile (a parallel typed delete) as deleted", async () => {
    group("sg-1", `${PREFIX}x`);
    ec2.mock
      .on((await import("@aws-sdk/client-ec2")).DeleteSecurityGroupCommand)
      .rejects(Object.assign(new Error("gone"), { name: "InvalidGroup.NotFound" }));
    await expect(run("teardown", { PREFIX, STACK_TAG: TAG })).resolves.toBeUndefined();
  });

  it("names what it could not delete and how to remove it", async () => {
    group("sg-1", `${PREFIX}x`);
    ec2.groupBusy["sg-1"] = 100;
    await expect(run("teardown", { PREFIX, STACK_TAG: TAG })).rejects.toThrow(
      `teardown incomplete; a builder still powers itself off after builderTtlMinutes. Left behind:\n  security group sg-1: aws --region ${REGION} ec2 delete-security-group --group-id sg-1`,
    );
    expect(stderr).toContain(
      `==> aws: aws ec2 delete-security-group in ${REGION}: resource sg-1 has a dependent object\n`,
    );
  });

  it("needs PREFIX and STACK_TAG", async () => {
    await expect(run("teardown", { STACK_TAG: TAG })).rejects.toThrow("PREFIX is required");
  });
});

const TEST_NAME = `${PREFIX}dse_base-g1-test`;
const USER_DATA = "#cloud-config\nssh_keys: {}\n";
/** The AWS launcher reads its user data from USER_DATA, not from the test folder. */
const TMP = "/nonexistent";

function testEnv(extra: Record<string, string> = {}) {
  return {
    IMAGE_ID: "ami-1",
    TEST_NAME,
    STACK_TAG: TAG,
    USER_DATA,
    INSTANCE_TYPE: "t3.large",
    SUBNET_ID: "",
    VPC_ID: "",
    ASSOCIATE_PUBLIC_IP: "true",
    SSH_ALLOWED_CIDRS: "203.0.113.0/24 2001:db8::/32",
    USER_TAGS: JSON.stringify({ CostCenter: "42" }),
    ...extra,
  };
}

describe("aws boot test instance", () => {
  beforeEach(() => {
    ec2.add({ id: "ami-1", region: REGION });
  });

  /** The launcher runBootTest drives (components/lifecycle/boot-test-run.ts). */
  const launcher = (extra: Record<string, string> = {}) =>
    awsTestInstance({ REGION, RETRY_SECONDS: "0", ...testEnv(extra) });

  it("launches from the AMI with the user's tags in every create call and returns its address", async () => {
    const machine = await launcher().launch(TMP);
    const [launched] = ec2.instances;
    expect(machine).toEqual({
      host: launched.publicIp,
      port: 22,
      describe: `instance ${launched.id}`,
      consoleCommand: `REGION=${REGION} INSTANCE_ID=${launched.id} node --require ./components/ts-hook.cjs components/aws/cli.ts console`,
    });
    const own = { CostCenter: "42", Name: TEST_NAME, "dse-image:stack": TAG };
    expect(ec2.groups).toEqual([
      {
        id: "sg-1",
        name: TEST_NAME,
        vpcId: "vpc-default",
        tags: own,
        ingress: [
          { IpProtocol: "tcp", FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: "203.0.113.0/24" }] },
          {
            IpProtocol: "tcp",
            FromPort: 22,
            ToPort: 22,
            Ipv6Ranges: [{ CidrIpv6: "2001:db8::/32" }],
          },
        ],
      },
    ]);
    const tags = Object.entries({ ...own, "dse-image:role": "test" }).map(([Key, Value]) => ({
      Key,
      Value,
    }));
    expect(launched.launch).toEqual({
      ImageId: "ami-1",
      InstanceType: "t3.large",
      UserData: Buffer.from(USER_DATA).toString("base64"),
      InstanceInitiatedShutdownBehavior: "terminate",
      MetadataOptions: { HttpTokens: "required", HttpEndpoint: "enabled" },
      MinCount: 1,
      MaxCount: 1,
      TagSpecifications: [
        { ResourceType: "instance", Tags: tags },
        { ResourceType: "volume", Tags: tags },
      ],
      SecurityGroupIds: ["sg-1"],
    });
  });

  it("first removes what a killed earlier attempt at this test left", async () => {
    instance("i-old", TEST_NAME);
    group("sg-old", TEST_NAME);
    await launcher().launch(TMP);
    expect(ec2.instances.find((i) => i.id === "i-old")?.state).toBe("terminated");
    expect(ec2.groups.map((g) => g.name)).toEqual([TEST_NAME]);
    expect(ec2.groups[0].id).not.toBe("sg-old");
  });

  it("in a subnet without a public IP: one interface with the group, the private address", async () => {
    const machine = await launcher({
      SUBNET_ID: "subnet-1",
      VPC_ID: "vpc-7",
      ASSOCIATE_PUBLIC_IP: "false",
    }).launch(TMP);
    const [launched] = ec2.instances;
    expect(launched.launch?.NetworkInterfaces).toEqual([
      { DeviceIndex: 0, Groups: ["sg-1"], AssociatePublicIpAddress: false, SubnetId: "subnet-1" },
    ]);
    expect(launched.launch?.SecurityGroupIds).toBeUndefined();
    expect(ec2.groups[0].vpcId).toBe("vpc-7");
    expect(machine.host).toBe(launched.privateIp);
  });

  it("a refused launch names the call, and remove deletes the group it made", async () => {
    ec2.mock.on(RunInstancesCommand).rejects(
      Object.assign(new Error("You have requested more vCPU capacity"), {
        name: "VcpuLimitExceeded",
      }),
    );
    const test = launcher();
    await expect(test.launch(TMP)).rejects.toThrow(
      `aws ec2 run-instances in ${REGION}: VcpuLimitExceeded: You have requested more vCPU capacity`,
    );
    expect(ec2.groups.map((g) => g.id)).toEqual(["sg-1"]);
    await test.remove();
    expect(ec2.groups).toEqual([]);
    expect(ec2.instances).toEqual([]);
  });

  it("without a default VPC asks for a subnet", async () => {
    ec2.defaultVpc = undefined;
    await expect(launcher().launch(TMP)).rejects.toThrow(
      `${REGION} has no default VPC for the boot test's security group: set dse-image:aws.subnetId`,
    );
  });

  it("an AMI EC2 failed is UnusableImage, named before anything is launched", async () => {
    ec2.add({ id: "ami-bad", region: REGION, state: "failed", reason: "snapshot error" });
    const launched = launcher({ IMAGE_ID: "ami-bad" }).launch(TMP);
    await expect(launched).rejects.toBeInstanceOf(UnusableImage);
    await expect(launched).rejects.toThrow(`AMI ami-bad in ${REGION} is failed: snapshot error`);
    expect(ec2.instances).toEqual([]);
    expect(ec2.groups).toEqual([]);
  });

  it("remove terminates the instance and deletes its group", async () => {
    const test = launcher();
    await test.launch(TMP);
    await test.remove();
    expect(ec2.instances[0].state).toBe("terminated");
    expect(ec2.groups).toEqual([]);
  });

  it("remove before any launch does nothing", async () => {
    await launcher().remove();
    expect(ec2.mock.calls()).toEqual([]);
  });
});

describe("aws stop (a builder whose SSH never came up)", () => {
  it("terminates it, as its own power-off would, without waiting", async () => {
    instance("i-1", `${PREFIX}build-1`);
    await run("stop", { INSTANCE_ID: "i-1" });
    expect(ec2.instances[0].state).toBe("terminated");
    expect(ec2.mock.commandCalls(TerminateInstancesCommand).map((c) => c.args[0].input)).toEqual([
      { InstanceIds: ["i-1"] },
    ]);
    expect(ec2.mock.commandCalls(DescribeInstancesCommand)).toEqual([]);
  });

  it("an instance already gone needs nothing; another failure names the call", async () => {
    await run("stop", { INSTANCE_ID: "i-gone" });
    ec2.mock.on(TerminateInstancesCommand).rejects(
      Object.assign(new Error("You are not authorized to perform this operation."), {
        name: "UnauthorizedOperation",
      }),
    );
    await expect(run("stop", { INSTANCE_ID: "i-1" })).rejects.toThrow(
      /terminate-instances.*eu-west-1.*You are not authorized to perform this operation\./,
    );
  });
});

describe("aws console", () => {
  it("prints the last LINES lines, decoded, without carriage returns", async () => {
    ec2.instances.push({ id: "i-1", state: "running", tags: {}, console: "a\r\nb\r\nc\r\n" });
    await run("console", { INSTANCE_ID: "i-1", LINES: "2" });
    expect(stdout.join("")).toBe("b\nc\n");
  });

  it("says when there is no output yet", async () => {
    ec2.instances.push({ id: "i-1", state: "pending", tags: {} });
    await run("console", { INSTANCE_ID: "i-1" });
    expect(stdout.join("")).toBe("(no console output for instance i-1 yet)\n");
  });
});

describe("aws host commands' credentials", () => {
  it("are the settings credentials.ts put in the environment", () => {
    const roles = [{ roleArn: "arn:aws:iam::1:role/build" }];
    expect(
      credentialSettings({
        AWS_PROFILE: "research",
        AWS_CONFIG_FILE: "/c",
        AWS_SHARED_CREDENTIALS_FILE: "/k",
        AWS_ASSUME_ROLES: JSON.stringify(roles),
      }),
    ).toEqual({
      profile: "research",
      sharedConfigFiles: ["/c"],
      sharedCredentialsFiles: ["/k"],
      assumeRoles: roles,
    });
    expect(credentialSettings({})).toEqual({});
  });

  it("an unknown command is named", async () => {
    await expect(run("launch", {})).rejects.toThrow("unknown command launch");
  });
});
