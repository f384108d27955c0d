import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { StackOutputs } from "../../components";
import type { StackConfig } from "../../components/config";
import type { Host } from "../../components/lifecycle/host";
import { UBUNTU_2404_URL } from "../../components/qemu/config";
import type { ProbeResult } from "../../components/lifecycle/plan";
import type { StoreRef } from "../../components/lifecycle/store";
import type { DseImageInfo, DsePreviousImage } from "../../components/reader";
import {
  MockRun,
  freshProgram,
  installMocks,
  valueOf,
  type InvokeMocks,
  type StateMocks,
} from "./mocks";

/** One simulated program run under mocks: what the program declared and what it exports. */
export interface ProgramRun {
  run: MockRun;
  imageIds: Record<string, unknown>;
  images: Record<string, ImageOut>;
  /** Stores the program probed, in order. */
  probed: StoreRef[];
}

/** The program always exports `previous` (empty when nothing is kept). */
export type ImageOut = DseImageInfo & { previous: DsePreviousImage[] };

export const NOW = new Date("2026-11-29T10:00:00Z");
/** What the SHA256SUMS file of Ubuntu's image says in unit tests (they read no network). */
export const BASE_SHA256 = "b".repeat(64);
/** The sha256 of any local base file in unit tests. */
export const LOCAL_BASE_SHA256 = "d".repeat(64);
export const STACK_ID = "organization/dse-image/test";
export const PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nsecret-material\n";
export const PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAbuild";
export const HOST_PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nhost-secret\n";
export const HOST_PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAhost";
export const MANIFEST = '{"python":"3.11.2"}';
export const INVENTORY = JSON.stringify({
  os: {
    id: "debian",
    versionId: "12",
    prettyName: "Debian GNU/Linux 12 (bookworm)",
    arch: "amd64",
  },
  dpkg: [{ name: "bash", version: "5.2.15-2+b7", arch: "amd64" }],
  pip: [{ name: "numpy", version: "1.26.4" }],
  r: [],
});

/** What the record step prints for an image: name and fingerprint of the build that made it. */
export function recordOf(id: string, name: string, fingerprint: string) {
  return {
    id,
    name,
    createdAt: "2026-11-29T09:00:00Z",
    manifest: JSON.parse(MANIFEST) as unknown,
    fingerprint,
    imageName: "dse_base",
  };
}

/**
 * Runs the real program (components/index.ts) once with the given stack config; `probe` answers
 * the lookup of existing images and builders (empty: nothing exists yet).
 */
export async function runProgram(
  config: Record<string, string>,
  probe: (ref: StoreRef) => ProbeResult = () => ({ images: [], builders: [] }),
  extra: {
    invokes?: InvokeMocks;
    state?: StateMocks;
    host?: Partial<Host>;
    /** The program's body. Default: components/index.ts `buildImages`, as index.ts calls it. */
    program?: (config: StackConfig, host: Partial<Host>) => Promise<StackOutputs>;
  } = {},
): Promise<ProgramRun> {
  freshProgram();
  // What the claim will find: published by this run, or already there (the probe's).
  const known = new Map<string, { name: string; fingerprint: string }>();
  const building = { name: "", fingerprint: "" };
  const run = installMocks(extra.invokes ?? {}, {
    "tls:index/privateKey:PrivateKey": (name) =>
      name.endsWith("hostkey")
        ? { privateKeyOpenssh: HOST_PRIVATE_KEY, publicKeyOpenssh: `${HOST_PUBLIC_KEY}\n` }
        : { privateKeyOpenssh: PRIVATE_KEY, publicKeyOpenssh: `${PUBLIC_KEY}\n` },
    "openstack:compute/instance:Instance": () => ({ accessIpV4: "10.1.2.3" }),
    "openstack:networking/floatingIp:FloatingIp": () => ({ address: "203.0.113.7" }),
    "aws:ec2/instance:Instance": () => ({ publicIp: "198.51.100.7", privateIp: "172.31.0.7" }),
    "command:remote:Command": (name) => ({
      stdout: name.endsWith("-verify") ? MANIFEST : name.endsWith("-inventory") ? INVENTORY : "",
    }),
    "command:local:Command": (name) => {
      if (name.endsWith("-fetch")) return { stdout: "/cache/base/ubuntu.img" };
      if (name.endsWith("-sbom")) return { stdout: "c".repeat(64) };
      if (name.endsWith("-start")) return { stdout: '{"port": 40022, "boot": "b1"}' };
      if (name.endsWith("-boot-test"))
        return { stdout: '{"passed": true, "seconds": 42, "checks": ["cloud-init", "verify"]}' };
      return { stdout: "" };
    },
    "pulumi-nodejs:dynamic:PendingImage": (_name, inputs) => {
      Object.assign(building, { name: inputs.name, fingerprint: inputs.fingerprint });
      return { imageId: "pending-1" };
    },
    "pulumi-nodejs:dynamic:ImagePublish": (_name, inputs) => {
      known.set("published-1", known.get(inputs.pendingId as string) ?? { ...building });
      return { imageId: "published-1" };
    },
    "pulumi-nodejs:dynamic:ImageClaim": (_name, inputs) => {
      const id = inputs.imageId as string;
      const k = known.get(id) ?? { name: "unknown", fingerprint: "" };
      return { record: recordOf(id, k.name, k.fingerprint) };
    },
    ...extra.state,
  });
  const probed: StoreRef[] = [];
  pulumi.runtime.setAllConfig(config);
  const { loadConfig } = await import("../../components/config");
  const program = extra.program ?? (await import("../../components")).buildImages;
  const outputs = await program(loadConfig(config), {
    hasCommand: () => true,
    now: () => NOW,
    stackId: STACK_ID,
    describeSource: (_ref, sourceImage) =>
      Promise.resolve({ id: `id-of-${sourceImage}`, checksum: "c0ffee" }),
    base: {
      fetchText: () => Promise.resolve(`${BASE_SHA256} *${path.basename(UBUNTU_2404_URL)}\n`),
      sha256File: () => Promise.resolve(LOCAL_BASE_SHA256),
    },
    ...extra.host,
    probe: (ref) => {
      probed.push(ref);
      const result = probe(ref);
      for (const i of result.images) known.set(i.id, { name: i.name, fingerprint: i.fingerprint });
      return Promise.resolve(result);
    },
  }).catch(async (e: unknown) => {
    // As under the language host, a failed run ends once its RPCs are done: the components'
    // (unknown) outputs are registered with this run's mocks, not with the next test's.
    await (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
    throw e;
  });
  const imageIds = await valueOf(pulumi.output(outputs.imageIds));
  const images = (await valueOf(pulumi.output(outputs.images))) as Record<string, ImageOut>;
  return { run, imageIds, images, probed };
}
