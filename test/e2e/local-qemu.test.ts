/**
 * The QEMU and VirtualBox platforms built for real by the real program: the engine model with
 * real providers (test/engine/real.ts) runs index.ts on a Debian 12 VM under QEMU (KVM when it
 * works, else TCG), so this is `pulumi up`'s chain, commands and scripts: builder with a pinned
 * host key, provisioning, SBOM, snapshot, teardown, boot test of the exported qcow2, publish,
 * record, and the OVA from the same disk. Also: a builder presenting another host key is
 * refused at the first step, and an image that fails its boot test is never published. Every
 * build lives in one temp dir removed in afterAll.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lastLine } from "../../components/lifecycle/driver";
import { validateSbom } from "../../components/lifecycle/sbom";
import type { RunResult } from "../engine/engine";
import { ensureDebianBase, type DebianBase } from "../vm";
import { localConfig, localStack, type LocalStack } from "./helpers/program";
import { mustRun, run, sha256File, sshOptions, waitForWatchdogs } from "./helpers/processes";

const log = (line: string) => process.stderr.write(`[e2e local] ${line}\n`);

interface Info {
  name: string;
  id: string;
  sha256: string;
  manifest: Record<string, unknown>;
  bootTest?: { passed: boolean; seconds: number; checks: string[] };
  sbom?: string;
}

const images = (r: RunResult) => r.outputs!.images as Record<string, Info>;

/** Resource state of a stack by role: `qemu-<build>-<gen>-<role>` -> entry (not the boot test's). */
function stateOf(stack: LocalStack, role: string) {
  const entry = [...stack.engine.state.values()].find(
    (e) => e.name.endsWith(`-${role}`) && !e.name.endsWith(`-test-${role}`),
  );
  if (!entry) throw new Error(`no ${role} in the state of ${stack.engine.stack}`);
  return entry;
}

describe("local QEMU and VirtualBox images, built by the program on a real VM", () => {
  let tmp = "";
  let base: DebianBase;
  let dev: LocalStack;
  let first: RunResult;
  let qcow2: Info;

  beforeAll(async () => {
    base = await ensureDebianBase({ log });
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "dse-local-e2e-"));
    dev = localStack("e2e", localConfig(base, tmp, {}, ["qemu", "virtualbox"]), { log });
    first = await dev.up();
    if (!first.ok) throw new Error(`the build failed: ${first.error}`);
    qcow2 = images(first).qemu;
  });

  afterAll(async () => {
    dev?.providers.close();
    await waitForWatchdogs();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("publishes a compressed qcow2 with its .sha256 and record, and leaves no builder", () => {
    expect(qcow2.id).toBe(path.join(tmp, "images", `${qcow2.name}.qcow2`));
    expect(qcow2.name).toMatch(/^dse_base-[0-9a-f]{12}-\d{8}$/);
    expect(sha256File(qcow2.id)).toBe(qcow2.sha256);
    expect(fs.readFileSync(`${qcow2.id}.sha256`, "utf8")).toBe(
      `${qcow2.sha256}  ${qcow2.name}.qcow2\n`,
    );
    const record = JSON.parse(fs.readFileSync(`${qcow2.id}.json`, "utf8")) as Record<
      string,
      unknown
    >;
    expect(record).toMatchObject({ state: "complete", name: qcow2.name, sha256: qcow2.sha256 });
    expect(JSON.stringify(qcow2.manifest)).toMatch(/python/i);
    expect(fs.readdirSync(path.join(tmp, "images", ".pending"))).toEqual([]);
    expect(fs.readdirSync(path.join(tmp, "cache", "builds"))).toEqual([expect.any(String)]);
    const [tag] = fs.readdirSync(path.join(tmp, "cache", "builds"));
    expect(fs.readdirSync(path.join(tmp, "cache", "builds", tag))).toEqual([]);
  });

  it("pinned the builder's own host key on every remote step", () => {
    const hostKey = String(stateOf(dev, "hostkey").outputs.publicKeyOpenssh).trim();
    const remote = [...dev.engine.state.values()].filter((e) =>
      e.type.startsWith("command:remote:"),
    );
    expect(remote).toHaveLength(6);
    for (const step of remote) {
      expect((step.inputs.connection as { hostKey: string }).hostKey, step.name).toBe(hostKey);
    }
  });

  it("boot-tested the image before publishing: every check passed", () => {
    expect(qcow2.bootTest).toMatchObject({ passed: true });
    expect(qcow2.bootTest!.checks).toEqual([
      "cloud-init",
      "host-keys",
      "machine-id",
      "build-key",
      "builder-ttl",
      "verify",
    ]);
    // The OVA is the same disk: its boot test is the qcow2's.
    expect(images(first).virtualbox.name).toMatch(/^dse_base-[0-9a-f]{12}-\d{8}$/);
  });

  it("wrote a valid CycloneDX SBOM of the image's packages, its sha256 on the image", async () => {
    expect(qcow2.sbom).toBe(path.join(tmp, "images", `${qcow2.name}.cdx.json`));
    const doc = JSON.parse(fs.readFileSync(qcow2.sbom!, "utf8")) as {
      components: { purl: string }[];
    };
    await validateSbom(doc);
    const purls = doc.components.map((c) => c.purl);
    expect(purls).toContain(purls.find((p) => p.startsWith("pkg:deb/debian/bash@")));
    expect(purls.some((p) => p.startsWith("pkg:deb/debian/python3@"))).toBe(true);
    const record = JSON.parse(fs.readFileSync(`${qcow2.id}.json`, "utf8")) as {
      sbomSha256: string;
    };
    expect(record.sbomSha256).toBe(sha256File(qcow2.sbom!));
  });

  it("the qcow2 stands alone (no backing file) and its machine-id is empty", async () => {
    const info = JSON.parse(
      await mustRun("qemu-img", ["info", "--output=json", qcow2.id]),
    ) as Record<string, unknown>;
    expect(info.format).toBe("qcow2");
    expect(info["backing-filename"]).toBeUndefined();
    const raw = path.join(tmp, "check.raw");
    await mustRun("qemu-img", ["convert", "-O", "raw", qcow2.id, raw]);
    try {
      const id = await mustRun("debugfs", ["-R", "cat /etc/machine-id", raw]);
      expect(id.trim()).toBe("");
      const keys = await mustRun("debugfs", [
        "-R",
        `cat /home/${base.user}/.ssh/authorized_keys`,
        raw,
      ]);
      expect(keys.trim()).toBe("");
    } finally {
      fs.rmSync(raw, { force: true });
    }
  });

  it("a second up builds nothing", async () => {
    const before = dev.providers.times.length;
    const second = await dev.up();
    expect(second.ok).toBe(true);
    expect(second.outputs).toEqual(first.outputs);
    expect(second.steps.filter((s) => s.op === "create" || s.op === "replace")).toEqual([]);
    expect(dev.providers.times.slice(before).map((t) => t.name)).toEqual([]);
  });

  it("packs the same disk as an OVA VirtualBox imports", async () => {
    const ova = images(first).virtualbox;
    const OVA_NAME = ova.name;
    expect(ova.id).toBe(path.join(tmp, "images", `${OVA_NAME}.ova`));
    expect(sha256File(ova.id)).toBe(ova.sha256);
    expect(ova.manifest).toEqual(qcow2.manifest);
    const record = { id: qcow2.id };
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

  it("refuses a builder that presents another host key at the first step: nothing runs on it", async () => {
    const mitm = localStack("e2e-mitm", localConfig(base, tmp, { imageName: "dse_mitm" }), {
      log,
      swapBuilderHostKey: true,
    });
    try {
      const r = await mitm.up();
      expect(r.ok).toBe(false);
      expect(r.error).toMatch(/Host key verification failed/);
      const failed = r.steps.map((s) => s.urn.split("::").pop()!);
      expect(failed.some((n) => n.endsWith("-provision-prepare"))).toBe(false);
      // The builder is still up: look inside it without the pin: prepare never ran.
      const start = stateOf(mitm, "start");
      // launch.sh prints one JSON line {"port", "boot"}, read as the program reads it.
      const { port } = JSON.parse(lastLine(String(start.outputs.stdout))) as { port: number };
      const keyPath = path.join(tmp, "mitm_key");
      fs.writeFileSync(keyPath, String(stateOf(mitm, "key").outputs.privateKeyOpenssh), {
        mode: 0o600,
      });
      // ssh exits 255 when it cannot connect (a TCG guest can be slow to answer): try again.
      let probe = { code: 255, stdout: "", stderr: "" };
      for (let attempt = 1; attempt <= 3 && probe.code === 255; attempt++) {
        if (attempt > 1) await new Promise((resolve) => setTimeout(resolve, 5000));
        probe = await run("ssh", [
          ...sshOptions(port, keyPath),
          `${base.user}@127.0.0.1`,
          "test ! -e /var/tmp/dse-build && echo untouched",
        ]);
      }
      expect(probe.stdout.trim(), `${probe.stderr} (exit ${probe.code})`).toBe("untouched");
    } finally {
      await mitm.engine.destroy();
      mitm.providers.close();
    }
  });

  it("never publishes an image that fails its boot test, and leaves nothing", async () => {
    const cleanup = fs.readFileSync(
      path.join(__dirname, "..", "..", "provision", "cleanup.sh"),
      "utf8",
    );
    // Injected only here: the image's cloud-init fails at first boot.
    const broken = `${cleanup}\nprintf 'runcmd:\\n  - [sh, -c, "exit 3"]\\n' >/etc/cloud/cloud.cfg.d/99-dse-broken.cfg\n`;
    const config = localConfig(base, tmp, { imageName: "dse_broken" });
    // Built from the image above, whose packages install.sh finds installed: minutes less of TCG.
    Object.assign(config.qemu as Record<string, unknown>, {
      sourceImageUrl: `file://${qcow2.id}`,
      sourceImageSha256: qcow2.sha256,
    });
    const stack = localStack("e2e-broken", config, {
      log,
      provisionOverlay: { "cleanup.sh": broken },
    });
    try {
      const r = await stack.up();
      expect(r.ok).toBe(false);
      expect(r.error).toMatch(/boot-test/);
      expect(r.error).toMatch(/FAILED in check "cloud-init"/);
      const left = fs
        .readdirSync(path.join(tmp, "images"))
        .filter((f) => f.startsWith("dse_broken"));
      expect(left).toEqual([]);
      expect(
        fs
          .readdirSync(path.join(tmp, "images", ".pending"), { recursive: true })
          .map(String)
          .filter((f) => path.basename(f).startsWith("dse_broken")),
      ).toEqual([]);
      const builds = path.join(tmp, "cache", "builds");
      for (const tag of fs.readdirSync(builds))
        expect(fs.readdirSync(path.join(builds, tag))).toEqual([]);
    } finally {
      await stack.engine.destroy();
      stack.providers.close();
    }
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
