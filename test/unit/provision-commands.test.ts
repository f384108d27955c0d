import { execFileSync } from "node:child_process";
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
    execFileSync("bash", ["-n", "-c", off]);
    expect(off).toMatch(
      /^false \|\| \{ rc=\$\?; sudo systemd-run --on-active=30s .*; exit \$rc; \}$/,
    );
    expect(kept).toBe(
      "false || { rc=$?; echo 'dse-image: keepBuilderOnFailure is set: the builder is kept running for debugging' >&2; exit $rc; }",
    );
    expect(() => execFileSync("bash", ["-c", kept], { stdio: "ignore" })).toThrow();
  });
});
