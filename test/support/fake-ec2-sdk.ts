/**
 * An in-memory EC2 of several regions behind `aws-sdk-client-mock`: the commands the typed AWS
 * store sends (components/store/aws.ts), answered with the shapes `@aws-sdk/client-ec2` returns,
 * the region read from the client that sent each one. Every command is recorded with its region.
 * Test utility, never shipped.
 */
import {
  AuthorizeSecurityGroupIngressCommand,
  CopyImageCommand,
  CreateImageCommand,
  CreateSecurityGroupCommand,
  CreateTagsCommand,
  DeleteKeyPairCommand,
  DeleteSecurityGroupCommand,
  DeleteSnapshotCommand,
  DeleteTagsCommand,
  DeregisterImageCommand,
  DescribeImageAttributeCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeKeyPairsCommand,
  DescribeSecurityGroupsCommand,
  DescribeVpcsCommand,
  EC2Client,
  EnableImageDeprecationCommand,
  type Filter,
  type Image,
  type Instance,
  GetConsoleOutputCommand,
  ModifyImageAttributeCommand,
  RunInstancesCommand,
  StopInstancesCommand,
  type Tag,
  TerminateInstancesCommand,
} from "@aws-sdk/client-ec2";
import { type AwsClientStub, mockClient } from "aws-sdk-client-mock";

export interface FakeAmi {
  id: string;
  region: string;
  name: string;
  state: string;
  reason?: string;
  tags: Record<string, string>;
  snapshots: string[];
  createdAt: string;
  launchPermissions: string[];
  deprecateAt?: Date;
  /** A copy EC2 is still making: it becomes `copyBecomes` on its next describe. */
  copying?: boolean;
}

export interface FakeInstance {
  id: string;
  state: string;
  tags: Record<string, string>;
  publicIp?: string;
  privateIp?: string;
  groups?: string[];
  /** RunInstances' input, as sent. */
  launch?: RunInstancesCommand["input"];
  console?: string;
}

export interface FakeGroup {
  id: string;
  name: string;
  vpcId: string;
  tags: Record<string, string>;
  ingress: unknown[];
}

/** An SDK service error as EC2 answers it: `name` is its code. */
function ec2Error(name: string, message: string): Error {
  return Object.assign(new Error(message), { name, $fault: "client" });
}

const tagsOf = (tags: Tag[] = []) =>
  Object.fromEntries(tags.map((t) => [t.Key ?? "", t.Value ?? ""]));

function matches(
  tags: Record<string, string>,
  state: string,
  filters: Filter[] = [],
  name = "",
): boolean {
  // EC2 filter values take `*` as a wildcard; the code under test uses it at the end only.
  const hit = (values: string[], value: string | undefined) =>
    value !== undefined &&
    values.some((v) => (v.endsWith("*") ? value.startsWith(v.slice(0, -1)) : v === value));
  return filters.every((f) => {
    const values = f.Values ?? [];
    if (f.Name?.startsWith("tag:")) return hit(values, tags[f.Name.slice(4)]);
    if (f.Name === "instance-state-name") return values.includes(state);
    if (f.Name === "name" || f.Name === "key-name" || f.Name === "group-name")
      return hit(values, name);
    throw new Error(`fake EC2: unsupported filter ${f.Name}`);
  });
}

export class FakeEc2 {
  readonly amis = new Map<string, FakeAmi>();
  readonly instances: FakeInstance[] = [];
  readonly keyPairs: string[] = [];
  readonly groups: FakeGroup[] = [];
  /** Deletions of a group refused (DependencyViolation) before one succeeds, per group ID. */
  readonly groupBusy: Record<string, number> = {};
  /** The region's default VPC; none when undefined. */
  defaultVpc: string | undefined = "vpc-default";
  readonly deletedSnapshots: string[] = [];
  /** Tags CreateImage put on each new snapshot. */
  readonly snapshotTags: Record<string, Record<string, string>> = {};
  /** Every command: its name, region and input. */
  readonly calls: { command: string; region: string; input: Record<string, unknown> }[] = [];
  /** What a copy becomes on its next describe (EC2 makes it available after a while). */
  copyBecomes: { state: string; reason?: string } = { state: "available" };
  /** Runs once after the first command `when` accepts is answered (another stack's call). */
  readonly after: {
    when: (command: string, input: Record<string, unknown>) => boolean;
    then: () => void;
  }[] = [];
  /** CopyImage refuses a name in use in its region, as CreateImage does (EC2 does not say). */
  copyNamesUnique = false;
  /** CopyImage's client tokens, per region: the parameters they came with and the copy made. */
  readonly clientTokens = new Map<string, { params: string; id: string }>();
  readonly mock: AwsClientStub<EC2Client>;
  private seq = 0;

  private readonly savedEnv = {
    AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY,
  };

  constructor() {
    // The default credential chain must find keys without looking further (files, instance
    // metadata): the mocked client sends nothing.
    process.env.AWS_ACCESS_KEY_ID = "AKIDEXAMPLE";
    process.env.AWS_SECRET_ACCESS_KEY = "secret";
    this.mock = mockClient(EC2Client);
    const on = <I extends object, O>(
      command: new (input: I) => { input: I },
      answer: (input: I, region: string) => O,
    ) =>
      this.mock.on(command as never).callsFake(async (input: I, getClient: () => EC2Client) => {
        const region = await getClient().config.region();
        this.calls.push({ command: command.name, region, input: input as Record<string, unknown> });
        const answered = answer(input, region);
        const n = this.after.findIndex((a) =>
          a.when(command.name, input as Record<string, unknown>),
        );
        if (n >= 0) this.after.splice(n, 1)[0].then();
        return answered;
      });
    on(DescribeImagesCommand, (input, region) => ({
      Images: this.describeImages(input, region),
    }));
    on(DescribeInstancesCommand, (input) => ({
      Reservations: [
        {
          Instances: this.instances
            .filter((i) => !input.InstanceIds || input.InstanceIds.includes(i.id))
            .filter((i) => matches(i.tags, i.state, input.Filters))
            .map((i): Instance => ({
              InstanceId: i.id,
              State: { Name: i.state as never },
              PublicIpAddress: i.publicIp,
              PrivateIpAddress: i.privateIp,
              Tags: Object.entries(i.tags).map(([Key, Value]) => ({ Key, Value })),
            })),
        },
      ],
    }));
    on(CreateTagsCommand, (input, region) => {
      for (const id of input.Resources ?? []) {
        const instance = this.instances.find((i) => i.id === id);
        Object.assign(instance ? instance.tags : this.ami(id, region).tags, tagsOf(input.Tags));
      }
      return {};
    });
    on(StopInstancesCommand, (input) => {
      for (const i of this.instances) if (input.InstanceIds?.includes(i.id)) i.state = "stopped";
      return {};
    });
    on(CreateImageCommand, (input, region) => {
      if ([...this.amis.values()].some((a) => a.region === region && a.name === input.Name))
        throw ec2Error("InvalidAMIName.Duplicate", `AMI name ${input.Name} is already in use`);
      const ami = this.add({ region, name: input.Name ?? "", state: "available" });
      for (const spec of input.TagSpecifications ?? [])
        if (spec.ResourceType === "image") ami.tags = tagsOf(spec.Tags);
      this.snapshotTags[ami.snapshots[0]] = tagsOf(
        input.TagSpecifications?.find((x) => x.ResourceType === "snapshot")?.Tags,
      );
      return { ImageId: ami.id };
    });
    on(DeleteTagsCommand, (input, region) => {
      // A tag given with a value goes only while it has that value (EC2 DeleteTags).
      for (const id of input.Resources ?? []) {
        const tags = this.ami(id, region).tags;
        for (const t of input.Tags ?? [])
          if (t.Value === undefined || tags[t.Key ?? ""] === t.Value) delete tags[t.Key ?? ""];
      }
      return {};
    });
    on(DeregisterImageCommand, (input, region) => {
      this.ami(input.ImageId ?? "", region);
      this.amis.delete(input.ImageId ?? "");
      return {};
    });
    on(DeleteSnapshotCommand, (input) => {
      this.deletedSnapshots.push(input.SnapshotId ?? "");
      return {};
    });
    on(EnableImageDeprecationCommand, (input, region) => {
      this.ami(input.ImageId ?? "", region).deprecateAt = input.DeprecateAt;
      return { Return: true };
    });
    on(DescribeImageAttributeCommand, (input, region) => {
      const ami = this.ami(input.ImageId ?? "", region);
      return {
        ImageId: ami.id,
        LaunchPermissions: ami.launchPermissions.map((UserId) => ({ UserId })),
      };
    });
    on(ModifyImageAttributeCommand, (input, region) => {
      const ami = this.ami(input.ImageId ?? "", region);
      // A launch permission is there or not, as EC2 keeps them.
      for (const p of input.LaunchPermission?.Add ?? [])
        if (!ami.launchPermissions.includes(p.UserId ?? ""))
          ami.launchPermissions.push(p.UserId ?? "");
      const removed = (input.LaunchPermission?.Remove ?? []).map((p) => p.UserId);
      ami.launchPermissions = ami.launchPermissions.filter((u) => !removed.includes(u));
      return {};
    });
    this.answerInstanceSide(on);
    on(CopyImageCommand, (input, region) => {
      // A client token makes the request once per region: a repeat with the same parameters is
      // answered with the first one's copy (gone or not), other parameters are refused.
      const { ClientToken, ...params } = input;
      const earlier = ClientToken ? this.clientTokens.get(`${region} ${ClientToken}`) : undefined;
      if (earlier !== undefined) {
        if (earlier.params !== JSON.stringify(params))
          throw ec2Error("IdempotentParameterMismatch", `client token ${ClientToken} reused`);
        return { ImageId: earlier.id };
      }
      this.ami(input.SourceImageId ?? "", input.SourceRegion ?? "");
      if (
        this.copyNamesUnique &&
        [...this.amis.values()].some((a) => a.region === region && a.name === input.Name)
      )
        throw ec2Error("InvalidAMIName.Duplicate", `AMI name ${input.Name} is already in use`);
      const copy = this.add({
        region,
        name: input.Name ?? "",
        state: "pending",
        copying: true,
        tags: tagsOf(input.TagSpecifications?.[0]?.Tags),
      });
      if (ClientToken)
        this.clientTokens.set(`${region} ${ClientToken}`, {
          params: JSON.stringify(params),
          id: copy.id,
        });
      return { ImageId: copy.id };
    });
  }

  /** Key pairs, security groups, instances and their consoles: the builder side. */
  private answerInstanceSide(
    on: <I extends object, O>(
      command: new (input: I) => { input: I },
      answer: (input: I, region: string) => O,
    ) => unknown,
  ) {
    on(DescribeKeyPairsCommand, (input) => ({
      KeyPairs: this.keyPairs
        .filter((k) => matches({}, "", input.Filters, k))
        .map((KeyName) => ({ KeyName })),
    }));
    on(DeleteKeyPairCommand, (input) => {
      this.keyPairs.splice(this.keyPairs.indexOf(input.KeyName ?? ""), 1);
      return {};
    });
    on(DescribeVpcsCommand, () => ({
      Vpcs: this.defaultVpc ? [{ VpcId: this.defaultVpc, IsDefault: true }] : [],
    }));
    on(DescribeSecurityGroupsCommand, (input) => ({
      SecurityGroups: this.groups
        .filter((g) => matches(g.tags, "", input.Filters, g.name))
        .map((g) => ({ GroupId: g.id, GroupName: g.name })),
    }));
    on(CreateSecurityGroupCommand, (input) => {
      const g: FakeGroup = {
        id: `sg-${++this.seq}`,
        name: input.GroupName ?? "",
        vpcId: input.VpcId ?? "",
        tags: tagsOf(input.TagSpecifications?.[0]?.Tags),
        ingress: [],
      };
      this.groups.push(g);
      return { GroupId: g.id };
    });
    on(AuthorizeSecurityGroupIngressCommand, (input) => {
      this.groups.find((g) => g.id === input.GroupId)!.ingress.push(...(input.IpPermissions ?? []));
      return { Return: true };
    });
    on(DeleteSecurityGroupCommand, (input) => {
      const at = this.groups.findIndex((g) => g.id === input.GroupId);
      if (at < 0)
        throw ec2Error(
          "InvalidGroup.NotFound",
          `The security group '${input.GroupId}' does not exist`,
        );
      if ((this.groupBusy[input.GroupId!] ?? 0) > 0) {
        this.groupBusy[input.GroupId!]--;
        throw ec2Error("DependencyViolation", `resource ${input.GroupId} has a dependent object`);
      }
      this.groups.splice(at, 1);
      return {};
    });
    on(RunInstancesCommand, (input) => {
      const n = ++this.seq;
      const instance: FakeInstance = {
        id: `i-${String(n).padStart(8, "0")}`,
        state: "running",
        tags: tagsOf(input.TagSpecifications?.find((t) => t.ResourceType === "instance")?.Tags),
        publicIp: `203.0.113.${n}`,
        privateIp: `10.0.0.${n}`,
        launch: input,
      };
      this.instances.push(instance);
      return { Instances: [{ InstanceId: instance.id, State: { Name: "pending" } }] };
    });
    on(TerminateInstancesCommand, (input) => {
      const unknown = input.InstanceIds?.filter((id) => !this.instances.some((i) => i.id === id));
      if (unknown?.length)
        throw ec2Error(
          "InvalidInstanceID.NotFound",
          `The instance IDs '${unknown.join(", ")}' do not exist`,
        );
      for (const i of this.instances) if (input.InstanceIds?.includes(i.id)) i.state = "terminated";
      return {};
    });
    on(GetConsoleOutputCommand, (input) => {
      const text = this.instances.find((i) => i.id === input.InstanceId)?.console;
      return text === undefined ? {} : { Output: Buffer.from(text).toString("base64") };
    });
  }

  add(ami: Partial<FakeAmi> & { region: string }): FakeAmi {
    const id = ami.id ?? `ami-${String(++this.seq).padStart(8, "0")}`;
    const full: FakeAmi = {
      id,
      name: id,
      state: "available",
      tags: {},
      snapshots: [`snap-${id.slice(4)}`],
      createdAt: `2026-12-0${(this.seq % 9) + 1}T00:00:00.000Z`,
      launchPermissions: [],
      ...ami,
    };
    this.amis.set(id, full);
    return full;
  }

  restore(): void {
    this.mock.restore();
    for (const [key, value] of Object.entries(this.savedEnv)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }

  private ami(id: string, region: string): FakeAmi {
    const ami = this.amis.get(id);
    if (ami === undefined || ami.region !== region)
      throw ec2Error("InvalidAMIID.NotFound", `The image id '[${id}]' does not exist`);
    return ami;
  }

  private describeImages(input: DescribeImagesCommand["input"], region: string): Image[] {
    if (JSON.stringify(input.Owners) !== '["self"]')
      throw new Error("fake EC2: Owners must be self");
    const ids = input.ImageIds;
    if (ids !== undefined) for (const id of ids) this.ami(id, region);
    return [...this.amis.values()]
      .filter((a) => a.region === region && (ids === undefined || ids.includes(a.id)))
      .filter((a) => matches(a.tags, a.state, input.Filters, a.name))
      .map((a) => {
        if (a.copying === true) {
          // A copy: what EC2 makes of it, seen from the next read on.
          const seen = { ...a };
          Object.assign(a, this.copyBecomes, { copying: false });
          return seen;
        }
        return a;
      })
      .map((a): Image => ({
        ImageId: a.id,
        Name: a.name,
        State: a.state as never,
        ...(a.reason ? { StateReason: { Message: a.reason } } : {}),
        CreationDate: a.createdAt,
        Tags: Object.entries(a.tags).map(([Key, Value]) => ({ Key, Value })),
        BlockDeviceMappings: a.snapshots.map((SnapshotId) => ({
          DeviceName: "/dev/xvda",
          Ebs: { SnapshotId },
        })),
      }));
  }
}
