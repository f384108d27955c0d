import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { machineKeys } from "./machine-keys";
import { Provisioner } from "../provisioner";
import { declareBootTest } from "./boot-test";
import {
  type ChainArgs,
  type PlatformDriver,
  WAIT_SSH,
  WRITE_SBOM,
  lastLine,
  sbomPathOf,
  script,
  tsCommand,
} from "./driver";
import { declarePublish, declareSnapshot } from "./image-steps";
import { ImageRecordOutput, imageRecord } from "./image-record";
import { builderObjectName, builderPrefix } from "./names";
import { storeEnv } from "./store";
import { buildSbom, formatSbom, parseInventory } from "./sbom";
import { cloudConfig } from "./user-data";

/** What the chain gives the component: the image ID to record and the last step before it. */
export interface ChainResult {
  imageId: pulumi.Input<string>;
  dependsOn: pulumi.Resource[];
  manifest?: pulumi.Output<string>;
  inventory?: pulumi.Output<string>;
  /** The SBOM's path: written by this run, or found on this machine. */
  sbom: pulumi.Input<string | undefined>;
}

/**
 * Declares what the plan's phase needs, in this order, one name per builder generation:
 *   build:     teardown of earlier generations -> keys -> builder -> wait-ssh -> provisioning
 *              -> snapshot (pending image) -> teardown -> boot test -> publish
 *   pending:   teardown -> boot test -> publish (the image exists; no builder)
 *   published: nothing (the record adopts the image).
 * Every step is a new resource per generation (rule E1), so a failed generation's state is never
 * reused for a new builder; steps that completed in an earlier run of the SAME generation are
 * "same" and do not run again, which is how a build resumes.
 */
export function declareChain(
  parent: pulumi.Resource,
  name: string,
  args: ChainArgs,
  driver: PlatformDriver,
): ChainResult {
  const { plan } = args;
  const existingSbom = fs.existsSync(sbomPathOf(args.settings, plan.name))
    ? sbomPathOf(args.settings, plan.name)
    : undefined;
  if (plan.phase === "published")
    return { imageId: plan.imageId!, dependsOn: [], sbom: existingSbom };
  const gen = plan.gen!;
  const base = `${name}-${plan.name}-${gen}`;
  const opts = { parent };
  const storeVars = storeEnv(driver.store);
  const prefix = builderPrefix(args.stackTag, driver.platform);
  const teardownEnv = { ...driver.env, PREFIX: prefix, STACK_TAG: args.stackTag };
  const teardownScript = script(path.join(driver.scripts, "teardown.sh"));

  let pendingId: pulumi.Input<string>;
  let afterPending: pulumi.Resource[] = [];
  let manifest: pulumi.Output<string> | undefined;
  let inventory: pulumi.Output<string> | undefined;
  let sbom: pulumi.Input<string | undefined> = existingSbom;
  if (plan.phase === "build") {
    const built = declareBuilderChain(parent, base, args, driver, {
      sweep: new command.local.Command(
        `${base}-sweep`,
        { create: teardownScript, environment: teardownEnv, logging: "stderr" },
        opts,
      ),
      sweepOnDelete: (dependsOn) =>
        new command.local.Command(
          `${base}-sweep-on-delete`,
          { delete: teardownScript, environment: teardownEnv, logging: "stderr" },
          { ...opts, dependsOn },
        ),
      storeVars,
    });
    pendingId = built.pendingId;
    afterPending = [built.snapshot];
    manifest = built.manifest;
    inventory = built.inventory;
    sbom = built.sbom;
  } else {
    pendingId = plan.imageId!;
  }

  // Runs right after the snapshot (and, in a later run, whenever it has not completed): the
  // builder, its key pair, security group and floating IP go, whatever generation made them.
  const teardown = new command.local.Command(
    `${base}-teardown`,
    { create: teardownScript, environment: teardownEnv, logging: "stderr" },
    { ...opts, dependsOn: afterPending },
  );

  const bootTest = args.settings.bootTest
    ? declareBootTest(parent, base, args, driver, { pendingId, storeVars, after: teardown })
    : undefined;

  const published = declarePublish(`${base}-publish`, driver.store, {
    parent,
    pendingId,
    name: plan.name,
    bootTest: bootTest ? bootTest.stdout.apply(lastLine) : "",
    dependsOn: bootTest ? [bootTest] : [teardown],
  });
  return {
    imageId: published.imageId,
    dependsOn: [published.resource],
    manifest,
    inventory,
    sbom,
  };
}

function declareBuilderChain(
  parent: pulumi.Resource,
  base: string,
  args: ChainArgs,
  driver: PlatformDriver,
  ctx: {
    sweep: command.local.Command;
    sweepOnDelete: (dependsOn: pulumi.Resource[]) => pulumi.Resource;
    storeVars: Record<string, string>;
  },
) {
  const opts = { parent };
  const { plan, settings } = args;
  const gen = plan.gen!;
  const { key, hostKey, publicKey, hostPublicKey } = machineKeys(base, opts);
  const userData = pulumi
    .all([hostKey.privateKeyOpenssh, hostPublicKey, publicKey])
    .apply(([hostPrivate, hostPublic, authorized]) =>
      cloudConfig({
        ttlMinutes: settings.builderTtlMinutes,
        hostKey: { privateKey: hostPrivate, publicKey: hostPublic },
        user: driver.userInUserData
          ? { name: driver.sshUser, authorizedKey: authorized }
          : undefined,
      }),
    );
  const builder = driver.launch({
    base,
    cloudName: builderObjectName(args.stackTag, driver.platform, plan.name, gen),
    userData: pulumi.secret(userData),
    publicKey,
    labels: {
      dse_stack: args.stackTag,
      dse_build: plan.name,
      dse_gen: gen,
      dse_role: "builder",
      dse_fingerprint: args.fingerprint,
    },
    after: [ctx.sweep],
    sweepOnDelete: ctx.sweepOnDelete,
  });

  const waitSsh = new command.local.Command(
    `${base}-wait-ssh`,
    {
      create: tsCommand(WAIT_SSH),
      environment: {
        ...driver.env,
        ...builder.env,
        HOST: builder.host,
        PORT: pulumi.output(builder.port).apply(String),
        TIMEOUT_SECONDS: String(settings.sshTimeoutMinutes * 60),
        CONSOLE_COMMAND: driver.consoleCommand,
        STOP_COMMAND: settings.keepBuilderOnFailure ? "" : driver.stopCommand,
      },
      // A new builder must be waited for again.
      triggers: [builder.id],
      logging: "stderr",
    },
    { ...opts, dependsOn: builder.ready },
  );

  const provisioner = new Provisioner(
    `${base}-provision`,
    {
      host: builder.host,
      port: builder.port,
      user: driver.sshUser,
      privateKey: key.privateKeyOpenssh,
      hostKey: hostPublicKey,
      builderId: builder.id,
      tools: settings.tools,
      pythonSource: settings.pythonSource,
      fingerprint: args.fingerprint,
      env: settings.provisionEnv,
      zeroFreeSpace: driver.zeroFreeSpace,
      builderTtlMinutes: settings.builderTtlMinutes,
      keepBuilderOnFailure: settings.keepBuilderOnFailure,
      after: [waitSsh],
    },
    { parent },
  );

  // The SBOM, on the operator's machine, from the builder's inventory: the same document for the
  // same packages wherever the image was built.
  const sbomWriter = new command.local.Command(
    `${base}-sbom`,
    {
      create: tsCommand(WRITE_SBOM),
      environment: { SBOM_PATH: sbomPathOf(settings, plan.name) },
      stdin: provisioner.inventory.apply((inv) =>
        formatSbom(
          buildSbom(parseInventory(inv), {
            imageName: plan.name,
            fingerprint: args.fingerprint,
            platform: driver.platform,
            sourceImage: { ref: args.sourceImage },
          }),
        ),
      ),
      logging: "stderr",
    },
    opts,
  );

  const sbomSha256 = sbomWriter.stdout.apply(lastLine);
  const { snapshot, pendingId } = declareSnapshot(`${base}-snapshot`, driver, {
    parent,
    environment: { ...driver.env, ...builder.env },
    name: plan.name,
    gen,
    stackTag: args.stackTag,
    imageName: args.imageName,
    fingerprint: args.fingerprint,
    sbomSha256,
    sourceImage: args.sourceImage,
    manifest: provisioner.manifest,
    dependsOn: [provisioner.done],
  });
  return {
    snapshot,
    pendingId,
    manifest: provisioner.manifest,
    inventory: provisioner.inventory,
    sbom: sbomWriter.stdout.apply(() => sbomPathOf(settings, plan.name)),
  };
}

/** A platform's image as the lifecycle declares it: the chain of this run and the record. */
export interface DeclaredImage {
  /** The stack's claim on the image: anything consuming the image depends on it. */
  record: pulumi.Resource;
  image: pulumi.Output<ImageRecordOutput>;
  imageId: pulumi.Output<string>;
  /** Path of the image's CycloneDX SBOM on this machine, when there is one. */
  sbom: pulumi.Output<string | undefined>;
}

/** The chain of this run's phase, then the stack's claim on the image (image-record.ts). */
export function declareImage(
  parent: pulumi.Resource,
  name: string,
  args: ChainArgs,
  driver: PlatformDriver,
): DeclaredImage {
  const chain = declareChain(parent, name, args, driver);
  const record = imageRecord(
    `${name}-${args.plan.name}-image`,
    {
      imageId: chain.imageId,
      imageName: args.imageName,
      imageGen: args.plan.gen ?? "",
      store: driver.store,
      stackId: args.stackId,
      stackTag: args.stackTag,
      retainImages: args.settings.retainImages,
      keep: args.settings.keep,
      dependsOn: chain.dependsOn,
    },
    parent,
  );
  const image = record.image;
  return { record: record.resource, image, imageId: image.id, sbom: pulumi.output(chain.sbom) };
}
