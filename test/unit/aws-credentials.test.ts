/**
 * The stack's `aws:` credentials bridged to the explicit provider and the AWS CLI
 * (components/aws/credentials.ts): what reaches both, and what stops the run with the setting
 * that does the same for both.
 */
import { describe, expect, it } from "vitest";
import { awsCredentials } from "../../components/aws/credentials";

/** A stack's `aws:` config from plain values (objects as the CLI stores them: JSON). */
const reader = (values: Record<string, unknown>) => ({
  get: (key: string) =>
    values[key] === undefined
      ? undefined
      : typeof values[key] === "string"
        ? values[key]
        : JSON.stringify(values[key]),
  getObject: <T>(key: string) => values[key] as T | undefined,
  getSecret: (key: string) => values[key],
});

describe("aws: credentials", () => {
  it("none set: the provider and the CLI use their defaults", () => {
    expect(awsCredentials(reader({}))).toEqual({ provider: {}, cliEnv: {} });
  });

  it("the profile and one shared file each reach both", () => {
    expect(
      awsCredentials(
        reader({
          profile: "research",
          sharedCredentialsFiles: ["/c"],
          sharedConfigFiles: ["/f"],
        }),
      ),
    ).toEqual({
      provider: { profile: "research", sharedCredentialsFiles: ["/c"], sharedConfigFiles: ["/f"] },
      cliEnv: { AWS_PROFILE: "research", AWS_SHARED_CREDENTIALS_FILE: "/c", AWS_CONFIG_FILE: "/f" },
    });
  });

  it("two shared files: the CLI reads one, so the key is named", () => {
    expect(() => awsCredentials(reader({ sharedConfigFiles: ["/a", "/b"] }))).toThrow(
      "aws:sharedConfigFiles: give one file: the AWS CLI reads one (dse-image hands the same file to the provider and the CLI)",
    );
  });

  it.each([
    ["assumeRoles", [{ roleArn: "arn:aws:iam::1:role/build" }], "role_arn = ..."],
    ["assumeRoleWithWebIdentity", { roleArn: "arn" }, "AWS_WEB_IDENTITY_TOKEN_FILE"],
    ["accessKey", "AKIA", "AWS_ACCESS_KEY_ID"],
    ["secretKey", "s", "AWS_SECRET_ACCESS_KEY"],
    ["token", "t", "AWS_SESSION_TOKEN"],
  ])("aws:%s stops the run, saying what the provider and the CLI both read", (key, value, how) => {
    expect(() => awsCredentials(reader({ [key]: value }))).toThrow(
      `aws:${key}: dse-image cannot hand this setting to the AWS CLI it still runs; `,
    );
    expect(() => awsCredentials(reader({ [key]: value }))).toThrow(how);
  });
});
