import type { EC2Client, IpPermission, Tag, TagSpecification } from "@aws-sdk/client-ec2";
import { ec2Call, ec2Sdk } from "../store/aws";
import { StoreError, type StoreLog } from "../store/image-store";

/*
 * The builder-side objects of the AWS platform that are not resources of the program: the sweep
 * of a stack's builders, key pairs and security groups (what a killed run or a renamed stack
 * left), and the boot test's instance. Through `@aws-sdk/client-ec2` with the credentials the
 * `aws` provider is given (components/aws/cli.ts builds the client), so no `aws` CLI.
 */

/** A region's EC2 client, how to report and how long to pause between group deletions. */
export interface Ec2Context {
  ec2: EC2Client;
  region: string;
  log: StoreLog;
  /** Seconds between security group deletion attempts (RETRY_SECONDS, default 10). */
  retrySeconds: number;
  /** Seconds an instance may take to run or to terminate. */
  instanceWaitSeconds?: number;
}

const LIVE_STATES = ["pending", "running", "stopping", "stopped", "shutting-down"];
const errorName = (e: unknown) => (e as { name?: string }).name ?? "";
const pause = (seconds: number) => new Promise((r) => setTimeout(r, seconds * 1000));

function call<T>(ctx: Ec2Context, what: string, run: () => Promise<T>): Promise<T> {
  return ec2Call(what, ctx.region, run);
}

/** Waiter settings: polls every few seconds, up to instanceWaitSeconds (default 10 minutes). */
function waiter(ctx: Ec2Context) {
  return {
    client: ctx.ec2,
    maxWaitTime: ctx.instanceWaitSeconds ?? 600,
    minDelay: 5,
    maxDelay: 15,
  };
}

async function terminate(ctx: Ec2Context, ids: string[]): Promise<void> {
  const sdk = ec2Sdk();
  await call(ctx, "terminate-instances", () =>
    ctx.ec2.send(new sdk.TerminateInstancesCommand({ InstanceIds: ids })),
  );
  await call(ctx, "wait instance-terminated", () =>
    sdk.waitUntilInstanceTerminated(waiter(ctx), { InstanceIds: ids }),
  );
}

/**
 * Deletes one security group, retrying while a terminated instance's network interface still
 * holds it. Gone already counts as deleted: Pulumi runs the deletes of one antichain in parallel
 * (pkg/resource/deploy/step_generator.go ScheduleDeletes), so an old sweep step's stored delete
 * can race the typed group's own delete. Returns the last error, or undefined when deleted.
 */
async function deleteGroup(ctx: Ec2Context, id: string, attempts: number): Promise<unknown> {
  let last: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      await ctx.ec2.send(new (ec2Sdk().DeleteSecurityGroupCommand)({ GroupId: id }));
      return undefined;
    } catch (e) {
      if (errorName(e) === "InvalidGroup.NotFound") return undefined;
      last = e;
    }
    if (attempt < attempts) await pause(ctx.retrySeconds);
  }
  return last;
}

/**
 * Deletes every builder-side object of one stack whose name starts with `prefix` (dse-<stack
 * tag>-aws-, or one boot test's name): instances tagged dse-image:stack=<stackTag> (builders and
 * boot-test instances: terminated, then waited for), key pairs and security groups. Never touches
 * AMIs. Throws naming what is left and how to remove it when something could not be deleted.
 */
export async function sweepBuilderObjects(
  ctx: Ec2Context,
  prefix: string,
  stackTag: string,
): Promise<void> {
  const sdk = ec2Sdk();
  const { ec2, region, log } = ctx;
  const left: string[] = [];
  const ids: string[] = [];
  const pages = sdk.paginateDescribeInstances(
    { client: ec2 },
    {
      Filters: [
        { Name: "tag:dse-image:stack", Values: [stackTag] },
        { Name: "tag:Name", Values: [`${prefix}*`] },
        { Name: "instance-state-name", Values: LIVE_STATES },
      ],
    },
  );
  await call(ctx, "describe-instances", async () => {
    for await (const page of pages)
      for (const r of page.Reservations ?? [])
        for (const i of r.Instances ?? []) if (i.InstanceId) ids.push(i.InstanceId);
  });
  if (ids.length > 0) {
    log(`Terminating ${ids.join(" ")} ...`);
    await terminate(ctx, ids).catch((e: Error) => {
      log(e.message);
      left.push(
        `instances ${ids.join(" ")}: aws --region ${region} ec2 terminate-instances --instance-ids ${ids.join(" ")}`,
      );
    });
  }
  const pairs = await call(ctx, "describe-key-pairs", () =>
    ec2.send(
      new sdk.DescribeKeyPairsCommand({ Filters: [{ Name: "key-name", Values: [`${prefix}*`] }] }),
    ),
  );
  for (const name of (pairs.KeyPairs ?? []).map((k) => k.KeyName ?? "").filter(Boolean)) {
    log(`Deleting key pair ${name} ...`);
    await call(ctx, "delete-key-pair", () =>
      ec2.send(new sdk.DeleteKeyPairCommand({ KeyName: name })),
    ).catch((e: Error) => {
      log(e.message);
      left.push(`key pair ${name}: aws --region ${region} ec2 delete-key-pair --key-name ${name}`);
    });
  }
  const groups = await call(ctx, "describe-security-groups", () =>
    ec2.send(
      new sdk.DescribeSecurityGroupsCommand({
        Filters: [{ Name: "group-name", Values: [`${prefix}*`] }],
      }),
    ),
  );
  for (const id of (groups.SecurityGroups ?? []).map((g) => g.GroupId ?? "").filter(Boolean)) {
    log(`Deleting security group ${id} ...`);
    const error = await deleteGroup(ctx, id, 13);
    if (error !== undefined) {
      log(`aws ec2 delete-security-group in ${region}: ${(error as Error).message}`);
      left.push(
        `security group ${id}: aws --region ${region} ec2 delete-security-group --group-id ${id}`,
      );
    }
  }
  if (left.length > 0) {
    throw new StoreError(
      `teardown incomplete; a builder still powers itself off after builderTtlMinutes. Left behind:\n${left.map((l) => `  ${l}`).join("\n")}`,
    );
  }
}

/** What the boot test's instance is launched with (as the builder, components/aws/image.ts). */
export interface TestInstanceRequest {
  imageId: string;
  /** Name tag of the instance and name of its security group: the sweep finds a leftover. */
  name: string;
  stackTag: string;
  /** Cloud-config with this test's key and pinned host key. */
  userData: string;
  instanceType: string;
  subnetId?: string;
  /** The subnet's VPC; default: the region's default VPC. */
  vpcId?: string;
  associatePublicIp: boolean;
  /** Sources allowed on port 22 (IPv4 or IPv6 CIDRs). */
  sshAllowedCidrs: string[];
  /** The user's aws.tags, in every create call: a tag-enforcing policy checks them. */
  userTags: Record<string, string>;
}

export interface TestInstance {
  instanceId?: string;
  groupId?: string;
  /** The address SSH reaches: public, or private without a public IP. */
  host?: string;
}

/** The user's tags, then this test's own, on each resource type. */
function tagSpecifications(
  req: TestInstanceRequest,
  types: string[],
  own: Record<string, string>,
): TagSpecification[] {
  const tags: Tag[] = Object.entries({ ...req.userTags, ...own }).map(([Key, Value]) => ({
    Key,
    Value,
  }));
  return types.map((ResourceType) => ({ ResourceType: ResourceType as never, Tags: tags }));
}

export function sshPermissions(cidrs: string[]): IpPermission[] {
  return cidrs.map((cidr) => ({
    IpProtocol: "tcp",
    FromPort: 22,
    ToPort: 22,
    ...(cidr.includes(":")
      ? { Ipv6Ranges: [{ CidrIpv6: cidr }] }
      : { IpRanges: [{ CidrIp: cidr }] }),
  }));
}

async function createTestGroup(ctx: Ec2Context, req: TestInstanceRequest): Promise<string> {
  const sdk = ec2Sdk();
  let vpcId = req.vpcId;
  if (!vpcId) {
    const vpcs = await call(ctx, "describe-vpcs", () =>
      ctx.ec2.send(
        new sdk.DescribeVpcsCommand({ Filters: [{ Name: "isDefault", Values: ["true"] }] }),
      ),
    );
    vpcId = vpcs.Vpcs?.[0]?.VpcId;
    if (!vpcId)
      throw new StoreError(
        `${ctx.region} has no default VPC for the boot test's security group: set dse-image:aws.subnetId`,
      );
  }
  const group = await call(ctx, "create-security-group", () =>
    ctx.ec2.send(
      new sdk.CreateSecurityGroupCommand({
        GroupName: req.name,
        VpcId: vpcId,
        Description: "dse-image boot test",
        TagSpecifications: tagSpecifications(req, ["security-group"], {
          Name: req.name,
          "dse-image:stack": req.stackTag,
        }),
      }),
    ),
  );
  return group.GroupId!;
}

/**
 * Launches the boot test's instance from the pending AMI: its own security group (SSH from
 * sshAllowedCidrs), IMDSv2, terminate-on-shutdown, the user's tags on the instance, its volumes
 * and its group in the create calls. Fills `made` as it goes, so the caller removes what a
 * failure left; resolves once the instance runs, with the address SSH reaches.
 */
export async function launchTestInstance(
  ctx: Ec2Context,
  req: TestInstanceRequest,
  made: TestInstance,
): Promise<void> {
  const sdk = ec2Sdk();
  made.groupId = await createTestGroup(ctx, req);
  await call(ctx, "authorize-security-group-ingress", () =>
    ctx.ec2.send(
      new sdk.AuthorizeSecurityGroupIngressCommand({
        GroupId: made.groupId,
        IpPermissions: sshPermissions(req.sshAllowedCidrs),
      }),
    ),
  );
  const network =
    req.subnetId || !req.associatePublicIp
      ? {
          NetworkInterfaces: [
            {
              DeviceIndex: 0,
              Groups: [made.groupId],
              AssociatePublicIpAddress: req.associatePublicIp,
              ...(req.subnetId ? { SubnetId: req.subnetId } : {}),
            },
          ],
        }
      : { SecurityGroupIds: [made.groupId] };
  const run = await call(ctx, "run-instances", () =>
    ctx.ec2.send(
      new sdk.RunInstancesCommand({
        ImageId: req.imageId,
        InstanceType: req.instanceType as never,
        // RunInstances takes the user data base64-encoded (the CLI encodes it; the SDK does not).
        UserData: Buffer.from(req.userData).toString("base64"),
        InstanceInitiatedShutdownBehavior: "terminate",
        MetadataOptions: { HttpTokens: "required", HttpEndpoint: "enabled" },
        MinCount: 1,
        MaxCount: 1,
        TagSpecifications: tagSpecifications(req, ["instance", "volume"], {
          Name: req.name,
          "dse-image:stack": req.stackTag,
          "dse-image:role": "test",
        }),
        ...network,
      }),
    ),
  );
  made.instanceId = run.Instances?.[0]?.InstanceId;
  if (!made.instanceId) throw new StoreError(`aws ec2 run-instances returned no instance ID`);
  await call(ctx, "wait instance-running", () =>
    sdk.waitUntilInstanceRunning(waiter(ctx), { InstanceIds: [made.instanceId!] }),
  );
  const described = await call(ctx, "describe-instances", () =>
    ctx.ec2.send(new sdk.DescribeInstancesCommand({ InstanceIds: [made.instanceId!] })),
  );
  const instance = described.Reservations?.[0]?.Instances?.[0];
  made.host = req.associatePublicIp ? instance?.PublicIpAddress : instance?.PrivateIpAddress;
  if (!made.host)
    throw new StoreError(
      `instance ${made.instanceId} has no ${req.associatePublicIp ? "public" : "private"} IP address`,
    );
}

/** Terminates the test instance and deletes its group; what fails is logged, not thrown. */
export async function removeTestInstance(ctx: Ec2Context, made: TestInstance): Promise<void> {
  if (made.instanceId) {
    await terminate(ctx, [made.instanceId]).catch((e: Error) =>
      ctx.log(`could not terminate ${made.instanceId}: ${e.message}`),
    );
  }
  if (made.groupId) {
    const error = await deleteGroup(ctx, made.groupId, 6);
    if (error !== undefined)
      ctx.log(`could not delete security group ${made.groupId}: ${(error as Error).message}`);
  }
}

/**
 * Terminates a builder whose SSH never came up (the SSH wait's STOP_COMMAND), as its own
 * power-off after a failed step does (its shutdown behavior is terminate): a refresh then reads
 * the instance gone (rule A1), and the delete when its generation leaves the program is a no-op.
 * Not waited for: the next sweep waits for what is still shutting down. One gone needs nothing.
 */
export async function terminateBuilder(ctx: Ec2Context, instanceId: string): Promise<void> {
  await call(ctx, "terminate-instances", () =>
    ctx.ec2.send(new (ec2Sdk().TerminateInstancesCommand)({ InstanceIds: [instanceId] })).then(
      () => undefined,
      (e: unknown) => {
        if (errorName(e) !== "InvalidInstanceID.NotFound") throw e;
      },
    ),
  );
}

/** The last `lines` lines of an instance's console, for error messages. */
export async function consoleTail(
  ctx: Ec2Context,
  instanceId: string,
  lines: number,
): Promise<string> {
  const out = await ctx.ec2
    .send(new (ec2Sdk().GetConsoleOutputCommand)({ InstanceId: instanceId, Latest: true }))
    .catch(() => undefined);
  // EC2 returns the console base64-encoded.
  const text = out?.Output ? Buffer.from(out.Output, "base64").toString("utf8") : "";
  if (!text.trim()) return `(no console output for instance ${instanceId} yet)`;
  return text.replace(/\r/g, "").trimEnd().split("\n").slice(-lines).join("\n");
}
