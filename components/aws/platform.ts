import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import type { AwsConfig } from "./config";
import type { StackConfig } from "../config/stack";
import { ConfigError, fullKey } from "../config/errors";
import { PROVISION_DIR, fingerprint, imageNameFor } from "../lifecycle/fingerprint";
import { HasCommand } from "../host-tools";
import { AwsImage, findAwsImage } from "./image";
import { type PlatformResult, buildSettings, imageInfo } from "../lifecycle/outputs";

/**
 * The teardown (terminate the builder, delete its key pair and security group) runs the `aws` CLI
 * on the operator's machine, so its absence is reported before a build creates anything.
 */
export function requireAwsCli(hasCommand: HasCommand): void {
  if (!hasCommand("aws")) {
    throw new ConfigError(
      fullKey("platforms"),
      "platform aws needs the AWS CLI on this machine to tear the builder down; install it with `pip install awscli` or from https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html",
    );
  }
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

export async function awsPlatform(
  config: StackConfig,
  hasCommand: HasCommand,
): Promise<PlatformResult> {
  const cfg = config.aws!;
  // Explicit providers do not read the stack's aws:* config, so hand the profile over.
  const profile = new pulumi.Config("aws").get("profile");
  const provider = new aws.Provider("aws", { region: cfg.region, ...(profile ? { profile } : {}) });
  const sourceAmi = await resolveSourceAmi(cfg, { provider });
  const fp = fingerprint({
    provisionDir: PROVISION_DIR,
    tools: config.tools,
    pythonSource: config.pythonSource,
    sourceImage: sourceAmi,
    settings: {
      platform: "aws",
      rootVolumeSizeGb: cfg.rootVolumeSizeGb,
      encrypted: cfg.encrypted,
      kmsKeyId: cfg.kmsKeyId,
    },
  });
  const name = imageNameFor(config.imageName, fp);
  const existing = await findAwsImage(name, { provider });
  if (existing) {
    void pulumi.log.info(`aws: AMI ${name} (${existing.id}) is up to date; no builder needed`);
  } else {
    // Checked after the read-only lookups, before anything is created: only a build needs it.
    requireAwsCli(hasCommand);
  }
  // The security group must live in the subnet's VPC; only a build needs it.
  const vpcId =
    existing === undefined && cfg.subnetId
      ? (await aws.ec2.getSubnet({ id: cfg.subnetId }, { provider })).vpcId
      : undefined;
  const image = new AwsImage(
    "aws",
    {
      imageName: name,
      fingerprint: fp,
      existing,
      region: cfg.region,
      sourceAmi,
      instanceType: cfg.instanceType,
      subnetId: cfg.subnetId,
      vpcId,
      sshUser: cfg.sshUser,
      sshAllowedCidrs: cfg.sshAllowedCidrs,
      associatePublicIp: cfg.associatePublicIp,
      rootVolumeSizeGb: cfg.rootVolumeSizeGb,
      encrypted: cfg.encrypted,
      kmsKeyId: cfg.kmsKeyId,
      copyToRegions: cfg.copyToRegions,
      shareWithAccounts: cfg.shareWithAccounts,
      tags: cfg.tags,
      spot: cfg.spot,
      awsProfile: profile,
      ...buildSettings(config),
    },
    { providers: { aws: provider } },
  );
  return {
    imageId: image.imageIds,
    image: imageInfo(image.image, fp, sourceAmi),
  };
}
