import * as pulumi from "@pulumi/pulumi";
import type { VirtualBoxBuilder } from "./config";
import { declarePublish } from "../lifecycle/image-steps";
import { ImageRecordOutput, imageRecord } from "../lifecycle/image-record";
import type { Plan } from "../lifecycle/plan";
import type { StoreRef } from "../lifecycle/store";
import { PendingImage } from "../store/pending-image";

export interface VirtualBoxImageArgs {
  /** What this run declares (components/lifecycle/plan.ts). A plain value. */
  plan: Plan;
  fingerprint: string;
  /** Base name of the image (`imageName`). */
  imageName: string;
  stackId: string;
  stackTag: string;
  /**
   * The published, boot-tested qcow2 the OVA is packed from, and the resource that records it.
   * Only needed while the OVA is built.
   */
  source?: {
    qcow2: pulumi.Input<string>;
    manifest: pulumi.Input<string>;
    dependsOn: pulumi.Resource[];
  };
  /** Output folder, `<outputDir>/<name>.ova`: relative to the project folder, or absolute. */
  outputDir: string;
  /** `qemu` (default) or `vboxmanage`. */
  builder?: pulumi.Input<VirtualBoxBuilder>;
  /** VirtualSystem name. Default: the image name. */
  vmName?: pulumi.Input<string>;
  /** Default 2048. */
  memoryMb?: pulumi.Input<number>;
  /** Default 2. */
  cpus?: pulumi.Input<number>;
  /** The base image the disk came from (recorded). */
  sourceImage: string;
  /** Keep the OVA on `pulumi destroy` and rebuilds. Default false. */
  retainImages?: boolean;
  /** Previous OVAs of this stack kept after a rebuild. Default 0. */
  keep?: number;
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
  public readonly image: pulumi.Output<ImageRecordOutput>;

  constructor(name: string, args: VirtualBoxImageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("dse-image:index:VirtualBoxImage", name, {}, opts);
    const store = ovaStore(args.outputDir);
    const { plan } = args;
    let imageId: pulumi.Input<string> = plan.imageId ?? "";
    let dependsOn: pulumi.Resource[] = [];
    if (plan.phase !== "published") {
      const base = `${name}-${plan.name}-${plan.gen}`;
      let pendingId: pulumi.Input<string> = plan.imageId ?? "";
      let after: pulumi.Resource[] = [];
      if (plan.phase === "build") {
        if (args.source === undefined)
          throw new Error("virtualbox: building an OVA needs its qcow2");
        const pack = new PendingImage(
          `${base}-export`,
          {
            store: { store: store.store, config: store.config },
            snapshot: "virtualbox",
            environment: {
              SOURCE_QCOW2: args.source.qcow2,
              OUTPUT_DIR: args.outputDir,
              VM_NAME: args.vmName ?? plan.name,
              MEMORY_MB: pulumi.output(args.memoryMb ?? 2048).apply(String),
              CPUS: pulumi.output(args.cpus ?? 2).apply(String),
              BUILDER: args.builder ?? "qemu",
            },
            name: plan.name,
            gen: plan.gen!,
            stackTag: args.stackTag,
            imageName: args.imageName,
            fingerprint: args.fingerprint,
            sourceImage: args.sourceImage,
            manifest: args.source.manifest,
          },
          { parent: this, dependsOn: args.source.dependsOn },
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
        stackId: args.stackId,
        stackTag: args.stackTag,
        retainImages: args.retainImages ?? false,
        keep: args.keep ?? 0,
        dependsOn,
      },
      this,
    );
    this.image = record.image;
    this.imageId = this.image.id;
    this.registerOutputs({ imageId: this.imageId, image: this.image });
  }
}
