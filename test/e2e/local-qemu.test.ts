/**
 * The QEMU and VirtualBox platforms for real on this machine: the SAME host scripts the
 * QemuImage component runs (hostScript(), in its dependsOn order: fetch, seed, start, the
 * Provisioner's prepare/upload/install/verify/cleanup over SSH, stop, export), then the OVA
 * step on the produced qcow2. One provisioned build serves every check: under TCG a boot costs
 * ~35-60 s and dpkg work minutes. Everything made lives in one temp dir removed in afterAll;
 * the builder's qemu is killed there too if a step failed.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  REMOTE_DIR,
  prepareCommand,
  provisionCommand,
  type ProvisionSettings,
} from "../../components/provision-commands";
import { QEMU_ZERO_FREE_SPACE, hostScript } from "../../components/qemu/image";
import { REPO_ROOT, ensureDebianBase, startVm, type DebianBase, type Vm } from "../vm";
import {
  buildLocalImage,
  isAlive,
  mustRun,
  run,
  sha256File,
  sshOptions,
  tail,
  waitForWatchdogs,
  type ImageRecord,
  type LocalBuild,
} from "./helpers/local-pipeline";

const log = (line: string) => process.stderr.write(`[e2e local] ${line}\n`);

const SETTINGS: ProvisionSettings = {
  tools: ["python"],
  pythonSource: "apt",
  fingerprint: "e2elocal0123456789abcdef",
  zeroFreeSpace: QEMU_ZERO_FREE_SPACE,
};
const IMAGE_NAME = "dse_e2e-e2elocal0123";
const OVA_NAME = "dse_e2e-e2eova012345";

/** Runs a host step exactly as its command.local.Command does: `sh -c <create>` with env. */
async function hostStep(script: string, env: Record<string, string>): Promise<string> {
  const r = await run("sh", ["-c", hostScript(script)], { env });
  if (r.code !== 0) throw new Error(`${script} exited ${r.code}:\n${tail(r.stderr + r.stdout)}`);
  return r.stdout.trim();
}

describe("local QEMU and VirtualBox images, built for real", () => {
  let tmp = "";
  let base: DebianBase;
  let build: LocalBuild | undefined;
  let record: ImageRecord;
  let vm: Vm | undefined;

  beforeAll(async () => {
    base = await ensureDebianBase({ log });
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "dse-local-e2e-"));
    build = await buildLocalImage({
      base,
      settings: SETTINGS,
      imageName: IMAGE_NAME,
      root: tmp,
      log,
    });
    record = build.record;
  });

  afterAll(async () => {
    await vm?.stop();
    if (build && isAlive(build.builderPid)) process.kill(build.builderPid, "SIGKILL");
    await waitForWatchdogs();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("exports a compressed qcow2 with its .sha256 and record, and removes the builder", () => {
    expect(record.id).toBe(path.join(fs.realpathSync(tmp), "images", `${IMAGE_NAME}.qcow2`));
    expect(record.name).toBe(IMAGE_NAME);
    expect(sha256File(record.id)).toBe(record.sha256);
    expect(fs.readFileSync(`${record.id}.sha256`, "utf8")).toBe(
      `${record.sha256}  ${IMAGE_NAME}.qcow2\n`,
    );
    const stored = JSON.parse(fs.readFileSync(`${record.id}.json`, "utf8")) as typeof record;
    expect(stored).toEqual(record);
    expect(JSON.stringify(record.manifest)).toMatch(/python/i);
    // overlay, seed, pidfile, monitor socket: all gone; qemu too
    expect(fs.existsSync(build!.workDir)).toBe(false);
    expect(isAlive(build!.builderPid)).toBe(false);
  });

  it("the qcow2 stands alone (no backing file) and its machine-id is empty", async () => {
    const info = JSON.parse(
      await mustRun("qemu-img", ["info", "--output=json", record.id]),
    ) as Record<string, unknown>;
    expect(info.format).toBe("qcow2");
    expect(info["backing-filename"]).toBeUndefined();
    const raw = path.join(tmp, "check.raw");
    await mustRun("qemu-img", ["convert", "-O", "raw", record.id, raw]);
    try {
      const id = await mustRun("debugfs", ["-R", "cat /etc/machine-id", raw]);
      expect(id.trim()).toBe("");
      const keys = await mustRun("debugfs", [
        "-R",
        `cat /home/${base.user}/.ssh/authorized_keys`,
        raw,
      ]);
      expect(keys).not.toContain("dse-image-build");
    } finally {
      fs.rmSync(raw, { force: true });
    }
  });

  it("boots: verify.sh passes, the build key is refused, a new machine-id is made", async () => {
    vm = await startVm({ ...base, disk: record.id, log, builderTtlMinutes: 30 });
    await vm.run(prepareCommand(30), { check: true });
    await vm.copyIn(path.join(REPO_ROOT, "provision"), REMOTE_DIR);
    const verify = await vm.run(provisionCommand("verify", SETTINGS), { check: true });
    expect(JSON.stringify(JSON.parse(verify.stdout))).toMatch(/python/i);
    const refused = await run(
      "ssh",
      [...sshOptions(vm.sshPort, build!.keyPath), `${base.user}@127.0.0.1`, "true"],
      {
        timeoutMs: 60_000,
      },
    );
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/Permission denied/i);
    const machineId = (await vm.run("cat /etc/machine-id", { check: true })).stdout.trim();
    expect(machineId).toMatch(/^[0-9a-f]{32}$/);
    expect(machineId).not.toBe(build!.buildMachineId);
    await vm.stop();
    vm = undefined;
  });

  it("packs the same disk as an OVA VirtualBox imports", async () => {
    const outDir = path.join(tmp, "ova");
    const line = await hostStep("ova-export.sh", {
      SOURCE_QCOW2: record.id,
      OUTPUT_DIR: outDir,
      IMAGE_NAME: OVA_NAME,
      VM_NAME: "dse e2e",
      MEMORY_MB: "1536",
      CPUS: "3",
      BUILDER: "qemu",
      FINGERPRINT: "e2eova",
      SOURCE_IMAGE: `file://${base.disk}`,
      MANIFEST: JSON.stringify(record.manifest),
    });
    const ova = JSON.parse(line.split("\n").pop()!) as typeof record;
    expect(ova.id).toBe(path.join(fs.realpathSync(outDir), `${OVA_NAME}.ova`));
    expect(sha256File(ova.id)).toBe(ova.sha256);
    expect(ova.manifest).toEqual(record.manifest);

    const ovf = `${OVA_NAME}.ovf`;
    const mf = `${OVA_NAME}.mf`;
    const vmdk = `${OVA_NAME}-disk1.vmdk`;
    const listing = (await mustRun("tar", ["-tf", ova.id])).trim().split("\n");
    expect(listing).toEqual([ovf, mf, vmdk]);
    const x = path.join(tmp, "ova-x");
    fs.mkdirSync(x);
    await mustRun("tar", ["-xf", ova.id, "-C", x]);

    const vinfo = JSON.parse(
      await mustRun("qemu-img", ["info", "--output=json", path.join(x, vmdk)]),
    ) as {
      format: string;
      "virtual-size": number;
      "format-specific": { data: Record<string, unknown> };
    };
    expect(vinfo.format).toBe("vmdk");
    expect(vinfo["format-specific"].data["create-type"]).toBe("streamOptimized");
    const qinfo = JSON.parse(await mustRun("qemu-img", ["info", "--output=json", record.id])) as {
      "virtual-size": number;
    };
    expect(vinfo["virtual-size"]).toBe(qinfo["virtual-size"]);

    // The manifest's checksums match the files.
    const lines = fs.readFileSync(path.join(x, mf), "utf8").trim().split("\n");
    expect(lines).toEqual([
      `SHA256(${ovf})= ${sha256File(path.join(x, ovf))}`,
      `SHA256(${vmdk})= ${sha256File(path.join(x, vmdk))}`,
    ]);

    // The OVF parses as XML and has what VirtualBox's importer needs.
    const summary = JSON.parse(
      await mustRun("python3", ["-c", OVF_SUMMARY, path.join(x, ovf)]),
    ) as OvfSummary;
    expect(summary.version).toBe("1.0");
    expect(summary.files).toEqual([
      { id: "file1", href: vmdk, size: String(fs.statSync(path.join(x, vmdk)).size) },
    ]);
    expect(summary.disks).toEqual([
      {
        diskId: "vmdisk1",
        fileRef: "file1",
        capacity: String(qinfo["virtual-size"]),
        format: "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized",
      },
    ]);
    expect(summary.networks).toEqual(["NAT"]);
    expect(summary.system).toBe("dse e2e");
    const byType = (t: string) => summary.items.filter((i) => i.ResourceType === t);
    expect(byType("3")).toEqual([expect.objectContaining({ VirtualQuantity: "3" })]);
    expect(byType("4")).toEqual([
      expect.objectContaining({ VirtualQuantity: "1536", AllocationUnits: "MegaBytes" }),
    ]);
    const sata = byType("20");
    expect(sata).toEqual([expect.objectContaining({ ResourceSubType: "AHCI" })]);
    expect(byType("5")).toEqual([expect.objectContaining({ ResourceSubType: "PIIX4" })]);
    expect(byType("10")).toEqual([expect.objectContaining({ Connection: "NAT" })]);
    expect(byType("17")).toEqual([
      expect.objectContaining({ HostResource: "/disk/vmdisk1", Parent: sata[0].InstanceID }),
    ]);
  });
});

interface OvfSummary {
  version: string;
  files: { id: string; href: string; size: string }[];
  disks: { diskId: string; fileRef: string; capacity: string; format: string }[];
  networks: string[];
  system: string;
  items: Record<string, string>[];
}

/** Parses the OVF with a real XML parser and prints the parts VirtualBox reads, as JSON. */
const OVF_SUMMARY = `
import json, sys, xml.etree.ElementTree as ET
OVF = "{http://schemas.dmtf.org/ovf/envelope/1}"
RASD = "{http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData}"
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == OVF + "Envelope", root.tag
a = lambda e, n: e.get(OVF + n)
vs = root.find(OVF + "VirtualSystem")
print(json.dumps({
  "version": a(root, "version"),
  "files": [{"id": a(f, "id"), "href": a(f, "href"), "size": a(f, "size")}
            for f in root.find(OVF + "References").findall(OVF + "File")],
  "disks": [{"diskId": a(d, "diskId"), "fileRef": a(d, "fileRef"), "capacity": a(d, "capacity"),
             "format": a(d, "format")} for d in root.find(OVF + "DiskSection").findall(OVF + "Disk")],
  "networks": [a(n, "name") for n in root.find(OVF + "NetworkSection").findall(OVF + "Network")],
  "system": a(vs, "id"),
  "items": [{c.tag.replace(RASD, ""): c.text for c in item}
            for item in vs.find(OVF + "VirtualHardwareSection").findall(OVF + "Item")],
}))
`;
