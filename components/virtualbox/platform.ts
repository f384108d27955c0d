import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../config/stack";
import { parseVirtualBoxConfig } from "./config";
import { ConfigError, fullKey } from "../config/errors";
import { PROVISION_DIR, fingerprint, imageNameFor } from "../lifecycle/fingerprint";
import { HasCommand } from "../host-tools";
import { localImageExists } from "../qemu/image";
import { VirtualBoxImage } from "./image";
import { qemuBuild, qemuConfigOf, qemuFingerprint, requireQemuTools } from "../qemu/platform";
import { type PlatformResult, imageInfo } from "../lifecycle/outputs";

/** The `vboxmanage` builder drives VirtualBox's own exporter: VBoxManage must be installed. */
export function requireVBoxManage(hasCommand: HasCommand): void {
  if (!hasCommand("VBoxManage")) {
    throw new ConfigError(
      fullKey("virtualbox.builder"),
      "is vboxmanage but VBoxManage is not installed on this machine; install VirtualBox (https://www.virtualbox.org/wiki/Linux_Downloads) or set dse-image:virtualbox.builder to qemu, which needs only qemu-img",
    );
  }
}

export async function virtualBoxPlatform(
  config: StackConfig,
  hasCommand: HasCommand,
): Promise<PlatformResult> {
  const vb = config.virtualbox ?? parseVirtualBoxConfig(undefined);
  // The disk is provisioned under QEMU whichever builder packs the OVA.
  requireQemuTools(hasCommand, "virtualbox");
  if (vb.builder === "vboxmanage") requireVBoxManage(hasCommand);
  const q = qemuConfigOf(config);
  const fp = fingerprint({
    provisionDir: PROVISION_DIR,
    tools: config.tools,
    pythonSource: config.pythonSource,
    sourceImage: q.sourceImageSha256 ?? q.sourceImageUrl,
    settings: {
      platform: "virtualbox",
      disk: qemuFingerprint(config),
      builder: vb.builder,
      vmName: vb.vmName,
      memoryMb: vb.memoryMb,
      cpus: vb.cpus,
    },
  });
  const name = imageNameFor(config.imageName, fp);
  const outputDir = path.resolve(vb.outputDir);
  const file = path.join(outputDir, `${name}.ova`);
  let source;
  if (await localImageExists(file)) {
    void pulumi.log.info(`virtualbox: image ${file} is up to date; no builder needed`);
  } else {
    const disk = await qemuBuild(config, hasCommand);
    source = {
      qcow2: disk.image.imageId,
      manifest: disk.image.image.apply((r) => JSON.stringify(r.manifest)),
      dependsOn: [disk.image.record],
    };
  }
  const image = new VirtualBoxImage("virtualbox", {
    imageName: name,
    fingerprint: fp,
    source,
    outputDir,
    builder: vb.builder,
    vmName: vb.vmName ?? config.imageName,
    memoryMb: vb.memoryMb,
    cpus: vb.cpus,
    sourceImage: q.sourceImageUrl,
    retainImages: config.retainImages,
  });
  return {
    imageId: image.imageId,
    image: imageInfo(image.image, fp, q.sourceImageUrl),
  };
}
