import { fail, fullKey, show } from "../config/errors";
import {
  RawObject,
  booleanOr,
  cidrArray,
  exclusive,
  idArray,
  integerOr,
  isPresent,
  object,
  optionalString,
  requireString,
  stringArray,
  stringMap,
  stringOr,
} from "../config/validate";

const KEYS = [
  "region",
  "sourceAmi",
  "sourceAmiFilter",
  "instanceType",
  "subnetId",
  "sshUser",
  "sshAllowedCidrs",
  "associatePublicIp",
  "rootVolumeSizeGb",
  "encrypted",
  "kmsKeyId",
  "copyToRegions",
  "shareWithAccounts",
  "tags",
  "spot",
] as const;

const FILTER_KEYS = ["owners", "name"] as const;

/** `eu-west-1`, `us-gov-west-1`, `ap-southeast-4`, ... */
const REGION = /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$/;
const AMI_ID = /^ami-[0-9a-f]{8,17}$/;
const ACCOUNT = /^\d{12}$/;
const SUBNET_ID = /^subnet-[0-9a-f]{8,17}$/;
/** AMI owners: an account ID or one of the aliases EC2 accepts. */
const OWNER = /^(\d{12}|self|amazon|aws-marketplace|aws-backup-vault)$/;

/** An Ubuntu 24.04 filter, the usual choice: Canonical's account, newest build wins. */
export const UBUNTU_2404_FILTER = {
  owners: ["099720109477"],
  name: "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*",
};

/** `dse-image:aws`, named after the Packer amazon-ebs builder keys. */
export interface AwsConfig {
  /** Home region: the builder runs and the AMI is made here (Packer `region`). */
  region: string;
  /** Source AMI ID (Packer `source_ami`). Exactly one of this and `sourceAmiFilter`. */
  sourceAmi?: string;
  /** Most recent AMI of these owners whose name matches (Packer `source_ami_filter`). */
  sourceAmiFilter?: { owners: string[]; name: string };
  /** Builder instance type (Packer `instance_type`). */
  instanceType: string;
  /** Subnet for the builder (Packer `subnet_id`); default: a default subnet of the default VPC. */
  subnetId?: string;
  /** Login user of the source AMI (Packer `ssh_username`). */
  sshUser: string;
  /** Sources allowed on port 22 (Packer `temporary_security_group_source_cidrs`). */
  sshAllowedCidrs: string[];
  /** Give the builder a public IP and connect to it (Packer `associate_public_ip_address`). */
  associatePublicIp: boolean;
  /** Root volume size; default: the source AMI's (Packer `launch_block_device_mappings`). */
  rootVolumeSizeGb?: number;
  /** Encrypt the root volume and so the AMI (Packer `encrypt_boot`). */
  encrypted: boolean;
  /** KMS key for the encryption; default: the account's EBS key (Packer `kms_key_id`). */
  kmsKeyId?: string;
  /** Regions the AMI is copied to (Packer `ami_regions`). */
  copyToRegions: string[];
  /** Accounts allowed to launch the AMI and its copies (Packer `ami_users`). */
  shareWithAccounts: string[];
  /**
   * Tags on everything a build creates: the builder, the boot test's instance, the groups, the
   * AMI, its snapshots and copies (Packer `tags` / `run_tags`).
   */
  tags: Record<string, string>;
  /** Build on a one-time spot instance (Packer `spot_price: auto`). */
  spot: boolean;
}

function matching(
  path: string,
  value: string | undefined,
  pattern: RegExp,
  what: string,
): string | undefined {
  if (value !== undefined && !pattern.test(value)) {
    fail(path, `expected ${what}, got ${show(value)}`);
  }
  return value;
}

/**
 * A list of strings matching `pattern`. With `digits`, items may be numbers (account IDs as
 * `pulumi config set --path` stores them): see `idString`.
 */
function matchingArray(
  path: string,
  value: unknown,
  pattern: RegExp,
  what: string,
  digits?: number,
): string[] {
  const items =
    digits === undefined
      ? stringArray(path, value, [], what)
      : idArray(path, value, [], what, digits);
  items.forEach((item, i) => matching(`${path}[${i}]`, item, pattern, `one of ${what}`));
  const dup = items.find((item, i) => items.indexOf(item) !== i);
  if (dup !== undefined) fail(path, `lists ${show(dup)} twice`);
  return items;
}

function parseFilter(path: string, value: unknown): AwsConfig["sourceAmiFilter"] {
  if (!isPresent(value)) return undefined;
  const raw = object(path, value, FILTER_KEYS);
  const owners = matchingArray(
    `${path}.owners`,
    raw.owners,
    OWNER,
    "account IDs (12 digits) or owner aliases (self, amazon, aws-marketplace)",
    12,
  );
  if (owners.length === 0) {
    fail(`${path}.owners`, "expected at least one owner, e.g. 099720109477 for Canonical");
  }
  return { owners, name: requireString(`${path}.name`, raw.name, "an AMI name pattern") };
}

export function parseAwsConfig(value: unknown): AwsConfig {
  const p = "aws";
  const raw: RawObject = object(p, value, KEYS);
  const region = requireString(`${p}.region`, raw.region, "a region like eu-west-1");
  matching(`${p}.region`, region, REGION, "a region like eu-west-1");
  // Each value first, so that an empty one is named as such rather than as a conflict.
  const sourceAmi = matching(
    `${p}.sourceAmi`,
    optionalString(`${p}.sourceAmi`, raw.sourceAmi, "an AMI ID"),
    AMI_ID,
    "an AMI ID like ami-0123456789abcdef0",
  );
  const sourceAmiFilter = parseFilter(`${p}.sourceAmiFilter`, raw.sourceAmiFilter);
  exclusive(p, raw, "sourceAmi", "sourceAmiFilter");
  if (sourceAmi === undefined && sourceAmiFilter === undefined) {
    fail(
      `${p}.sourceAmi`,
      `expected an AMI ID, or set ${fullKey(`${p}.sourceAmiFilter`)} to {"owners": [...], "name": "..."} instead`,
    );
  }
  const associatePublicIp = booleanOr(`${p}.associatePublicIp`, raw.associatePublicIp, true);
  const sshAllowedCidrs = cidrArray(`${p}.sshAllowedCidrs`, raw.sshAllowedCidrs, []);
  if (associatePublicIp && sshAllowedCidrs.length === 0) {
    fail(
      `${p}.sshAllowedCidrs`,
      "required while the builder has a public IP (associatePublicIp is true): list the CIDR blocks allowed to reach it on port 22, e.g. your address as 203.0.113.7/32",
    );
  }
  const encrypted = booleanOr(`${p}.encrypted`, raw.encrypted, true);
  const kmsKeyId = optionalString(`${p}.kmsKeyId`, raw.kmsKeyId, "a KMS key ID, alias or ARN");
  if (kmsKeyId !== undefined && !encrypted) {
    fail(`${p}.kmsKeyId`, `needs ${fullKey(`${p}.encrypted`)} to be true`);
  }
  const copyToRegions = matchingArray(
    `${p}.copyToRegions`,
    raw.copyToRegions,
    REGION,
    "regions like eu-west-1",
  );
  const home = copyToRegions.indexOf(region);
  if (home !== -1) {
    fail(`${p}.copyToRegions[${home}]`, `is the home region ${show(region)}; list other regions`);
  }
  const shareWithAccounts = matchingArray(
    `${p}.shareWithAccounts`,
    raw.shareWithAccounts,
    ACCOUNT,
    "12-digit account IDs",
    12,
  );
  if (shareWithAccounts.length > 0 && encrypted && kmsKeyId === undefined) {
    fail(
      `${p}.shareWithAccounts`,
      `an AMI encrypted with the account's default EBS key cannot be launched by other accounts; set ${fullKey(`${p}.kmsKeyId`)} to a customer-managed key shared with them, or ${fullKey(`${p}.encrypted`)} to false`,
    );
  }
  const tags = stringMap(`${p}.tags`, raw.tags);
  for (const key of Object.keys(tags)) {
    if (/^(aws|dse-image):/i.test(key)) {
      fail(`${p}.tags.${key}`, "tag keys starting with aws: or dse-image: are reserved");
    }
  }
  return {
    region,
    sourceAmi,
    sourceAmiFilter,
    instanceType: stringOr(`${p}.instanceType`, raw.instanceType, "t3.medium", "an instance type"),
    subnetId: matching(
      `${p}.subnetId`,
      optionalString(`${p}.subnetId`, raw.subnetId, "a subnet ID"),
      SUBNET_ID,
      "a subnet ID like subnet-0123456789abcdef0",
    ),
    sshUser: stringOr(`${p}.sshUser`, raw.sshUser, "ubuntu", "a user name"),
    sshAllowedCidrs,
    associatePublicIp,
    rootVolumeSizeGb: integerOr(`${p}.rootVolumeSizeGb`, raw.rootVolumeSizeGb, undefined, 8, 16384),
    encrypted,
    kmsKeyId,
    copyToRegions,
    shareWithAccounts,
    tags,
    spot: booleanOr(`${p}.spot`, raw.spot, false),
  };
}
