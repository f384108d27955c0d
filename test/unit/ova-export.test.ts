/**
 * The VirtualBox export (components/virtualbox/ova-export.ts) with the real qemu-img and GNU tar:
 * the OVA's order and format, the descriptor's disk and hardware, a manifest that matches its
 * files, and nothing left in `.pending` but the OVA, also when a tool fails.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type OvaExportRequest, exportOva } from "../../components/virtualbox/ova-export";

const NAME = "dse_base-0123456789ab-20261206";
const MIB = 2 ** 20;

let dir: string;
let source: string;
let logged: string[];
let savedPath: string | undefined;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dse-ova-"));
  source = path.join(dir, "disk.qcow2");
  execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", source, "16M"]);
  logged = [];
  savedPath = process.env.PATH;
});
afterEach(() => {
  process.env.PATH = savedPath;
  fs.rmSync(dir, { recursive: true, force: true });
});

const request = (extra: Partial<OvaExportRequest> = {}): OvaExportRequest => ({
  sourceQcow2: source,
  outputDir: path.join(dir, "images"),
  name: NAME,
  vmName: 'Data & "Science"',
  memoryMb: 4096,
  cpus: 4,
  builder: "qemu",
  log: (line) => logged.push(line),
  ...extra,
});

const pendingDir = () => path.join(dir, "images", ".pending");
const sha256 = (file: string) => createHash("sha256").update(fs.readFileSync(file)).digest("hex");

describe("exportOva with qemu-img", () => {
  it("packs descriptor, manifest and stream-optimized disk, in OVA order, as ustar", async () => {
    const ova = await exportOva(request());
    expect(ova).toBe(path.join(pendingDir(), `${NAME}.ova`));
    expect(fs.readdirSync(pendingDir())).toEqual([`${NAME}.ova`]);
    const files = [`${NAME}.ovf`, `${NAME}.mf`, `${NAME}-disk1.vmdk`];
    expect(execFileSync("tar", ["-tf", ova], { encoding: "utf8" }).trim().split("\n")).toEqual(
      files,
    );
    // POSIX ustar: "ustar\0" and version "00" at offset 257 of the first header.
    const header = fs.readFileSync(ova).subarray(257, 265);
    expect(header.toString("latin1")).toBe("ustar\u000000");

    const out = path.join(dir, "out");
    fs.mkdirSync(out);
    execFileSync("tar", ["-xf", ova, "-C", out]);
    const vmdk = path.join(out, files[2]);
    const info = JSON.parse(
      execFileSync("qemu-img", ["info", "--output=json", vmdk], { encoding: "utf8" }),
    ) as { format: string; "virtual-size": number; "format-specific": { data: object } };
    expect(info.format).toBe("vmdk");
    expect(info["virtual-size"]).toBe(16 * MIB);
    expect(info["format-specific"].data).toMatchObject({ "create-type": "streamOptimized" });

    const ovf = fs.readFileSync(path.join(out, files[0]), "utf8");
    expect(ovf).toContain(
      `<File ovf:href="${files[2]}" ovf:id="file1" ovf:size="${fs.statSync(vmdk).size}"/>`,
    );
    expect(ovf).toContain(`<Disk ovf:capacity="${16 * MIB}" ovf:diskId="vmdisk1"`);
    expect(ovf).toContain('<VirtualSystem ovf:id="Data &amp; &quot;Science&quot;">');
    expect(ovf).toContain("<rasd:VirtualQuantity>4</rasd:VirtualQuantity>");
    expect(ovf).toContain("<rasd:VirtualQuantity>4096</rasd:VirtualQuantity>");
    expect(ovf).toContain("<rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>");

    expect(fs.readFileSync(path.join(out, files[1]), "utf8")).toBe(
      `SHA256(${files[0]})= ${sha256(path.join(out, files[0]))}\n` +
        `SHA256(${files[2]})= ${sha256(vmdk)}\n`,
    );
    expect(logged[0]).toBe(`converting ${source} to a stream-optimized VMDK`);
    expect(logged.at(-1)).toMatch(new RegExp(`^pending image ${ova} \\(\\d+ MiB\\)$`));
  });

  it("fails naming a missing source disk, and makes nothing", async () => {
    fs.rmSync(source);
    await expect(exportOva(request())).rejects.toThrow(`no source disk ${source}`);
    expect(fs.existsSync(pendingDir())).toBe(false);
  });

  it("fails naming the tool and its error, and leaves no partial OVA or work folder", async () => {
    const bin = path.join(dir, "bin");
    fs.mkdirSync(bin);
    fs.writeFileSync(
      path.join(bin, "qemu-img"),
      "#!/bin/sh\necho 'No space left on device' >&2\nexit 1\n",
      {
        mode: 0o755,
      },
    );
    process.env.PATH = `${bin}:${savedPath}`;
    await expect(exportOva(request())).rejects.toThrow(
      "qemu-img convert exited 1: No space left on device",
    );
    expect(fs.readdirSync(pendingDir())).toEqual([]);
  });
});
