import * as fs from "node:fs";
import * as path from "node:path";
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { MockRun, freshProgram, installMocks, valueOf } from "./mocks";

/** Simulated `pulumi up` runs of the local platforms (qemu, virtualbox) for the unit tests. */
export const HOST = path.resolve(__dirname, "..", "..", "components", "qemu");
export const SHA = "a".repeat(64);
export const PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nsecret-material\n";
export const PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA build\n";
export const MANIFEST = '{"python":"3.11.2"}';

export const T = {
  local: "command:local:Command",
  remote: "command:remote:Command",
  copy: "command:remote:CopyToRemote",
  key: "tls:index/privateKey:PrivateKey",
  qemu: "dse-image:index:QemuImage",
  vbox: "dse-image:index:VirtualBoxImage",
  provisioner: "dse-image:index:Provisioner",
};

export interface Run {
  run: MockRun;
  imageIds: Record<string, unknown>;
  images: Record<string, { name: string; id: string; fingerprint: string; sha256?: string }>;
}

/** What the image steps print: the record of `<OUTPUT_DIR>/<IMAGE_NAME>.<ext>`. */
function recordFor(name: string, env: Record<string, string>) {
  const ext = name.startsWith("virtualbox") ? "ova" : "qcow2";
  return {
    id: `${env.OUTPUT_DIR}/${env.IMAGE_NAME}.${ext}`,
    name: env.IMAGE_NAME,
    createdAt: "2026-11-28T12:00:00Z",
    manifest: JSON.parse(env.MANIFEST ?? MANIFEST) as unknown,
    sha256: "b".repeat(64),
  };
}

/** One simulated `pulumi up` of the real program. */
export async function up(
  config: Record<string, string>,
  hasCommand: (name: string) => boolean = () => true,
): Promise<Run> {
  freshProgram();
  const run = installMocks(
    {},
    {
      [T.key]: () => ({ privateKeyOpenssh: PRIVATE_KEY, publicKeyOpenssh: PUBLIC_KEY }),
      [T.remote]: (name) => ({ stdout: name.endsWith("-verify") ? MANIFEST : "" }),
      [T.local]: (name, inputs) => {
        const env = (inputs.environment ?? {}) as Record<string, string>;
        if (name.endsWith("-fetch")) return { stdout: "/cache/base/ubuntu.img\n" };
        if (name.endsWith("-start")) return { stdout: "40022\n" };
        if (name.endsWith("-image")) return { stdout: `${JSON.stringify(recordFor(name, env))}\n` };
        return { stdout: "" };
      },
    },
  );
  const { loadConfig } = await import("../../components/config");
  const { buildImages } = await import("../../components");
  const outputs = await buildImages(loadConfig(config), hasCommand);
  const imageIds = await valueOf(pulumi.output(outputs.imageIds));
  const images = (await valueOf(pulumi.output(outputs.images))) as Run["images"];
  return { run, imageIds, images };
}

/** Writes `<file>` and a matching `<file>.sha256`, as the export step does. */
export function writeImage(file: string, content = "qcow2 bytes") {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
  const sum = createHash("sha256").update(content).digest("hex");
  fs.writeFileSync(`${file}.sha256`, `${sum}  ${path.basename(file)}\n`);
}
