import * as path from "node:path";
import type { StackConfig } from "../config/stack";
import { parseVirtualBoxConfig } from "./config";
import { ConfigError, fullKey } from "../config/errors";
import type { HasCommand } from "../host-tools";
import { stackFingerprint } from "../lifecycle/fingerprint";
import type { Host } from "../lifecycle/host";
import { type PlatformResult, imageInfo } from "../lifecycle/outputs";
import { resolvePlan } from "../lifecycle/resolve";
import {
  baseRef,
  qemuBaseSha256,
  qemuBuild,
  qemuConfigOf,
  qemuFingerprint,
  requireQemuTools,
} from "../qemu/platform";
import { VirtualBoxImage, ovaStore } from "./image";

/** The `vboxmanage` builder drives VirtualBox's own exporter: VBoxManage must be installed. */
export function requireVBoxManage(hasCommand: HasCommand): void {
  if (!hasCommand("VBoxManage")) {
    throw new ConfigError(
      fullKey("virtualbox.builder"),
      "is vboxmanage but VBoxManage is not installed on this machine; install VirtualBox (https://www.virtualbox.org/wiki/Linux_Downloads) or set dse-image:virtualbox.builder to qemu, which needs only qemu-img",
    );
  }
}

export async function virtualBoxPlatform(config: StackConfig, host: Host): Promise<PlatformResult> {
  const vb = config.virtualbox ?? parseVirtualBoxConfig(undefined);
  // The disk is provisioned under QEMU whichever builder packs the OVA.
  requireQemuTools(host.hasCommand, "virtualbox");
  if (vb.builder === "vboxmanage") requireVBoxManage(host.hasCommand);
  const q = qemuConfigOf(config);
  const fp = stackFingerprint(config, baseRef(await qemuBaseSha256(config, host)), {
    platform: "virtualbox",
    disk: await qemuFingerprint(config, host),
    builder: vb.builder,
    vmName: vb.vmName,
    memoryMb: vb.memoryMb,
    cpus: vb.cpus,
  });
  // As configured (relative to the project folder): it reaches the state (rule P3).
  const outputDir = path.normalize(vb.outputDir);
  const plan = await resolvePlan("virtualbox", host, ovaStore(outputDir), config, fp);
  let source;
  if (plan.phase === "build") {
    const disk = await qemuBuild(config, host);
    source = {
      qcow2: disk.image.imageId,
      manifest: disk.image.image.apply((r) => JSON.stringify(r.manifest)),
      dependsOn: [disk.image.record],
    };
  }
  const image = new VirtualBoxImage("virtualbox", {
    plan,
    fingerprint: fp,
    imageName: config.imageName,
    stackId: host.stackId,
    stackTag: host.stackTag,
    source,
    outputDir,
    builder: vb.builder,
    vmName: vb.vmName ?? config.imageName,
    memoryMb: vb.memoryMb,
    cpus: vb.cpus,
    sourceImage: q.sourceImageUrl,
    retainImages: config.retainImages,
    keep: config.retention.keep,
  });
  return {
    imageId: image.imageId,
    image: imageInfo(image.image, plan, q.sourceImageUrl),
  };
}
