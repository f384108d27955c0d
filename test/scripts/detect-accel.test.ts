/**
 * components/qemu/detect-accel.sh's decision with fake QEMU binaries and a fake KVM device: this
 * host has no /dev/kvm, and a real one could not show a guest that hangs under nested KVM.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { taggedProcesses } from "../support/process";

const SCRIPT = path.resolve(__dirname, "..", "..", "components", "qemu", "detect-accel.sh");

/**
 * A fake qemu-system-x86_64: records its arguments, then behaves as FAKE_QEMU_MODE says. It
 * finds the serial log in `-serial file:PATH`, as QEMU does.
 */
const FAKE_QEMU = `#!/usr/bin/env bash
printf '%s\\n' "$*" >>"$FAKE_QEMU_LOG"
LINUX='[    0.000000] Linux version 6.1.0-fake (gcc 12) #1 SMP'
serial=
for arg in "$@"; do case $arg in file:*) serial=\${arg#file:} ;; esac; done
case $FAKE_QEMU_MODE in
  hang) sleep 60 ;;
  exit-port) printf 'LM64\\n' >"$serial"; exit 85 ;;
  serial-only) printf 'LM64\\n' >"$serial"; sleep 60 ;;
  exit-port-only) exit 85 ;;
  triple-fault) exit 0 ;;
  fail)
    echo "qemu-system-x86_64: -accel kvm: failed to initialize kvm: Permission denied" >&2
    exit 1
    ;;
  kernel) printf '%s\\n' "$LINUX" "[    0.912345] Run /init as init process" >"$serial"; sleep 60 ;;
  kernel-no-initrd)
    printf '%s\\n' "$LINUX" "[    0.9] VFS: Cannot open root device \\"\\" or unknown-block(0,0)" \\
      "[    0.9] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)" >"$serial"
    sleep 60
    ;;
  kernel-stalls)
    printf '%s\\n' "$LINUX" "[    1.169492] clocksource: Switched to clocksource hpet" >"$serial"
    sleep 60
    ;;
  kernel-orphan)
    printf '%s\\n' "$LINUX" "[    0.912345] Run /init as init process" >"$serial"
    kill -KILL "$PPID"
    sleep 60
    ;;
esac
`;

let dir: string;
let tag: string;
let qemu: string;
let kvmDevice: string;
let qemuLog: string;

/** Waits (briefly) for the tagged processes to end; returns those still alive. */
function leftoverProcesses(): number[] {
  const until = Date.now() + 3000;
  let left = taggedProcesses(tag);
  while (left.length > 0 && Date.now() < until) {
    spawnSync("sleep", ["0.1"]);
    left = taggedProcesses(tag);
  }
  return left;
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dse-detect-accel-"));
  tag = randomBytes(8).toString("hex");
  qemu = path.join(dir, "qemu-system-x86_64");
  fs.writeFileSync(qemu, FAKE_QEMU, { mode: 0o755 });
  kvmDevice = path.join(dir, "kvm");
  fs.writeFileSync(kvmDevice, "", { mode: 0o666 });
  qemuLog = path.join(dir, "qemu.log");
});

afterEach(() => {
  for (const pid of taggedProcesses(tag)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

function detect(env: Record<string, string> = {}) {
  const r = spawnSync("bash", [SCRIPT], {
    env: {
      PATH: process.env.PATH,
      TMPDIR: dir,
      DSE_TEST_TAG: tag,
      KVM_DEVICE: kvmDevice,
      QEMU_SYSTEM: qemu,
      PROBE_TIMEOUT: "1",
      FAKE_QEMU_LOG: qemuLog,
      ...env,
    },
    encoding: "utf8",
    timeout: 20_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.trim() };
}

/** The fake qemu's invocations, one argument list each. */
function qemuCalls(): string[] {
  return fs.existsSync(qemuLog) ? fs.readFileSync(qemuLog, "utf8").trimEnd().split("\n") : [];
}

describe("detect-accel.sh without a usable KVM device", () => {
  it("picks tcg without probing when the device is missing", () => {
    const missing = path.join(dir, "no-kvm");
    expect(detect({ KVM_DEVICE: missing, FAKE_QEMU_MODE: "exit-port" })).toEqual({
      code: 0,
      stdout: "tcg\n",
      stderr: `detect-accel: tcg: ${missing} missing`,
    });
    expect(qemuCalls()).toEqual([]);
  });

  it("picks tcg when QEMU is not installed", () => {
    const r = detect({ QEMU_SYSTEM: path.join(dir, "no-qemu") });
    expect(r.stdout).toBe("tcg\n");
    expect(r.stderr).toBe(`detect-accel: tcg: ${path.join(dir, "no-qemu")} not found`);
  });

  it.each(["kvm", "tcg"])("prints DSE_ACCEL=%s as given, without probing", (accel) => {
    expect(detect({ DSE_ACCEL: accel, FAKE_QEMU_MODE: "hang" })).toEqual({
      code: 0,
      stdout: `${accel}\n`,
      stderr: `detect-accel: ${accel}: DSE_ACCEL=${accel} (no probe)`,
    });
    expect(qemuCalls()).toEqual([]);
  });

  it("rejects another DSE_ACCEL with exit 2", () => {
    expect(detect({ DSE_ACCEL: "hvf" })).toEqual({
      code: 2,
      stdout: "",
      stderr: "detect-accel: DSE_ACCEL must be kvm, tcg or auto, got 'hvf'",
    });
  });
});

describe("detect-accel.sh's long-mode probe", () => {
  it("boots the committed long-mode boot sector under -accel kvm -cpu host", () => {
    detect({ FAKE_QEMU_MODE: "exit-port" });
    const [call] = qemuCalls();
    expect(call).toMatch(/^-accel kvm -cpu host /);
    expect(call).toContain("-device isa-debug-exit,iobase=0xf4,iosize=0x04");
    expect(call).toMatch(/-drive file=\S+\/probe\.bin,format=raw/);
  });

  it("picks kvm when the guest writes to serial and exits through isa-debug-exit", () => {
    const r = detect({ FAKE_QEMU_MODE: "exit-port" });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("kvm\n");
    expect(r.stderr).toMatch(/^detect-accel: kvm: long-mode probe ran in \d+\.\d s$/);
  });

  it.each(["serial-only", "exit-port-only"])("picks kvm on either signal alone (%s)", (mode) => {
    const r = detect({ FAKE_QEMU_MODE: mode });
    expect(r.stdout).toBe("kvm\n");
    expect(leftoverProcesses()).toEqual([]);
  });

  it("picks tcg, saying why, when the guest hangs; nothing of the probe is left running", () => {
    const r = detect({ FAKE_QEMU_MODE: "hang" });
    expect(r).toEqual({
      code: 0,
      stdout: "tcg\n",
      stderr:
        "detect-accel: tcg: KVM long-mode probe produced no output in 1 s (nested KVM that cannot run a 64-bit guest)",
    });
    expect(leftoverProcesses()).toEqual([]);
  });

  it("picks tcg with QEMU's error when QEMU fails at once", () => {
    expect(detect({ FAKE_QEMU_MODE: "fail" })).toEqual({
      code: 0,
      stdout: "tcg\n",
      stderr:
        "detect-accel: tcg: KVM long-mode probe failed: qemu exited 1 without guest output: qemu-system-x86_64: -accel kvm: failed to initialize kvm: Permission denied",
    });
  });

  it("picks tcg when the guest never reaches 64-bit code (triple fault: QEMU exits 0)", () => {
    const r = detect({ FAKE_QEMU_MODE: "triple-fault" });
    expect(r.stdout).toBe("tcg\n");
    expect(r.stderr).toBe(
      "detect-accel: tcg: KVM long-mode probe failed: qemu exited 0 without guest output",
    );
  });

  it("leaves no temp files", () => {
    detect({ FAKE_QEMU_MODE: "hang" });
    expect(fs.readdirSync(dir).filter((f) => f.startsWith("dse-accel."))).toEqual([]);
  });
});

describe("detect-accel.sh with PROBE_KERNEL", () => {
  let kernel: string;
  let initrd: string;
  beforeEach(() => {
    kernel = path.join(dir, "vmlinuz");
    initrd = path.join(dir, "initrd.img");
    fs.writeFileSync(kernel, "");
    fs.writeFileSync(initrd, "");
  });

  it("boots the kernel with its initrd on the serial console and picks kvm when it runs init", () => {
    const r = detect({ FAKE_QEMU_MODE: "kernel", PROBE_KERNEL: kernel, PROBE_INITRD: initrd });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("kvm\n");
    expect(r.stderr).toMatch(
      /^detect-accel: kvm: kernel vmlinuz reached user space in \d+\.\d s \(Linux version 6\.1\.0-fake\)$/,
    );
    const [call] = qemuCalls();
    expect(call).toMatch(/^-accel kvm -cpu host /);
    expect(call).toContain(`-kernel ${kernel} -append console=ttyS0`);
    expect(call).toContain(`-initrd ${initrd}`);
    expect(call).not.toContain("probe.bin");
    expect(leftoverProcesses()).toEqual([]);
  });

  it("picks kvm when a kernel without an initrd gets as far as mounting a root", () => {
    const r = detect({ FAKE_QEMU_MODE: "kernel-no-initrd", PROBE_KERNEL: kernel });
    expect(r.stdout).toBe("kvm\n");
    expect(r.stderr).toMatch(/^detect-accel: kvm: kernel vmlinuz reached user space in /);
    expect(leftoverProcesses()).toEqual([]);
  });

  it("picks tcg, naming its last line, when the kernel prints its first lines and then hangs", () => {
    const r = detect({ FAKE_QEMU_MODE: "kernel-stalls", PROBE_KERNEL: kernel });
    expect(r).toEqual({
      code: 0,
      stdout: "tcg\n",
      stderr:
        "detect-accel: tcg: KVM probe with kernel vmlinuz did not reach user space in 1 s (nested KVM that cannot run it); its last line: [    1.169492] clocksource: Switched to clocksource hpet",
    });
    expect(leftoverProcesses()).toEqual([]);
  });

  it("leaves no probe running when its timeout dies before QEMU", () => {
    const r = detect({ FAKE_QEMU_MODE: "kernel-orphan", PROBE_KERNEL: kernel });
    expect(r.stdout).toBe("kvm\n");
    expect(leftoverProcesses()).toEqual([]);
  });

  it("picks tcg, saying why, when the kernel prints nothing", () => {
    const r = detect({ FAKE_QEMU_MODE: "hang", PROBE_KERNEL: kernel });
    expect(r).toEqual({
      code: 0,
      stdout: "tcg\n",
      stderr:
        "detect-accel: tcg: KVM probe with kernel vmlinuz produced no output in 1 s (nested KVM that cannot run a 64-bit guest)",
    });
    expect(qemuCalls()[0]).not.toContain("-initrd");
    expect(leftoverProcesses()).toEqual([]);
  });

  it("picks tcg with QEMU's error when QEMU fails at once", () => {
    const r = detect({ FAKE_QEMU_MODE: "fail", PROBE_KERNEL: kernel });
    expect(r.stdout).toBe("tcg\n");
    expect(r.stderr).toMatch(/^detect-accel: tcg: KVM probe with kernel vmlinuz failed: qemu/);
  });

  it("falls back to the long-mode probe when the kernel file is missing", () => {
    const r = detect({ FAKE_QEMU_MODE: "exit-port", PROBE_KERNEL: path.join(dir, "gone") });
    expect(r.stdout).toBe("kvm\n");
    expect(r.stderr.split("\n")).toEqual([
      `detect-accel: PROBE_KERNEL ${path.join(dir, "gone")} missing; probing with the long-mode boot sector`,
      expect.stringMatching(/^detect-accel: kvm: long-mode probe ran in/),
    ]);
  });
});
