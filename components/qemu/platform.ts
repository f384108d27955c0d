import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../config/stack";
import { QemuConfig, parseQemuConfig } from "./config";
import { ConfigError, fullKey } from "../config/errors";
import { PROVISION_DIR, fingerprint, imageNameFor } from "../lifecycle/fingerprint";
import { HasCommand } from "../host-tools";
import { QemuImage, localImageExists } from "./image";
import { type PlatformResult, buildSettings, imageInfo } from "../lifecycle/outputs";

/** Settings that change the qcow2's content (memory and CPUs of the builder do not). */
export function qemuSettings(q: QemuConfig): Record<string, unknown> {
  return {
    platform: "qemu",
    diskSizeGb: q.diskSizeGb,
    sshUser: q.sshUser,
    kernel: q.kernel,
    initrd: q.initrd,
    append: q.append,
  };
}

/**
 * The local builder runs qemu-system-x86_64, qemu-img and make-seed.sh (genisoimage or xorriso)
 * on this machine: a missing tool is reported before anything is created.
 */
export function requireQemuTools(hasCommand: HasCommand, platform: "qemu" | "virtualbox"): void {
  const missing = ["qemu-system-x86_64", "qemu-img"].filter((tool) => !hasCommand(tool));
  if (missing.length > 0) {
    throw new ConfigError(
      fullKey("platforms"),
      `platform ${platform} needs ${missing.join(" and ")} on this machine; install ${missing.length > 1 ? "them" : "it"} with \`sudo apt-get install qemu-system-x86 qemu-utils\``,
    );
  }
  if (!hasCommand("genisoimage") && !hasCommand("xorriso")) {
    throw new ConfigError(
      fullKey("platforms"),
      `platform ${platform} needs genisoimage (or xorriso) on this machine to write the builder's NoCloud seed; install it with \`sudo apt-get install genisoimage\``,
    );
  }
}

/** The qcow2 a stack builds: shared by the qemu and virtualbox platforms. */
export interface QemuBuild {
  config: QemuConfig;
  fingerprint: string;
  /** `<imageName>-<fingerprint prefix>`. */
  name: string;
  /** Absolute path of the qcow2. */
  file: string;
  image: QemuImage;
}

export function qemuConfigOf(config: StackConfig): QemuConfig {
  return config.qemu ?? parseQemuConfig(undefined);
}

export function qemuFingerprint(config: StackConfig): string {
  const q = qemuConfigOf(config);
  return fingerprint({
    provisionDir: PROVISION_DIR,
    tools: config.tools,
    pythonSource: config.pythonSource,
    sourceImage: q.sourceImageSha256 ?? q.sourceImageUrl,
    settings: qemuSettings(q),
  });
}

const builds = new WeakMap<StackConfig, Promise<QemuBuild>>();

/**
 * Declares the stack's QemuImage once, however many platforms need its disk: with both qemu and
 * virtualbox enabled the image is provisioned once and the OVA is made from the same qcow2.
 */
export function qemuBuild(config: StackConfig, hasCommand: HasCommand): Promise<QemuBuild> {
  let build = builds.get(config);
  if (!build) {
    build = declareQemuBuild(config, hasCommand);
    builds.set(config, build);
  }
  return build;
}

async function declareQemuBuild(config: StackConfig, hasCommand: HasCommand): Promise<QemuBuild> {
  const q = qemuConfigOf(config);
  requireQemuTools(hasCommand, "qemu");
  const fp = qemuFingerprint(config);
  const name = imageNameFor(config.imageName, fp);
  const outputDir = path.resolve(q.outputDir);
  const cacheDir = path.resolve(q.cacheDir);
  const file = path.join(outputDir, `${name}.qcow2`);
  const exists = await localImageExists(file);
  if (exists) void pulumi.log.info(`qemu: image ${file} is up to date; no builder needed`);
  const image = new QemuImage("qemu", {
    imageName: name,
    fingerprint: fp,
    build: !exists,
    sourceImageUrl: q.sourceImageUrl,
    sourceImageSha256: q.sourceImageSha256,
    cacheDir,
    workDir: path.join(cacheDir, "builds", name),
    outputDir,
    diskSizeGb: q.diskSizeGb,
    memoryMb: q.memoryMb,
    cpus: q.cpus,
    accelerator: q.accelerator,
    sshUser: q.sshUser,
    kernel: q.kernel,
    initrd: q.initrd,
    append: q.append,
    ...buildSettings(config),
  });
  return { config: q, fingerprint: fp, name, file, image };
}

export async function qemuPlatform(
  config: StackConfig,
  hasCommand: HasCommand,
): Promise<PlatformResult> {
  const build = await qemuBuild(config, hasCommand);
  return {
    imageId: build.image.imageId,
    image: imageInfo(build.image.image, build.fingerprint, build.config.sourceImageUrl),
  };
}
