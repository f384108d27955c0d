import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import * as command from "@pulumi/command";
import * as tls from "@pulumi/tls";
import { ttlUserData } from "../provision-commands";
import { Provisioner } from "../provisioner";
import type { ProvisioningArgs } from "../provisioning-args";
import { shellQuote } from "../shell";

/** Tags dse-image sets; user tags may not start with `dse-image:`. */
export const TAG = {
  fingerprint: "dse-image:fingerprint",
  sourceAmi: "dse-image:source-ami",
  builder: "dse-image:builder",
  role: "dse-image:role",
  /** `dse-image:manifest-0`, `-1`, ...: verify.sh's JSON in pieces. */
  manifestPrefix: "dse-image:manifest-",
} as const;

/** EC2 caps tag values at 256 characters and a resource at 50 tags. */
const TAG_VALUE_MAX = 256;
const TAGS_MAX = 50;

/** Private ranges: the default SSH sources of a builder without a public IP. */
export const PRIVATE_CIDRS = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"];

/** The AMI of a previous build with this fingerprint, as found by `findAwsImage`. */
export interface ExistingAmi {
  id: string;
  tags: Record<string, string>;
}

export interface AwsImageArgs extends ProvisioningArgs {
  /** Full AMI name, `<imageName>-<fingerprint prefix>`. */
  imageName: string;
  /** Build fingerprint: tagged on the AMI and part of every resource name of this build. */
  fingerprint: string;
  /**
   * The AMI with this name, when it already exists (see `findAwsImage`): then no builder is
   * declared and the AMI resource adopts it. A plain value because it decides which resources
   * exist. Default: none, so build.
   */
  existing?: ExistingAmi;
  /** Home region: where the builder runs and the AMI is made. */
  region: string;
  /** Source AMI ID (a filter is resolved to an ID before, so that the ID is fingerprinted). */
  sourceAmi: string;
  /** Builder instance type. Default `t3.medium`. */
  instanceType?: pulumi.Input<string>;
  /** Builder subnet. Default: a default subnet of the default VPC. */
  subnetId?: pulumi.Input<string>;
  /** VPC of `subnetId`, for the security group. Default: the default VPC. */
  vpcId?: pulumi.Input<string>;
  /** Login user of the source AMI. Default `ubuntu`. */
  sshUser?: pulumi.Input<string>;
  /**
   * Sources allowed on port 22. Default: the private ranges, allowed only without a public IP.
   * A plain list because it decides the rule.
   */
  sshAllowedCidrs?: string[];
  /** Give the builder a public IP and connect to it; else connect to its private IP. Default true. */
  associatePublicIp?: boolean;
  /** Root volume size in GiB. Default: the source AMI's. */
  rootVolumeSizeGb?: number;
  /** Encrypt the root volume (and so the AMI). Default true. */
  encrypted?: boolean;
  /** KMS key for the encryption. Default: the account's EBS key. */
  kmsKeyId?: string;
  /** Regions the AMI is copied to. Default: none. */
  copyToRegions?: string[];
  /** Accounts allowed to launch the AMI and its copies. Default: none. */
  shareWithAccounts?: string[];
  /** Extra tags on the AMI, its copies and the builder. Default: none. */
  tags?: Record<string, string>;
  /** Build on a one-time spot instance. Default false. */
  spot?: boolean;
  /** Named AWS profile for the teardown CLI (the providers get it separately). Default: none. */
  awsProfile?: string;
  /** Keep the AMI, its copies and their launch permissions on destroy and rebuilds. Default false. */
  retainImages?: boolean;
  /** Power the builder off (so terminate it) after this many minutes whatever happens. Default 120. */
  builderTtlMinutes?: number;
}

/** The AMI as the stack exports it. */
export interface AwsImageRecord {
  id: string;
  name: string;
  createdAt: string;
  manifest: Record<string, unknown>;
}

/** The manifest JSON in tag-sized pieces, at most `room` of them (with a warning past that). */
export function manifestTags(manifest: string, room: number): Record<string, string> {
  const text = manifest.trim();
  const tags: Record<string, string> = {};
  const pieces = Math.ceil(text.length / TAG_VALUE_MAX);
  if (pieces > room) {
    void pulumi.log.warn(
      `aws: the manifest (${text.length} characters) does not fit in ${room} tags; it is stored truncated`,
    );
  }
  for (let i = 0; i < Math.min(pieces, room); i++) {
    tags[`${TAG.manifestPrefix}${i}`] = text.slice(i * TAG_VALUE_MAX, (i + 1) * TAG_VALUE_MAX);
  }
  return tags;
}

/** The manifest text back from the AMI's tags ("" when it has none). */
export function manifestText(tags: Record<string, string> | undefined): string {
  let text = "";
  for (let i = 0; tags?.[`${TAG.manifestPrefix}${i}`] !== undefined; i++) {
    text += tags[`${TAG.manifestPrefix}${i}`];
  }
  return text;
}

/** The manifest object from the AMI's tags; `{ truncated: true }` when it did not fit. */
export function manifestFromTags(
  tags: Record<string, string> | undefined,
): Record<string, unknown> {
  const text = manifestText(tags);
  if (text === "") return {};
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return { truncated: true };
  }
}

/** The ID of an AMI of this account with exactly this name, and its tags, if any. */
export async function findAwsImage(
  imageName: string,
  opts?: pulumi.InvokeOptions,
): Promise<ExistingAmi | undefined> {
  const found = await aws.ec2.getAmiIds(
    { owners: ["self"], filters: [{ name: "name", values: [imageName] }] },
    opts,
  );
  const id = found.ids[0];
  if (id === undefined) return undefined;
  const ami = await aws.ec2.getAmi(
    { owners: ["self"], filters: [{ name: "image-id", values: [id] }] },
    opts,
  );
  return { id, tags: ami.tags };
}

const TEARDOWN_SCRIPT = path.join(__dirname, "teardown.sh");

/**
 * Bakes the DSE image on AWS EC2: a temporary builder from `sourceAmi`, provisioned over SSH,
 * turned into an AMI, then terminated with its key pair and security group in the same
 * `pulumi up`. The AMI is copied to `copyToRegions` and shared with `shareWithAccounts`.
 */
export class AwsImage extends pulumi.ComponentResource {
  /** Home-region AMI ID. */
  public readonly imageId: pulumi.Output<string>;
  /** Region -> AMI ID, for the home region and every copy. */
  public readonly imageIds: pulumi.Output<Record<string, string>>;
  public readonly image: pulumi.Output<AwsImageRecord>;
  /** The temporary build key, while a builder exists. Secret. */
  public readonly privateKey?: pulumi.Output<string>;

  constructor(name: string, args: AwsImageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("dse-image:index:AwsImage", name, {}, opts);
    // Every resource of one build carries the fingerprint in its name: a rebuild creates new
    // resources instead of replacing old ones (a replacement would reuse ignored, stale inputs
    // such as the gone builder's ID), and state left by an earlier build is never reused.
    const base = `${name}-${args.fingerprint.slice(0, 12)}`;
    const retain = args.retainImages ?? false;

    let builderId: pulumi.Input<string>;
    let manifest: pulumi.Input<string>;
    let dependsOn: pulumi.Resource[] = [];
    let chain: ReturnType<AwsImage["declareBuilder"]> | undefined;
    if (args.existing === undefined) {
      chain = this.declareBuilder(base, args);
      builderId = chain.instance.id;
      manifest = chain.provisioner.manifest;
      dependsOn = [chain.provisioner.done];
      this.privateKey = chain.privateKey;
    } else {
      // Recovered from the AMI, so that its inputs are what the build gave it: no diff.
      builderId = args.existing.tags[TAG.builder] ?? "";
      manifest = manifestText(args.existing.tags);
    }

    const fixed: Record<string, string> = {
      ...args.tags,
      Name: args.imageName,
      [TAG.fingerprint]: args.fingerprint,
      [TAG.sourceAmi]: args.sourceAmi,
    };
    const tags = pulumi.all([builderId, manifest]).apply(([builder, text]) => {
      const known = { ...fixed, [TAG.builder]: builder };
      return { ...known, ...manifestTags(text, TAGS_MAX - Object.keys(known).length) };
    });

    const ami = new aws.ec2.AmiFromInstance(
      `${base}-ami`,
      {
        name: args.imageName,
        description: `dse-image ${args.imageName} (fingerprint ${args.fingerprint})`,
        sourceInstanceId: builderId,
        tags,
      },
      {
        parent: this,
        dependsOn,
        // The builder is gone after the first run; its ID must never update or replace the AMI.
        ignoreChanges: ["sourceInstanceId"],
        retainOnDelete: retain,
        // Adopts an AMI this stack's state lacks (a no-op when the state has it already).
        import: args.existing?.id,
      },
    );

    if (chain !== undefined) {
      new command.local.Command(
        `${base}-teardown`,
        {
          create: `bash ${shellQuote(TEARDOWN_SCRIPT)}`,
          environment: {
            REGION: args.region,
            INSTANCE_ID: chain.instance.id,
            KEY_NAME: chain.keyPair.keyName,
            SECURITY_GROUP_ID: chain.securityGroup.id,
            ...(args.awsProfile ? { AWS_PROFILE: args.awsProfile } : {}),
          },
          logging: "stderr",
        },
        // Runs once, right after the AMI exists; nothing to undo later.
        { parent: this, dependsOn: [ami], retainOnDelete: true },
      );
    }

    const ids: Record<string, pulumi.Output<string>> = { [args.region]: ami.id };
    const shared = (imageId: pulumi.Output<string>, suffix: string, provider?: aws.Provider) =>
      (args.shareWithAccounts ?? []).map(
        (accountId) =>
          new aws.ec2.AmiLaunchPermission(
            `${base}-share-${accountId}${suffix}`,
            { imageId, accountId },
            { parent: this, provider, retainOnDelete: retain },
          ),
      );
    shared(ami.id, "");
    for (const region of args.copyToRegions ?? []) {
      const provider = new aws.Provider(
        `${name}-${region}`,
        { region, ...(args.awsProfile ? { profile: args.awsProfile } : {}) },
        { parent: this },
      );
      const copy = new aws.ec2.AmiCopy(
        `${base}-copy-${region}`,
        {
          name: args.imageName,
          description: `dse-image ${args.imageName} (fingerprint ${args.fingerprint}), copied from ${args.region}`,
          sourceAmiId: ami.id,
          sourceAmiRegion: args.region,
          encrypted: args.encrypted ?? true,
          tags,
        },
        { parent: this, provider, retainOnDelete: retain },
      );
      ids[region] = copy.id;
      shared(copy.id, `-${region}`, provider);
    }

    const described = aws.ec2.getAmiOutput(
      { owners: ["self"], filters: [{ name: "image-id", values: [ami.id] }] },
      { parent: this },
    );
    this.imageId = ami.id;
    this.imageIds = pulumi.all(ids);
    this.image = pulumi.all([ami.id, described]).apply(([id, found]) => ({
      id,
      name: found.name,
      createdAt: found.creationDate,
      manifest: manifestFromTags(found.tags),
    }));
    this.registerOutputs({ imageId: this.imageId, imageIds: this.imageIds, image: this.image });
  }

  private declareBuilder(base: string, args: AwsImageArgs) {
    // Torn down by the teardown step; Pulumi must never try to delete them again later.
    const temp = { parent: this, retainOnDelete: true };
    const buildName = `${args.imageName}-build`;
    const tags = {
      ...args.tags,
      Name: buildName,
      [TAG.role]: "builder",
      [TAG.fingerprint]: args.fingerprint,
    };

    const key = new tls.PrivateKey(`${base}-key`, { algorithm: "ED25519" }, { parent: this });
    const privateKey = pulumi.secret(key.privateKeyOpenssh);
    const keyPair = new aws.ec2.KeyPair(
      `${base}-keypair`,
      { keyName: buildName, publicKey: key.publicKeyOpenssh, tags },
      temp,
    );

    const publicIp = args.associatePublicIp ?? true;
    let cidrs = args.sshAllowedCidrs ?? [];
    if (cidrs.length === 0) {
      if (publicIp) {
        throw new Error("aws: sshAllowedCidrs is required while the builder has a public IP");
      }
      cidrs = PRIVATE_CIDRS;
    }
    const v4 = cidrs.filter((c) => !c.includes(":"));
    const v6 = cidrs.filter((c) => c.includes(":"));
    const securityGroup = new aws.ec2.SecurityGroup(
      `${base}-ssh`,
      {
        name: buildName,
        description: "dse-image builder: SSH from sshAllowedCidrs",
        vpcId: args.vpcId,
        ingress: [
          {
            description: "SSH from sshAllowedCidrs",
            protocol: "tcp",
            fromPort: 22,
            toPort: 22,
            ...(v4.length > 0 ? { cidrBlocks: v4 } : {}),
            ...(v6.length > 0 ? { ipv6CidrBlocks: v6 } : {}),
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
        tags,
      },
      temp,
    );

    const instance = new aws.ec2.Instance(
      `${base}-builder`,
      {
        ami: args.sourceAmi,
        instanceType: args.instanceType ?? "t3.medium",
        subnetId: args.subnetId,
        associatePublicIpAddress: publicIp,
        vpcSecurityGroupIds: [securityGroup.id],
        keyName: keyPair.keyName,
        // The dead-man switch: the guest powers off after the TTL, and a power-off terminates.
        userData: ttlUserData(args.builderTtlMinutes ?? 120),
        instanceInitiatedShutdownBehavior: "terminate",
        metadataOptions: { httpTokens: "required", httpEndpoint: "enabled" },
        rootBlockDevice: {
          encrypted: args.encrypted ?? true,
          kmsKeyId: args.kmsKeyId,
          volumeSize: args.rootVolumeSizeGb,
          volumeType: "gp3",
          deleteOnTermination: true,
        },
        instanceMarketOptions: args.spot
          ? {
              marketType: "spot",
              spotOptions: {
                spotInstanceType: "one-time",
                instanceInterruptionBehavior: "terminate",
              },
            }
          : undefined,
        tags,
        volumeTags: tags,
      },
      temp,
    );

    const provisioner = new Provisioner(
      `${base}-provision`,
      {
        host: publicIp ? instance.publicIp : instance.privateIp,
        user: args.sshUser ?? "ubuntu",
        privateKey,
        tools: args.tools,
        pythonSource: args.pythonSource,
        fingerprint: args.fingerprint,
        env: args.provisionEnv,
        // EBS snapshots store only written blocks: zero-filling would make the AMI bigger.
        zeroFreeSpace: false,
        builderTtlMinutes: args.builderTtlMinutes,
        keepBuilderOnFailure: args.keepBuilderOnFailure,
      },
      { parent: this },
    );
    return { instance, keyPair, securityGroup, provisioner, privateKey };
  }
}
