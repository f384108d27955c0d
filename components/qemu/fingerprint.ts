/* The fingerprint of the stack's qcow2: shared by the qemu image and the OVA packed from it. */
import type { ImageSettings } from "../config/stack";
import { stackFingerprint } from "../lifecycle/fingerprint";
import type { Host } from "../lifecycle/host";
import { baseSha256 } from "./base-digest";
import type { QemuConfig } from "./config";

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
