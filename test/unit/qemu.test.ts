import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { secretInput, stackConfig } from "./mocks";
import {
  HOST,
  MANIFEST,
  PRIVATE_KEY,
  PUBLIC_KEY,
  Run,
  SHA,
  T,
  up,
  writeImage,
} from "./qemu-harness";
import { stackFileConfig } from "./stack-files";

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "dse-qemu-unit-"));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

const qemuStack = (extra: Record<string, unknown> = {}, top: Record<string, unknown> = {}) =>
  stackConfig({
    platforms: ["qemu"],
    tools: ["python"],
    pythonSource: "apt",
    qemu: {
      sourceImageSha256: SHA,
      outputDir: path.join(tmp, "images"),
      cacheDir: path.join(tmp, "cache"),
      ...extra,
    },
    ...top,
  });

describe("QemuImage: the first run builds", () => {
  let first: Run;
  beforeEach(async () => {
    first = await up(qemuStack());
  });

  it("runs the host scripts with exact commands, in the dependsOn order", () => {
    const local = first.run.ofType(T.local);
    // Every child carries the build's fingerprint prefix: a rebuild is new resources.
    const prefix = `qemu-${first.images.qemu.fingerprint.slice(0, 12)}-`;
    for (const r of local) expect(r.name).toBe(prefix + r.logical.slice("qemu-".length));
    expect(local.map((r) => [r.logical, r.inputs.create])).toEqual([
      ["qemu-fetch", `bash ${HOST}/fetch-base.sh`],
      ["qemu-seed", `bash ${HOST}/make-seed.sh`],
      ["qemu-start", `bash ${HOST}/start.sh`],
      ["qemu-stop", `bash ${HOST}/stop.sh`],
      ["qemu-image", `bash ${HOST}/export.sh`],
    ]);
    const urn = (type: string, name: string) => first.run.get(type, name).urn;
    const deps = (name: string) => first.run.get(T.local, name).dependencies;
    expect(deps("qemu-seed")).toContain(urn(T.local, "qemu-fetch"));
    expect(deps("qemu-start")).toContain(urn(T.local, "qemu-seed"));
    expect(deps("qemu-start")).toContain(urn(T.local, "qemu-fetch"));
    expect(first.run.get(T.remote, "qemu-provision-prepare").dependencies).toContain(
      urn(T.local, "qemu-start"),
    );
    expect(deps("qemu-stop")).toContain(urn(T.remote, "qemu-provision-cleanup"));
    expect(deps("qemu-image")).toContain(urn(T.local, "qemu-stop"));
    expect(deps("qemu-image")).toContain(urn(T.remote, "qemu-provision-verify"));
  });

  it("passes each script its inputs", () => {
    const name = first.images.qemu.name;
    const env = (n: string) => first.run.get(T.local, n).inputs.environment;
    const work = path.join(tmp, "cache", "builds", name);
    expect(env("qemu-fetch")).toEqual({
      SOURCE_URL:
        "https://cloud-images.ubuntu.com/releases/noble/release/ubuntu-24.04-server-cloudimg-amd64.img",
      SOURCE_SHA256: SHA,
      CACHE_DIR: path.join(tmp, "cache"),
    });
    expect(env("qemu-seed")).toEqual({
      SEED_PATH: path.join(work, "seed.iso"),
      SSH_PUBLIC_KEY: PUBLIC_KEY.trim(),
      SSH_USER: "ubuntu",
      INSTANCE_ID: `${name}-build`,
      BUILDER_TTL_MINUTES: "120",
    });
    expect(env("qemu-start")).toEqual({
      BASE_IMAGE: "/cache/base/ubuntu.img",
      WORK_DIR: work,
      SEED_PATH: path.join(work, "seed.iso"),
      DISK_SIZE_GB: "20",
      MEMORY_MB: "2048",
      CPUS: "2",
      DSE_ACCEL: "auto",
      KERNEL: "",
      INITRD: "",
      APPEND: "",
      BUILDER_TTL_MINUTES: "120",
    });
    expect(env("qemu-stop")).toEqual({ WORK_DIR: work, SHUTDOWN_TIMEOUT: "300" });
    expect(env("qemu-image")).toEqual({
      WORK_DIR: work,
      MANIFEST,
      OUTPUT_DIR: path.join(tmp, "images"),
      IMAGE_NAME: name,
      FINGERPRINT: first.images.qemu.fingerprint,
      SOURCE_IMAGE:
        "https://cloud-images.ubuntu.com/releases/noble/release/ubuntu-24.04-server-cloudimg-amd64.img",
    });
  });

  it("provisions over the forwarded loopback port with the ED25519 build key", () => {
    const key = first.run.get(T.key, "qemu-key");
    expect(key.inputs).toEqual({ algorithm: "ED25519" });
    const install = first.run.get(T.remote, "qemu-provision-install");
    const { secret, value: connection } = secretInput(install.inputs.connection);
    expect(secret).toBe(true);
    expect(connection).toMatchObject({
      host: "127.0.0.1",
      port: 40022,
      user: "ubuntu",
      privateKey: PRIVATE_KEY,
    });
    const cleanup = first.run.get(T.remote, "qemu-provision-cleanup");
    expect(cleanup.inputs.create).toContain("DSE_ZERO_FREE_SPACE=0 ");
  });

  it("keeps builder steps out of later runs' deletes, and the record stable", () => {
    for (const name of ["qemu-fetch", "qemu-seed", "qemu-start", "qemu-stop"]) {
      expect(first.run.get(T.local, name).retainOnDelete).toBe(true);
    }
    const record = first.run.get(T.local, "qemu-image");
    expect(record.retainOnDelete).toBe(false);
    expect(record.ignoreChanges).toEqual(["create", "environment"]);
    expect(record.inputs.triggers).toEqual([first.images.qemu.name]);
    expect(record.inputs.delete).toBe(`bash ${HOST}/delete-output.sh`);
  });

  it("exports the qcow2 path and the record", () => {
    const name = first.images.qemu.name;
    expect(name).toMatch(/^dse_base-[0-9a-f]{12}$/);
    expect(first.imageIds).toEqual({ qemu: path.join(tmp, "images", `${name}.qcow2`) });
    expect(first.images.qemu).toMatchObject({
      id: path.join(tmp, "images", `${name}.qcow2`),
      fingerprint: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown,
      manifest: { python: "3.11.2" },
      sha256: "b".repeat(64),
    });
    expect(first.images.qemu.fingerprint.slice(0, 12)).toBe(name.slice(-12));
  });

  it("direct kernel boot settings reach the start script and the fingerprint", async () => {
    const direct = await up(
      qemuStack({ kernel: "/k/vmlinuz", initrd: "/k/initrd", append: "root=/dev/vda" }),
    );
    expect(direct.run.get(T.local, "qemu-start").inputs.environment).toMatchObject({
      KERNEL: "/k/vmlinuz",
      INITRD: "/k/initrd",
      APPEND: "root=/dev/vda",
    });
    expect(direct.images.qemu.name).not.toBe(first.images.qemu.name);
  });

  it("retainImages keeps the file on delete", async () => {
    const kept = await up(qemuStack({}, { retainImages: true }));
    expect(kept.run.get(T.local, "qemu-image").inputs.delete).toBe(
      "echo 'dse-image: retainImages is set: keeping the image file' >&2",
    );
  });
});

describe("QemuImage lifecycle", () => {
  it("second run with the output present: no builder, same record, same outputs", async () => {
    const first = await up(qemuStack());
    writeImage(first.images.qemu.id);
    const second = await up(qemuStack());
    expect(second.run.ofType(T.local).map((r) => r.logical)).toEqual(["qemu-image"]);
    expect(second.run.ofType(T.key)).toHaveLength(0);
    expect(second.run.ofType(T.provisioner)).toHaveLength(0);
    expect(second.run.ofType(T.remote)).toHaveLength(0);
    const record = second.run.get(T.local, "qemu-image");
    expect(record.inputs.triggers).toEqual([first.images.qemu.name]);
    expect(record.inputs.environment).not.toHaveProperty("WORK_DIR");
    expect(second.imageIds).toEqual(first.imageIds);
    expect(second.images.qemu.name).toBe(first.images.qemu.name);
  });

  it("a file whose .sha256 does not match does not count: the builder runs again", async () => {
    const first = await up(qemuStack());
    writeImage(first.images.qemu.id);
    fs.writeFileSync(first.images.qemu.id, "half-written");
    const second = await up(qemuStack());
    expect(second.run.ofType(T.local).map((r) => r.logical)).toContain("qemu-start");
  });

  it("a changed fingerprint builds a new file name (the old record's delete removes the old)", async () => {
    const first = await up(qemuStack());
    writeImage(first.images.qemu.id);
    const changed = await up(qemuStack({ diskSizeGb: 40 }));
    expect(changed.images.qemu.name).not.toBe(first.images.qemu.name);
    expect(changed.run.ofType(T.local).map((r) => r.logical)).toContain("qemu-start");
    expect(changed.run.get(T.local, "qemu-image").inputs.triggers).toEqual([
      changed.images.qemu.name,
    ]);
  });

  it("memory and CPUs of the builder do not change the image", async () => {
    const first = await up(qemuStack());
    const bigger = await up(qemuStack({ memoryMb: 8192, cpus: 8 }));
    expect(bigger.images.qemu.name).toBe(first.images.qemu.name);
  });
});

describe("host tools", () => {
  it("missing qemu-system-x86_64 and qemu-img: says which packages to install", async () => {
    await expect(up(qemuStack(), (n) => !n.startsWith("qemu"))).rejects.toThrow(
      "dse-image:platforms: platform qemu needs qemu-system-x86_64 and qemu-img on this machine; install them with `sudo apt-get install qemu-system-x86 qemu-utils`",
    );
  });

  it("missing qemu-img only", async () => {
    await expect(up(qemuStack(), (n) => n !== "qemu-img")).rejects.toThrow(
      "dse-image:platforms: platform qemu needs qemu-img on this machine; install it with `sudo apt-get install qemu-system-x86 qemu-utils`",
    );
  });

  it("missing genisoimage and xorriso", async () => {
    await expect(up(qemuStack(), (n) => n !== "genisoimage" && n !== "xorriso")).rejects.toThrow(
      "dse-image:platforms: platform qemu needs genisoimage (or xorriso) on this machine to write the builder's NoCloud seed; install it with `sudo apt-get install genisoimage`",
    );
  });
});

describe("qemu config", () => {
  const parse = async (qemu: unknown) => {
    const { loadConfig } = await import("../../components/config");
    return loadConfig(stackConfig({ platforms: ["qemu"], qemu }));
  };

  it("defaults", async () => {
    const config = await parse({ sourceImageSha256: SHA.toUpperCase() });
    expect(config.qemu).toEqual({
      sourceImageUrl:
        "https://cloud-images.ubuntu.com/releases/noble/release/ubuntu-24.04-server-cloudimg-amd64.img",
      sourceImageSha256: SHA,
      cacheDir: expect.stringMatching(/dse-image$/) as unknown,
      outputDir: "./images",
      diskSizeGb: 20,
      memoryMb: 2048,
      cpus: 2,
      accelerator: "auto",
      sshUser: "ubuntu",
      kernel: undefined,
      initrd: undefined,
      append: undefined,
    });
  });

  it("local files need no sha256", async () => {
    const config = await parse({ sourceImageUrl: "file:///var/lib/base.qcow2" });
    expect(config.qemu?.sourceImageSha256).toBeUndefined();
    const plain = await parse({ sourceImageUrl: "./base.qcow2" });
    expect(plain.qemu?.sourceImageUrl).toBe("./base.qcow2");
  });

  it.each([
    [
      {},
      "dse-image:qemu.sourceImageSha256: required when qemu.sourceImageUrl is an http(s) URL (https://cloud-images.ubuntu.com/releases/noble/release/ubuntu-24.04-server-cloudimg-amd64.img); set it to the line for ubuntu-24.04-server-cloudimg-amd64.img in https://cloud-images.ubuntu.com/releases/noble/release/SHA256SUMS, or to file:<URL of that SHA256SUMS>: pulumi config set --path 'qemu.sourceImageSha256' <sha256>",
    ],
    [
      { sourceImageUrl: "https://example.org/x.img" },
      "dse-image:qemu.sourceImageSha256: required when qemu.sourceImageUrl is an http(s) URL (https://example.org/x.img); set it to the publisher's SHA256SUMS, or to file:<URL of that SHA256SUMS>: pulumi config set --path 'qemu.sourceImageSha256' <sha256>",
    ],
    [
      { sourceImageSha256: "abc" },
      'dse-image:qemu.sourceImageSha256: expected 64 hex digits or file:<URL of a SHA256SUMS file>, got "abc"',
    ],
    [
      { sourceImageUrl: "ftp://example.org/x.img" },
      'dse-image:qemu.sourceImageUrl: expected an http(s) URL, file:// URL or path, got "ftp://example.org/x.img"',
    ],
    [
      { sourceImageSha256: SHA, accelerator: "hvf" },
      'dse-image:qemu.accelerator: expected one of auto, kvm, tcg, got "hvf"',
    ],
    [
      { sourceImageSha256: SHA, diskSizeGb: 1 },
      "dse-image:qemu.diskSizeGb: expected a whole number from 2 to 4096, got 1",
    ],
    [
      { sourceImageSha256: SHA, initrd: "/boot/initrd" },
      "dse-image:qemu.initrd: needs qemu.kernel (direct kernel boot)",
    ],
    [
      { sourceImageSha256: SHA, append: "root=/dev/vda" },
      "dse-image:qemu.append: needs qemu.kernel (direct kernel boot)",
    ],
    [
      { sourceImageSha256: SHA, sourceImage: "x" },
      "dse-image:qemu.sourceImage: unknown key; expected one of sourceImageUrl, sourceImageSha256, cacheDir, outputDir, diskSizeGb, memoryMb, cpus, accelerator, sshUser, kernel, initrd, append",
    ],
  ])("%j is rejected naming the key", async (qemu, message) => {
    await expect(parse(qemu)).rejects.toThrow(message);
  });
});

describe("the local stack (Pulumi.local.yaml)", () => {
  it("builds qemu only, verifying the Ubuntu image against Ubuntu's SHA256SUMS", async () => {
    const local = stackFileConfig("local");
    expect(JSON.parse(local["dse-image:platforms"])).toEqual(["qemu"]);
    const q = JSON.parse(local["dse-image:qemu"]) as Record<string, unknown>;
    local["dse-image:qemu"] = JSON.stringify({ ...q, cacheDir: path.join(tmp, "cache") });
    const run = await up(local);
    expect(run.run.get(T.local, "qemu-fetch").inputs.environment).toMatchObject({
      SOURCE_URL:
        "https://cloud-images.ubuntu.com/releases/noble/release/ubuntu-24.04-server-cloudimg-amd64.img",
      SOURCE_SHA256: "file:https://cloud-images.ubuntu.com/releases/noble/release/SHA256SUMS",
    });
  });

  it("with the sha256 set, it builds the Ubuntu 24.04 image into ./images", async () => {
    const local = stackFileConfig("local");
    const q = JSON.parse(local["dse-image:qemu"]) as Record<string, unknown>;
    local["dse-image:qemu"] = JSON.stringify({
      ...q,
      sourceImageSha256: SHA,
      cacheDir: path.join(tmp, "cache"),
    });
    const run = await up(local);
    expect(run.imageIds.qemu).toBe(path.resolve("images", `${run.images.qemu.name}.qcow2`));
    expect(run.run.get(T.local, "qemu-start").inputs.environment).toMatchObject({
      MEMORY_MB: "4096",
      DSE_ACCEL: "auto",
    });
  });
});
