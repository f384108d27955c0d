/**
 * The provision scripts in a real Debian 12 VM (QEMU; TCG where KVM is unusable), driven by
 * the Provisioner's exact commands. One VM for every check: a boot costs ~35 s under TCG and
 * dpkg work is slow there, so the checks build on each other in order.
 */
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ProvisionEnv } from "../../components/config/stack";
import {
  REMOTE_DIR,
  REMOTE_PROVISION_DIR,
  onFailure,
  prepareCommand,
  provisionCommand,
  type ProvisionSettings,
  type ProvisionStep,
} from "../../components/provision-commands";
import { REPO_ROOT, ensureDebianBase, startVm, type Vm } from "../vm";
import { startLocalIndex, type LocalIndex } from "./helpers/local-index";

const APT_PYTHON: ProvisionSettings = {
  tools: ["python"],
  pythonSource: "apt",
  fingerprint: "e2e-0123456789ab",
};

/** Test-only knobs of the scripts ride along with the Provisioner's env (same quoting path). */
function withTestEnv(env: ProvisionEnv, extra: Record<string, string>): ProvisionEnv {
  return { ...env, ...extra };
}

const log = (line: string) => process.stderr.write(`[e2e] ${line}\n`);

describe("provision scripts in a Debian 12 VM", () => {
  let vm: Vm | undefined;
  let index: LocalIndex | undefined;

  function theVm(): Vm {
    if (!vm) throw new Error("the VM did not start");
    return vm;
  }

  /** Runs one step exactly as the Provisioner does (keeping the builder on failure). */
  function step(name: ProvisionStep, settings: ProvisionSettings) {
    return theVm().run(onFailure(provisionCommand(name, settings), true), {
      onOutput: process.env.DSE_E2E_VERBOSE ? (c) => process.stderr.write(c) : undefined,
    });
  }

  const installedPackages = async () =>
    (
      await theVm().run("dpkg-query -W -f '${Package} ${Version} ${db:Status-Status}\\n'", {
        check: true,
      })
    ).stdout;

  const LOCK_HOLDER =
    "import fcntl, sys, time\n" +
    "f = open('/var/lib/dpkg/lock-frontend', 'a')\n" +
    "fcntl.lockf(f, fcntl.LOCK_EX)\n" +
    "time.sleep(int(sys.argv[1]))\n";

  /** Holds dpkg's frontend lock the way apt does (fcntl; flock(1) would not block apt). */
  async function holdLock(seconds: number) {
    await theVm().run(
      `sudo systemd-run --quiet --collect --unit=dse-test-lock python3 -c "${LOCK_HOLDER}" ${seconds}`,
      { check: true },
    );
    // Taken once a non-blocking attempt fails.
    await theVm().run(
      "for i in $(seq 60); do sudo python3 -c \"import fcntl; fcntl.lockf(open('/var/lib/dpkg/lock-frontend', 'a'), fcntl.LOCK_EX | fcntl.LOCK_NB)\" 2>/dev/null || exit 0; sleep 1; done; exit 1",
      { check: true },
    );
  }

  beforeAll(async () => {
    const base = await ensureDebianBase({ log });
    vm = await startVm({ ...base, log });
    await vm.run(prepareCommand(60), { check: true });
    await vm.copyIn(path.join(REPO_ROOT, "provision"), REMOTE_DIR);
  });

  afterAll(async () => {
    await index?.close();
    await vm?.stop();
  });

  it("installs the python group from apt and verify prints the manifest", async () => {
    const install = await step("install", APT_PYTHON);
    expect(install.code, install.stderr).toBe(0);
    expect(install.stderr).toContain("==> [install.sh] install distribution packages");

    const verify = await step("verify", APT_PYTHON);
    expect(verify.code, verify.stderr).toBe(0);
    const manifest = JSON.parse(verify.stdout) as Record<string, string>;
    expect(manifest.python).toMatch(/^3\.\d+\.\d+$/);
    expect(manifest.pip).toMatch(/^\d+\./);
    expect(manifest.fingerprint).toBe(APT_PYTHON.fingerprint);
    expect(manifest.os).toContain("Debian GNU/Linux 12");
    expect(manifest.kernel).toMatch(/^\d+\.\d+/);
    expect(manifest.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    // install.sh applied the base's pending updates (verify fails while any is left), counted.
    expect(install.stderr).toContain("==> [install.sh] apply pending updates");
    expect(Number.isInteger(manifest.updates_applied)).toBe(true);
    expect(manifest.build_date).toMatch(/^\d{4}-\d\d-\d\d$/);
  });

  it("a second install succeeds and installs nothing", async () => {
    const before = await installedPackages();
    const again = await step("install", APT_PYTHON);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain("distribution packages already installed");
    expect(await installedPackages()).toBe(before);
  });

  it("waits for a held dpkg lock, then succeeds", async () => {
    await holdLock(25);
    const r = await step("install", APT_PYTHON);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      "waiting for the package manager lock: /var/lib/dpkg/lock-frontend held by",
    );
    // It only went on once the holder had let go.
    const holder = await theVm().run("systemctl is-active dse-test-lock");
    expect(holder.stdout.trim()).not.toBe("active");
  });

  it("fails naming the lock when it is held past DSE_LOCK_TIMEOUT", async () => {
    await holdLock(300);
    try {
      const r = await step("install", {
        ...APT_PYTHON,
        env: withTestEnv({}, { DSE_LOCK_TIMEOUT: "8" }),
      });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(
        /timed out after 8s waiting for the package manager lock: \/var\/lib\/dpkg\/lock-frontend/,
      );
      expect(r.stderr).toContain('FAILED in step "wait for the package manager locks"');
    } finally {
      await theVm().run("sudo systemctl stop dse-test-lock");
    }
  });

  it("verify fails naming the tool when a library is broken", async () => {
    const pip = "/usr/lib/python3/dist-packages/pip";
    await theVm().run(`sudo mv ${pip} ${pip}.broken`, { check: true });
    try {
      const r = await step("verify", APT_PYTHON);
      expect(r.code).not.toBe(0);
      expect(r.stdout).toBe("");
      expect(r.stderr).toContain("these tools do not work: pip");
    } finally {
      await theVm().run(`sudo mv ${pip}.broken ${pip}`, { check: true });
    }
  });

  it("pip source: installs the locked version from PIP_INDEX_URL", async () => {
    index = await startLocalIndex("dsetestpkg", ["1.0.0", "2.0.0"]);
    const lock = `${REMOTE_DIR}/test-python.lock`;
    await theVm().run(`cat > ${lock}`, {
      input: "# [python]\ndsetestpkg==1.0.0\n",
      check: true,
    });
    const settings: ProvisionSettings = {
      tools: ["python"],
      pythonSource: "pip",
      fingerprint: "e2e-pip",
      env: withTestEnv({ PIP_INDEX_URL: index.guestUrl }, { DSE_PIP_LOCK: lock }),
    };
    const install = await step("install", settings);
    expect(install.code, install.stderr).toBe(0);
    // Only the configured index could have served it, and the lock chose 1.0.0 over 2.0.0.
    expect(index.requests).toContain("/simple/dsetestpkg/");
    expect(index.requests).toContain("/packages/dsetestpkg-1.0.0-py3-none-any.whl");
    expect(index.requests).not.toContain("/packages/dsetestpkg-2.0.0-py3-none-any.whl");
    const imported = await theVm().run(
      "/opt/dse/bin/python -c 'import dsetestpkg; print(dsetestpkg.__version__)'",
      { check: true },
    );
    expect(imported.stdout.trim()).toBe("1.0.0");

    const verify = await step("verify", settings);
    expect(verify.code, verify.stderr).toBe(0);
    const manifest = JSON.parse(verify.stdout) as Record<string, string>;
    expect(manifest.dsetestpkg).toBe("1.0.0");
    expect(manifest.python_source).toBe("pip");
  });

  it("cleanup leaves no build key, history or machine-id; the audit catches a planted key", async () => {
    const v = theVm();
    const home = `/home/${v.user}`;
    const blob = v.publicKey.split(/\s+/)[1];
    // What cloud-init writes for root from cloud metadata, and some shell use.
    await v.run(
      `sudo sh -c 'mkdir -p /root/.ssh && printf "%s\\n" "no-port-forwarding,command=\\"echo Please login as ${v.user};exit 142\\" ssh-ed25519 ${blob} other-comment" > /root/.ssh/authorized_keys' && ` +
        `echo 'ls' >> ${home}/.bash_history && sudo sh -c 'echo whoami >> /root/.bash_history'`,
      { check: true },
    );
    expect((await v.run("cat /etc/machine-id", { check: true })).stdout.trim()).not.toBe("");

    // A finding in the image's content fails cleanup BEFORE the builder's identity goes: the
    // build key, the host keys and the scripts are still there, so cleanup can run again.
    await v.run(`ssh-keygen -q -t ed25519 -N '' -f ${home}/id_left_behind`, { check: true });
    const refused = await step("cleanup", APT_PYTHON);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`audit: FAILED: private key: ${home}/id_left_behind`);
    expect(refused.stderr).toContain(`cleanup.sh: FAILED in step "audit the image's content"`);
    const kept = await v.run(
      [
        `sudo grep -c '${blob}' ${home}/.ssh/authorized_keys`,
        "ls /etc/ssh/ssh_host_ed25519_key",
        `ls ${REMOTE_PROVISION_DIR}/cleanup.sh`,
      ].join(" && "),
      { check: true },
    );
    expect(kept.stdout.trim().split("\n")).toEqual([
      "1",
      "/etc/ssh/ssh_host_ed25519_key",
      `${REMOTE_PROVISION_DIR}/cleanup.sh`,
    ]);
    await v.run(`rm -f ${home}/id_left_behind ${home}/id_left_behind.pub`, { check: true });

    const cleanup = await step("cleanup", APT_PYTHON);
    expect(cleanup.code, cleanup.stderr).toBe(0);
    expect(cleanup.stderr).toContain("audit: clean");

    // The control master keeps this session although the key is gone.
    const state = await v.run(
      [
        `sudo stat -c %s ${home}/.ssh/authorized_keys`,
        `sudo grep -rl '${blob}' /root/.ssh /home || echo no-build-key`,
        "stat -c %s /etc/machine-id",
        `sudo ls ${home}/.bash_history /root/.bash_history 2>/dev/null || echo no-history`,
        "ls /etc/ssh/ssh_host_* 2>/dev/null || echo no-host-keys",
        `ls -d ${REMOTE_DIR} 2>/dev/null || echo no-build-dir`,
        "ls /var/lib/apt/lists | grep -v -x -e partial -e lock || echo no-apt-lists",
        "sudo ls /var/lib/cloud/instance 2>/dev/null || echo no-cloud-init-state",
      ].join("; "),
      { check: true },
    );
    expect(state.stdout.trim().split("\n")).toEqual([
      "0",
      "no-build-key",
      "0",
      "no-history",
      "no-host-keys",
      "no-build-dir",
      "no-apt-lists",
      "no-cloud-init-state",
    ]);

    await v.run(`mkdir -p ${REMOTE_DIR}`, { check: true });
    await v.copyIn(path.join(REPO_ROOT, "provision"), REMOTE_DIR);
    const audit = `sudo bash ${REMOTE_PROVISION_DIR}/audit.sh`;
    const clean = await v.run(audit);
    expect(clean.code, clean.stderr).toBe(0);
    await v.run(`ssh-keygen -q -t ed25519 -N '' -f ${home}/.ssh/id_planted`, { check: true });
    const planted = await v.run(audit);
    expect(planted.code).not.toBe(0);
    expect(planted.stderr).toContain(`private key: ${home}/.ssh/id_planted`);
  });
});
