/**
 * The VirtualBox platform's export: makes the OVA of the provisioned (and boot-tested) qcow2 as a
 * pending image, `<outputDir>/.pending/<stack tag>/<name>.ova`, which the PendingImage resource
 * that runs it records (components/store/pending-provider.ts); the publish step then moves it to
 * `<outputDir>/<name>.ova`.
 *   builder qemu:       qemu-img writes a stream-optimized VMDK; the descriptor and the manifest
 *                       are ova.ts's; GNU tar packs them as ustar in OVA order: descriptor,
 *                       manifest, disk.
 *   builder vboxmanage: VirtualBox registers a VM on the disk (converted to VDI) and exports it
 *                       with its own OVF 1.0 exporter; the VM is unregistered and deleted after.
 * The work folder and the VM are named after this process (../owner-tag.ts): an export first
 * removes what an export that died on this host left (a killed `pulumi up` runs no cleanup, and
 * its converted disk is gigabytes), and leaves alone what a running one is using.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fileSha256 } from "../file-sha256";
import { runProgram } from "../run-program";
import { pendingFolder } from "../store/local";
import type { VirtualBoxBuilder } from "./config";
import { OWNER_TAG, isDeadOwner, ownerTag } from "../owner-tag";
import { ovaManifest, ovfDescriptor } from "./ova";

export interface OvaExportRequest {
  /** The provisioned disk (the published QEMU image). */
  sourceQcow2: string;
  /** Output folder, as configured: the pending OVA's path lands in the state (rule P3). */
  outputDir: string;
  /** Final image name, `<imageName>-<fp12>-<date>`. */
  name: string;
  /** The stack's tag: its own pending folder (../store/local.ts `pendingFolder`). */
  stackTag: string;
  vmName: string;
  memoryMb: number;
  cpus: number;
  builder: VirtualBoxBuilder;
  /** Progress, one line at a time. */
  log: (line: string) => void;
}

/** Runs a tool, its stderr to the log; resolves with its stdout, rejects naming it and why. */
async function run(log: (line: string) => void, cmd: string, args: string[]): Promise<string> {
  const r = await runProgram(cmd, args);
  for (const line of r.stderr.trim().split("\n").filter(Boolean)) log(`${cmd}: ${line}`);
  if (r.code !== 0) throw new Error(`${cmd} ${args[0]} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** A work folder in `.pending`: `.ova-<name>.<host>.<pid>.` and mkdtemp's six characters. */
const WORK_DIR = new RegExp(`^\\.ova-.+\\.${OWNER_TAG}\\.[A-Za-z0-9]{6}$`);
/** A VM the vboxmanage builder registered: `dse-build-<host>.<pid>-<name>`. */
const BUILD_VM = new RegExp(`^dse-build-${OWNER_TAG}-`);

/** Removes the work folders of exports that died on this host. */
function removeDeadWork(pendingDir: string, log: (line: string) => void): void {
  for (const entry of fs.readdirSync(pendingDir)) {
    const m = WORK_DIR.exec(entry);
    if (!m || !isDeadOwner(m[1], Number(m[2]))) continue;
    const work = path.join(pendingDir, entry);
    fs.rmSync(work, { recursive: true, force: true });
    log(`removed ${work}, left by an export that did not finish`);
  }
}

/** Unregisters (and deletes) the VMs of exports that died on this host. */
async function removeDeadVms(log: (line: string) => void): Promise<void> {
  const listed = await run(log, "VBoxManage", ["list", "vms"]);
  for (const line of listed.split("\n")) {
    const vm = /^"(.*)" \{([0-9a-f-]+)\}$/.exec(line.trim());
    const owner = vm && BUILD_VM.exec(vm[1]);
    if (!vm || !owner || !isDeadOwner(owner[1], Number(owner[2]))) continue;
    await run(log, "VBoxManage", ["unregistervm", vm[2], "--delete"]).then(
      () => log(`removed VM ${vm[1]}, left by an export that did not finish`),
      (e: Error) =>
        log(
          `could not remove VM ${vm[1]} (${e.message}); remove it with: VBoxManage unregistervm ${vm[2]} --delete`,
        ),
    );
  }
}

async function packWithQemuImg(req: OvaExportRequest, tmp: string, out: string): Promise<void> {
  const ovf = `${req.name}.ovf`;
  const mf = `${req.name}.mf`;
  const vmdk = `${req.name}-disk1.vmdk`;
  req.log(`converting ${req.sourceQcow2} to a stream-optimized VMDK`);
  const vmdkPath = path.join(tmp, vmdk);
  await run(req.log, "qemu-img", [
    "convert",
    "-O",
    "vmdk",
    "-o",
    "subformat=streamOptimized",
    req.sourceQcow2,
    vmdkPath,
  ]);
  const info = JSON.parse(
    await run(req.log, "qemu-img", ["info", "--output=json", req.sourceQcow2]),
  ) as { "virtual-size": number };
  fs.writeFileSync(
    path.join(tmp, ovf),
    ovfDescriptor({
      vmName: req.vmName,
      memoryMb: req.memoryMb,
      cpus: req.cpus,
      diskFile: vmdk,
      diskBytes: fs.statSync(vmdkPath).size,
      capacityBytes: info["virtual-size"],
    }),
  );
  const files = [ovf, vmdk];
  const sums = await Promise.all(files.map((f) => fileSha256(path.join(tmp, f))));
  fs.writeFileSync(
    path.join(tmp, mf),
    ovaManifest(files.map((name, i) => ({ name, sha256: sums[i] }))),
  );
  // OVF 1.0: the descriptor first, then the manifest, then the files in References order.
  await run(req.log, "tar", ["-C", tmp, "--format=ustar", "-cf", out, ovf, mf, vmdk]);
}

async function packWithVBoxManage(req: OvaExportRequest, tmp: string, out: string): Promise<void> {
  const vm = `dse-build-${ownerTag()}-${req.name}`;
  const vbox = (...args: string[]) => run(req.log, "VBoxManage", args);
  req.log(`converting ${req.sourceQcow2} to VDI for VirtualBox`);
  const vdi = path.join(tmp, "disk.vdi");
  await run(req.log, "qemu-img", ["convert", "-O", "vdi", req.sourceQcow2, vdi]);
  try {
    await vbox("createvm", "--name", vm, "--ostype", "Linux_64", "--basefolder", tmp, "--register");
    await vbox(
      "modifyvm",
      vm,
      "--memory",
      String(req.memoryMb),
      "--cpus",
      String(req.cpus),
      "--nic1",
      "nat",
      "--ioapic",
      "on",
    );
    await vbox("storagectl", vm, "--name", "SATA", "--add", "sata", "--controller", "IntelAhci");
    await vbox(
      "storageattach",
      vm,
      "--storagectl",
      "SATA",
      "--port",
      "0",
      "--device",
      "0",
      "--type",
      "hdd",
      "--medium",
      vdi,
    );
    await vbox(
      "export",
      vm,
      "--output",
      out,
      "--ovf10",
      "--manifest",
      "--vsys",
      "0",
      "--vmname",
      req.vmName,
    );
  } finally {
    // The VM is only the exporter's input: nothing of it stays registered.
    await vbox("unregistervm", vm, "--delete").catch(() => undefined);
  }
}

/** Packs the OVA; resolves with the pending image's path, as configured. */
export async function exportOva(req: OvaExportRequest): Promise<string> {
  if (!fs.statSync(req.sourceQcow2, { throwIfNoEntry: false })?.isFile()) {
    throw new Error(`no source disk ${req.sourceQcow2}`);
  }
  const pendingDir = path.join(req.outputDir, ".pending");
  fs.mkdirSync(pendingDir, { recursive: true });
  // The VMs first: a dead export's VM has its disk in that export's work folder.
  if (req.builder === "vboxmanage") await removeDeadVms(req.log);
  removeDeadWork(pendingDir, req.log);
  const out = path.join(pendingFolder(req.outputDir, req.stackTag), `${req.name}.ova`);
  const tmp = fs.mkdtempSync(path.join(pendingDir, `.ova-${req.name}.${ownerTag()}.`));
  try {
    const pack = req.builder === "vboxmanage" ? packWithVBoxManage : packWithQemuImg;
    // Packed inside the work folder: whatever a killed export leaves is in that one folder.
    const packed = path.join(tmp, "packed.ova");
    await pack(req, tmp, packed);
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.renameSync(packed, out);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  req.log(`pending image ${out} (${(fs.statSync(out).size / 2 ** 20).toFixed(0)} MiB)`);
  return out;
}
