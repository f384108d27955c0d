import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { declareImage } from "../lifecycle/chain";
import * as path from "node:path";
import {
  type BuildSettings,
  type Builder,
  type LaunchRequest,
  type PlatformDriver,
  tsCommand,
} from "../lifecycle/driver";
import type { ImageRecordOutput } from "../lifecycle/image-record";
import type { Plan } from "../lifecycle/plan";
import type { StoreRef } from "../lifecycle/store";
import type { AwsCredentials } from "./credentials";

/** Tag key prefix of everything dse-image tags; user tags may not use it. */
export const TAG_PREFIX = "dse-image:";

/** Private ranges: the default SSH sources of a builder without a public IP. */
export const PRIVATE_CIDRS = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"];

export interface AwsImageArgs {
  /** What this run declares (components/lifecycle/plan.ts). A plain value: it decides which resources exist. */
  plan: Plan;
  /** Build fingerprint (tagged on the AMI). */
  fingerprint: string;
  /** Base name of the image (`imageName`). */
  imageName: string;
  /** `<org>/<project>/<stack>` and its tag: whose claims and builders these are. */
  stackId: string;
  stackTag: string;
  settings: BuildSettings;
  /** Home region: where the builder runs and the AMI is made. */
  region: string;
  /** Source AMI ID (a filter is resolved to an ID before, so that the ID is fingerprinted). */
  sourceAmi: string;
  /** Builder instance type. Default `t3.medium`. */
  instanceType?: string;
  /** Builder subnet. Default: a default subnet of the default VPC. */
  subnetId?: string;
  /** VPC of `subnetId`, for the security groups. Default: the default VPC. */
  vpcId?: string;
  /** Login user of the source AMI. Default `ubuntu`. */
  sshUser?: string;
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
  /**
   * The user's tags (Packer `tags`, `run_tags`), on everything the build creates: the builder, its
   * volumes, key pair and security group, the boot test's instance, volumes and group, the AMI,
   * its snapshots and copies. Default: none.
   */
  tags?: Record<string, string>;
  /** Build on a one-time spot instance. Default false. */
  spot?: boolean;
  /**
   * The AWS CLI's credential settings (`AWS_PROFILE`, `AWS_CONFIG_FILE`, ...: credentials.ts);
   * the providers get the same separately. Default: none (the CLI's own defaults).
   */
  cliEnv?: Record<string, string>;
  /** The same settings for the typed image store (the SDK). Default: the SDK's chain. */
  credentials?: AwsCredentials["provider"];
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
  public readonly image: pulumi.Output<ImageRecordOutput>;
  /** Path of the image's CycloneDX SBOM on this machine, when there is one. */
  public readonly sbom: pulumi.Output<string | undefined>;

  constructor(name: string, args: AwsImageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("dse-image:index:AwsImage", name, {}, opts);
    const store = awsStore(args);
    const publicIp = args.associatePublicIp ?? true;
    let cidrs = args.sshAllowedCidrs ?? [];
    if (cidrs.length === 0) {
      if (publicIp) {
        throw new pulumi.RunError(
          "dse-image:aws.sshAllowedCidrs: required while the builder has a public IP",
        );
      }
      cidrs = PRIVATE_CIDRS;
    }
    const env: Record<string, string> = {
      REGION: args.region,
      ...args.cliEnv,
    };
    const driver: PlatformDriver = {
      platform: "aws",
      scripts: __dirname,
      consoleCommand: tsCommand(path.join(__dirname, "cli.ts"), "console"),
      env,
      store,
      sshUser: args.sshUser ?? "ubuntu",
      // EBS snapshots store only written blocks: zero-filling would make the AMI bigger.
      zeroFreeSpace: false,
      userInUserData: false,
      launch: (request) => this.launchBuilder(request, args, cidrs, publicIp),
      bootTestEnv: {
        INSTANCE_TYPE: args.instanceType ?? "t3.medium",
        SUBNET_ID: args.subnetId ?? "",
        VPC_ID: args.vpcId ?? "",
        ASSOCIATE_PUBLIC_IP: String(publicIp),
        SSH_ALLOWED_CIDRS: cidrs.join(" "),
        USER_TAGS: JSON.stringify(args.tags ?? {}),
      },
    };
    const declared = declareImage(
      this,
      name,
      {
        plan: args.plan,
        fingerprint: args.fingerprint,
        imageName: args.imageName,
        sourceImage: args.sourceAmi,
        stackId: args.stackId,
        stackTag: args.stackTag,
        settings: args.settings,
      },
      driver,
    );

    this.image = declared.image;
    this.imageId = declared.imageId;
    this.sbom = declared.sbom;
    this.imageIds = this.image.apply((r) => r.regions ?? { [args.region]: r.id });
    this.registerOutputs({ imageId: this.imageId, imageIds: this.imageIds, image: this.image });
  }

  private launchBuilder(
    request: LaunchRequest,
    args: AwsImageArgs,
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
        instanceType: args.instanceType ?? "t3.medium",
        subnetId: args.subnetId,
        associatePublicIpAddress: publicIp,
        vpcSecurityGroupIds: [securityGroup.id],
        keyName: keyPair.keyName,
        // The dead-man switch powers the guest off after the TTL, and a power-off terminates.
        userData: request.userData,
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
