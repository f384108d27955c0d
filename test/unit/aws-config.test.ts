import { describe, expect, it } from "vitest";
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, loadConfig, parseStackConfig } from "../../components/config";
import { stackConfig } from "./mocks";

const UBUNTU = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*";
const aws = {
  region: "eu-west-1",
  sourceAmi: "ami-0c1c30571d2dae5c9",
  sshAllowedCidrs: ["203.0.113.7/32"],
};

function errorOf(awsConfig: Record<string, unknown>): string {
  try {
    parseStackConfig({ platforms: ["aws"], aws: awsConfig });
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    expect(pulumi.RunError.isInstance(e)).toBe(true);
    return (e as Error).message;
  }
  throw new Error("expected a ConfigError");
}

describe("aws config", () => {
  it("applies the documented defaults", () => {
    expect(parseStackConfig({ platforms: ["aws"], aws }).aws).toEqual({
      region: "eu-west-1",
      sourceAmi: "ami-0c1c30571d2dae5c9",
      sourceAmiFilter: undefined,
      instanceType: "t3.medium",
      subnetId: undefined,
      sshUser: "ubuntu",
      sshAllowedCidrs: ["203.0.113.7/32"],
      associatePublicIp: true,
      rootVolumeSizeGb: undefined,
      encrypted: true,
      kmsKeyId: undefined,
      copyToRegions: [],
      shareWithAccounts: [],
      tags: {},
      spot: false,
    });
  });

  it("reads every key, in the string forms `pulumi config set --path` stores", () => {
    const parsed = parseStackConfig({
      platforms: ["aws"],
      aws: {
        region: "us-gov-west-1",
        sourceAmiFilter: { owners: ["099720109477", "self"], name: UBUNTU },
        instanceType: "m6i.large",
        subnetId: "subnet-0a1b2c3d",
        sshUser: "admin",
        sshAllowedCidrs: ["10.0.0.0/8", "2001:db8::/32"],
        associatePublicIp: "false",
        rootVolumeSizeGb: "40",
        encrypted: "true",
        kmsKeyId: "alias/dse",
        copyToRegions: ["eu-west-1", "ap-southeast-2"],
        shareWithAccounts: ["111122223333"],
        tags: { team: "ds" },
        spot: "true",
      },
    }).aws;
    expect(parsed).toEqual({
      region: "us-gov-west-1",
      sourceAmi: undefined,
      sourceAmiFilter: { owners: ["099720109477", "self"], name: UBUNTU },
      instanceType: "m6i.large",
      subnetId: "subnet-0a1b2c3d",
      sshUser: "admin",
      sshAllowedCidrs: ["10.0.0.0/8", "2001:db8::/32"],
      associatePublicIp: false,
      rootVolumeSizeGb: 40,
      encrypted: true,
      kmsKeyId: "alias/dse",
      copyToRegions: ["eu-west-1", "ap-southeast-2"],
      shareWithAccounts: ["111122223333"],
      tags: { team: "ds" },
      spot: true,
    });
  });

  it("needs no sshAllowedCidrs for a builder without a public IP", () => {
    const { sshAllowedCidrs: _, ...rest } = aws;
    expect(
      parseStackConfig({ platforms: ["aws"], aws: { ...rest, associatePublicIp: false } }).aws
        ?.sshAllowedCidrs,
    ).toEqual([]);
  });

  it("takes account IDs that `pulumi config set --path` stored as numbers as 12-digit strings", () => {
    // pulumi config set --path 'dse-image:aws.shareWithAccounts[0]' 111122223333 (and owners[1]).
    const all = stackConfig({
      platforms: ["aws"],
      aws: {
        ...aws,
        sourceAmi: undefined,
        sourceAmiFilter: { owners: ["099720109477", 123456789012], name: UBUNTU },
        encrypted: false,
        shareWithAccounts: [111122223333, "444455556666"],
      },
    });
    expect(all["dse-image:aws"]).toContain('"shareWithAccounts":[111122223333,"444455556666"]');
    const parsed = loadConfig(all).aws;
    expect(parsed?.shareWithAccounts).toEqual(["111122223333", "444455556666"]);
    expect(parsed?.sourceAmiFilter?.owners).toEqual(["099720109477", "123456789012"]);
  });

  it.each<[string, Record<string, unknown>, string]>([
    [
      "an unknown key",
      { ...aws, instance_type: "t3.large" },
      "dse-image:aws.instance_type: unknown key; expected one of region, sourceAmi, sourceAmiFilter, instanceType, subnetId, sshUser, sshAllowedCidrs, associatePublicIp, rootVolumeSizeGb, encrypted, kmsKeyId, copyToRegions, shareWithAccounts, tags, spot",
    ],
    [
      "no region",
      { ...aws, region: undefined },
      "dse-image:aws.region: expected a region like eu-west-1, got nothing",
    ],
    [
      "a malformed region",
      { ...aws, region: "Frankfurt" },
      'dse-image:aws.region: expected a region like eu-west-1, got "Frankfurt"',
    ],
    [
      "both sourceAmi and sourceAmiFilter",
      { ...aws, sourceAmiFilter: { owners: ["099720109477"], name: UBUNTU } },
      "dse-image:aws.sourceAmiFilter: cannot be set together with aws.sourceAmi; set only one of them",
    ],
    [
      "neither sourceAmi nor sourceAmiFilter",
      { ...aws, sourceAmi: undefined },
      'dse-image:aws.sourceAmi: expected an AMI ID, or set dse-image:aws.sourceAmiFilter to {"owners": [...], "name": "..."} instead',
    ],
    [
      "a malformed AMI ID",
      { ...aws, sourceAmi: "ami-12345" },
      'dse-image:aws.sourceAmi: expected an AMI ID like ami-0123456789abcdef0, got "ami-12345"',
    ],
    [
      "an unknown filter key",
      {
        ...aws,
        sourceAmi: undefined,
        sourceAmiFilter: { owners: ["self"], name: "x", mostRecent: true },
      },
      "dse-image:aws.sourceAmiFilter.mostRecent: unknown key; expected one of owners, name",
    ],
    [
      "a filter without a name",
      { ...aws, sourceAmi: undefined, sourceAmiFilter: { owners: ["self"] } },
      "dse-image:aws.sourceAmiFilter.name: expected an AMI name pattern, got nothing",
    ],
    [
      "a filter without owners",
      { ...aws, sourceAmi: undefined, sourceAmiFilter: { name: UBUNTU } },
      "dse-image:aws.sourceAmiFilter.owners: expected at least one owner, e.g. 099720109477 for Canonical",
    ],
    [
      "a malformed owner",
      { ...aws, sourceAmi: undefined, sourceAmiFilter: { owners: ["canonical"], name: UBUNTU } },
      'dse-image:aws.sourceAmiFilter.owners[0]: expected one of account IDs (12 digits) or owner aliases (self, amazon, aws-marketplace), got "canonical"',
    ],
    [
      "a public builder without sshAllowedCidrs",
      { ...aws, sshAllowedCidrs: undefined },
      "dse-image:aws.sshAllowedCidrs: required while the builder has a public IP (associatePublicIp is true): list the CIDR blocks allowed to reach it on port 22, e.g. your address as 203.0.113.7/32",
    ],
    [
      "a malformed CIDR",
      { ...aws, sshAllowedCidrs: ["203.0.113.7"] },
      'dse-image:aws.sshAllowedCidrs[0]: expected a CIDR block like 203.0.113.0/24, got "203.0.113.7"',
    ],
    [
      "a malformed subnet",
      { ...aws, subnetId: "vpc-0a1b2c3d" },
      'dse-image:aws.subnetId: expected a subnet ID like subnet-0123456789abcdef0, got "vpc-0a1b2c3d"',
    ],
    [
      "a tiny root volume",
      { ...aws, rootVolumeSizeGb: 4 },
      "dse-image:aws.rootVolumeSizeGb: expected a whole number from 8 to 16384, got 4",
    ],
    [
      "a KMS key without encryption",
      { ...aws, encrypted: false, kmsKeyId: "alias/dse" },
      "dse-image:aws.kmsKeyId: needs dse-image:aws.encrypted to be true",
    ],
    [
      "a copy to the home region",
      { ...aws, copyToRegions: ["us-east-1", "eu-west-1"] },
      'dse-image:aws.copyToRegions[1]: is the home region "eu-west-1"; list other regions',
    ],
    [
      "a malformed copy region",
      { ...aws, copyToRegions: ["eu_west_2"] },
      'dse-image:aws.copyToRegions[0]: expected one of regions like eu-west-1, got "eu_west_2"',
    ],
    [
      "a region listed twice",
      { ...aws, copyToRegions: ["us-east-1", "us-east-1"] },
      'dse-image:aws.copyToRegions: lists "us-east-1" twice',
    ],
    [
      "a malformed account",
      { ...aws, encrypted: false, shareWithAccounts: ["1234-5678-9012"] },
      'dse-image:aws.shareWithAccounts[0]: expected one of 12-digit account IDs, got "1234-5678-9012"',
    ],
    [
      "sharing an AMI encrypted with the default key",
      { ...aws, shareWithAccounts: ["111122223333"] },
      "dse-image:aws.shareWithAccounts: an AMI encrypted with the account's default EBS key cannot be launched by other accounts; set dse-image:aws.kmsKeyId to a customer-managed key shared with them, or dse-image:aws.encrypted to false",
    ],
    [
      "a reserved tag key",
      { ...aws, tags: { "dse-image:fingerprint": "x" } },
      "dse-image:aws.tags.dse-image:fingerprint: tag keys starting with aws: or dse-image: are reserved",
    ],
    [
      "a non-string tag",
      { ...aws, tags: { cost: 12 } },
      "dse-image:aws.tags.cost: expected a string, got 12",
    ],
    [
      "an account ID that lost its leading zero as a number",
      { ...aws, encrypted: false, shareWithAccounts: ["111122223333", 12345678901] },
      "dse-image:aws.shareWithAccounts[1]: the number 12345678901 has lost its leading zeros (12 digits expected); set it as a string: pulumi config set --path --type string 'dse-image:aws.shareWithAccounts[1]' 012345678901",
    ],
    [
      "Canonical's owner ID as a number",
      { ...aws, sourceAmi: undefined, sourceAmiFilter: { owners: [99720109477], name: UBUNTU } },
      "dse-image:aws.sourceAmiFilter.owners[0]: the number 99720109477 has lost its leading zeros (12 digits expected); set it as a string: pulumi config set --path --type string 'dse-image:aws.sourceAmiFilter.owners[0]' 099720109477",
    ],
    [
      "a 13-digit account number",
      { ...aws, encrypted: false, shareWithAccounts: [1234567890123] },
      'dse-image:aws.shareWithAccounts[0]: expected one of 12-digit account IDs, got "1234567890123"',
    ],
    [
      "a negative account number",
      { ...aws, encrypted: false, shareWithAccounts: [-111122223333] },
      "dse-image:aws.shareWithAccounts[0]: expected one of 12-digit account IDs, got -111122223333",
    ],
    [
      "a fractional account number",
      { ...aws, encrypted: false, shareWithAccounts: [111122223333.5] },
      "dse-image:aws.shareWithAccounts[0]: expected one of 12-digit account IDs, got 111122223333.5",
    ],
    [
      "an empty account ID",
      { ...aws, encrypted: false, shareWithAccounts: [""] },
      'dse-image:aws.shareWithAccounts[0]: expected one of 12-digit account IDs, got ""',
    ],
    [
      "an empty instance type",
      { ...aws, instanceType: "" },
      'dse-image:aws.instanceType: expected an instance type, got ""',
    ],
    [
      "a blank instance type",
      { ...aws, instanceType: "  " },
      'dse-image:aws.instanceType: expected an instance type, got "  "',
    ],
    [
      "an empty region",
      { ...aws, region: "" },
      'dse-image:aws.region: expected a region like eu-west-1, got ""',
    ],
    [
      "an empty sourceAmi",
      { ...aws, sourceAmi: "" },
      'dse-image:aws.sourceAmi: expected an AMI ID, got ""',
    ],
    [
      "an empty sourceAmi beside a filter (named as empty, not as a conflict)",
      { ...aws, sourceAmi: "", sourceAmiFilter: { owners: ["self"], name: "x" } },
      'dse-image:aws.sourceAmi: expected an AMI ID, got ""',
    ],
    [
      "an empty sourceAmiFilter",
      { ...aws, sourceAmi: undefined, sourceAmiFilter: "" },
      'dse-image:aws.sourceAmiFilter: expected an object with keys owners, name, got ""',
    ],
    [
      "an empty filter name",
      { ...aws, sourceAmi: undefined, sourceAmiFilter: { owners: ["self"], name: "" } },
      'dse-image:aws.sourceAmiFilter.name: expected an AMI name pattern, got ""',
    ],
    [
      "an empty subnet",
      { ...aws, subnetId: "" },
      'dse-image:aws.subnetId: expected a subnet ID, got ""',
    ],
    [
      "an empty sshUser",
      { ...aws, sshUser: "" },
      'dse-image:aws.sshUser: expected a user name, got ""',
    ],
    [
      "an empty KMS key",
      { ...aws, kmsKeyId: "" },
      'dse-image:aws.kmsKeyId: expected a KMS key ID, alias or ARN, got ""',
    ],
    [
      "an empty associatePublicIp",
      { ...aws, associatePublicIp: "" },
      'dse-image:aws.associatePublicIp: expected true or false, got ""',
    ],
    [
      "an empty encrypted",
      { ...aws, encrypted: "" },
      'dse-image:aws.encrypted: expected true or false, got ""',
    ],
    [
      "an empty root volume size",
      { ...aws, rootVolumeSizeGb: "" },
      'dse-image:aws.rootVolumeSizeGb: expected a whole number from 8 to 16384, got ""',
    ],
    [
      "an empty copyToRegions",
      { ...aws, copyToRegions: "" },
      'dse-image:aws.copyToRegions: expected a list of regions like eu-west-1, got ""',
    ],
    [
      "an empty tags",
      { ...aws, tags: "" },
      'dse-image:aws.tags: expected a map of names to strings, got ""',
    ],
    ["an empty spot", { ...aws, spot: "" }, 'dse-image:aws.spot: expected true or false, got ""'],
    [
      "a non-boolean spot",
      { ...aws, spot: "yes" },
      'dse-image:aws.spot: expected true or false, got "yes"',
    ],
  ])("rejects %s", (_what, awsConfig, message) => {
    expect(errorOf(awsConfig)).toBe(message);
  });

  it("checks the aws object even when aws is not among the platforms", () => {
    expect(() =>
      parseStackConfig({
        platforms: ["openstack"],
        openstack: { sourceImage: "u", flavor: "f" },
        aws: { ...aws, regoin: "x" },
      }),
    ).toThrow("dse-image:aws.regoin: unknown key;");
  });

  it("rejects an empty aws object rather than reading it as unset", () => {
    let message = "";
    try {
      parseStackConfig({ platforms: ["aws"], aws: "" });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toBe(
      'dse-image:aws: expected an object with keys region, sourceAmi, sourceAmiFilter, instanceType, subnetId, sshUser, sshAllowedCidrs, associatePublicIp, rootVolumeSizeGb, encrypted, kmsKeyId, copyToRegions, shareWithAccounts, tags, spot, got ""',
    );
  });
});
