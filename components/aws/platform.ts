import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import type { AwsConfig } from "./config";
import type { StackConfig } from "../config/stack";
import { stackFingerprint } from "../lifecycle/fingerprint";
import type { Host } from "../lifecycle/host";
import { type PlatformResult, buildSettings, imageInfo } from "../lifecycle/outputs";
import { resolvePlan } from "../lifecycle/resolve";
import { awsCredentials } from "./credentials";
import { AwsImage, awsStore } from "./image";

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

export async function awsPlatform(config: StackConfig, host: Host): Promise<PlatformResult> {
  const cfg = config.aws!;
  // Explicit providers do not read the stack's aws:* config: its credentials are handed to the
  // provider, the image store and the host commands alike (or refused with what does the same).
  const credentials = awsCredentials(new pulumi.Config("aws"));
  const provider = new aws.Provider("aws", { region: cfg.region, ...credentials.provider });
  const sourceAmi = await resolveSourceAmi(cfg, { provider });
  const fp = stackFingerprint(config, sourceAmi, {
    platform: "aws",
    rootVolumeSizeGb: cfg.rootVolumeSizeGb,
    encrypted: cfg.encrypted,
    kmsKeyId: cfg.kmsKeyId,
  });
  const plan = await resolvePlan(
    "aws",
    host,
    awsStore({ ...cfg, cliEnv: credentials.cliEnv, credentials: credentials.provider }),
    config,
    fp,
  );
  // The security groups must live in the subnet's VPC; only a build needs it.
  const vpcId =
    plan.phase !== "published" && cfg.subnetId
      ? (await aws.ec2.getSubnet({ id: cfg.subnetId }, { provider })).vpcId
      : undefined;
  const image = new AwsImage(
    "aws",
    {
      plan,
      fingerprint: fp,
      imageName: config.imageName,
      stackId: host.stackId,
      stackTag: host.stackTag,
      settings: buildSettings(config),
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
      cliEnv: credentials.cliEnv,
      credentials: credentials.provider,
    },
    { providers: { aws: provider } },
  );
  return {
    imageId: image.imageIds,
    image: imageInfo(image.image, plan, sourceAmi, image.sbom),
  };
}
