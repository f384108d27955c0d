import * as path from "node:path";
import type { StackConfig } from "../config/stack";
import { QemuConfig, parseQemuConfig } from "./config";
import { ConfigError, fullKey } from "../config/errors";
import type { HasCommand } from "../host-tools";
import { stackFingerprint } from "../lifecycle/fingerprint";
import { baseSha256 } from "./base-digest";
import type { Host } from "../lifecycle/host";
import { type PlatformResult, buildSettings, imageInfo } from "../lifecycle/outputs";
import type { Plan } from "../lifecycle/plan";
import { resolvePlan } from "../lifecycle/resolve";
import { QemuImage, qemuStore } from "./image";

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
 * on this machine, and the boot test ssh: a missing tool is reported before anything is created.
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
  plan: Plan;
  image: QemuImage;
}

export function qemuConfigOf(config: StackConfig): QemuConfig {
  return config.qemu ?? parseQemuConfig(undefined);
}

/** The base as the fingerprint names it: by the sha256 of its bytes (base-digest.ts). */
export function baseRef(sha256: string): string {
  return `sha256:${sha256}`;
}

const digests = new WeakMap<StackConfig, Promise<string>>();

/** The sha256 of the stack's QEMU base, read once per run however many platforms need it. */
export function qemuBaseSha256(config: StackConfig, host: Host): Promise<string> {
  let digest = digests.get(config);
  if (!digest) {
    digest = baseSha256(qemuConfigOf(config), host.base);
    digests.set(config, digest);
  }
  return digest;
}

export async function qemuFingerprint(config: StackConfig, host: Host): Promise<string> {
  const q = qemuConfigOf(config);
  return stackFingerprint(config, baseRef(await qemuBaseSha256(config, host)), qemuSettings(q));
}

const builds = new WeakMap<StackConfig, Promise<QemuBuild>>();

/**
 * Declares the stack's QemuImage once, however many platforms need its disk: with both qemu and
 * virtualbox enabled the image is provisioned once and the OVA is made from the same qcow2.
 */
export function qemuBuild(config: StackConfig, host: Host): Promise<QemuBuild> {
  let build = builds.get(config);
  if (!build) {
    build = declareQemuBuild(config, host);
    builds.set(config, build);
  }
  return build;
}

async function declareQemuBuild(config: StackConfig, host: Host): Promise<QemuBuild> {
  const q = qemuConfigOf(config);
  requireQemuTools(host.hasCommand, "qemu");
  const fp = await qemuFingerprint(config, host);
  // As configured (relative to the project folder): these reach the state (rule P3).
  const outputDir = path.normalize(q.outputDir);
  const cacheDir = q.cacheDir === undefined ? undefined : path.normalize(q.cacheDir);
  const plan = await resolvePlan("qemu", host, qemuStore(outputDir, cacheDir), config, fp);
  const image = new QemuImage("qemu", {
    plan,
    fingerprint: fp,
    imageName: config.imageName,
    stackId: host.stackId,
    stackTag: host.stackTag,
    settings: buildSettings(config),
    sourceImageUrl: q.sourceImageUrl,
    // The bytes the fingerprint covers: fetch-base.ts refuses any others.
    sourceImageSha256: await qemuBaseSha256(config, host),
    cacheDir,
    outputDir,
    diskSizeGb: q.diskSizeGb,
    memoryMb: q.memoryMb,
    cpus: q.cpus,
    accelerator: q.accelerator,
    sshUser: q.sshUser,
    kernel: q.kernel,
    initrd: q.initrd,
    append: q.append,
  });
  return { config: q, fingerprint: fp, plan, image };
}

export async function qemuPlatform(config: StackConfig, host: Host): Promise<PlatformResult> {
  const build = await qemuBuild(config, host);
  return {
    imageId: build.image.imageId,
    image: imageInfo(build.image.image, build.plan, build.config.sourceImageUrl, build.image.sbom),
  };
}
