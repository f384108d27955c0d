import type * as Providers from "@aws-sdk/credential-providers";

/** What the SDK's clients take as `credentials`. */
export type AwsCredentialIdentityProvider = ReturnType<typeof Providers.fromNodeProviderChain>;

/** One role to assume, as the `aws` provider's `assumeRoles` config spells it. */
export interface AssumeRole {
  roleArn: string;
  sessionName?: string;
  externalId?: string;
  /** A Go duration (`1h`, `15m`, `900s`), as the provider takes it. Default: one hour. */
  duration?: string;
  policy?: string;
  policyArns?: string[];
  sourceIdentity?: string;
  tags?: Record<string, string>;
  transitiveTagKeys?: string[];
}

/**
 * The credentials the `aws` provider is given, none of them secret (keys stay in the
 * environment, which the SDK's default chain reads as the provider does): stored in the image
 * store's config so the store and the provider act as the same principal.
 */
export interface AwsCredentialSettings {
  /** `aws:profile`. */
  profile?: string;
  /** `aws:sharedCredentialsFiles` (the first one is read, as the SDK reads one). */
  sharedCredentialsFiles?: string[];
  /** `aws:sharedConfigFiles` (the first one). */
  sharedConfigFiles?: string[];
  /** `aws:assumeRoles`: assumed in order, each from the one before (role chaining). */
  assumeRoles?: AssumeRole[];
}

const UNITS: Record<string, number> = { h: 3600, m: 60, s: 1 };

/** Seconds of a Go duration (`1h30m`, `900s`); undefined for an empty one. */
export function durationSeconds(text: string | undefined): number | undefined {
  if (!text) return undefined;
  const parts = [...text.matchAll(/(\d+)([hms])/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== text)
    throw new Error(`aws assumeRoles duration "${text}" is not a duration like 1h or 15m`);
  return parts.reduce((sum, p) => sum + Number(p[1]) * UNITS[p[2]], 0);
}

/**
 * The SDK's credential provider for these settings: the default chain (environment, SSO,
 * profile, web identity, container and instance roles) from the profile, then each role of
 * `assumeRoles` assumed in turn with STS in `region`.
 */
export function awsCredentials(
  settings: AwsCredentialSettings,
  region: string,
): AwsCredentialIdentityProvider {
  // Loaded with the EC2 client, on first use (see ec2Sdk).
  const { fromNodeProviderChain, fromTemporaryCredentials } =
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require("@aws-sdk/credential-providers") as typeof Providers;
  let credentials: AwsCredentialIdentityProvider = fromNodeProviderChain({
    ...(settings.profile ? { profile: settings.profile } : {}),
    ...(settings.sharedCredentialsFiles?.[0]
      ? { filepath: settings.sharedCredentialsFiles[0] }
      : {}),
    ...(settings.sharedConfigFiles?.[0] ? { configFilepath: settings.sharedConfigFiles[0] } : {}),
  });
  for (const role of settings.assumeRoles ?? []) {
    credentials = fromTemporaryCredentials({
      masterCredentials: credentials,
      clientConfig: { region },
      params: {
        RoleArn: role.roleArn,
        RoleSessionName: role.sessionName || "dse-image",
        ...(role.externalId ? { ExternalId: role.externalId } : {}),
        ...(role.duration ? { DurationSeconds: durationSeconds(role.duration) } : {}),
        ...(role.policy ? { Policy: role.policy } : {}),
        ...(role.policyArns?.length ? { PolicyArns: role.policyArns.map((arn) => ({ arn })) } : {}),
        ...(role.sourceIdentity ? { SourceIdentity: role.sourceIdentity } : {}),
        ...(role.tags
          ? { Tags: Object.entries(role.tags).map(([Key, Value]) => ({ Key, Value })) }
          : {}),
        ...(role.transitiveTagKeys?.length ? { TransitiveTagKeys: role.transitiveTagKeys } : {}),
      },
    });
  }
  return credentials;
}
