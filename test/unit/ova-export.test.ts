/**
 * The VirtualBox export (components/virtualbox/ova-export.ts) with the real qemu-img and GNU tar:
 * the OVA's order and format, the descriptor's disk and hardware, a manifest that matches its
 * files, and nothing left in `.pending` but the OVA, also when a tool fails. VirtualBox's own
 * exporter through a fake VBoxManage: its calls, its VM unregistered whatever happens, and the
 * work and VMs of an export that died removed by the next, those of a running one kept.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ownerTag } from "../../components/owner-tag";
import { type OvaExportRequest, exportOva } from "../../components/virtualbox/ova-export";

const NAME = "dse_base-0123456789ab-20261206";
const STACK = "0123abcd";
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
  stackTag: STACK,
  vmName: 'Data & "Science"',
  memoryMb: 4096,
  cpus: 4,
  builder: "qemu",
  log: (line) => logged.push(line),
  ...extra,
});

/** Puts a fake `tool` first on PATH (afterEach restores PATH). */
function fakeOnPath(tool: string, script: string): void {
  const bin = path.join(dir, "bin");
  fs.mkdirSync(bin, { recursive: true });
  fs.writeFileSync(path.join(bin, tool), script, { mode: 0o755 });
  process.env.PATH = `${bin}:${savedPath}`;
}

const pendingDir = () => path.join(dir, "images", ".pending");
/** The stack's own pending folder: two stacks exporting the same image never share a file. */
const stackPending = () => path.join(pendingDir(), STACK);
const sha256 = (file: string) => createHash("sha256").update(fs.readFileSync(file)).digest("hex");

describe("exportOva with qemu-img", () => {
  it("packs descriptor, manifest and stream-optimized disk, in OVA order, as ustar", async () => {
    const ova = await exportOva(request());
    expect(ova).toBe(path.join(stackPending(), `${NAME}.ova`));
    expect(fs.readdirSync(pendingDir())).toEqual([STACK]);
    expect(fs.readdirSync(stackPending())).toEqual([`${NAME}.ova`]);
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
    fakeOnPath("qemu-img", "#!/bin/sh\necho 'No space left on device' >&2\nexit 1\n");
    await expect(exportOva(request())).rejects.toThrow(
      "qemu-img convert exited 1: No space left on device",
    );
    expect(fs.readdirSync(pendingDir())).toEqual([]);
  });
});

/**
 * VBoxManage as these tests need it: each call appended to $VBOX_LOG, the registered VMs in
 * $VBOX_VMS as `list vms` prints them; `export` fails when $VBOX_FAIL_EXPORT is set, and
 * `unregistervm` of the VM $VBOX_FAIL_UNREGISTER names.
 */
const FAKE_VBOXMANAGE = `#!/usr/bin/env bash
set -euo pipefail
printf '%s\\n' "$*" >>"$VBOX_LOG"
touch "$VBOX_VMS"
case "$1" in
  list) cat "$VBOX_VMS" ;;
  createvm) printf '"%s" {00000000-0000-0000-0000-%012d}\\n' "$3" "$RANDOM" >>"$VBOX_VMS" ;;
  export)
    if [ -n "\${VBOX_FAIL_EXPORT:-}" ]; then echo "VBOX_E_FILE_ERROR: no space" >&2; exit 1; fi
    out="" prev=""
    for arg in "$@"; do if [ "$prev" = --output ]; then out=$arg; fi; prev=$arg; done
    printf 'OVA' >"$out" ;;
  unregistervm)
    if [ "$2" = "\${VBOX_FAIL_UNREGISTER:-}" ]; then echo "VBOX_E_INVALID_OBJECT_STATE: locked" >&2; exit 1; fi
    if ! grep -qF -- "$2" "$VBOX_VMS"; then echo "Could not find a registered machine" >&2; exit 1; fi
    grep -vF -- "$2" "$VBOX_VMS" >"$VBOX_VMS.new" || true
    mv "$VBOX_VMS.new" "$VBOX_VMS" ;;
esac
`;

describe("exportOva with VBoxManage", () => {
  let vboxLog: string;
  let vms: string;
  beforeEach(() => {
    fakeOnPath("VBoxManage", FAKE_VBOXMANAGE);
    vboxLog = path.join(dir, "vbox.log");
    vms = path.join(dir, "vms");
    process.env.VBOX_LOG = vboxLog;
    process.env.VBOX_VMS = vms;
  });
  afterEach(() => {
    for (const name of ["VBOX_LOG", "VBOX_VMS", "VBOX_FAIL_EXPORT", "VBOX_FAIL_UNREGISTER"])
      delete process.env[name];
  });

  const calls = () => fs.readFileSync(vboxLog, "utf8").trim().split("\n");
  const registered = () => fs.readFileSync(vms, "utf8").trim().split("\n").filter(Boolean);
  const VM = `dse-build-${ownerTag()}-${NAME}`;

  it("exports a VM on a VDI of the disk as OVF 1.0 with a manifest, then unregisters it", async () => {
    const ova = await exportOva(request({ builder: "vboxmanage" }));
    expect(ova).toBe(path.join(stackPending(), `${NAME}.ova`));
    expect(fs.readFileSync(ova, "utf8")).toBe("OVA");
    expect(fs.readdirSync(pendingDir())).toEqual([STACK]);
    const work = new RegExp(`^${pendingDir()}/\\.ova-${NAME}\\.${ownerTag()}\\.[A-Za-z0-9]{6}$`);
    const [, create, ...rest] = calls();
    const tmp = create.split(" ")[6];
    expect(tmp).toMatch(work);
    expect(calls()).toEqual([
      "list vms",
      `createvm --name ${VM} --ostype Linux_64 --basefolder ${tmp} --register`,
      `modifyvm ${VM} --memory 4096 --cpus 4 --nic1 nat --ioapic on`,
      `storagectl ${VM} --name SATA --add sata --controller IntelAhci`,
      `storageattach ${VM} --storagectl SATA --port 0 --device 0 --type hdd --medium ${tmp}/disk.vdi`,
      `export ${VM} --output ${tmp}/packed.ova --ovf10 --manifest --vsys 0 --vmname Data & "Science"`,
      `unregistervm ${VM} --delete`,
    ]);
    expect(rest).toHaveLength(5);
    expect(registered()).toEqual([]);
  });

  it("a failed export names VBoxManage's error, unregisters the VM and leaves nothing", async () => {
    process.env.VBOX_FAIL_EXPORT = "1";
    await expect(exportOva(request({ builder: "vboxmanage" }))).rejects.toThrow(
      "VBoxManage export exited 1: VBOX_E_FILE_ERROR: no space",
    );
    expect(calls().at(-1)).toBe(`unregistervm ${VM} --delete`);
    expect(registered()).toEqual([]);
    expect(fs.readdirSync(pendingDir())).toEqual([]);
  });

  it("first removes the work and the VM of an export that died on this host, and nothing else", async () => {
    const dead = spawnSync("true").pid;
    const host = os.hostname();
    fs.mkdirSync(pendingDir(), { recursive: true });
    const work = (tag: string, suffix: string) => `.ova-dse_base-old.${tag}.${suffix}`;
    const killed = work(ownerTag(host, dead), "Ab12Cd");
    const running = work(ownerTag(host, process.pid), "Ef34Gh");
    const elsewhere = work(ownerTag("another-host", dead), "Ij56Kl");
    for (const d of [killed, running, elsewhere]) {
      fs.mkdirSync(path.join(pendingDir(), d));
      fs.writeFileSync(path.join(pendingDir(), d, "disk.vdi"), "converted disk");
    }
    fs.writeFileSync(path.join(pendingDir(), "other.ova"), "not an export's work");
    const deadVm = `"dse-build-${ownerTag(host, dead)}-dse_base-old" {00000000-0000-0000-0000-000000000001}`;
    const liveVm = `"dse-build-${ownerTag(host, process.pid)}-dse_base-old" {00000000-0000-0000-0000-000000000002}`;
    const usersVm = `"dse-build-mine" {00000000-0000-0000-0000-000000000003}`;
    fs.writeFileSync(vms, `${deadVm}\n${liveVm}\n${usersVm}\n`);

    await exportOva(request({ builder: "vboxmanage" }));
    expect(fs.readdirSync(pendingDir()).sort()).toEqual(
      [running, elsewhere, "other.ova", STACK].sort(),
    );
    expect(registered()).toEqual([liveVm, usersVm]);
    expect(calls().slice(0, 2)).toEqual([
      "list vms",
      "unregistervm 00000000-0000-0000-0000-000000000001 --delete",
    ]);
    expect(logged).toContain(
      `removed VM dse-build-${ownerTag(host, dead)}-dse_base-old, left by an export that did not finish`,
    );
    expect(logged).toContain(
      `removed ${path.join(pendingDir(), killed)}, left by an export that did not finish`,
    );
  });

  it("exports all the same when VirtualBox will not remove a dead export's VM, and says how to", async () => {
    const uuid = "00000000-0000-0000-0000-000000000001";
    process.env.VBOX_FAIL_UNREGISTER = uuid;
    const dead = `dse-build-${ownerTag(os.hostname(), spawnSync("true").pid)}-dse_base-old`;
    fs.writeFileSync(vms, `"${dead}" {${uuid}}\n`);
    const ova = await exportOva(request({ builder: "vboxmanage" }));
    expect(fs.readFileSync(ova, "utf8")).toBe("OVA");
    expect(logged).toContain(
      `could not remove VM ${dead} (VBoxManage unregistervm exited 1: VBOX_E_INVALID_OBJECT_STATE: locked); remove it with: VBoxManage unregistervm ${uuid} --delete`,
    );
  });
});

describe("ownerTag", () => {
  it("is host and PID, the host without dots so the tag parses", () => {
    expect(ownerTag("build.example.org", 42)).toBe("build-example-org.42");
  });
});
