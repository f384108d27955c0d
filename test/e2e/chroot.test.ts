/**
 * Every tool group from apt, installed by install.sh in a Debian 12 chroot at native speed (the
 * same commands in the TCG VM would take far too long), then verify.sh must list every tool.
 * The root is the VM base's own root file system, so it is the system the VM test boots.
 * Needs root (chroot, mounts).
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  REMOTE_DIR,
  provisionCommand,
  type ProvisionSettings,
  type ProvisionStep,
} from "../../components/provision-commands";
import { REPO_ROOT, ensureDebianBase } from "../vm";

const ALL: ProvisionSettings = {
  tools: ["python", "scipy", "jupyter", "r", "tools"],
  pythonSource: "apt",
  fingerprint: "chroot-0123456789ab",
};

const log = (line: string) => process.stderr.write(`[chroot] ${line}\n`);

function sh(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}${r.error ?? ""}`);
}

describe("install.sh with every tool group in a Debian 12 chroot", () => {
  let root = "";
  const mounted: string[] = [];

  function mount(args: string[], target: string): void {
    fs.mkdirSync(target, { recursive: true });
    sh("mount", [...args, target]);
    mounted.push(target);
  }

  /** Async: minutes of blocking spawnSync would starve vitest's worker RPC. */
  function inChroot(
    step: ProvisionStep,
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn("chroot", [root, "sh", "-c", provisionCommand(step, ALL)], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
      child.stderr.setEncoding("utf8").on("data", (d: string) => {
        stderr += d;
        if (process.env.DSE_E2E_VERBOSE) process.stderr.write(d);
      });
      child.on("error", reject);
      child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
    });
  }

  beforeAll(async () => {
    const base = await ensureDebianBase({ log });
    root = fs.mkdtempSync(path.join(os.tmpdir(), "dse-chroot-"));
    // Async: a long synchronous extraction would starve vitest's worker RPC.
    await new Promise<void>((resolve, reject) => {
      const tar = spawn("tar", ["--numeric-owner", "-xpf", base.rootfsTar, "-C", root]);
      tar.on("error", reject);
      tar.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`tar exited ${code}`))));
    });
    mount(["-t", "proc", "proc"], path.join(root, "proc"));
    mount(["-t", "sysfs", "sysfs"], path.join(root, "sys"));
    mount(["--bind", "/dev"], path.join(root, "dev"));
    mount(["--bind", "/dev/pts"], path.join(root, "dev/pts"));
    // The base's resolver is QEMU's (10.0.2.3); here the host's applies.
    fs.rmSync(path.join(root, "etc/resolv.conf"), { force: true });
    fs.copyFileSync("/etc/resolv.conf", path.join(root, "etc/resolv.conf"));
    // No daemon may start from a package's postinst inside the chroot.
    fs.writeFileSync(path.join(root, "usr/sbin/policy-rc.d"), "#!/bin/sh\nexit 101\n", {
      mode: 0o755,
    });
    fs.mkdirSync(path.join(root, REMOTE_DIR), { recursive: true });
    sh("cp", ["-r", path.join(REPO_ROOT, "provision"), path.join(root, REMOTE_DIR)]);
  });

  afterAll(() => {
    // Unmount before deleting: rm -rf through a bind mount of /dev would empty the host's.
    let allUnmounted = true;
    for (const target of mounted.reverse()) {
      const r = spawnSync("umount", [target]);
      if (r.status !== 0 && spawnSync("umount", ["-l", target]).status !== 0) {
        allUnmounted = false;
      }
    }
    const stillMounted = fs
      .readFileSync("/proc/mounts", "utf8")
      .split("\n")
      .some((line) => root !== "" && line.split(" ")[1]?.startsWith(root));
    if (root && allUnmounted && !stillMounted) {
      fs.rmSync(root, { recursive: true, force: true });
    } else if (root) {
      throw new Error(`${root} still has mounts; not deleting it`);
    }
  });

  it("installs every group from apt and verify lists every tool", async () => {
    const install = await inChroot("install");
    expect(install.code, install.stderr.slice(-4000)).toBe(0);

    const verify = await inChroot("verify");
    expect(verify.code, verify.stderr.slice(-4000)).toBe(0);
    const manifest = JSON.parse(verify.stdout) as Record<string, string>;
    for (const tool of [
      "python",
      "pip",
      "venv",
      "numpy",
      "scipy",
      "pandas",
      "scikit-learn",
      "matplotlib",
      "seaborn",
      "statsmodels",
      "jupyter_core",
      "notebook",
      "ipykernel",
      "R",
      "IRkernel",
      "ir-kernelspec",
      "git",
      "gcc",
      "make",
      "curl",
    ]) {
      expect(manifest[tool], `${tool} in ${verify.stdout}`).toMatch(/\S/);
    }
    expect(manifest.R).toMatch(/^4\.\d+\.\d+$/);
    expect(manifest.fingerprint).toBe(ALL.fingerprint);
  });

  it("a second install changes nothing", async () => {
    const again = await inChroot("install");
    expect(again.code, again.stderr.slice(-4000)).toBe(0);
    expect(again.stderr).toContain("distribution packages already installed");
  });

  it("cleanup passes its audit", async () => {
    const cleanup = await inChroot("cleanup");
    expect(cleanup.code, cleanup.stderr.slice(-4000)).toBe(0);
    expect(cleanup.stderr).toContain("audit: clean");
    expect(fs.readFileSync(path.join(root, "etc/machine-id"), "utf8")).toBe("");
  });
});
