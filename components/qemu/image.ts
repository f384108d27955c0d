import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import type { ImageSettings } from "../config/stack";
import { type DeclaredImage, declareImage } from "../lifecycle/chain";
import {
  type Builder,
  type ChainArgs,
  type LaunchRequest,
  type PlatformDriver,
  lastLine,
  script,
} from "../lifecycle/driver";
import type { Host } from "../lifecycle/host";
import {
  type ImageComponentOptions,
  declaredOutput,
  splitImageOptions,
} from "../lifecycle/image-component";
import { type ImageInfo, buildSettings, imageInfo } from "../lifecycle/outputs";
import { resolvePlan } from "../lifecycle/resolve";
import type { StoreRef } from "../lifecycle/store";
import type { QemuConfig } from "./config";
import { qemuBaseSha256, qemuFingerprint } from "./fingerprint";
import { requireQemuTools } from "./prerequisites";

/** `bash <components/qemu/script>`: the exact create command of a local host step. */
export function hostScript(file: string): string {
  return script(path.join(__dirname, file));
}

/**
 * The builder's disk passes discards on (discard=unmap, detect-zeroes=unmap in start.sh), so
 * cleanup.sh's fstrim already frees the deleted blocks: zero-filling would only cost minutes.
 */
export const QEMU_ZERO_FREE_SPACE = false;

/**
 * A local qcow2's settings, as the user writes them: the stack's image settings and the
 * `dse-image:qemu` object (components/qemu/config.ts, each field with its default). Plain values:
 * the base's digest and the images that exist decide which resources are declared.
 */
export interface QemuImageArgs extends ImageSettings, QemuConfig {
  /** Seconds the guest gets to power off before qemu is quit. Default 300. */
  shutdownTimeoutSeconds?: number;
}

/** QemuImageArgs with the folders as the state holds them and the base's resolved sha256. */
interface QemuBuildArgs extends QemuImageArgs {
  /** The bytes the fingerprint covers: fetch-base.ts refuses any others. */
  baseSha256: string;
}

/** The qcow2 as the OVA packed from it needs it. */
export interface QemuDisk {
  imageId: pulumi.Output<string>;
  manifest: pulumi.Output<string>;
  /** The stack's claim on the qcow2: the OVA depends on it. */
  record: pulumi.Resource;
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
  /** `images.qemu` of the stack outputs (components/reader.ts). */
  public readonly image: pulumi.Output<ImageInfo>;
  /** Settles once every child is declared; rejects with what stopped it (a ConfigError). */
  public readonly ready: Promise<void>;
  /** The qcow2 and its claim, for an OVA packed from it (components/virtualbox/image.ts). */
  public readonly disk: Promise<QemuDisk>;

  constructor(name: string, args: QemuImageArgs, opts?: ImageComponentOptions) {
    const { resourceOpts, host } = splitImageOptions(opts);
    super("dse-image:index:QemuImage", name, {}, resourceOpts);
    const declared = this.declare(name, args, host);
    this.ready = declared.then(() => undefined);
    this.disk = declared.then((d) => ({
      imageId: d.image.imageId,
      manifest: d.image.image.apply((r) => JSON.stringify(r.manifest)),
      record: d.image.record,
    }));
    // Only an OVA build waits for the disk: its failure is the component's, reported by `ready`.
    this.disk.catch(() => undefined);
    this.imageId = declaredOutput(declared, (d) => d.image.imageId);
    this.image = declaredOutput(declared, (d) => d.info);
    this.registerOutputs({ imageId: this.imageId, image: this.image });
  }

  /** Reads the base's digest and this family's qcow2s, then declares what the plan says. */
  private async declare(name: string, args: QemuImageArgs, host: Host) {
    requireQemuTools(host.hasCommand, "qemu");
    const fingerprint = await qemuFingerprint(args, args, host);
    // As configured (relative to the project folder): these reach the state (rule P3).
    const outputDir = path.normalize(args.outputDir);
    const cacheDir = args.cacheDir === undefined ? undefined : path.normalize(args.cacheDir);
    const plan = await resolvePlan("qemu", host, qemuStore(outputDir, cacheDir), args, fingerprint);
    const build = { ...args, outputDir, cacheDir, baseSha256: await qemuBaseSha256(args, host) };
    const image = this.declareImage(name, build, {
      plan,
      fingerprint,
      imageName: args.imageName,
      sourceImage: args.sourceImageUrl,
      stackId: host.stackId,
      stackTag: host.stackTag,
      settings: buildSettings(args),
    });
    return { image, info: imageInfo(image.image, plan, args.sourceImageUrl, image.sbom) };
  }

  private declareImage(name: string, args: QemuBuildArgs, chain: ChainArgs): DeclaredImage {
    const local: Record<string, pulumi.Input<string>> = {
      CACHE_DIR: args.cacheDir ?? "",
      OUTPUT_DIR: args.outputDir,
      MEMORY_MB: String(args.memoryMb),
      CPUS: String(args.cpus),
      DSE_ACCEL: args.accelerator,
      KERNEL: args.kernel ?? "",
      INITRD: args.initrd ?? "",
      APPEND: args.append ?? "",
    };
    const driver: PlatformDriver = {
      platform: "qemu",
      scripts: __dirname,
      consoleCommand: script(path.join(__dirname, "console.sh")),
      // A local builder stopped is a folder only the sweep would remove: removed at once.
      stopCommand: script(path.join(__dirname, "teardown.sh")),
      env: local,
      store: qemuStore(args.outputDir, args.cacheDir),
      sshUser: args.sshUser,
      zeroFreeSpace: QEMU_ZERO_FREE_SPACE,
      userInUserData: true,
      launch: (request) => this.launchBuilder(request, args, chain, local),
      bootTestEnv: {},
    };
    return declareImage(this, name, chain, driver);
  }

  private launchBuilder(
    request: LaunchRequest,
    args: QemuBuildArgs,
    chain: ChainArgs,
    local: Record<string, pulumi.Input<string>>,
  ): Builder {
    // One step fetches the base, writes the seed and starts qemu (launch.sh): the work folder is
    // found from STACK_TAG and GEN wherever a step runs, so no path of this machine is stored.
    const builder = { STACK_TAG: chain.stackTag, GEN: request.labels.dse_gen };
    const start = new command.local.Command(
      `${request.base}-start`,
      {
        create: hostScript("launch.sh"),
        environment: {
          ...local,
          ...builder,
          BUILD: request.labels.dse_build,
          SOURCE_URL: args.sourceImageUrl,
          SOURCE_SHA256: args.baseSha256,
          USER_DATA: request.userData,
          INSTANCE_ID: request.cloudName,
          DISK_SIZE_GB: String(args.diskSizeGb),
          BUILDER_TTL_MINUTES: String(chain.settings.builderTtlMinutes),
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
      id: pulumi.interpolate`${chain.stackTag}/${request.labels.dse_gen}/${started.boot}`,
      host: "127.0.0.1",
      port,
      ready: [start],
      env: {
        ...builder,
        SHUTDOWN_TIMEOUT: String(args.shutdownTimeoutSeconds ?? 300),
      },
    };
  }
}

const stackImages = new WeakMap<Host, QemuImage>();

/**
 * The stack's one QemuImage, `qemu`, top-level: the qemu platform's image and the disk a
 * VirtualBox image packs are the same qcow2, provisioned once. Declared by whichever needs it
 * first in this run (`host` is the run's), with the same settings either way.
 */
export function stackQemuImage(args: QemuImageArgs, host: Host): QemuImage {
  let image = stackImages.get(host);
  if (!image) {
    image = new QemuImage("qemu", args, { host });
    stackImages.set(host, image);
  }
  return image;
}
