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
import { mustRun } from "./helpers/processes";
import { buildSbom, parseInventory, validateSbom } from "../../components/lifecycle/sbom";
import { envWords } from "../../components/shell";

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
    await mustRun("tar", ["--numeric-owner", "-xpf", base.rootfsTar, "-C", root]);
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

  afterAll(async () => {
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
      // Async: every tool group is gigabytes in a hundred thousand files, and a synchronous
      // delete held this worker past vitest's 60 s RPC timeout beside the VM lanes, which ended
      // the whole run ("Timeout calling onTaskUpdate"). --one-file-system: never into a mount.
      await mustRun("rm", ["-rf", "--one-file-system", root]);
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
    // debootstrap sets no system locale: cloud-init's locale module would fail on every boot.
    const locale = fs.readFileSync(path.join(root, "etc/default/locale"), "utf8");
    expect(locale.match(/^LANG=.*$/gm)).toEqual(["LANG=C.UTF-8"]);
  });

  it("inventory.sh lists the packages of every group, and they make a valid SBOM", async () => {
    // The command the Provisioner runs for the inventory step (after verify, before cleanup).
    const command = [
      "sudo",
      "env",
      ...envWords({
        DSE_TOOLS: ALL.tools.join(" "),
        DSE_PYTHON_SOURCE: ALL.pythonSource,
        DSE_FINGERPRINT: ALL.fingerprint,
      }),
      "bash",
      path.posix.join(REMOTE_DIR, "provision", "inventory.sh"),
    ].join(" ");
    // Async like inChroot: a blocked worker misses vitest's RPC deadlines.
    const run = () =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        const child = spawn("chroot", [root, "sh", "-c", command]);
        let stdout = "";
        let stderr = "";
        child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
        child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
        child.on("error", reject);
        child.on("close", (code) => resolve({ code, stdout, stderr }));
      });
    const first = await run();
    expect(first.code, first.stderr.slice(-4000)).toBe(0);
    expect(first.stdout.trim().split("\n")).toHaveLength(1);
    expect((await run()).stdout).toBe(first.stdout);

    const inventory = parseInventory(first.stdout);
    expect(inventory.os).toMatchObject({ id: "debian", versionId: "12", arch: "amd64" });
    expect(inventory.os.prettyName).toMatch(/^Debian GNU\/Linux 12/);
    const dpkg = new Map(inventory.dpkg.map((p) => [p.name, p]));
    for (const name of ["bash", "python3", "python3-numpy", "r-base-core", "git", "curl"]) {
      expect(dpkg.get(name)?.version, `dpkg ${name}`).toMatch(/\S/);
    }
    expect(dpkg.get("libc6")).toMatchObject({ arch: "amd64", source: "glibc" });
    expect(inventory.dpkg.filter((p) => p.source === p.name)).toEqual([]);

    // apt source: the distributions /usr/bin/python3 imports, with the versions dpkg installed.
    const pip = new Map(
      inventory.pip.map((p) => [p.name.toLowerCase().replace(/[-_.]+/g, "-"), p.version]),
    );
    const lockNames = fs
      .readFileSync(path.join(REPO_ROOT, "provision", "python-requirements.lock"), "utf8")
      .split(/^# \[constraints\]/m)[0]
      .split("\n")
      .filter((line) => /^[A-Za-z0-9]/.test(line))
      .map((line) => line.split("==")[0]);
    // The lock's groups as the apt flavour installs them: JupyterLab is the classic notebook there.
    const expected = [...lockNames.filter((n) => n !== "jupyterlab"), "notebook", "jupyter-core"];
    expect(expected).toContain("scikit-learn");
    for (const name of expected) expect(pip.get(name), `python ${name}`).toMatch(/^\d/);
    for (const [py, deb] of [
      ["numpy", "python3-numpy"],
      ["scipy", "python3-scipy"],
      ["pandas", "python3-pandas"],
    ]) {
      expect(dpkg.get(deb)?.version, `${deb} vs ${py}`).toContain(pip.get(py));
    }

    const r = new Map(inventory.r.map((p) => [p.name, p.version]));
    for (const name of ["IRkernel", "IRdisplay", "repr", "jsonlite"]) {
      expect(r.get(name), `R ${name}`).toMatch(/^\d/);
    }
    expect(r.has("stats")).toBe(false);

    const doc = buildSbom(inventory, {
      imageName: `dse-${ALL.fingerprint.slice(0, 12)}`,
      fingerprint: ALL.fingerprint,
      platform: "chroot",
      sourceImage: { ref: "debootstrap bookworm" },
    });
    await validateSbom(doc);
    const purls = (doc.components as { purl: string }[]).map((c) => c.purl);
    expect(purls).toHaveLength(inventory.dpkg.length + inventory.pip.length + inventory.r.length);
    expect(purls).toContain(
      `pkg:deb/debian/bash@${dpkg.get("bash")?.version}?arch=amd64&distro=debian-12`,
    );
    expect(purls).toContain(`pkg:pypi/scikit-learn@${pip.get("scikit-learn")}`);
    expect(purls).toContain(`pkg:cran/IRkernel@${r.get("IRkernel")}`);
  });

  it("applies pending security updates: none is left upgradable after install.sh", async () => {
    /** A bash script in the chroot; async like inChroot, apt work takes a while. */
    const inRoot = (script: string) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
        const child = spawn("chroot", [root, "bash", "-c", script], {
          stdio: ["ignore", "pipe", "pipe"],
        });
        let stdout = "";
        let stderr = "";
        child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
        child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
        child.on("error", reject);
        child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
      });
    /**
     * `apt list --upgradable` ("name/suite new arch [upgradable from: old]" lines) without the
     * packages `apt-mark hold` keeps back: install.sh honours holds like `apt upgrade`, and the
     * test base holds its kernel (test/vm/build-base.sh).
     */
    const upgradable = async () => {
      const held = new Set((await inRoot("apt-mark showhold")).stdout.split("\n").filter(Boolean));
      return (await inRoot("apt list --upgradable 2>/dev/null")).stdout
        .split("\n")
        .filter((line) => line.includes("[upgradable from: "))
        .filter((line) => !held.has(line.split("/")[0]));
    };
    const updatesRecord = () =>
      fs.readFileSync(path.join(root, "etc/dse-image/updates"), "utf8").trim();

    // Make a security update pending: put back the release's older version of an installed
    // package whose version comes from the security suite, choosing one whose downgrade changes
    // nothing else (Architecture: all ones first: tzdata, ca-certificates, ...).
    const downgrade = await inRoot(`set -euo pipefail
suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
candidates=$(dpkg-query -W -f '\${db:Status-Status} \${Package}\\n' | awk '$1 == "installed" { print $2 }' |
  xargs apt-cache policy | awk -v rel=" $suite/main " '
    /^[^ ]/ { pkg = $1; sub(/:$/, "", pkg); inst = ""; cur = ""; seen = 0; sec = 0; done = 0; next }
    /^  Installed: / { inst = $2; next }
    /^ \\*\\*\\* / { cur = $2; seen = 1; next }
    /^     [^ ]/ { cur = $1; next }
    /^        / {
      if (cur == inst && index($0, "-security/")) sec = 1
      else if (seen && sec && cur != inst && index($0, rel) && !done) { print pkg, inst, cur; done = 1 }
    }')
for pass in all any; do
  while read -r pkg new old; do
    [ "$pass" = any ] || [ "$(dpkg-query -W -f '\${Architecture}' "$pkg")" = all ] || continue
    sim=$(apt-get -s -o APT::Install-Recommends=false --allow-downgrades install "$pkg=$old") || continue
    if [ "$(grep -c '^Inst ' <<<"$sim")" = 1 ] && ! grep -q '^Remv ' <<<"$sim"; then
      apt-get -q -y -o APT::Install-Recommends=false --allow-downgrades install "$pkg=$old" >&2
      echo "$pkg $new $old"
      exit 0
    fi
  done <<<"$candidates"
done
echo "no installed package has an older version in $suite than in $suite-security" >&2
exit 1`);
    expect(downgrade.code, downgrade.stderr.slice(-4000)).toBe(0);
    const [pkg, fixed, old] = downgrade.stdout.trim().split(" ");
    log(`pending security update: ${pkg} ${old} -> ${fixed}`);
    const pending = (await upgradable()).filter((line) => line.startsWith(`${pkg}/`));
    expect(pending).toHaveLength(1);
    expect(pending[0]).toMatch(/-security /);
    expect(pending[0]).toContain(` ${fixed} `);
    expect(pending[0]).toContain(`[upgradable from: ${old}]`);

    // verify.sh refuses an image with a pending update, naming it, and prints no manifest.
    const refused = await inChroot("verify");
    expect(refused.code).not.toBe(0);
    expect(refused.stdout).toBe("");
    expect(refused.stderr).toContain(
      `pending updates not applied (install.sh applies them): ${pkg} ${old} -> ${fixed}`,
    );
    expect(refused.stderr).toContain('FAILED in step "check that no update is pending"');

    const before = Number(/^updates_applied=(\d+)$/m.exec(updatesRecord())?.[1]);
    expect(before).toBeGreaterThanOrEqual(0);
    const dayBefore = new Date().toISOString().slice(0, 10);
    const install = await inChroot("install");
    expect(install.code, install.stderr.slice(-4000)).toBe(0);
    const applied = install.stderr
      .split("\n")
      .find((line) => line.startsWith("install.sh: pending updates ("));
    expect(applied?.split(": ")[2]?.split(" "), install.stderr.slice(-4000)).toContain(pkg);
    expect(await upgradable()).toEqual([]);
    const version = await inRoot(`dpkg-query -W -f '\${Version}' ${pkg}`);
    expect(version.stdout).toBe(fixed);

    const verify = await inChroot("verify");
    expect(verify.code, verify.stderr.slice(-4000)).toBe(0);
    const manifest = JSON.parse(verify.stdout) as Record<string, unknown>;
    expect(typeof manifest.updates_applied).toBe("number");
    expect(manifest.updates_applied).toBeGreaterThanOrEqual(before + 1);
    expect(updatesRecord()).toBe(
      `updates_applied=${String(manifest.updates_applied)}\nbuild_date=${String(manifest.build_date)}`,
    );
    const dayAfter = new Date().toISOString().slice(0, 10);
    expect([dayBefore, dayAfter]).toContain(manifest.build_date);
  });

  it("cleanup passes its audit", async () => {
    const cleanup = await inChroot("cleanup");
    expect(cleanup.code, cleanup.stderr.slice(-4000)).toBe(0);
    expect(cleanup.stderr).toContain("audit: clean");
    expect(fs.readFileSync(path.join(root, "etc/machine-id"), "utf8")).toBe("");
  });
});
