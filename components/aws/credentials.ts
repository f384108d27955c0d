import { ConfigError } from "../config/errors";

/** The stack's `aws:` config, as `new pulumi.Config("aws")` reads it. */
export interface AwsConfigReader {
  get(key: string): string | undefined;
  /** Read for secrets (keys), so no plaintext read is logged; only presence matters here. */
  getSecret(key: string): unknown;
  getObject<T>(key: string): T | undefined;
}

/** The credential settings dse-image hands the explicit `aws.Provider` and the AWS CLI alike. */
export interface AwsCredentials {
  /** Arguments of the explicit provider (it does not read the stack's `aws:*` config itself). */
  provider: { profile?: string; sharedCredentialsFiles?: string[]; sharedConfigFiles?: string[] };
  /** The same settings in the CLI's environment. */
  cliEnv: Record<string, string>;
}

const ROLE_IN_PROFILE =
  "put the role in a profile of ~/.aws/config (role_arn = ..., source_profile = ...) and set aws:profile to it: the provider and the AWS CLI both assume it";

const SECRET = new Set(["accessKey", "secretKey", "token"]);

/**
 * Settings the provider would honour but the AWS CLI that dse-image's lookup, snapshot, copies
 * and boot test still run would not: the provider and the CLI would act as different principals,
 * so such a stack stops here, saying what does the same for both.
 */
const PROVIDER_ONLY: Record<string, string> = {
  assumeRoles: ROLE_IN_PROFILE,
  assumeRole: ROLE_IN_PROFILE,
  assumeRoleWithWebIdentity:
    "set AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE in the environment, or a profile with web_identity_token_file, which the provider and the AWS CLI both read",
  accessKey:
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) in the environment, or use a profile: the provider and the AWS CLI both read them",
  secretKey:
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) in the environment, or use a profile: the provider and the AWS CLI both read them",
  token:
    "set AWS_SESSION_TOKEN in the environment with the keys, or use a profile: the provider and the AWS CLI both read them",
};

function oneFile(cfg: AwsConfigReader, key: string): string[] | undefined {
  const files = cfg.getObject<string[]>(key);
  if (files === undefined || files.length === 0) return undefined;
  if (files.length > 1 || typeof files[0] !== "string") {
    throw new ConfigError(
      `aws:${key}`,
      "give one file: the AWS CLI reads one (dse-image hands the same file to the provider and the CLI)",
    );
  }
  return files;
}

/**
 * The credentials of the stack's `aws:` config, bridged to the explicit provider and the CLI:
 * `aws:profile`, `aws:sharedCredentialsFiles`, `aws:sharedConfigFiles`. Ambient credentials
 * (environment variables, SSO, instance roles) reach both without any setting.
 */
export function awsCredentials(cfg: AwsConfigReader): AwsCredentials {
  for (const [key, how] of Object.entries(PROVIDER_ONLY)) {
    if ((SECRET.has(key) ? cfg.getSecret(key) : cfg.get(key)) !== undefined) {
      throw new ConfigError(
        `aws:${key}`,
        `dse-image cannot hand this setting to the AWS CLI it still runs; ${how}`,
      );
    }
  }
  const profile = cfg.get("profile") || undefined;
  const credentialsFiles = oneFile(cfg, "sharedCredentialsFiles");
  const configFiles = oneFile(cfg, "sharedConfigFiles");
  return {
    provider: {
      ...(profile ? { profile } : {}),
      ...(credentialsFiles ? { sharedCredentialsFiles: credentialsFiles } : {}),
      ...(configFiles ? { sharedConfigFiles: configFiles } : {}),
    },
    cliEnv: {
      ...(profile ? { AWS_PROFILE: profile } : {}),
      ...(credentialsFiles ? { AWS_SHARED_CREDENTIALS_FILE: credentialsFiles[0] } : {}),
      ...(configFiles ? { AWS_CONFIG_FILE: configFiles[0] } : {}),
    },
  };
}
