import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { machineKeys } from "./machine-keys";
import { builderObjectName } from "./names";
import { type ChainArgs, type PlatformDriver, sbomPathOf, tsCommand } from "./driver";
import { TEST_TTL_SCRIPT, cloudConfig } from "./user-data";

const BOOT_TEST_CLI = path.join(__dirname, "boot-test-cli.ts");

/**
 * A fresh instance from the pending image, with its own key and pinned host key, and the smoke
 * test (boot-test-cli.ts with the platform's launcher). The step launches and always removes the
 * instance itself: a typed test instance would be left running when the image does not boot,
 * because the failing step cancels the run before any teardown step (rule E5).
 */
export function declareBootTest(
  parent: pulumi.Resource,
  base: string,
  args: ChainArgs,
  driver: PlatformDriver,
  ctx: {
    pendingId: pulumi.Input<string>;
    storeVars: Record<string, string>;
    after: pulumi.Resource;
  },
): command.local.Command {
  const { plan, settings } = args;
  const opts = { parent };
  const {
    key,
    hostKey,
    publicKey: authorized,
    hostPublicKey: hostPublic,
  } = machineKeys(`${base}-test`, opts);
  const userData = pulumi
    .all([hostKey.privateKeyOpenssh, hostPublic, authorized])
    .apply(([hostPrivate, hostPub, auth]) =>
      cloudConfig({
        ttlMinutes: settings.builderTtlMinutes,
        ttlScript: TEST_TTL_SCRIPT,
        hostKey: { privateKey: hostPrivate, publicKey: hostPub },
        ...(driver.userInUserData
          ? { user: { name: driver.sshUser, authorizedKey: auth } }
          : { authorizedKeys: [auth] }),
      }),
    );
  return new command.local.Command(
    `${base}-boot-test`,
    {
      create: tsCommand(BOOT_TEST_CLI, driver.platform),
      environment: {
        ...driver.env,
        ...driver.bootTestEnv,
        ...ctx.storeVars,
        IMAGE_ID: ctx.pendingId,
        NAME: plan.name,
        SBOM_PATH: sbomPathOf(settings, plan.name),
        TEST_NAME: `${builderObjectName(args.stackTag, driver.platform, plan.name, plan.gen!)}-test`,
        STACK_TAG: args.stackTag,
        GEN: plan.gen!,
        SSH_USER: driver.sshUser,
        USER_DATA: pulumi.secret(userData),
        SSH_PRIVATE_KEY: pulumi.secret(key.privateKeyOpenssh),
        AUTHORIZED_KEY: authorized,
        HOST_PUBLIC_KEY: hostPublic,
        DSE_TOOLS: settings.tools.join(" "),
        DSE_PYTHON_SOURCE: settings.pythonSource,
        BUILDER_TTL_MINUTES: String(settings.builderTtlMinutes),
        SSH_TIMEOUT_SECONDS: String(settings.sshTimeoutMinutes * 60),
        KEEP_ON_FAILURE: String(settings.keepBuilderOnFailure),
      },
      logging: "stderr",
    },
    { ...opts, dependsOn: [ctx.after] },
  );
}
