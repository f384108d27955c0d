import { ConfigError } from "../config/errors";
import type { AssumeRole } from "../store/aws-credentials";

/** The stack's `aws:` config, as `new pulumi.Config("aws")` reads it. */
export interface AwsConfigReader {
  get(key: string): string | undefined;
  /** Read for secrets (keys), so no plaintext read is logged; only presence matters here. */
  getSecret(key: string): unknown;
  getObject<T>(key: string): T | undefined;
}

/**
 * The credential settings dse-image hands the explicit `aws.Provider`, its image store and its
 * host commands (components/aws/cli.ts) alike: all three act as the same principal.
 */
export interface AwsCredentials {
  /** Arguments of the explicit provider (it does not read the stack's `aws:*` config itself). */
  provider: {
    profile?: string;
    sharedCredentialsFiles?: string[];
    sharedConfigFiles?: string[];
    assumeRoles?: AssumeRole[];
  };
  /** The same settings in the host commands' environment (cli.ts reads them). */
  cliEnv: Record<string, string>;
}

const SECRET = new Set(["accessKey", "secretKey", "token"]);

const KEYS_IN_ENVIRONMENT =
  "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) in the environment, or use a profile: the provider and dse-image's own EC2 calls both read them";

/**
 * Settings the provider would honour but dse-image's own EC2 calls (separate processes: the
 * image store, the teardown, the boot test) would not get without writing them into the state:
 * keys are secrets, and web identity comes from files the environment names anyway. Such a stack
 * stops here, saying what does the same for both.
 */
const PROVIDER_ONLY: Record<string, string> = {
  assumeRole:
    "give the role as aws:assumeRoles (a list of one), which dse-image hands to the provider and its own EC2 calls",
  assumeRoleWithWebIdentity:
    "set AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE in the environment, or a profile with web_identity_token_file, which the provider and dse-image's own EC2 calls both read",
  accessKey: KEYS_IN_ENVIRONMENT,
  secretKey: KEYS_IN_ENVIRONMENT,
  token: KEYS_IN_ENVIRONMENT,
};

function oneFile(cfg: AwsConfigReader, key: string): string[] | undefined {
  const files = cfg.getObject<string[]>(key);
  if (files === undefined || files.length === 0) return undefined;
  if (files.length > 1 || typeof files[0] !== "string") {
    throw new ConfigError(
      `aws:${key}`,
      "give one file: the SDK reads one (dse-image hands the same file to the provider and its own EC2 calls)",
    );
  }
  return files;
}

/** `aws:assumeRoles` as the provider takes it: a list of roles, each with its roleArn. */
function assumeRoles(cfg: AwsConfigReader): AssumeRole[] | undefined {
  const roles = cfg.getObject<AssumeRole[]>("assumeRoles");
  if (roles === undefined || (Array.isArray(roles) && roles.length === 0)) return undefined;
  if (!Array.isArray(roles) || roles.some((r) => typeof r?.roleArn !== "string" || !r.roleArn)) {
    throw new ConfigError(
      "aws:assumeRoles",
      'give a list of roles, each with its roleArn: [{"roleArn": "arn:aws:iam::123456789012:role/builder"}]',
    );
  }
  return roles;
}

/**
 * The credentials of the stack's `aws:` config, bridged to the explicit provider, the image
 * store and the host commands: `aws:profile`, `aws:sharedCredentialsFiles`,
 * `aws:sharedConfigFiles`, `aws:assumeRoles` (assumed in order, each from the one before).
 * Ambient credentials (environment variables, SSO, instance roles) reach all without a setting.
 */
export function awsCredentials(cfg: AwsConfigReader): AwsCredentials {
  for (const [key, how] of Object.entries(PROVIDER_ONLY)) {
    if ((SECRET.has(key) ? cfg.getSecret(key) : cfg.get(key)) !== undefined) {
      throw new ConfigError(
        `aws:${key}`,
        `dse-image cannot hand this setting to its own EC2 calls; ${how}`,
      );
    }
  }
  const profile = cfg.get("profile") || undefined;
  const credentialsFiles = oneFile(cfg, "sharedCredentialsFiles");
  const configFiles = oneFile(cfg, "sharedConfigFiles");
  const roles = assumeRoles(cfg);
  return {
    provider: {
      ...(profile ? { profile } : {}),
      ...(credentialsFiles ? { sharedCredentialsFiles: credentialsFiles } : {}),
      ...(configFiles ? { sharedConfigFiles: configFiles } : {}),
      ...(roles ? { assumeRoles: roles } : {}),
    },
    cliEnv: {
      ...(profile ? { AWS_PROFILE: profile } : {}),
      ...(credentialsFiles ? { AWS_SHARED_CREDENTIALS_FILE: credentialsFiles[0] } : {}),
      ...(configFiles ? { AWS_CONFIG_FILE: configFiles[0] } : {}),
      ...(roles ? { AWS_ASSUME_ROLES: JSON.stringify(roles) } : {}),
    },
  };
}
