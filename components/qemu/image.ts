import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import type { Accelerator } from "./config";
import { declareImage } from "../lifecycle/chain";
import {
  type BuildSettings,
  type Builder,
  type LaunchRequest,
  type PlatformDriver,
  lastLine,
  script,
} from "../lifecycle/driver";
import type { ImageRecordOutput } from "../lifecycle/image-record";
import type { Plan } from "../lifecycle/plan";
import type { StoreRef } from "../lifecycle/store";

/** `bash <components/qemu/script>`: the exact create command of a local host step. */
export function hostScript(file: string): string {
  return script(path.join(__dirname, file));
}

/**
 * The builder's disk passes discards on (discard=unmap, detect-zeroes=unmap in start.sh), so
 * cleanup.sh's fstrim already frees the deleted blocks: zero-filling would only cost minutes.
 */
export const QEMU_ZERO_FREE_SPACE = false;

export interface QemuImageArgs {
  /** What this run declares (components/lifecycle/plan.ts). A plain value: it decides which resources exist. */
  plan: Plan;
  /** Build fingerprint (recorded on the image). */
  fingerprint: string;
  /** Base name of the image (`imageName`). */
  imageName: string;
  /** `<org>/<project>/<stack>` and its tag: whose claims and builders these are. */
  stackId: string;
  stackTag: string;
  settings: BuildSettings;
  /** http(s) URL, `file://` URL or path of the base cloud image. */
  sourceImageUrl: string;
  /** Expected sha256 of the base image (required for http(s)). Default: unchecked. */
  sourceImageSha256?: pulumi.Input<string>;
  /**
   * Cache folder: downloaded bases and the builders' work folders. Default: the user's cache,
   * resolved where each step runs (components/qemu/paths-lib.sh).
   */
  cacheDir?: string;
  /** Output folder, `<outputDir>/<name>.qcow2`: relative to the project folder, or absolute. */
  outputDir: string;
  /** Default 20. */
  diskSizeGb?: pulumi.Input<number>;
  /** Default 2048. */
  memoryMb?: pulumi.Input<number>;
  /** Default 2. */
  cpus?: pulumi.Input<number>;
  /** Default `auto` (KVM when it works, else TCG). */
  accelerator?: pulumi.Input<Accelerator>;
  /** Login user of the base image. Default `ubuntu`. */
  sshUser?: string;
  /** Direct kernel boot. Default: boot the disk. */
  kernel?: pulumi.Input<string>;
  initrd?: pulumi.Input<string>;
  append?: pulumi.Input<string>;
  /** Seconds the guest gets to power off before qemu is quit. Default 300. */
  shutdownTimeoutSeconds?: pulumi.Input<number>;
}

/** The image store of the qcow2s in `outputDir`. */
export function qemuStore(outputDir: string, cacheDir?: string): StoreRef {
  return { store: "qemu", config: { outputDir, cacheDir: cacheDir ?? "", ext: "qcow2" } };
}

/**
 * Bakes the DSE image as a local qcow2: a QEMU builder on an overlay of the cached base image,
 * provisioned over SSH on a loopback port, exported, boot-tested and published within the same
 * `pulumi up` (components/lifecycle/chain.ts).
 */
export class QemuImage extends pulumi.ComponentResource {
  /** Path of the qcow2, under `outputDir` as configured. */
  public readonly imageId: pulumi.Output<string>;
  public readonly image: pulumi.Output<ImageRecordOutput>;
  /** Path of the image's CycloneDX SBOM on this machine, when there is one. */
  public readonly sbom: pulumi.Output<string | undefined>;
  /** The record: anything consuming the qcow2 depends on it. */
  public readonly record: pulumi.Resource;

  constructor(name: string, args: QemuImageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("dse-image:index:QemuImage", name, {}, opts);
    const store = qemuStore(args.outputDir, args.cacheDir);
    const local: Record<string, pulumi.Input<string>> = {
      CACHE_DIR: args.cacheDir ?? "",
      OUTPUT_DIR: args.outputDir,
      MEMORY_MB: pulumi.output(args.memoryMb ?? 2048).apply(String),
      CPUS: pulumi.output(args.cpus ?? 2).apply(String),
      DSE_ACCEL: args.accelerator ?? "auto",
      KERNEL: args.kernel ?? "",
      INITRD: args.initrd ?? "",
      APPEND: args.append ?? "",
    };
    const driver: PlatformDriver = {
      platform: "qemu",
      scripts: __dirname,
      consoleCommand: script(path.join(__dirname, "console.sh")),
      env: local,
      store,
      sshUser: args.sshUser ?? "ubuntu",
      zeroFreeSpace: QEMU_ZERO_FREE_SPACE,
      userInUserData: true,
      launch: (request) => this.launchBuilder(request, args, local),
      bootTestEnv: {},
    };
    const declared = declareImage(
      this,
      name,
      {
        plan: args.plan,
        fingerprint: args.fingerprint,
        imageName: args.imageName,
        sourceImage: args.sourceImageUrl,
        stackId: args.stackId,
        stackTag: args.stackTag,
        settings: args.settings,
      },
      driver,
    );
    this.record = declared.record;
    this.image = declared.image;
    this.imageId = declared.imageId;
    this.sbom = declared.sbom;
    this.registerOutputs({ imageId: this.imageId, image: this.image });
  }

  private launchBuilder(
    request: LaunchRequest,
    args: QemuImageArgs,
    local: Record<string, pulumi.Input<string>>,
  ): Builder {
    // One step fetches the base, writes the seed and starts qemu (launch.sh): the work folder is
    // found from STACK_TAG and GEN wherever a step runs, so no path of this machine is stored.
    const builder = { STACK_TAG: args.stackTag, GEN: request.labels.dse_gen };
    const start = new command.local.Command(
      `${request.base}-start`,
      {
        create: hostScript("launch.sh"),
        environment: {
          ...local,
          ...builder,
          BUILD: request.labels.dse_build,
          SOURCE_URL: args.sourceImageUrl,
          SOURCE_SHA256: args.sourceImageSha256 ?? "",
          USER_DATA: request.userData,
          INSTANCE_ID: request.cloudName,
          DISK_SIZE_GB: pulumi.output(args.diskSizeGb ?? 20).apply(String),
          BUILDER_TTL_MINUTES: String(args.settings.builderTtlMinutes),
        },
        // The builder as a resource: when it leaves the program (rule E1), its qemu and work
        // folder go (rule C3 runs this with the stored STACK_TAG and GEN); a no-op once the
        // snapshot removed them.
        delete: hostScript("teardown.sh"),
        logging: "stderr",
      },
      { parent: this, dependsOn: request.after },
    );
    const started = start.stdout.apply(
      (s) => JSON.parse(lastLine(s)) as { port: number; boot: string },
    );
    const port = started.port;
    return {
      // A new start is a new builder (a fresh overlay): its remote steps all run again (rule C1).
      id: pulumi.interpolate`${args.stackTag}/${request.labels.dse_gen}/${started.boot}`,
      host: "127.0.0.1",
      port,
      ready: [start],
      env: {
        ...builder,
        SHUTDOWN_TIMEOUT: pulumi.output(args.shutdownTimeoutSeconds ?? 300).apply(String),
      },
    };
  }
}
