import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { onFailure, prepareCommand, provisionCommand } from "../../components/provision-commands";

const settings = {
  tools: ["python", "scipy"] as const,
  pythonSource: "apt" as const,
  fingerprint: "f".repeat(64),
  env: { APT_MIRROR: "http://mirror.example/debian", no_proxy: "a b" },
};

describe("provision commands", () => {
  it("passes settings through sudo env, quoted, in a stable order", () => {
    expect(provisionCommand("install", { ...settings, tools: [...settings.tools] })).toBe(
      `sudo env APT_MIRROR=http://mirror.example/debian DSE_FINGERPRINT=${"f".repeat(64)} DSE_PYTHON_SOURCE=apt 'DSE_TOOLS=python scipy' 'no_proxy=a b' bash /var/tmp/dse-build/provision/install.sh`,
    );
    expect(
      provisionCommand("cleanup", { ...settings, tools: ["python"], zeroFreeSpace: true }),
    ).toContain(" DSE_ZERO_FREE_SPACE=1 ");
  });

  it("prepare arms the TTL and lets cloud-init finish before the upload connects", () => {
    const cmd = prepareCommand(90);
    execFileSync("bash", ["-n", "-c", cmd]);
    expect(cmd).toContain("--on-active=90m /bin/systemctl poweroff || sudo shutdown -P +90");
    expect(cmd.indexOf("cloud-init status --wait")).toBeGreaterThan(cmd.indexOf("mkdir -p"));
    // Packer runs inline scripts under `sh -e`: a degraded cloud-init must not abort prepare.
    expect(cmd).toContain("sudo cloud-init status --wait || true;");
    expect(cmd.endsWith("test -d /var/tmp/dse-build")).toBe(true);
  });

  it("a failed step still fails, and powers the builder off unless it is kept", () => {
    const off = onFailure("false", false);
    const kept = onFailure("false", true);
    const disarm = "sudo systemctl stop dse-builder-failed.timer >/dev/null 2>&1;";
    expect(off).toBe(
      `${disarm} false || { rc=$?; sudo systemd-run --unit=dse-builder-failed --on-active=30s /bin/systemctl poweroff >/dev/null 2>&1 || sudo shutdown -P +1 >/dev/null 2>&1; echo 'dse-image: the builder powers off in 30 seconds (set keepBuilderOnFailure to keep it)' >&2; exit $rc; }`,
    );
    expect(kept).toBe(
      `${disarm} false || { rc=$?; echo 'dse-image: keepBuilderOnFailure is set: the builder is kept running for debugging' >&2; exit $rc; }`,
    );
    // Run with a sudo that only records what it was asked to do.
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), "dse-sudo-"));
    try {
      fs.writeFileSync(path.join(bin, "sudo"), `#!/bin/sh\necho "$*" >>"${bin}/calls"\n`, {
        mode: 0o755,
      });
      const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
      for (const cmd of [off, kept]) {
        expect(spawnSync("bash", ["-c", cmd], { env }).status).toBe(1);
      }
      expect(fs.readFileSync(path.join(bin, "calls"), "utf8").trim().split("\n")).toEqual([
        "systemctl stop dse-builder-failed.timer",
        "systemd-run --unit=dse-builder-failed --on-active=30s /bin/systemctl poweroff",
        "systemctl stop dse-builder-failed.timer",
      ]);
    } finally {
      fs.rmSync(bin, { recursive: true, force: true });
    }
  });

  it("a step on a builder that a failed step doomed disarms its power-off first", () => {
    const cmd = onFailure("sudo env A=1 bash /var/tmp/dse-build/provision/install.sh", false);
    expect(cmd.indexOf("systemctl stop dse-builder-failed.timer")).toBeLessThan(
      cmd.indexOf("install.sh"),
    );
  });
});
