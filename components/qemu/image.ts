import { createHash, randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import * as tls from "@pulumi/tls";
import type { Accelerator } from "./config";
import { ImageRecordOutput, imageRecord, parseImageRecord } from "../lifecycle/image-record";
import { Provisioner } from "../provisioner";
import type { ProvisioningArgs } from "../provisioning-args";
import { shellQuote } from "../shell";

/** Host-side scripts of the local platforms. */
export const HOST_DIR = __dirname;

/** `bash <components/qemu/script>`: the exact create command of a host step. */
export function hostScript(script: string): string {
  return `bash ${shellQuote(path.join(HOST_DIR, script))}`;
}

/** The record's delete: removes the file and its .sha256/.json unless images are retained. */
export function localDeleteCommand(retain: boolean): string {
  return retain
    ? "echo 'dse-image: retainImages is set: keeping the image file' >&2"
    : hostScript("delete-output.sh");
}

/**
 * The lookup of local platforms: the output file exists and its `.sha256` matches it (a
 * half-written or tampered file does not count).
 */
export async function localImageExists(file: string): Promise<boolean> {
  let expected: string;
  try {
    expected = (await fs.promises.readFile(`${file}.sha256`, "utf8")).trim().split(/\s+/)[0];
  } catch {
    return false;
  }
  if (!/^[0-9a-f]{64}$/.test(expected)) return false;
  const hash = createHash("sha256");
  try {
    for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  } catch {
    return false;
  }
  return hash.digest("hex") === expected;
}

/**
 * The builder's disk passes discards on (discard=unmap, detect-zeroes=unmap in start.sh),
 * so cleanup.sh's fstrim already frees the deleted blocks: zero-filling would only cost minutes.
 */
export const QEMU_ZERO_FREE_SPACE = false;

export interface QemuImageArgs extends ProvisioningArgs {
  /** Full image name, `<imageName>-<fingerprint prefix>`: the output is `<outputDir>/<name>.qcow2`. */
  imageName: pulumi.Input<string>;
  /**
   * Build fingerprint. A plain value: its prefix is part of every child's name, so a rebuild is
   * new resources; a replacement would reuse the old build's ignored inputs.
   */
  fingerprint: string;
  /**
   * Whether to run a builder: false when the output file already exists with a matching
   * `.sha256` (see `localImageExists`). A plain value: it decides which resources exist.
   * Default true.
   */
  build?: boolean;
  /** http(s) URL, `file://` URL or path of the base cloud image. */
  sourceImageUrl: pulumi.Input<string>;
  /** Expected sha256 of the base image (required for http(s)). */
  sourceImageSha256?: pulumi.Input<string>;
  /** Cache of downloaded base images. */
  cacheDir: pulumi.Input<string>;
  /** The builder's folder (overlay, seed, pidfile); removed after the export or a failure. */
  workDir: pulumi.Input<string>;
  /** Absolute output folder. */
  outputDir: pulumi.Input<string>;
  /** Default 20. */
  diskSizeGb?: pulumi.Input<number>;
  /** Default 2048. */
  memoryMb?: pulumi.Input<number>;
  /** Default 2. */
  cpus?: pulumi.Input<number>;
  /** Default `auto` (KVM when it works, else TCG). */
  accelerator?: pulumi.Input<Accelerator>;
  /** Login user of the base image. Default `ubuntu`. */
  sshUser?: pulumi.Input<string>;
  /** Direct kernel boot. Default: boot the disk. */
  kernel?: pulumi.Input<string>;
  initrd?: pulumi.Input<string>;
  append?: pulumi.Input<string>;
  /** Seconds the guest gets to power off before qemu is quit. Default 300. */
  shutdownTimeoutSeconds?: pulumi.Input<number>;
  /** Keep the image file on `pulumi destroy` and rebuilds. Default false. */
  retainImages?: pulumi.Input<boolean>;
  /** Guest and host-side watchdog TTL. Default 120. */
  builderTtlMinutes?: pulumi.Input<number>;
  /**
   * Changes on every program run: a retried build after a failure starts a fresh builder
   * instead of trusting one recorded by the failed run. Default: a random UUID.
   */
  runId?: string;
}

/**
 * Bakes the DSE image as a local qcow2: a QEMU builder on an overlay of the cached base image,
 * provisioned over SSH on a loopback port, shut down and exported within the same `pulumi up`.
 */
export class QemuImage extends pulumi.ComponentResource {
  /** Absolute path of the qcow2. */
  public readonly imageId: pulumi.Output<string>;
  public readonly image: pulumi.Output<ImageRecordOutput>;
  /** The image step: anything consuming the qcow2 depends on it. */
  public readonly record: command.local.Command;
  /** The temporary build key, while a builder exists. Secret. */
  public readonly privateKey?: pulumi.Output<string>;

  constructor(name: string, args: QemuImageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("dse-image:index:QemuImage", name, {}, opts);
    // Children carry the fingerprint prefix: see `fingerprint`.
    const base = `${name}-${args.fingerprint.slice(0, 12)}`;

    let builderEnv: Record<string, pulumi.Input<string>> = {};
    let dependsOn: pulumi.Resource[] = [];
    if (args.build ?? true) {
      const chain = this.declareBuilder(base, args);
      builderEnv = { WORK_DIR: args.workDir, MANIFEST: chain.manifest };
      dependsOn = [chain.stopped];
      this.privateKey = chain.privateKey;
    }

    this.record = imageRecord(
      `${base}-image`,
      {
        imageName: args.imageName,
        create: hostScript("export.sh"),
        environment: {
          ...builderEnv,
          OUTPUT_DIR: args.outputDir,
          IMAGE_NAME: args.imageName,
          FINGERPRINT: args.fingerprint,
          SOURCE_IMAGE: args.sourceImageUrl,
        },
        delete: pulumi.output(args.retainImages ?? false).apply(localDeleteCommand),
        dependsOn,
      },
      this,
    );
    this.image = this.record.stdout.apply(parseImageRecord);
    this.imageId = this.image.id;
    this.registerOutputs({ imageId: this.imageId, image: this.image });
  }

  private declareBuilder(name: string, args: QemuImageArgs) {
    // The builder is gone after the export; Pulumi must never run these steps' deletes later.
    const step = { parent: this, retainOnDelete: true };
    const triggers = [args.fingerprint, args.runId ?? randomUUID()];
    const seedPath = pulumi.output(args.workDir).apply((dir) => path.join(dir, "seed.iso"));
    const ttl = pulumi.output(args.builderTtlMinutes ?? 120).apply(String);

    const key = new tls.PrivateKey(`${name}-key`, { algorithm: "ED25519" }, { parent: this });
    const privateKey = pulumi.secret(key.privateKeyOpenssh);

    const fetch = new command.local.Command(
      `${name}-fetch`,
      {
        create: hostScript("fetch-base.sh"),
        environment: {
          SOURCE_URL: args.sourceImageUrl,
          SOURCE_SHA256: args.sourceImageSha256 ?? "",
          CACHE_DIR: args.cacheDir,
        },
        triggers,
        logging: "stderr",
      },
      step,
    );
    const seed = new command.local.Command(
      `${name}-seed`,
      {
        create: hostScript("make-seed.sh"),
        environment: {
          SEED_PATH: seedPath,
          SSH_PUBLIC_KEY: key.publicKeyOpenssh.apply((k) => k.trim()),
          SSH_USER: args.sshUser ?? "ubuntu",
          INSTANCE_ID: pulumi.interpolate`${args.imageName}-build`,
          BUILDER_TTL_MINUTES: ttl,
        },
        triggers,
      },
      { ...step, dependsOn: [fetch] },
    );
    const start = new command.local.Command(
      `${name}-start`,
      {
        create: hostScript("start.sh"),
        environment: {
          BASE_IMAGE: fetch.stdout.apply((s) => s.trim()),
          WORK_DIR: args.workDir,
          SEED_PATH: seedPath,
          DISK_SIZE_GB: pulumi.output(args.diskSizeGb ?? 20).apply(String),
          MEMORY_MB: pulumi.output(args.memoryMb ?? 2048).apply(String),
          CPUS: pulumi.output(args.cpus ?? 2).apply(String),
          DSE_ACCEL: args.accelerator ?? "auto",
          KERNEL: args.kernel ?? "",
          INITRD: args.initrd ?? "",
          APPEND: args.append ?? "",
          BUILDER_TTL_MINUTES: ttl,
        },
        triggers,
        logging: "stderr",
      },
      { ...step, dependsOn: [seed] },
    );

    const provisioner = new Provisioner(
      `${name}-provision`,
      {
        host: "127.0.0.1",
        port: start.stdout.apply((s) => Number(s.trim())),
        user: args.sshUser ?? "ubuntu",
        privateKey,
        tools: args.tools,
        pythonSource: args.pythonSource,
        fingerprint: args.fingerprint,
        env: args.provisionEnv,
        zeroFreeSpace: QEMU_ZERO_FREE_SPACE,
        builderTtlMinutes: args.builderTtlMinutes,
        keepBuilderOnFailure: args.keepBuilderOnFailure,
      },
      { parent: this, dependsOn: [start] },
    );

    const stopped = new command.local.Command(
      `${name}-stop`,
      {
        create: hostScript("stop.sh"),
        environment: {
          WORK_DIR: args.workDir,
          SHUTDOWN_TIMEOUT: pulumi.output(args.shutdownTimeoutSeconds ?? 300).apply(String),
        },
        triggers,
      },
      { ...step, dependsOn: [provisioner.done] },
    );
    return { stopped, manifest: provisioner.manifest, privateKey };
  }
}
