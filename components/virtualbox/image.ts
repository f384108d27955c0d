import * as pulumi from "@pulumi/pulumi";
import type { VirtualBoxBuilder } from "./config";
import { ImageRecordOutput, imageRecord, parseImageRecord } from "../lifecycle/image-record";
import * as path from "node:path";
import { localDeleteCommand } from "../qemu/image";
import { shellQuote } from "../shell";

export interface VirtualBoxImageArgs {
  /** Full image name, `<imageName>-<fingerprint prefix>`: the output is `<outputDir>/<name>.ova`. */
  imageName: pulumi.Input<string>;
  /**
   * Build fingerprint. A plain value: its prefix is part of every child's name, so a rebuild is
   * new resources; a replacement would reuse the old build's ignored inputs.
   */
  fingerprint: string;
  /**
   * The provisioned disk (a `QemuImage`'s qcow2) and the resource that writes it. Absent when
   * the OVA already exists with a matching `.sha256`: then only the record is declared.
   */
  source?: {
    qcow2: pulumi.Input<string>;
    /** verify.sh's manifest JSON of that disk. */
    manifest: pulumi.Input<string>;
    dependsOn: pulumi.Resource[];
  };
  /** Absolute output folder. */
  outputDir: pulumi.Input<string>;
  /** `qemu` (default) or `vboxmanage`. */
  builder?: pulumi.Input<VirtualBoxBuilder>;
  /** VirtualSystem name. Default: the image name. */
  vmName?: pulumi.Input<string>;
  /** Default 2048. */
  memoryMb?: pulumi.Input<number>;
  /** Default 2. */
  cpus?: pulumi.Input<number>;
  /** The base image the disk came from (recorded). */
  sourceImage: pulumi.Input<string>;
  /** Keep the OVA on `pulumi destroy` and rebuilds. Default false. */
  retainImages?: pulumi.Input<boolean>;
}

/**
 * The DSE image as an OVA that VirtualBox imports (OVF 1.0 descriptor, stream-optimized VMDK,
 * SHA256 manifest), made from the QEMU-provisioned disk: nothing is provisioned twice.
 */
export class VirtualBoxImage extends pulumi.ComponentResource {
  /** Absolute path of the `.ova`. */
  public readonly imageId: pulumi.Output<string>;
  public readonly image: pulumi.Output<ImageRecordOutput>;

  constructor(name: string, args: VirtualBoxImageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("dse-image:index:VirtualBoxImage", name, {}, opts);
    // Children carry the fingerprint prefix: see `fingerprint`.
    const base = `${name}-${args.fingerprint.slice(0, 12)}`;
    const sourceEnv: Record<string, pulumi.Input<string>> = args.source
      ? { SOURCE_QCOW2: args.source.qcow2, MANIFEST: args.source.manifest }
      : {};
    const record = imageRecord(
      `${base}-image`,
      {
        imageName: args.imageName,
        create: `bash ${shellQuote(path.join(__dirname, "ova-export.sh"))}`,
        environment: {
          ...sourceEnv,
          OUTPUT_DIR: args.outputDir,
          IMAGE_NAME: args.imageName,
          VM_NAME: args.vmName ?? args.imageName,
          MEMORY_MB: pulumi.output(args.memoryMb ?? 2048).apply(String),
          CPUS: pulumi.output(args.cpus ?? 2).apply(String),
          BUILDER: args.builder ?? "qemu",
          FINGERPRINT: args.fingerprint,
          SOURCE_IMAGE: args.sourceImage,
        },
        delete: pulumi.output(args.retainImages ?? false).apply(localDeleteCommand),
        dependsOn: args.source?.dependsOn,
      },
      this,
    );
    this.image = record.stdout.apply(parseImageRecord);
    this.imageId = this.image.id;
    this.registerOutputs({ imageId: this.imageId, image: this.image });
  }
}
