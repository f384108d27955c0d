/**
 * The AWS platform's one-shot host commands:
 * `node --require ./components/ts-hook.cjs components/aws/cli.ts <command>`, everything else
 * from the environment as command.local passes it (the stored delete teardown.sh runs
 * `teardown`; the SSH wait and the boot test run `console` for their errors).
 * Exit status 1 with one line "==> aws: ..." on stderr when it fails.
 *   REGION                 the home region
 *   AWS_PROFILE AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE   as the `aws` provider is given
 *                          them (components/aws/credentials.ts); the SDK's default chain reads
 *                          the environment's keys, SSO and web identity as the provider does
 *   AWS_ASSUME_ROLES       optional: aws:assumeRoles (JSON), assumed in order with STS
 *   teardown       PREFIX STACK_TAG [RETRY_SECONDS]: deletes the stack's builder-side objects
 *                  whose name starts with PREFIX (instances, key pairs, security groups)
 *   console        INSTANCE_ID [LINES]: prints the last lines of an instance's console
 *   stop           INSTANCE_ID: terminates a builder whose SSH never came up (the SSH wait runs it)
 */
import { envSeconds, requiredEnv as need, runHostCommand } from "../host-env";
import type { AssumeRole } from "../store/aws-credentials";
import { awsCredentials } from "../store/aws-credentials";
import { ec2Sdk } from "../store/aws";
import { storeLog } from "../store/provider-util";
import { type Ec2Context, consoleTail, sweepBuilderObjects, terminateBuilder } from "./instances";

/** The credential settings of the environment, as credentials.ts put them there. */
export function credentialSettings(env: NodeJS.ProcessEnv) {
  return {
    ...(env.AWS_PROFILE ? { profile: env.AWS_PROFILE } : {}),
    ...(env.AWS_CONFIG_FILE ? { sharedConfigFiles: [env.AWS_CONFIG_FILE] } : {}),
    ...(env.AWS_SHARED_CREDENTIALS_FILE
      ? { sharedCredentialsFiles: [env.AWS_SHARED_CREDENTIALS_FILE] }
      : {}),
    ...(env.AWS_ASSUME_ROLES
      ? { assumeRoles: JSON.parse(env.AWS_ASSUME_ROLES) as AssumeRole[] }
      : {}),
  };
}

/** The home region's EC2 client with the credentials of the environment. */
export function ec2Context(env: NodeJS.ProcessEnv): Ec2Context {
  const region = need(env, "REGION");
  return {
    ec2: new (ec2Sdk().EC2Client)({
      region,
      credentials: awsCredentials(credentialSettings(env), region),
    }),
    region,
    log: storeLog("aws"),
    retrySeconds: envSeconds(env.RETRY_SECONDS, 10),
  };
}

/** Runs one command; what it prints on stdout. */
export async function main(command: string | undefined, env = process.env): Promise<string> {
  const ctx = ec2Context(env);
  switch (command) {
    case "teardown":
      await sweepBuilderObjects(ctx, need(env, "PREFIX"), need(env, "STACK_TAG"));
      return "";
    case "console":
      return `${await consoleTail(ctx, need(env, "INSTANCE_ID"), Number(env.LINES) || 30)}\n`;
    case "stop":
      await terminateBuilder(ctx, need(env, "INSTANCE_ID"));
      return "";
    default:
      throw new Error(`unknown command ${command ?? "(none)"}`);
  }
}

if (require.main === module) runHostCommand("==> aws: ", () => main(process.argv[2]));
