/**
 * A fake AWS account in memory: EC2 instances (terminate-on-shutdown honoured), AMIs with tags,
 * snapshots, copies in other regions, key pairs, security groups. The `aws` CLI the host scripts
 * call and the fake Pulumi providers act on the same objects. Test utility, never shipped.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { CliResult, fail, ok, parseArgs } from "./cli-server";
import type { Faults } from "./faults";
import { Disk, Guest, baseDisk, consoleOf, copyDisk, parseUserData } from "./guest";

export interface Ec2Instance {
  id: string;
  region: string;
  state: "pending" | "running" | "stopped" | "terminated";
  tags: Record<string, string>;
  publicIp: string;
  privateIp: string;
  securityGroups: string[];
  shutdownTerminates: boolean;
  guest: Guest;
}

export interface Ami {
  id: string;
  region: string;
  name: string;
  state: "available" | "pending" | "failed" | "disabled";
  tags: Record<string, string>;
  creationDate: string;
  snapshots: string[];
  deprecationTime?: string;
  launchPermissions: string[];
  disk: Disk;
  /**
   * EC2 time, counted in DescribeImages polls (the CLI waiter polls every 15 s): while above 0
   * the AMI is `pending`, and each poll that sees it takes one off.
   */
  pendingPolls?: number;
}

/** botocore's ImageAvailable waiter (the CLI's `wait image-available`): 15 s x 40 attempts. */
const IMAGE_AVAILABLE_ATTEMPTS = 40;
/** An AMI or a copy in the fake takes a few polls to become available, as real ones take minutes. */
const USUAL_PENDING_POLLS = 3;
/** `ec2:slow-ami`, `ec2:slow-copy`: longer than the CLI waiter waits (40 polls, 10 minutes). */
const SLOW_PENDING_POLLS = 60;

let serial = 0;
const hex = () =>
  ((++serial << 20) + (Date.now() & 0xfffff)).toString(16).padStart(17, "0").slice(-17);

export class FakeAws {
  readonly instances = new Map<string, Ec2Instance>();
  readonly amis = new Map<string, Ami>();
  readonly snapshots = new Set<string>();
  readonly keyPairs = new Map<string, { name: string; publicKey: string; region: string }>();
  readonly groups = new Map<string, { id: string; name: string; region: string }>();
  readonly deletedImages: string[] = [];
  /**
   * Another stack's run interleaved with this one's, call by call: the first call whose CLI
   * arguments `when` accepts calls `arrived`, waits for `after` (a call of the other run), is
   * served, then calls `served`. Fires once per entry. E.g. a release that read an AMI unclaimed
   * just before a claim was written, and whose deregister lands just after it.
   */
  readonly interleave: {
    when: (args: string[]) => boolean;
    arrived?: () => void;
    after?: Promise<unknown>;
    served?: () => void;
  }[] = [];
  /** CopyImage's client tokens, per region: the parameters they came with and the copy made. */
  readonly clientTokens = new Map<string, { params: string; id: string }>();
  /**
   * A tag-enforcing policy: a tag key every create call must carry (an SCP denying
   * `ec2:RunInstances`, `CreateImage`, `CopyImage`, `CreateSecurityGroup`, `ImportKeyPair` on
   * `Null aws:RequestTag/<key>`), for every resource type the call creates. Unset: none.
   */
  requiredTag?: string;
  /** What each create call tagged, per resource type: `<operation> <type>` and its tags. */
  readonly created: { what: string; tags: Record<string, string> }[] = [];
  private ip = 10;

  constructor(private readonly faults: Faults) {}

  /**
   * A create call's tags as the policy sees them, per resource type it creates (`types`; `specs`:
   * its tag specifications by type): recorded, and EC2's refusal when one lacks the required tag.
   */
  refuseUntagged(
    operation: string,
    specs: Record<string, Record<string, string> | undefined>,
    types: string[],
  ): string | undefined {
    for (const type of types) {
      const tags = specs[type] ?? {};
      this.created.push({ what: `${operation} ${type}`, tags: { ...tags } });
      if (this.requiredTag !== undefined && !(this.requiredTag in tags)) {
        return (
          `An error occurred (UnauthorizedOperation) when calling the ${operation} operation: ` +
          `You are not authorized to perform this operation. User is not authorized to perform: ` +
          `ec2:${operation} with an explicit deny in a service control policy ` +
          `(${type} without the tag ${this.requiredTag})`
        );
      }
    }
    return undefined;
  }

  // --- helpers the typed providers and tests use -----------------------------------------
  launch(opts: {
    region: string;
    ami?: Ami;
    userData?: string;
    keyName?: string;
    tags?: Record<string, string>;
    securityGroups?: string[];
    shutdownTerminates?: boolean;
  }): Ec2Instance {
    const id = `i-${hex()}`;
    const extra =
      opts.keyName && this.keyPairs.has(opts.keyName)
        ? [this.keyPairs.get(opts.keyName)!.publicKey]
        : [];
    const disk = opts.ami ? copyDisk(opts.ami.disk) : baseDisk();
    const guest = new Guest("aws", id, disk, parseUserData(opts.userData), extra, this.faults);
    const inst: Ec2Instance = {
      id,
      region: opts.region,
      state: "running",
      tags: { ...opts.tags },
      publicIp: `198.51.100.${++this.ip}`,
      privateIp: `172.31.0.${this.ip}`,
      securityGroups: opts.securityGroups ?? [],
      shutdownTerminates: opts.shutdownTerminates ?? false,
      guest,
    };
    guest.onPowerOff = () => {
      inst.state = inst.shutdownTerminates ? "terminated" : "stopped";
    };
    this.instances.set(id, inst);
    return inst;
  }

  terminate(id: string): void {
    const inst = this.instances.get(id);
    if (!inst) return;
    inst.guest.running = false;
    inst.state = "terminated";
  }

  instanceAt(host: string): Ec2Instance | undefined {
    return [...this.instances.values()].find(
      (i) => i.state !== "terminated" && (i.publicIp === host || i.privateIp === host),
    );
  }

  addAmi(ami: Partial<Ami> & { name: string; region: string }): Ami {
    const full: Ami = {
      id: `ami-${hex()}`,
      state: "available",
      tags: {},
      creationDate: new Date().toISOString().replace(/Z$/, "Z"),
      snapshots: [],
      launchPermissions: [],
      disk: baseDisk(),
      ...ami,
    };
    if (full.snapshots.length === 0) {
      const snap = `snap-${hex()}`;
      this.snapshots.add(snap);
      full.snapshots = [snap];
    }
    this.amis.set(full.id, full);
    return full;
  }

  /** One DescribeImages poll of an AMI: EC2's time passes for it. */
  poll(ami: Ami): void {
    if (ami.state === "pending" && (ami.pendingPolls ?? 0) > 0 && --ami.pendingPolls! === 0)
      ami.state = "available";
  }

  /** A new AMI or copy: pending for a while, longer when the fault says so. */
  private pending(ami: Ami, fault: string): void {
    if (ami.state !== "available") return;
    ami.state = "pending";
    ami.pendingPolls = this.faults.take(fault, "aws") ? SLOW_PENDING_POLLS : USUAL_PENDING_POLLS;
  }

  deregister(id: string): boolean {
    if (!this.amis.delete(id)) return false;
    this.deletedImages.push(id);
    return true;
  }

  // --- the CLI ------------------------------------------------------------------------------
  /** One `aws` call, in its place among another run's calls (`interleave`). */
  async call(args: string[], cwd: string): Promise<CliResult> {
    const n = this.interleave.findIndex((i) => i.when(args));
    if (n < 0) return this.cli(args, cwd);
    const [entry] = this.interleave.splice(n, 1);
    entry.arrived?.();
    await entry.after;
    const result = this.cli(args, cwd);
    entry.served?.();
    return result;
  }

  cli(args: string[], cwd: string): CliResult {
    // Global options come before the service; the command's own list flags are greedy.
    const at = args.indexOf("ec2");
    const global = parseArgs(args.slice(0, Math.max(at, 0)));
    const firstFlag = args.findIndex((x, i) => i > at && x.startsWith("--"));
    const words = args.slice(at, firstFlag < 0 ? undefined : firstFlag);
    const a = parseArgs(
      firstFlag < 0 ? [] : args.slice(firstFlag),
      ["--encrypted", "--latest", "--associate-public-ip-address"],
      true,
    );
    const region = global.one("--region") ?? "us-east-1";
    const output = global.one("--output") ?? "json";
    const [service, command, sub] = words;
    if (service !== "ec2") return fail(`fake aws: unsupported service ${service}`);
    const name = command === "wait" ? `wait ${sub}` : command;
    const fault = this.faults.take(`cli:aws ${name}`, "aws");
    if (fault)
      return fail(
        `An error occurred (InternalError) when calling the ${name} operation (injected: ${fault})`,
        254,
      );
    const handler = this.commands[name];
    if (!handler) return fail(`fake aws: unsupported command ec2 ${name}`);
    const result = handler(a, region, cwd);
    if (result.code !== 0 || result.stdout === "") return result;
    const data = JSON.parse(result.stdout) as unknown;
    const query = a.one("--query");
    const picked = query ? queryJson(data, query) : data;
    if (output === "text") return ok(`${toText(picked)}\n`);
    return ok(`${JSON.stringify(picked)}\n`);
  }

  private amiView(i: Ami) {
    return {
      ImageId: i.id,
      Name: i.name,
      State: i.state,
      CreationDate: i.creationDate,
      Tags: Object.entries(i.tags).map(([Key, Value]) => ({ Key, Value })),
      BlockDeviceMappings: i.snapshots.map((SnapshotId) => ({
        DeviceName: "/dev/sda1",
        Ebs: { SnapshotId },
      })),
      ...(i.deprecationTime ? { DeprecationTime: i.deprecationTime } : {}),
    };
  }

  private instanceView(i: Ec2Instance) {
    return {
      InstanceId: i.id,
      State: { Name: i.state },
      PublicIpAddress: i.publicIp,
      PrivateIpAddress: i.privateIp,
      Tags: Object.entries(i.tags).map(([Key, Value]) => ({ Key, Value })),
    };
  }

  private readonly commands: Record<
    string,
    (a: ReturnType<typeof parseArgs>, region: string, cwd: string) => CliResult
  > = {
    "describe-images": (a, region) => {
      const ids = a.all("--image-ids");
      const filters = parseFilters(a.all("--filters"));
      if (ids.length > 0) {
        const missing = ids.filter((id) => this.amis.get(id)?.region !== region);
        if (missing.length > 0) {
          return fail(
            `An error occurred (InvalidAMIID.NotFound) when calling the DescribeImages operation: The image id '[${missing.join(", ")}]' does not exist`,
            254,
          );
        }
      }
      const images = [...this.amis.values()]
        .filter((i) => i.region === region)
        .filter((i) => ids.length === 0 || ids.includes(i.id))
        .filter((i) => matches(filters, { name: i.name }, i.tags));
      for (const i of images) this.poll(i);
      return ok(JSON.stringify({ Images: images.map((i) => this.amiView(i)) }));
    },
    "create-tags": (a) => {
      const tags = parseTags(a.one("--tags")!);
      for (const id of a.all("--resources")) {
        const target = this.amis.get(id) ?? this.instances.get(id);
        if (!target) return fail(`An error occurred (InvalidID) The ID '${id}' is not valid`, 254);
        Object.assign(target.tags, tags);
      }
      return ok();
    },
    "delete-tags": (a) => {
      // A tag given with a value goes only while it has that value (EC2 DeleteTags).
      const spec = a.one("--tags")!;
      const tags = spec.trim().startsWith("[")
        ? (JSON.parse(spec) as { Key: string; Value?: string }[])
        : Object.keys(parseTags(spec)).map((Key) => ({ Key, Value: undefined }));
      for (const id of a.all("--resources")) {
        const target = this.amis.get(id) ?? this.instances.get(id);
        for (const t of target ? tags : [])
          if (t.Value === undefined || target!.tags[t.Key] === t.Value) delete target!.tags[t.Key];
      }
      return ok();
    },
    "deregister-image": (a) =>
      this.deregister(a.one("--image-id")!)
        ? ok()
        : fail(
            `An error occurred (InvalidAMIID.Unavailable) The image ID '${a.one("--image-id")}' is no longer available`,
            254,
          ),
    "delete-snapshot": (a) => {
      this.snapshots.delete(a.one("--snapshot-id")!);
      return ok();
    },
    "copy-image": (a, region) => {
      // A client token makes the request once per region (EC2's idempotency): a repeat with the
      // same parameters is answered with the first one's copy, gone or not; other parameters
      // are refused. EC2 does not say whether it takes a second copy under a name in use, so
      // the world takes it: a store copying twice leaves two copies, which is what a test
      // must see.
      const token = a.one("--client-token");
      const params = JSON.stringify(
        [...a.flags].filter(([flag]) => flag !== "--client-token").sort(),
      );
      const earlier = token === undefined ? undefined : this.clientTokens.get(`${region} ${token}`);
      if (earlier !== undefined)
        return earlier.params === params
          ? ok(JSON.stringify({ ImageId: earlier.id }))
          : fail(`An error occurred (IdempotentParameterMismatch) client token ${token}`, 254);
      const source = this.amis.get(a.one("--source-image-id")!);
      if (!source || source.region !== a.one("--source-region"))
        return fail("InvalidAMIID.NotFound", 254);
      // CopyImage's TagSpecifications: ResourceType image tags the copy and its snapshots.
      const specs = tagSpecifications(a.all("--tag-specifications"));
      const refused = this.refuseUntagged("CopyImage", specs, ["image"]);
      if (refused) return fail(refused, 254);
      const tags = specs.image ?? {};
      const copy = this.addAmi({
        name: a.one("--name")!,
        region,
        tags: { ...tags },
        disk: copyDisk(source.disk),
      });
      this.pending(copy, "ec2:slow-copy");
      if (token !== undefined) this.clientTokens.set(`${region} ${token}`, { params, id: copy.id });
      return ok(JSON.stringify({ ImageId: copy.id }));
    },
    "describe-image-attribute": (a) => {
      const ami = this.amis.get(a.one("--image-id")!);
      if (!ami) return fail("InvalidAMIID.NotFound", 254);
      if (a.one("--attribute") !== "launchPermission") return fail("InvalidParameterValue", 254);
      const LaunchPermissions = ami.launchPermissions.map((UserId) => ({ UserId }));
      return ok(JSON.stringify({ ImageId: ami.id, LaunchPermissions }));
    },
    "modify-image-attribute": (a) => {
      const ami = this.amis.get(a.one("--image-id")!);
      if (!ami) return fail("InvalidAMIID.NotFound", 254);
      const perms = JSON.parse(a.one("--launch-permission")!) as {
        Add?: { UserId: string }[];
        Remove?: { UserId: string }[];
      };
      for (const p of perms.Add ?? [])
        if (!ami.launchPermissions.includes(p.UserId)) ami.launchPermissions.push(p.UserId);
      const removed = (perms.Remove ?? []).map((p) => p.UserId);
      ami.launchPermissions = ami.launchPermissions.filter((u) => !removed.includes(u));
      return ok();
    },
    "enable-image-deprecation": (a) => {
      const ami = this.amis.get(a.one("--image-id")!);
      if (!ami) return fail("InvalidAMIID.NotFound", 254);
      ami.deprecationTime = a.one("--deprecate-at");
      return ok();
    },
    "wait image-available": (a) => {
      const amis = a.all("--image-ids").map((id) => this.amis.get(id));
      for (let attempt = 1; attempt <= IMAGE_AVAILABLE_ATTEMPTS; attempt++) {
        for (const ami of amis) if (ami) this.poll(ami);
        if (amis.some((ami) => ami?.state === "failed"))
          return fail(
            'Waiter ImageAvailable failed: Waiter encountered a terminal failure state: For expression "Images[].State" we matched expected path: "failed" at least once',
            255,
          );
        if (amis.every((ami) => ami?.state === "available")) return ok();
      }
      return fail("Waiter ImageAvailable failed: Max attempts exceeded", 255);
    },
    "wait instance-terminated": () => ok(),
    "wait instance-running": (a) => {
      const bad = a
        .all("--instance-ids")
        .filter((id) => this.instances.get(id)?.state !== "running");
      return bad.length ? fail(`Waiter InstanceRunning failed: ${bad.join(" ")}`, 255) : ok();
    },
    "describe-instances": (a, region) => {
      const ids = a.all("--instance-ids");
      const filters = parseFilters(a.all("--filters"));
      const found = [...this.instances.values()]
        .filter((i) => i.region === region)
        .filter((i) => ids.length === 0 || ids.includes(i.id))
        .filter((i) => matches(filters, { "instance-state-name": i.state }, i.tags));
      return ok(
        JSON.stringify({ Reservations: found.map((i) => ({ Instances: [this.instanceView(i)] })) }),
      );
    },
    "create-image": (a, region) => {
      const inst = this.instances.get(a.one("--instance-id")!);
      if (!inst || inst.state === "terminated") return fail("InvalidInstanceID.NotFound", 254);
      const name = a.one("--name")!;
      if ([...this.amis.values()].some((i) => i.region === region && i.name === name)) {
        return fail(
          `An error occurred (InvalidAMIName.Duplicate) AMI name ${name} is already in use by AMI`,
          254,
        );
      }
      const specs = tagSpecifications(a.all("--tag-specifications"));
      const refused = this.refuseUntagged("CreateImage", specs, ["image", "snapshot"]);
      if (refused) return fail(refused, 254);
      const tags = specs.image ?? {};
      const ami = this.addAmi({ name, region, tags, disk: copyDisk(inst.guest.disk) });
      // `ec2:ami-failed`: the AMI's snapshot fails; the AMI stays, `failed`, under its name.
      if (this.faults.take("ec2:ami-failed", "aws")) ami.state = "failed";
      this.pending(ami, "ec2:slow-ami");
      // CreateImage stops a running instance for the snapshot and starts it again (a reboot)
      // unless --no-reboot; a stopped instance stays stopped.
      if (inst.state === "running" && !a.has("--no-reboot")) inst.guest.restart();
      return ok(JSON.stringify({ ImageId: ami.id }));
    },
    "create-security-group": (a, region) => {
      const g = { id: `sg-${hex()}`, name: a.one("--group-name")!, region };
      const specs = tagSpecifications(a.all("--tag-specifications"));
      const refused = this.refuseUntagged("CreateSecurityGroup", specs, ["security-group"]);
      if (refused) return fail(refused, 254);
      if ([...this.groups.values()].some((o) => o.region === region && o.name === g.name)) {
        return fail(
          `An error occurred (InvalidGroup.Duplicate) when calling the CreateSecurityGroup operation: The security group '${g.name}' already exists for VPC 'vpc-default'`,
          254,
        );
      }
      this.groups.set(g.id, g);
      return ok(JSON.stringify({ GroupId: g.id }));
    },
    "authorize-security-group-ingress": () => ok(),
    "describe-vpcs": () => ok(JSON.stringify({ Vpcs: [{ VpcId: "vpc-default" }] })),
    "run-instances": (a, region, cwd) => {
      const ami = this.amis.get(a.one("--image-id")!);
      if (!ami || ami.region !== region || ami.state !== "available")
        return fail("InvalidAMIID.NotFound", 254);
      // `file://PATH` (the CLI reads the file) or the text itself.
      const given = a.one("--user-data") ?? "";
      const file = given.startsWith("file://") ? given.slice("file://".length) : undefined;
      const specs = tagSpecifications(a.all("--tag-specifications"));
      const refused = this.refuseUntagged("RunInstances", specs, ["instance", "volume"]);
      if (refused) return fail(refused, 254);
      const tags = specs.instance ?? {};
      const groups = [...a.all("--security-group-ids")];
      for (const ni of a.all("--network-interfaces"))
        groups.push(...((JSON.parse(ni) as { Groups?: string[] }[])[0]?.Groups ?? []));
      const inst = this.launch({
        region,
        ami,
        userData: file ? fs.readFileSync(path.resolve(cwd, file), "utf8") : given || undefined,
        tags,
        securityGroups: groups,
        shutdownTerminates: a.one("--instance-initiated-shutdown-behavior") === "terminate",
      });
      return ok(JSON.stringify({ Instances: [this.instanceView(inst)] }));
    },
    "stop-instances": (a) => {
      for (const id of a.all("--instance-ids")) {
        const inst = this.instances.get(id);
        if (!inst || inst.state === "terminated") return fail("InvalidInstanceID.NotFound", 254);
        // An API stop is not instance-initiated: the instance stops, whatever its shutdown
        // behavior, and its guest powers off cleanly.
        inst.guest.running = false;
        inst.state = "stopped";
      }
      return ok(JSON.stringify({ StoppingInstances: [] }));
    },
    "wait instance-stopped": (a) => {
      const bad = a
        .all("--instance-ids")
        .filter((id) => this.instances.get(id)?.state !== "stopped");
      return bad.length ? fail(`Waiter InstanceStopped failed: ${bad.join(" ")}`, 255) : ok();
    },
    "terminate-instances": (a) => {
      // EC2 refuses the whole call when one ID names no instance.
      const unknown = a.all("--instance-ids").filter((id) => !this.instances.has(id));
      if (unknown.length > 0)
        return fail(
          `An error occurred (InvalidInstanceID.NotFound) when calling the TerminateInstances operation: The instance IDs '${unknown.join(", ")}' do not exist`,
          254,
        );
      for (const id of a.all("--instance-ids")) this.terminate(id);
      return ok(JSON.stringify({ TerminatingInstances: [] }));
    },
    "describe-key-pairs": (a, region) => {
      const filters = parseFilters(a.all("--filters"));
      const pairs = [...this.keyPairs.values()].filter(
        (k) => k.region === region && matches(filters, { "key-name": k.name }, {}),
      );
      return ok(JSON.stringify({ KeyPairs: pairs.map((k) => ({ KeyName: k.name })) }));
    },
    "delete-key-pair": (a) => {
      this.keyPairs.delete(a.one("--key-name")!);
      return ok();
    },
    "describe-security-groups": (a, region) => {
      const filters = parseFilters(a.all("--filters"));
      const groups = [...this.groups.values()].filter(
        (g) => g.region === region && matches(filters, { "group-name": g.name }, {}),
      );
      return ok(
        JSON.stringify({
          SecurityGroups: groups.map((g) => ({ GroupId: g.id, GroupName: g.name })),
        }),
      );
    },
    "delete-security-group": (a) => {
      const id = a.one("--group-id")!;
      if (!this.groups.has(id))
        return fail(
          `An error occurred (InvalidGroup.NotFound) when calling the DeleteSecurityGroup operation: The security group '${id}' does not exist`,
          254,
        );
      if (
        [...this.instances.values()].some(
          (i) => i.state !== "terminated" && i.securityGroups.includes(id),
        )
      ) {
        return fail(
          `An error occurred (DependencyViolation) resource ${id} has a dependent object`,
          254,
        );
      }
      this.groups.delete(id);
      return ok();
    },
    "get-console-output": (a) => {
      const id = a.one("--instance-id")!;
      const instance = this.instances.get(id);
      return instance
        ? ok(JSON.stringify({ Output: consoleOf(instance.guest.disk, id) }))
        : fail("InvalidInstanceID.NotFound", 254);
    },
  };
}

/** `Name=tag:K,Values=a,b` filters; `*` at the end of a value is a prefix match. */
function parseFilters(specs: string[]): { name: string; values: string[] }[] {
  return specs.map((spec) => {
    const m = /^Name=([^,]+),Values=(.*)$/.exec(spec)!;
    return { name: m[1], values: m[2].split(",") };
  });
}

function matches(
  filters: { name: string; values: string[] }[],
  fields: Record<string, string>,
  tags: Record<string, string>,
): boolean {
  return filters.every((f) => {
    const value = f.name.startsWith("tag:") ? tags[f.name.slice(4)] : fields[f.name];
    if (value === undefined) return false;
    return f.values.some((v) => (v.endsWith("*") ? value.startsWith(v.slice(0, -1)) : value === v));
  });
}

/**
 * `--tag-specifications` values as the CLI takes them, JSON (a list or one object) or shorthand
 * (`ResourceType=t,Tags=[{Key=k,Value=v},...]`): the tags per resource type.
 */
function tagSpecifications(values: string[]): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  const add = (type: string, tags: [string, string][]) =>
    Object.assign((out[type] ??= {}), Object.fromEntries(tags));
  for (const value of values) {
    if (/^\s*[[{]/.test(value)) {
      const parsed = JSON.parse(value) as unknown;
      for (const spec of (Array.isArray(parsed) ? parsed : [parsed]) as {
        ResourceType: string;
        Tags: { Key: string; Value: string }[];
      }[])
        add(
          spec.ResourceType,
          spec.Tags.map((t) => [t.Key, t.Value]),
        );
    } else {
      const type = /ResourceType=([^,]+)/.exec(value)?.[1] ?? "";
      add(
        type,
        [...value.matchAll(/\{Key=([^,]+),Value=([^}]*)\}/g)].map((m) => [m[1], m[2]]),
      );
    }
  }
  return out;
}

/** `--tags` as JSON (`[{"Key","Value"}]`) or shorthand (`Key=k,Value=v`). */
function parseTags(spec: string): Record<string, string> {
  if (spec.trim().startsWith("[")) {
    return Object.fromEntries(
      (JSON.parse(spec) as { Key: string; Value?: string }[]).map((t) => [t.Key, t.Value ?? ""]),
    );
  }
  const m = /Key=([^,]+)(?:,Value=(.*))?/.exec(spec)!;
  return { [m[1]]: m[2] ?? "" };
}

/** The JMESPath subset the scripts use: `A[].B[].C`, `A[0].B`, `A`. */
export function queryJson(data: unknown, query: string): unknown {
  let current: unknown[] = [data];
  let flatten = false;
  for (const part of query.split(".")) {
    const m = /^(\w+)(\[(\d*)\])?$/.exec(part)!;
    const next: unknown[] = [];
    for (const item of current) {
      const value = (item as Record<string, unknown> | undefined)?.[m[1]];
      if (m[2] === undefined) next.push(value);
      else if (m[3] === "") {
        flatten = true;
        next.push(...((value as unknown[] | undefined) ?? []));
      } else next.push((value as unknown[] | undefined)?.[Number(m[3])]);
    }
    current = next;
  }
  return flatten ? current.filter((v) => v !== undefined) : current[0];
}

/** `--output text`: lists tab-separated on one line, scalars as they are, null as None. */
function toText(value: unknown): string {
  if (value === undefined || value === null) return "None";
  if (Array.isArray(value)) return value.map(toText).join("\t");
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}
