/**
 * The AWS platform's one-shot host commands: `node --import tsx components/aws/cli.ts <command>`,
 * everything else from the environment as command.local passes it (teardown.sh, console.sh and
 * boot-test.sh run this). Exit status 1 with one line "==> aws: ..." on stderr when it fails.
 *   REGION                 the home region
 *   AWS_PROFILE AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE   as the `aws` provider is given
 *                          them (components/aws/credentials.ts); the SDK's default chain reads
 *                          the environment's keys, SSO and web identity as the provider does
 *   AWS_ASSUME_ROLES       optional: aws:assumeRoles (JSON), assumed in order with STS
 *   teardown       PREFIX STACK_TAG [RETRY_SECONDS]: deletes the stack's builder-side objects
 *                  whose name starts with PREFIX (instances, key pairs, security groups)
 *   console        INSTANCE_ID [LINES]: prints the last lines of an instance's console
 *   launch-test    IMAGE_ID TEST_NAME STACK_TAG USER_DATA INSTANCE_TYPE SUBNET_ID VPC_ID
 *                  ASSOCIATE_PUBLIC_IP SSH_ALLOWED_CIDRS USER_TAGS [POLL_SECONDS AMI_WAIT_MINUTES]:
 *                  removes what an earlier attempt at this test left (a killed run), launches
 *                  the boot test's instance, prints "<instance ID> <group ID> <host>"; removes
 *                  what it made when it fails
 *   remove-test    TEST_INSTANCE_ID TEST_GROUP_ID: terminates the test instance, deletes its group
 */
import { envList, envSeconds, requiredEnv as need } from "../host-env";
import type { AssumeRole } from "../store/aws-credentials";
import { awsCredentials } from "../store/aws-credentials";
import { AwsImageStore, ec2Sdk } from "../store/aws";
import { storeLog } from "../store/provider-util";
import {
  type Ec2Context,
  type TestInstance,
  consoleTail,
  launchTestInstance,
  removeTestInstance,
  sweepBuilderObjects,
} from "./instances";

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

function context(env: NodeJS.ProcessEnv): Ec2Context {
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

async function launchTest(ctx: Ec2Context, env: NodeJS.ProcessEnv): Promise<string> {
  const imageId = need(env, "IMAGE_ID");
  const name = need(env, "TEST_NAME");
  const stackTag = need(env, "STACK_TAG");
  // A killed earlier attempt at this test left its instance and a group under this name.
  await sweepBuilderObjects(ctx, name, stackTag);
  const made: TestInstance = {};
  try {
    // A pending AMI from an earlier run that gave up waiting may still be on its way.
    const store = new AwsImageStore({ region: ctx.region }, ctx.log, () => ctx.ec2);
    await store.waitAvailable(imageId);
    await launchTestInstance(
      ctx,
      {
        imageId,
        name,
        stackTag,
        userData: env.USER_DATA ?? "",
        instanceType: env.INSTANCE_TYPE || "t3.medium",
        subnetId: env.SUBNET_ID || undefined,
        vpcId: env.VPC_ID || undefined,
        associatePublicIp: env.ASSOCIATE_PUBLIC_IP !== "false",
        sshAllowedCidrs: envList(env.SSH_ALLOWED_CIDRS),
        userTags: JSON.parse(env.USER_TAGS || "{}") as Record<string, string>,
      },
      made,
    );
  } catch (e) {
    await removeTestInstance(ctx, made);
    throw e;
  }
  return `${made.instanceId} ${made.groupId} ${made.host}\n`;
}

/** Runs one command; what it prints on stdout. */
export async function main(command: string | undefined, env = process.env): Promise<string> {
  const ctx = context(env);
  switch (command) {
    case "teardown":
      await sweepBuilderObjects(ctx, need(env, "PREFIX"), need(env, "STACK_TAG"));
      return "";
    case "console":
      return `${await consoleTail(ctx, need(env, "INSTANCE_ID"), Number(env.LINES) || 30)}\n`;
    case "launch-test":
      return launchTest(ctx, env);
    case "remove-test":
      await removeTestInstance(ctx, {
        instanceId: env.TEST_INSTANCE_ID || undefined,
        groupId: env.TEST_GROUP_ID || undefined,
      });
      return "";
    default:
      throw new Error(`unknown command ${command ?? "(none)"}`);
  }
}

if (require.main === module) {
  main(process.argv[2]).then(
    (out) => process.stdout.write(out),
    (e: Error) => {
      process.stderr.write(`==> aws: ${e.message}\n`);
      process.exitCode = 1;
    },
  );
}
