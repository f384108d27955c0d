import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { type ImageSettings, imageSettings } from "../config/stack";
import { stackFingerprint } from "../lifecycle/fingerprint";
import type { Host } from "../lifecycle/host";
import {
  type ImageComponentOptions,
  declaredOutput,
  splitImageOptions,
} from "../lifecycle/image-component";
import { ImageRecordOutput, imageRecord } from "../lifecycle/image-record";
import { declarePublish } from "../lifecycle/image-steps";
import { type ImageInfo, imageInfo } from "../lifecycle/outputs";
import type { Plan } from "../lifecycle/plan";
import { resolvePlan } from "../lifecycle/resolve";
import type { StoreRef } from "../lifecycle/store";
import type { QemuConfig } from "../qemu/config";
import { baseRef, qemuBaseSha256, qemuFingerprint } from "../qemu/fingerprint";
import { type QemuDisk, stackQemuImage } from "../qemu/image";
import { PendingImage } from "../store/pending-image";
import type { VirtualBoxConfig } from "./config";
import { requireVirtualBoxTools } from "./prerequisites";

/**
 * An OVA's settings, as the user writes them: the stack's image settings, the
 * `dse-image:virtualbox` object and the `dse-image:qemu` object the disk is built with
 * (components/{virtualbox,qemu}/config.ts, each field with its default). Plain values: the images
 * that exist decide which resources are declared.
 */
export interface VirtualBoxImageArgs extends ImageSettings, VirtualBoxConfig {
  /** How the disk is built: the stack's QemuImage `qemu` (components/qemu/image.ts). */
  qemu: QemuConfig;
}

/** The image store of the OVAs in `outputDir`. */
export function ovaStore(outputDir: string): StoreRef {
  return { store: "virtualbox", config: { outputDir, ext: "ova" } };
}

/**
 * The DSE image as an OVA that VirtualBox imports (OVF 1.0 descriptor, stream-optimized VMDK,
 * SHA256 manifest), packed from the QEMU-provisioned, boot-tested disk: nothing is provisioned
 * twice. The same lifecycle as every image: a pending OVA, published, then recorded.
 */
export class VirtualBoxImage extends pulumi.ComponentResource {
  /** Path of the `.ova`, under `outputDir` as configured. */
  public readonly imageId: pulumi.Output<string>;
  /** `images.virtualbox` of the stack outputs (components/reader.ts). */
  public readonly image: pulumi.Output<ImageInfo>;
  /** Settles once every child is declared; rejects with what stopped it (a ConfigError). */
  public readonly ready: Promise<void>;

  constructor(name: string, args: VirtualBoxImageArgs, opts?: ImageComponentOptions) {
    const { resourceOpts, host } = splitImageOptions(opts);
    super("dse-image:index:VirtualBoxImage", name, {}, resourceOpts);
    const declared = this.declare(name, args, host);
    this.ready = declared.then(() => undefined);
    this.imageId = declaredOutput(declared, (d) => d.imageId);
    this.image = declaredOutput(declared, (d) => d.image);
    this.registerOutputs({ imageId: this.imageId, image: this.image });
  }

  /** Reads this family's OVAs; when the plan builds, the stack's qcow2 is declared and packed. */
  private async declare(name: string, args: VirtualBoxImageArgs, host: Host) {
    requireVirtualBoxTools(host.hasCommand, args.builder);
    const q = args.qemu;
    const fingerprint = stackFingerprint(args, baseRef(await qemuBaseSha256(q, host)), {
      platform: "virtualbox",
      disk: await qemuFingerprint(args, q, host),
      builder: args.builder,
      vmName: args.vmName,
      memoryMb: args.memoryMb,
      cpus: args.cpus,
    });
    // As configured (relative to the project folder): it reaches the state (rule P3).
    const outputDir = path.normalize(args.outputDir);
    const plan = await resolvePlan("virtualbox", host, ovaStore(outputDir), args, fingerprint);
    const disk =
      plan.phase === "build"
        ? await stackQemuImage({ ...imageSettings(args), ...q }, host).disk
        : undefined;
    const record = this.declareImage(name, { ...args, outputDir }, plan, fingerprint, host, disk);
    return { imageId: record.id, image: imageInfo(record, plan, q.sourceImageUrl) };
  }

  private declareImage(
    name: string,
    args: VirtualBoxImageArgs,
    plan: Plan,
    fingerprint: string,
    host: Host,
    disk: QemuDisk | undefined,
  ): pulumi.Output<ImageRecordOutput> {
    const store = ovaStore(args.outputDir);
    let imageId: pulumi.Input<string> = plan.imageId ?? "";
    let dependsOn: pulumi.Resource[] = [];
    if (plan.phase !== "published") {
      const base = `${name}-${plan.name}-${plan.gen}`;
      let pendingId: pulumi.Input<string> = plan.imageId ?? "";
      let after: pulumi.Resource[] = [];
      if (plan.phase === "build") {
        if (disk === undefined) throw new Error("virtualbox: building an OVA needs its qcow2");
        const pack = new PendingImage(
          `${base}-export`,
          {
            store: { store: store.store, config: store.config },
            snapshot: "virtualbox",
            environment: {
              SOURCE_QCOW2: disk.imageId,
              OUTPUT_DIR: args.outputDir,
              VM_NAME: args.vmName ?? args.imageName,
              MEMORY_MB: String(args.memoryMb),
              CPUS: String(args.cpus),
              BUILDER: args.builder,
            },
            name: plan.name,
            gen: plan.gen!,
            stackTag: host.stackTag,
            imageName: args.imageName,
            fingerprint,
            sourceImage: args.qemu.sourceImageUrl,
            manifest: disk.manifest,
          },
          { parent: this, dependsOn: [disk.record] },
        );
        pendingId = pack.imageId;
        after = [pack];
      }
      const publish = declarePublish(`${base}-publish`, store, {
        parent: this,
        pendingId,
        name: plan.name,
        bootTest: "",
        dependsOn: after,
      });
      imageId = publish.imageId;
      dependsOn = [publish.resource];
    }
    const record = imageRecord(
      `${name}-${plan.name}-image`,
      {
        imageId,
        imageName: args.imageName,
        imageGen: plan.gen ?? "",
        store,
        stackId: host.stackId,
        stackTag: host.stackTag,
        retainImages: args.retainImages,
        keep: args.retention.keep,
        dependsOn,
      },
      this,
    );
    return record.image;
  }
}
