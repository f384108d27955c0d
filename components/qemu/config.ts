import * as os from "node:os";
import * as path from "node:path";
import { fail, show } from "../config/errors";
import { RawObject, integerOr, object, oneOf, optionalString, stringOr } from "../config/validate";
import { SHA256 } from "./base-digest";

const KEYS = [
  "sourceImageUrl",
  "sourceImageSha256",
  "cacheDir",
  "outputDir",
  "diskSizeGb",
  "memoryMb",
  "cpus",
  "accelerator",
  "sshUser",
  "kernel",
  "initrd",
  "append",
] as const;

/** The default base: Ubuntu 24.04 LTS cloud image (its sha256 must be set in the stack). */
export const UBUNTU_2404_URL =
  "https://cloud-images.ubuntu.com/releases/noble/release/ubuntu-24.04-server-cloudimg-amd64.img";
export const UBUNTU_2404_SUMS = "https://cloud-images.ubuntu.com/releases/noble/release/SHA256SUMS";

export const ACCELERATORS = ["auto", "kvm", "tcg"] as const;
export type Accelerator = (typeof ACCELERATORS)[number];

/** `dse-image:qemu`: the local QEMU/KVM builder and its qcow2 output. */
export interface QemuConfig {
  /** http(s) URL, `file://` URL or local path of the base cloud image (qcow2 or raw). */
  sourceImageUrl: string;
  /**
   * Expected sha256 of the base image, or (as Packer's `iso_checksum`) `file:<URL>` of a
   * SHA256SUMS file listing it: required for http(s), checked when set for files.
   */
  sourceImageSha256?: string;
  /**
   * Where downloaded base images and the builder's work folders live. Default: the user's cache
   * (`$XDG_CACHE_HOME/dse-image` or `~/.cache/dse-image`), resolved where each step runs.
   */
  cacheDir?: string;
  /** Where `<imageName>-<fingerprint>.qcow2` is written; relative to the project folder. */
  outputDir: string;
  diskSizeGb: number;
  memoryMb: number;
  cpus: number;
  /** `auto`: KVM only when it really works (components/qemu/detect-accel.sh), else TCG. */
  accelerator: Accelerator;
  /** Login user of the base image (cloud-init creates it with the build key). */
  sshUser: string;
  /** Direct kernel boot, for base disks without a bootloader. */
  kernel?: string;
  initrd?: string;
  append?: string;
}

/** True for `file://` URLs and plain paths: no download, no checksum required. */
export function isLocalSource(url: string): boolean {
  return url.startsWith("file://") || !/^[a-z][a-z0-9+.-]*:\/\//i.test(url);
}

/**
 * The user's cache folder, as components/qemu/paths-lib.sh resolves an unset `cacheDir` on the
 * machine that runs each step: the program itself never stores it (rule P3).
 */
export function defaultCacheDir(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  return path.join(xdg && xdg !== "" ? xdg : path.join(os.homedir(), ".cache"), "dse-image");
}

/** Packer's `file:` form: the checksum comes from the publisher's SHA256SUMS at that URL. */
const CHECKSUM_FILE = /^file:(https?:\/\/|file:\/\/|\/)\S+$/;

export function parseQemuConfig(value: unknown): QemuConfig {
  const p = "qemu";
  const raw: RawObject = object(p, value, KEYS);
  const sourceImageUrl = stringOr(
    `${p}.sourceImageUrl`,
    raw.sourceImageUrl,
    UBUNTU_2404_URL,
    "an http(s) URL, file:// URL or path",
  );
  if (!isLocalSource(sourceImageUrl) && !/^https?:\/\//i.test(sourceImageUrl)) {
    fail(
      `${p}.sourceImageUrl`,
      `expected an http(s) URL, file:// URL or path, got ${show(sourceImageUrl)}`,
    );
  }
  const sha = optionalString(`${p}.sourceImageSha256`, raw.sourceImageSha256, "a sha256");
  if (sha !== undefined && !SHA256.test(sha) && !CHECKSUM_FILE.test(sha)) {
    fail(
      `${p}.sourceImageSha256`,
      `expected 64 hex digits or file:<URL of a SHA256SUMS file>, got ${show(sha)}`,
    );
  }
  if (sha === undefined && !isLocalSource(sourceImageUrl)) {
    const where =
      sourceImageUrl === UBUNTU_2404_URL
        ? `the line for ubuntu-24.04-server-cloudimg-amd64.img in ${UBUNTU_2404_SUMS}`
        : "the publisher's SHA256SUMS";
    fail(
      `${p}.sourceImageSha256`,
      `required when qemu.sourceImageUrl is an http(s) URL (${sourceImageUrl}); set it to ${where}, or to file:<URL of that SHA256SUMS>: npx pulumi config set --path --type string 'dse-image:qemu.sourceImageSha256' <sha256>`,
    );
  }
  const kernel = optionalString(`${p}.kernel`, raw.kernel, "a kernel file path");
  const initrd = optionalString(`${p}.initrd`, raw.initrd, "an initrd file path");
  const append = optionalString(`${p}.append`, raw.append, "a kernel command line");
  if (kernel === undefined) {
    if (initrd !== undefined) fail(`${p}.initrd`, "needs qemu.kernel (direct kernel boot)");
    if (append !== undefined) fail(`${p}.append`, "needs qemu.kernel (direct kernel boot)");
  }
  return {
    sourceImageUrl,
    sourceImageSha256: sha !== undefined && SHA256.test(sha) ? sha.toLowerCase() : sha,
    cacheDir: optionalString(`${p}.cacheDir`, raw.cacheDir, "a folder path"),
    outputDir: stringOr(`${p}.outputDir`, raw.outputDir, "./images", "a folder path"),
    diskSizeGb: integerOr(`${p}.diskSizeGb`, raw.diskSizeGb, 20, 2, 4096)!,
    memoryMb: integerOr(`${p}.memoryMb`, raw.memoryMb, 2048, 256, 1048576)!,
    cpus: integerOr(`${p}.cpus`, raw.cpus, 2, 1, 128)!,
    accelerator: oneOf(`${p}.accelerator`, raw.accelerator, ACCELERATORS, "auto"),
    sshUser: stringOr(`${p}.sshUser`, raw.sshUser, "ubuntu", "a user name"),
    kernel,
    initrd,
    append,
  };
}
