import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import * as tls from "@pulumi/tls";
import type { ProvisionEnv, PythonSource, ToolGroup } from "../config/stack";
import { Provisioner } from "../provisioner";
import { projectRelative } from "../project-files";
import { shellQuote } from "../shell";
import { builderObjectName, builderPrefix } from "./names";
import { ImageRecordOutput, imageRecord } from "./image-record";
import type { Plan } from "./plan";
import { ImagePublish } from "../store/image-publish";
import { TYPED_STORES } from "../store/open";
import { PendingImage } from "../store/pending-image";
import { StoreRef, storeCommand, storeEnv } from "./store";
import { buildSbom, formatSbom, parseInventory } from "./sbom";
import { TEST_TTL_SCRIPT, cloudConfig } from "./user-data";

/** Shell command running a script of the lifecycle or of a platform folder (rule P3). */
export function script(file: string): string {
  return `bash ${shellQuote(projectRelative(file))}`;
}

export const WAIT_SSH = path.join(__dirname, "wait-ssh.sh");
export const WRITE_SBOM = path.join(__dirname, "write-sbom.sh");

/** Stack-wide settings of one build, as the platforms pass them on. */
export interface BuildSettings {
  tools: ToolGroup[];
  pythonSource: PythonSource;
  provisionEnv: ProvisionEnv;
  keepBuilderOnFailure: boolean;
  builderTtlMinutes: number;
  sshTimeoutMinutes: number;
  bootTest: boolean;
  retainImages: boolean;
  /** Previous images of this stack kept after a rebuild. */
  keep: number;
  /** Folder of the SBOMs, relative to the project folder (or absolute, as configured). */
  sbomDir: string;
}

/** What the lifecycle hands a platform to launch its builder with. */
export interface LaunchRequest {
  /** Resource name base of this generation's children. */
  base: string;
  /** Cloud name of the builder and its key pair, security group, ...: the teardown finds it. */
  cloudName: string;
  /** Cloud-config with the pinned host key and the dead-man switch (rule S2, S1). */
  userData: pulumi.Output<string>;
  /** The temporary build key's public line. */
  publicKey: pulumi.Output<string>;
  /** Tags/metadata every builder-side object carries, for the probe and the teardown. */
  labels: Record<string, string>;
  /** The builder waits for these (the teardown of earlier generations). */
  after: pulumi.Resource[];
  /**
   * Declares a step that does nothing on create and runs the teardown, with its stored PREFIX
   * (rule C3), when this generation leaves the program or the stack is destroyed. A platform makes
   * it depend on the builder's key pair, security group and floating IP, and the builder depend on
   * it: Pulumi deletes dependents first (step_generator.go ScheduleDeletes), so it removes a
   * builder the state never heard of (a run killed while creating it) before their typed deletes
   * meet it in use, even after a stack rename changed the prefix the next sweep looks for.
   */
  sweepOnDelete: (dependsOn: pulumi.Resource[]) => pulumi.Resource;
}

/** A builder a platform declared. */
export interface Builder {
  /** Identity of the machine: a new one re-runs every remote step. */
  id: pulumi.Output<string>;
  host: pulumi.Input<string>;
  port: pulumi.Input<number>;
  /** Remote steps wait for these (e.g. the floating IP association). */
  ready: pulumi.Resource[];
  /** Environment of the snapshot and console scripts (builder ID, work folder, ...). */
  env: Record<string, pulumi.Input<string>>;
}

/**
 * How one platform launches, snapshots and tears down; everything else is the lifecycle's.
 * Scripts live in `scripts`: snapshot.sh (stops the builder, makes the pending image, prints
 * `{"id","name"}`), teardown.sh (deletes every builder-side object whose name starts with
 * PREFIX), boot-test.sh (boots IMAGE_ID, runs the smoke test, prints the result) and console.sh
 * (prints the last lines of the builder's console, for errors).
 */
export interface PlatformDriver {
  platform: "openstack" | "aws" | "qemu";
  scripts: string;
  /** Environment every script of this platform gets (CLI flags, region, profile, ...). */
  env: Record<string, pulumi.Input<string>>;
  store: StoreRef;
  sshUser: string;
  /** cleanup.sh zero-fills free space (only where the image is compressed from a raw disk). */
  zeroFreeSpace: boolean;
  /** NoCloud platforms create the login user in the user data; clouds inject key pairs. */
  userInUserData: boolean;
  launch(request: LaunchRequest): Builder;
  /** Launch settings of the boot test's instance (flavor, network, subnet, ...). */
  bootTestEnv: Record<string, pulumi.Input<string>>;
}

export interface ChainArgs {
  plan: Plan;
  fingerprint: string;
  imageName: string;
  /** What the image was built from (recorded on the image). */
  sourceImage: string;
  stackId: string;
  stackTag: string;
  settings: BuildSettings;
}

/** Where an image's CycloneDX SBOM goes: `<sbomDir>/<image name>.cdx.json`. */
export function sbomPathOf(settings: BuildSettings, name: string): string {
  return path.join(settings.sbomDir, `${name}.cdx.json`);
}

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

/**
 * A fresh instance from the pending image, with its own key and pinned host key, and the smoke
 * test (boot-test.sh of the platform, with components/lifecycle/boot-test-lib.sh). The script
 * launches and always removes the instance itself: a typed test instance would be left running
 * when the image does not boot, because the failing step cancels the run before any teardown
 * step (rule E5).
 */
function declareBootTest(
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
  const key = new tls.PrivateKey(`${base}-test-key`, { algorithm: "ED25519" }, opts);
  const hostKey = new tls.PrivateKey(`${base}-test-hostkey`, { algorithm: "ED25519" }, opts);
  const authorized = key.publicKeyOpenssh.apply((k) => k.trim());
  const hostPublic = hostKey.publicKeyOpenssh.apply((k) => k.trim());
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
      create: script(path.join(driver.scripts, "boot-test.sh")),
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
  const key = new tls.PrivateKey(`${base}-key`, { algorithm: "ED25519" }, opts);
  const hostKey = new tls.PrivateKey(`${base}-hostkey`, { algorithm: "ED25519" }, opts);
  const publicKey = key.publicKeyOpenssh.apply((k) => k.trim());
  const hostPublicKey = hostKey.publicKeyOpenssh.apply((k) => k.trim());
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
      create: script(WAIT_SSH),
      environment: {
        ...driver.env,
        ...builder.env,
        HOST: builder.host,
        PORT: pulumi.output(builder.port).apply(String),
        TIMEOUT_SECONDS: String(settings.sshTimeoutMinutes * 60),
        CONSOLE_COMMAND: script(path.join(driver.scripts, "console.sh")),
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
      create: script(WRITE_SBOM),
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
  const { snapshot, pendingId } = TYPED_STORES.includes(driver.store.store)
    ? typedSnapshot(`${base}-snapshot`, driver, {
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
      })
    : snapshotStep(`${base}-snapshot`, driver, {
        parent,
        environment: {
          ...driver.env,
          ...builder.env,
          ...ctx.storeVars,
          NAME: plan.name,
          IMAGE_NAME: args.imageName,
          FINGERPRINT: args.fingerprint,
          GEN: gen,
          STACK_TAG: args.stackTag,
          SOURCE_IMAGE: args.sourceImage,
          MANIFEST: provisioner.manifest,
          SBOM_SHA256: sbomSha256,
        },
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

/** The snapshot of a platform whose store is still imagestore.py: a command step. */
function snapshotStep(
  name: string,
  driver: PlatformDriver,
  o: {
    parent: pulumi.Resource;
    environment: Record<string, pulumi.Input<string>>;
    dependsOn: pulumi.Resource[];
  },
): { snapshot: pulumi.Resource; pendingId: pulumi.Output<string> } {
  const snapshot = new command.local.Command(
    name,
    {
      create: script(path.join(driver.scripts, "snapshot.sh")),
      environment: o.environment,
      // The pending image dies with this step unless it was published (teardown of an
      // abandoned build: rule E1 deletes the step at the end of a later run, C3 runs this).
      delete: storeCommand("discard"),
      logging: "stderr",
    },
    { parent: o.parent, dependsOn: o.dependsOn },
  );
  return {
    snapshot,
    pendingId: snapshot.stdout.apply((out) => (JSON.parse(lastLine(out)) as { id: string }).id),
  };
}

/**
 * The snapshot where the platform's store is typed: a PendingImage resource that makes the image
 * and records it in one step, and discards it unless published when it leaves the program.
 */
function typedSnapshot(
  name: string,
  driver: PlatformDriver,
  o: {
    parent: pulumi.Resource;
    environment: Record<string, pulumi.Input<string>>;
    name: string;
    gen: string;
    stackTag: string;
    imageName: string;
    fingerprint: string;
    sbomSha256: pulumi.Input<string>;
    sourceImage: string;
    manifest: pulumi.Input<string>;
    dependsOn: pulumi.Resource[];
  },
): { snapshot: pulumi.Resource; pendingId: pulumi.Output<string> } {
  const snapshot = new PendingImage(
    name,
    {
      store: { store: driver.store.store, config: driver.store.config },
      snapshot: driver.store.store === "virtualbox" ? "virtualbox" : "qemu",
      environment: o.environment,
      name: o.name,
      gen: o.gen,
      stackTag: o.stackTag,
      imageName: o.imageName,
      fingerprint: o.fingerprint,
      sbomSha256: o.sbomSha256,
      sourceImage: o.sourceImage,
      manifest: o.manifest,
    },
    { parent: o.parent, dependsOn: o.dependsOn },
  );
  return { snapshot, pendingId: snapshot.imageId };
}

/** Publishes the pending image: an ImagePublish where the store is typed, else a command step. */
export function declarePublish(
  name: string,
  store: StoreRef,
  o: {
    parent: pulumi.Resource;
    pendingId: pulumi.Input<string>;
    name: string;
    bootTest: pulumi.Input<string>;
    dependsOn: pulumi.Resource[];
  },
): { resource: pulumi.Resource; imageId: pulumi.Output<string> } {
  if (TYPED_STORES.includes(store.store)) {
    const publish = new ImagePublish(
      name,
      {
        store: { store: store.store, config: store.config },
        pendingId: o.pendingId,
        name: o.name,
        bootTest: o.bootTest,
      },
      { parent: o.parent, dependsOn: o.dependsOn },
    );
    return { resource: publish, imageId: publish.imageId };
  }
  const publish = new command.local.Command(
    name,
    {
      create: storeCommand("publish"),
      environment: {
        ...storeEnv(store),
        PENDING_ID: o.pendingId,
        NAME: o.name,
        BOOT_TEST: o.bootTest,
      },
      logging: "stderr",
    },
    { parent: o.parent, dependsOn: o.dependsOn },
  );
  return {
    resource: publish,
    imageId: publish.stdout.apply((out) => (JSON.parse(lastLine(out)) as { id: string }).id),
  };
}

/** The last line of a step's stdout: scripts print their result last. */
export function lastLine(out: string): string {
  return out.trim().split("\n").pop() ?? "";
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
    args.plan.record,
  );
  const image = record.image;
  return { record: record.resource, image, imageId: image.id, sbom: pulumi.output(chain.sbom) };
}
