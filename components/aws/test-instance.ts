import * as path from "node:path";
import { requiredEnv as need, envList } from "../host-env";
import type { Launcher } from "../lifecycle/boot-test-run";
import { tsCommand } from "../lifecycle/driver";
import { shellQuote } from "../shell";
import { AwsImageStore } from "../store/aws";
import { ec2Context } from "./cli";
import {
  type Ec2Context,
  type TestInstance,
  launchTestInstance,
  removeTestInstance,
  sweepBuilderObjects,
} from "./instances";

/**
 * The AWS boot test's instance (components/lifecycle/boot-test-run.ts): first what a killed
 * earlier attempt at this test left goes (its instance and a group under this test's name), then
 * a fresh instance from the pending AMI, once EC2 made it available (an earlier run may have
 * given up waiting), with the builder's launch settings and the user's tags in every create call.
 *
 * Env: REGION and the credential settings (cli.ts), IMAGE_ID, NAME, TEST_NAME, STACK_TAG,
 * INSTANCE_TYPE, SUBNET_ID, VPC_ID, ASSOCIATE_PUBLIC_IP, SSH_ALLOWED_CIDRS, USER_TAGS (JSON),
 * POLL_SECONDS and AMI_WAIT_MINUTES (the AMI wait).
 */
export function awsTestInstance(
  env: NodeJS.ProcessEnv,
  ctx: Ec2Context = ec2Context(env),
): Launcher {
  const name = need(env, "TEST_NAME");
  const made: TestInstance = {};
  return {
    describe: `instance ${name}`,
    async launch() {
      const stackTag = need(env, "STACK_TAG");
      const imageId = need(env, "IMAGE_ID");
      await sweepBuilderObjects(ctx, name, stackTag);
      await new AwsImageStore({ region: ctx.region }, ctx.log, () => ctx.ec2).waitAvailable(
        imageId,
      );
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
      const id = made.instanceId!;
      ctx.log(`booting ${env.NAME ?? ""} (${imageId}) as instance ${id} at ${made.host}`);
      return {
        host: made.host!,
        port: 22,
        describe: `instance ${id}`,
        consoleCommand: `REGION=${shellQuote(ctx.region)} INSTANCE_ID=${shellQuote(id)} ${tsCommand(path.join(__dirname, "cli.ts"), "console")}`,
      };
    },
    remove: () => removeTestInstance(ctx, made),
  };
}
