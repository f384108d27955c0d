/* The fingerprint of the stack's qcow2: shared by the qemu image and the OVA packed from it. */
import type { ImageSettings } from "../config/stack";
import { stackFingerprint } from "../lifecycle/fingerprint";
import type { Host } from "../lifecycle/host";
import { fail } from "../config/errors";
import { type BaseReader, SHA256, checksumFromSums, fileName } from "./base-digest";
import { type QemuConfig, defaultCacheDir } from "./config";

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

/** The base as the fingerprint names it: by the sha256 of its bytes (base-digest.ts). */
export function baseRef(sha256: string): string {
  return `sha256:${sha256}`;
}

const digests = new WeakMap<Host, Map<string, Promise<string>>>();

/** The sha256 of a QEMU base, read once per run however many images need it. */
export function qemuBaseSha256(q: QemuConfig, host: Host): Promise<string> {
  const byBase = digests.get(host) ?? new Map<string, Promise<string>>();
  digests.set(host, byBase);
  const key = JSON.stringify([q.sourceImageUrl, q.sourceImageSha256 ?? ""]);
  let digest = byBase.get(key);
  if (!digest) {
    digest = baseSha256(q, host.base);
    byBase.set(key, digest);
  }
  return digest;
}

export async function qemuFingerprint(
  settings: ImageSettings,
  q: QemuConfig,
  host: Host,
): Promise<string> {
  return stackFingerprint(settings, baseRef(await qemuBaseSha256(q, host)), qemuSettings(q));
}

/**
 * The sha256 of the bytes the QEMU builder will boot from: the configured hash, the publisher's
 * SHA256SUMS line read now (Packer's `file:` form), or the local file's own hash. The fingerprint
 * covers it, and fetch-base.ts checks the base against it: a new image published under the same
 * URL is a new fingerprint, so it rebuilds.
 */
export async function baseSha256(q: QemuConfig, read: BaseReader): Promise<string> {
  const configured = q.sourceImageSha256;
  if (configured !== undefined && SHA256.test(configured)) return configured.toLowerCase();
  if (configured !== undefined) {
    const sumsUrl = configured.slice("file:".length);
    const sums = await read
      .fetchText(sumsUrl)
      .catch((e: Error) =>
        fail("qemu.sourceImageSha256", `could not read ${sumsUrl}: ${e.message}`),
      );
    const name = fileName(q.sourceImageUrl);
    return (
      checksumFromSums(sums, name) ??
      fail("qemu.sourceImageSha256", `${sumsUrl} lists no sha256 for ${name}`)
    );
  }
  // parseQemuConfig requires a hash for downloads: only a local file comes here.
  const file = q.sourceImageUrl.replace(/^file:\/\//, "");
  return read
    .sha256File(file, q.cacheDir ?? defaultCacheDir())
    .catch((e: Error) =>
      fail("qemu.sourceImageUrl", `could not read the base image ${file}: ${e.message}`),
    );
}
