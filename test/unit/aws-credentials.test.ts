/**
 * The stack's `aws:` credentials bridged to the explicit provider and dse-image's own EC2 calls
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

  it("two shared files: the SDK reads one, so the key is named", () => {
    expect(() => awsCredentials(reader({ sharedConfigFiles: ["/a", "/b"] }))).toThrow(
      "aws:sharedConfigFiles: give one file: the SDK reads one (dse-image hands the same file to the provider and its own EC2 calls)",
    );
  });

  it("aws:assumeRoles reaches the provider and, as JSON, the host commands", () => {
    const roles = [
      { roleArn: "arn:aws:iam::1:role/hub", sessionName: "ci" },
      { roleArn: "arn:aws:iam::2:role/build", duration: "15m" },
    ];
    expect(awsCredentials(reader({ profile: "hub", assumeRoles: roles }))).toEqual({
      provider: { profile: "hub", assumeRoles: roles },
      cliEnv: { AWS_PROFILE: "hub", AWS_ASSUME_ROLES: JSON.stringify(roles) },
    });
  });

  it("an empty aws:assumeRoles is none", () => {
    expect(awsCredentials(reader({ assumeRoles: [] }))).toEqual({ provider: {}, cliEnv: {} });
  });

  it.each([[{ roleArn: "arn:aws:iam::1:role/x" }], [[{ sessionName: "no-arn" }]], [["arn"]]])(
    "aws:assumeRoles %j that is not a list of roles with a roleArn names the key and the form",
    (value) => {
      expect(() => awsCredentials(reader({ assumeRoles: value }))).toThrow(
        'aws:assumeRoles: give a list of roles, each with its roleArn: [{"roleArn": "arn:aws:iam::123456789012:role/builder"}]',
      );
    },
  );

  it.each([
    ["assumeRole", { roleArn: "arn:aws:iam::1:role/build" }, "aws:assumeRoles (a list of one)"],
    ["assumeRoleWithWebIdentity", { roleArn: "arn" }, "AWS_WEB_IDENTITY_TOKEN_FILE"],
    ["accessKey", "AKIA", "AWS_ACCESS_KEY_ID"],
    ["secretKey", "s", "AWS_SECRET_ACCESS_KEY"],
    ["token", "t", "AWS_SESSION_TOKEN"],
  ])(
    "aws:%s stops the run, saying what the provider and dse-image both read",
    (key, value, how) => {
      expect(() => awsCredentials(reader({ [key]: value }))).toThrow(
        `aws:${key}: dse-image cannot hand this setting to its own EC2 calls; `,
      );
      expect(() => awsCredentials(reader({ [key]: value }))).toThrow(how);
    },
  );
});
