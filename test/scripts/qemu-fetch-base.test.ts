import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

const SCRIPT = path.resolve(__dirname, "..", "..", "components", "qemu", "fetch-base.sh");

let dir: string;
let image: string;
let sha: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dse-fetch-"));
  image = path.join(dir, "noble-server-cloudimg-amd64.img");
  fs.writeFileSync(image, "not really a disk image\n");
  sha = createHash("sha256").update(fs.readFileSync(image)).digest("hex");
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function fetch(sourceSha256: string) {
  const r = spawnSync("bash", [SCRIPT], {
    env: {
      PATH: process.env.PATH,
      SOURCE_URL: `file://${image}`,
      SOURCE_SHA256: sourceSha256,
      CACHE_DIR: path.join(dir, "cache"),
    },
    encoding: "utf8",
  });
  return { code: r.status, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}

function sums(lines: string[]): string {
  const file = path.join(dir, "SHA256SUMS");
  fs.writeFileSync(file, lines.join("\n") + "\n");
  return `file:file://${file}`;
}

describe("qemu-fetch-base.sh", () => {
  it("accepts a plain sha256", () => {
    expect(fetch(sha)).toEqual({ code: 0, stdout: fs.realpathSync(image), stderr: "" });
  });

  it("takes the sha256 from a SHA256SUMS file, as Packer's file: checksums", () => {
    const spec = sums([`${"0".repeat(64)} *other.img`, `${sha} *noble-server-cloudimg-amd64.img`]);
    expect(fetch(spec)).toEqual({ code: 0, stdout: fs.realpathSync(image), stderr: "" });
  });

  it("fails naming the key when the listed sha256 does not match", () => {
    const wrong = "f".repeat(64);
    const r = fetch(sums([`${wrong}  noble-server-cloudimg-amd64.img`]));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `qemu-fetch-base: sha256 mismatch for ${image}: expected ${wrong} (dse-image:qemu.sourceImageSha256), got ${sha}`,
    );
  });

  it("fails naming the key when the SHA256SUMS file does not list the image", () => {
    const spec = sums([`${sha} *other.img`]);
    const r = fetch(spec);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `qemu-fetch-base: ${spec.slice(5)} lists no sha256 for noble-server-cloudimg-amd64.img (dse-image:qemu.sourceImageSha256)`,
    );
  });

  it("fails naming the key when the SHA256SUMS file cannot be read", () => {
    const r = fetch(`file:file://${dir}/missing`);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `qemu-fetch-base: could not read file://${dir}/missing (dse-image:qemu.sourceImageSha256)`,
    );
  });
});
