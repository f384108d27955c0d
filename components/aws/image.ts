import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import type { ImageSettings } from "../config/stack";
import { type DeclaredImage, declareImage } from "../lifecycle/chain";
import {
  type Builder,
  type ChainArgs,
  type LaunchRequest,
  type PlatformDriver,
  tsCommand,
} from "../lifecycle/driver";
import { stackFingerprint } from "../lifecycle/fingerprint";
import type { Host } from "../lifecycle/host";
import {
  type ImageComponentOptions,
  declaredOutput,
  splitImageOptions,
} from "../lifecycle/image-component";
import { type ImageInfo, buildSettings, imageInfo } from "../lifecycle/outputs";
import { resolvePlan } from "../lifecycle/resolve";
import type { StoreRef } from "../lifecycle/store";
import type { AwsConfig } from "./config";
import type { AwsCredentials } from "./credentials";

/** Tag key prefix of everything dse-image tags; user tags may not use it. */
export const TAG_PREFIX = "dse-image:";

/** Private ranges: the default SSH sources of a builder without a public IP. */
export const PRIVATE_CIDRS = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"];

/**
 * An AMI's settings, as the user writes them: the stack's image settings and the `dse-image:aws`
 * object (components/aws/config.ts, each field with its default). Plain values: the source AMI
 * and the images that exist decide which resources are declared.
 */
export interface AwsImageArgs extends ImageSettings, AwsConfig {
  /**
   * The stack's `aws:` credential settings (credentials.ts `awsCredentials`) for the image store
   * and the host commands; give the `aws.Provider` in `providers` the same. Default: none (the
   * SDK's and the CLI's default chains).
   */
  credentials?: AwsCredentials;
}

/** AwsImageArgs with the source AMI resolved (a filter to an ID) and the subnet's VPC. */
interface AwsBuildArgs extends AwsImageArgs {
  sourceAmi: string;
  vpcId?: string;
}

/** The source AMI's ID: as configured, or the most recent match of the filter in the home region. */
export async function resolveSourceAmi(
  cfg: AwsConfig,
  opts?: pulumi.InvokeOptions,
): Promise<string> {
  if (cfg.sourceAmi !== undefined) return cfg.sourceAmi;
  const filter = cfg.sourceAmiFilter!;
  const ami = await aws.ec2.getAmi(
    {
      owners: filter.owners,
      mostRecent: true,
      filters: [{ name: "name", values: [filter.name] }],
    },
    opts,
  );
  return ami.id;
}

/** The image store of this account's AMIs in the home region (and their copies). */
export function awsStore(a: {
  region: string;
  copyToRegions?: string[];
  shareWithAccounts?: string[];
  encrypted?: boolean;
  kmsKeyId?: string;
  cliEnv?: Record<string, string>;
  /** The provider's credential settings: the typed store acts as the same principal. */
  credentials?: AwsCredentials["provider"];
  tags?: Record<string, string>;
}): StoreRef {
  const tags = a.tags ?? {};
  return {
    store: "aws",
    config: {
      region: a.region,
      copyToRegions: a.copyToRegions ?? [],
      shareWithAccounts: a.shareWithAccounts ?? [],
      encrypted: a.encrypted ?? true,
      kmsKeyId: a.kmsKeyId ?? "",
      // The user's tags go on every AMI and snapshot the store creates (a tag-enforcing policy
      // checks the create call). Absent when there are none: an untagged stack's steps keep the
      // inputs they had.
      ...(Object.keys(tags).length > 0 ? { tags } : {}),
      ...a.credentials,
    },
    env: { ...a.cliEnv },
  };
}

/** The image store of an AwsImage: its settings, acting with its credentials. */
function awsStoreOf(args: AwsImageArgs): StoreRef {
  return awsStore({
    ...args,
    cliEnv: args.credentials?.cliEnv,
    credentials: args.credentials?.provider,
  });
}

/** `dse_stack` -> `dse-image:stack`: the lifecycle's labels as EC2 tags. */
export function labelTags(labels: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(labels).map(([k, v]) => [`${TAG_PREFIX}${k.replace(/^dse_/, "")}`, v]),
  );
}

/**
 * Bakes the DSE image on AWS EC2: a temporary builder from `sourceAmi`, provisioned over SSH,
 * turned into a pending AMI, terminated, boot-tested and published within the same `pulumi up`
 * (components/lifecycle/chain.ts). The record copies the AMI to `copyToRegions` and shares it
 * with `shareWithAccounts`; this class only says how to launch a builder.
 */
export class AwsImage extends pulumi.ComponentResource {
  /** Home-region AMI ID. */
  public readonly imageId: pulumi.Output<string>;
  /** Region -> AMI ID, for the home region and every copy. */
  public readonly imageIds: pulumi.Output<Record<string, string>>;
  /** `images.aws` of the stack outputs (components/reader.ts). */
  public readonly image: pulumi.Output<ImageInfo>;
  /** Settles once every child is declared; rejects with what stopped it (a ConfigError). */
  public readonly ready: Promise<void>;

  constructor(name: string, args: AwsImageArgs, opts?: ImageComponentOptions) {
    const { resourceOpts, host } = splitImageOptions(opts);
    super("dse-image:index:AwsImage", name, {}, resourceOpts);
    const declared = this.declare(name, args, host);
    this.ready = declared.then(() => undefined);
    this.imageId = declaredOutput(declared, (d) => d.image.imageId);
    this.imageIds = declaredOutput(declared, (d) => d.imageIds);
    this.image = declaredOutput(declared, (d) => d.info);
    this.registerOutputs({ imageId: this.imageId, imageIds: this.imageIds, image: this.image });
  }

  /** Resolves the source AMI and looks this family's AMIs up, then declares what the plan says. */
  private async declare(name: string, args: AwsImageArgs, host: Host) {
    // Invokes on `{ parent: this }` use the provider given in `providers` (runtime/invoke.js).
    const sourceAmi = await resolveSourceAmi(args, { parent: this });
    const fingerprint = stackFingerprint(args, sourceAmi, {
      platform: "aws",
      rootVolumeSizeGb: args.rootVolumeSizeGb,
      encrypted: args.encrypted,
      kmsKeyId: args.kmsKeyId,
    });
    const store = awsStoreOf(args);
    const plan = await resolvePlan("aws", host, store, args, fingerprint);
    // The security groups must live in the subnet's VPC; only a build needs it.
    const vpcId =
      plan.phase !== "published" && args.subnetId
        ? (await aws.ec2.getSubnet({ id: args.subnetId }, { parent: this })).vpcId
        : undefined;
    const image = this.declareImage(name, { ...args, sourceAmi, vpcId }, store, {
      plan,
      fingerprint,
      imageName: args.imageName,
      sourceImage: sourceAmi,
      stackId: host.stackId,
      stackTag: host.stackTag,
      settings: buildSettings(args),
    });
    return {
      image,
      imageIds: image.image.apply((r) => r.regions ?? { [args.region]: r.id }),
      info: imageInfo(image.image, plan, sourceAmi, image.sbom),
    };
  }

  private declareImage(
    name: string,
    args: AwsBuildArgs,
    store: StoreRef,
    chain: ChainArgs,
  ): DeclaredImage {
    const publicIp = args.associatePublicIp;
    let cidrs = args.sshAllowedCidrs;
    if (cidrs.length === 0) {
      if (publicIp) {
        throw new pulumi.RunError(
          "dse-image:aws.sshAllowedCidrs: required while the builder has a public IP",
        );
      }
      cidrs = PRIVATE_CIDRS;
    }
    const driver: PlatformDriver = {
      platform: "aws",
      scripts: __dirname,
      consoleCommand: tsCommand(path.join(__dirname, "cli.ts"), "console"),
      stopCommand: tsCommand(path.join(__dirname, "cli.ts"), "stop"),
      env: { REGION: args.region, ...args.credentials?.cliEnv },
      store,
      sshUser: args.sshUser,
      // EBS snapshots store only written blocks: zero-filling would make the AMI bigger.
      zeroFreeSpace: false,
      userInUserData: false,
      launch: (request) => this.launchBuilder(request, args, cidrs, publicIp),
      bootTestEnv: {
        INSTANCE_TYPE: args.instanceType,
        SUBNET_ID: args.subnetId ?? "",
        VPC_ID: args.vpcId ?? "",
        ASSOCIATE_PUBLIC_IP: String(publicIp),
        SSH_ALLOWED_CIDRS: cidrs.join(" "),
        USER_TAGS: JSON.stringify(args.tags),
      },
    };
    return declareImage(this, name, chain, driver);
  }

  private launchBuilder(
    request: LaunchRequest,
    args: AwsBuildArgs,
    cidrs: string[],
    publicIp: boolean,
  ): Builder {
    // Not retained: when a generation leaves the program Pulumi deletes them, which EC2 takes as
    // done when the teardown already did (a terminated instance, a missing key pair or group).
    const res = { parent: this, dependsOn: request.after };
    const tags = { ...args.tags, Name: request.cloudName, ...labelTags(request.labels) };
    const keyPair = new aws.ec2.KeyPair(
      `${request.base}-keypair`,
      { keyName: request.cloudName, publicKey: request.publicKey, tags },
      res,
    );
    const v4 = cidrs.filter((c) => !c.includes(":"));
    const v6 = cidrs.filter((c) => c.includes(":"));
    const securityGroup = new aws.ec2.SecurityGroup(
      `${request.base}-ssh`,
      {
        name: request.cloudName,
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
      res,
    );
    const guard = request.sweepOnDelete([keyPair, securityGroup]);
    const instance = new aws.ec2.Instance(
      `${request.base}-builder`,
      {
        ami: args.sourceAmi,
        instanceType: args.instanceType,
        subnetId: args.subnetId,
        associatePublicIpAddress: publicIp,
        vpcSecurityGroupIds: [securityGroup.id],
        keyName: keyPair.keyName,
        // The dead-man switch powers the guest off after the TTL, and a power-off terminates.
        userData: request.userData,
        instanceInitiatedShutdownBehavior: "terminate",
        metadataOptions: { httpTokens: "required", httpEndpoint: "enabled" },
        rootBlockDevice: {
          encrypted: args.encrypted,
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
      { ...res, dependsOn: [...request.after, guard] },
    );
    return {
      id: instance.id,
      host: publicIp ? instance.publicIp : instance.privateIp,
      port: 22,
      ready: [instance],
      env: { INSTANCE_ID: instance.id },
    };
  }
}
