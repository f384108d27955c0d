/**
 * components/qemu/start.sh follows the builder's boot on its serial console: it falls back to TCG
 * when the guest stays silent or stalls under KVM (nested KVM that passes detect-accel's probe
 * but cannot run this guest), and boots again a TCG guest whose kernel stalls before init. QEMU is a fake that
 * daemonizes like the real one (-daemonize -pidfile, -serial file:...); everything start.sh
 * starts (the fake builders, the watchdog) is found by a tag in its environment and killed.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isAlive, taggedProcesses } from "../support/process";

const SCRIPT = path.resolve(__dirname, "..", "..", "components", "qemu", "start.sh");

/**
 * A fake qemu-system-x86_64. With -daemonize it creates the serial log, leaves a "guest" running
 * in the background (pid in -pidfile) and returns, like QEMU. What the guest writes to its serial
 * log: under KVM as FAKE_KVM_GUEST says (default: nothing), under TCG as the next word of
 * FAKE_TCG_GUESTS says (one word per TCG guest, the last one repeated; default boots):
 *   boots   a kernel's log up to init        stalls  a kernel's first lines, then nothing
 *   quiet   a boot loader's line only        panics  a kernel's log up to a panic
 *   systemd a kernel's log without its init line (its log level), then systemd's
 *   dies    nothing: the guest exits at once
 * With FAKE_GUEST_EXITS=1 any guest exits at once, leaving no pidfile. Without -daemonize it is
 * detect-accel.sh's kernel probe: a kernel that runs init. Every call goes to FAKE_QEMU_LOG,
 * every guest's accelerator and pid to FAKE_QEMU_LOG.guests.
 */
const FAKE_QEMU = `#!/usr/bin/env bash
set -euo pipefail
printf '%s\\n' "$*" >>"$FAKE_QEMU_LOG"
accel="" serial="" pidfile="" daemonize=""
while [ $# -gt 0 ]; do
  case $1 in
    -accel) accel=\${2%%,*}; shift ;;
    -serial) serial=\${2#file:}; shift ;;
    -pidfile) pidfile=$2; shift ;;
    -daemonize) daemonize=1 ;;
  esac
  shift
done
linux='[    0.000000] Linux version 6.1.0-fake'
if [ -z "$daemonize" ]; then
  printf '%s\\n' "$linux" '[    0.9] Run /init as init process' >"$serial"
  exec sleep 60
fi
: >"$serial"
# QEMU 7.2 unlinks its pidfile when the guest exits: one that exits at once leaves none.
[ "\${FAKE_GUEST_EXITS:-}" = 1 ] && exit 0
if [ "$accel" = kvm ]; then
  behaviour=\${FAKE_KVM_GUEST:-silent}
else
  read -ra tcg_guests <<<"\${FAKE_TCG_GUESTS:-boots}"
  n=$(cat "$FAKE_QEMU_LOG.tcg" 2>/dev/null || echo 0)
  echo $((n + 1)) >"$FAKE_QEMU_LOG.tcg"
  last=$((\${#tcg_guests[@]} - 1))
  behaviour=\${tcg_guests[$((n < last ? n : last))]}
fi
(
  exec </dev/null >/dev/null 2>&1
  case $behaviour in
    dies) exit 1 ;;
    boots) printf '%s\\n' "$linux" '[    0.9] Run /init as init process' >"$serial" ;;
    stalls) printf '%s\\n' "$linux" '[    1.169492] clocksource: Switched to clocksource hpet' >"$serial" ;;
    quiet) printf '%s\\n' "Booting 'Debian GNU/Linux'" >"$serial" ;;
    systemd) printf '%s\\n' "$linux" '[    9.1] systemd[1]: Reached target basic.target.' >"$serial" ;;
    panics) printf '%s\\n' "$linux" '[    0.9] Kernel panic - not syncing: VFS: Unable to mount root fs' >"$serial" ;;
  esac
  exec sleep 60
) &
echo "$!" >"$pidfile"
echo "$accel $!" >>"$FAKE_QEMU_LOG.guests"
`;

let dir: string;
let tag: string;
let workDir: string;
let qemuLog: string;

/** Kills what this test started (again while the watchdog forks its sleeps); returns leftovers. */
function killTaggedProcesses(): number[] {
  const until = Date.now() + 5000;
  let left = taggedProcesses(tag);
  while (left.length > 0 && Date.now() < until) {
    for (const pid of left) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    spawnSync("sleep", ["0.1"]);
    left = taggedProcesses(tag);
  }
  return left;
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dse-start-fallback-"));
  tag = randomBytes(8).toString("hex");
  workDir = path.join(dir, "work");
  qemuLog = path.join(dir, "qemu.log");
  fs.writeFileSync(path.join(dir, "qemu-system-x86_64"), FAKE_QEMU, { mode: 0o755 });
  fs.writeFileSync(path.join(dir, "seed.iso"), "");
  fs.writeFileSync(path.join(dir, "kvm"), "");
  const img = spawnSync(
    "qemu-img",
    ["create", "-q", "-f", "qcow2", path.join(dir, "base.qcow2"), "1M"],
    {
      encoding: "utf8",
    },
  );
  if (img.status !== 0) {
    throw new Error(`qemu-img create failed (apt-get install qemu-utils): ${img.stderr}`);
  }
});

afterEach(() => {
  const left = killTaggedProcesses();
  fs.rmSync(dir, { recursive: true, force: true });
  expect(left, "processes left behind").toEqual([]);
});

function start(env: Record<string, string>) {
  const r = spawnSync("bash", [SCRIPT], {
    env: {
      // The operator's PATH: start.sh runs `node -e` (no python3 since f6793bf).
      PATH: process.env.PATH,
      TMPDIR: dir,
      DSE_TEST_TAG: tag,
      BASE_IMAGE: path.join(dir, "base.qcow2"),
      WORK_DIR: workDir,
      SEED_PATH: path.join(dir, "seed.iso"),
      DISK_SIZE_GB: "1",
      QEMU_SYSTEM: path.join(dir, "qemu-system-x86_64"),
      KVM_SERIAL_TIMEOUT: "1",
      BOOT_STALL_SECONDS: "1",
      BUILDER_TTL_MINUTES: "5",
      FAKE_QEMU_LOG: qemuLog,
      ...env,
    },
    encoding: "utf8",
    timeout: 30_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function qemuCalls(): string[] {
  return fs.existsSync(qemuLog) ? fs.readFileSync(qemuLog, "utf8").trimEnd().split("\n") : [];
}

/** The guests the fake started: accelerator and pid. */
function guests(): { accel: string; pid: number }[] {
  const file = `${qemuLog}.guests`;
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, "utf8")
    .trimEnd()
    .split("\n")
    .map((line) => {
      const [accel, pid] = line.split(" ");
      return { accel, pid: Number(pid) };
    });
}

/** What a stalled fake kernel's boot is called in start.sh's lines. */
const STALLED =
  "the guest's kernel wrote nothing for 1 s before running init (its last line: [    1.169492] clocksource: Switched to clocksource hpet)";

function restartLines(stderr: string): string[] {
  return stderr.split("\n").filter((line) => line.includes("restarting the builder"));
}

function builderPid(): number {
  return Number(fs.readFileSync(path.join(workDir, "qemu.pid"), "utf8").trim());
}

describe("qemu start.sh: the boot watch, KVM to TCG fallback and stalled boots", () => {
  it("fails naming the serial log when qemu exits as soon as it started, and removes its folder", () => {
    const r = start({ DSE_ACCEL: "tcg", FAKE_GUEST_EXITS: "1" });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(
      `qemu exited as soon as it started; serial log: ${workDir}/serial.log`,
    );
    expect(fs.existsSync(workDir)).toBe(false);
  });

  it("restarts a builder that stays silent under kvm under tcg, printing only the new port", () => {
    const r = start({ DSE_ACCEL: "kvm" });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^\d+\n$/);
    const calls = qemuCalls();
    expect(calls).toHaveLength(2);
    expect(calls[0]).toMatch(/-accel kvm -cpu host .*-daemonize/);
    expect(calls[1]).toMatch(/-accel tcg,thread=multi -cpu max .*-daemonize/);
    // The port on stdout is the one the TCG builder forwards.
    expect(calls[1]).toContain(`hostfwd=tcp:127.0.0.1:${r.stdout.trim()}-:22`);
    const restarts = r.stderr
      .split("\n")
      .filter((line) => line.includes("restarting the builder under tcg"));
    expect(restarts).toEqual([
      "==> qemu: kvm: the guest wrote nothing to the serial console in 1 s; restarting the builder under tcg",
    ]);
    const [kvm, tcg] = guests();
    expect(kvm.accel).toBe("kvm");
    expect(tcg.accel).toBe("tcg");
    expect(isAlive(kvm.pid)).toBe(false);
    expect(builderPid()).toBe(tcg.pid);
    expect(isAlive(tcg.pid)).toBe(true);
    expect(r.stderr).toContain(`builder running (pid ${tcg.pid}, accel tcg)`);
    expect(fs.readFileSync(path.join(workDir, "serial.log"), "utf8")).toContain("Linux version");
  });

  it("also restarts under tcg when qemu exits under kvm before any serial output", () => {
    const r = start({ DSE_ACCEL: "kvm", FAKE_KVM_GUEST: "dies" });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      "==> qemu: kvm: qemu exited before the guest wrote to the serial console; restarting the builder under tcg",
    );
    const [kvm, tcg] = guests();
    expect(kvm.accel).toBe("kvm");
    expect(builderPid()).toBe(tcg.pid);
    expect(r.stderr).toContain(`builder running (pid ${tcg.pid}, accel tcg)`);
  });

  it("keeps a kvm builder whose guest writes to the serial console", () => {
    const r = start({ DSE_ACCEL: "kvm", FAKE_KVM_GUEST: "boots" });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^\d+\n$/);
    expect(qemuCalls()).toHaveLength(1);
    expect(r.stderr).not.toContain("restarting the builder under tcg");
    expect(r.stderr).toContain(`builder running (pid ${builderPid()}, accel kvm)`);
  });

  it("never falls back with KVM_SERIAL_TIMEOUT=0", () => {
    const r = start({ DSE_ACCEL: "kvm", KVM_SERIAL_TIMEOUT: "0" });
    expect(r.code, r.stderr).toBe(0);
    expect(qemuCalls()).toHaveLength(1);
    expect(r.stderr).toContain("accel kvm)");
  });

  it("restarts a kvm builder whose kernel stalls before init under tcg", () => {
    const r = start({ DSE_ACCEL: "kvm", FAKE_KVM_GUEST: "stalls" });
    expect(r.code, r.stderr).toBe(0);
    expect(restartLines(r.stderr)).toEqual([
      `==> qemu: kvm: ${STALLED}; restarting the builder under tcg`,
    ]);
    const [kvm, tcg, ...more] = guests();
    expect(more).toEqual([]);
    expect([kvm.accel, tcg.accel]).toEqual(["kvm", "tcg"]);
    expect(isAlive(kvm.pid)).toBe(false);
    expect(builderPid()).toBe(tcg.pid);
  });

  it("restarts a tcg builder whose kernel stalls before init, on a fresh overlay", () => {
    const r = start({ DSE_ACCEL: "tcg", FAKE_TCG_GUESTS: "stalls boots" });
    expect(r.code, r.stderr).toBe(0);
    expect(restartLines(r.stderr)).toEqual([
      `==> qemu: tcg: ${STALLED}; restarting the builder (boot 2 of 3)`,
    ]);
    const [stalled, booted, ...more] = guests();
    expect(more).toEqual([]);
    expect(isAlive(stalled.pid)).toBe(false);
    expect(builderPid()).toBe(booted.pid);
    expect(r.stdout).toBe(`${/hostfwd=tcp:127\.0\.0\.1:(\d+)-/.exec(qemuCalls()[1])![1]}\n`);
    // A new overlay for each boot: `qemu-img create` logged once per start.
    expect(r.stderr.match(/==> qemu: overlay /g)).toHaveLength(2);
    expect(fs.readFileSync(path.join(workDir, "serial.log"), "utf8")).toContain("Run /init");
  });

  it("fails after three stalled boots, naming the last line, with nothing left running", () => {
    const r = start({ DSE_ACCEL: "tcg", FAKE_TCG_GUESTS: "stalls" });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(restartLines(r.stderr)).toEqual([
      `==> qemu: tcg: ${STALLED}; restarting the builder (boot 2 of 3)`,
      `==> qemu: tcg: ${STALLED}; restarting the builder (boot 3 of 3)`,
    ]);
    expect(r.stderr).toContain(
      `qemu-start: the builder did not boot in 3 boots; the last, under tcg: ${STALLED}`,
    );
    const all = guests();
    expect(all).toHaveLength(3);
    expect(all.filter((g) => isAlive(g.pid))).toEqual([]);
    expect(fs.existsSync(workDir)).toBe(false);
  });

  it("keeps a guest in user space, one whose kernel panics (wait-ssh shows its console), or one it cannot follow", () => {
    for (const behaviour of ["systemd", "panics", "quiet"]) {
      fs.rmSync(qemuLog, { force: true });
      fs.rmSync(`${qemuLog}.guests`, { force: true });
      // A folder each: the fake guest is no qemu on its overlay, so the watchdog of one start
      // takes it for gone at once and removes its folder, which a next start must not share.
      const work = path.join(dir, `work-${behaviour}`);
      const r = start({ DSE_ACCEL: "tcg", FAKE_TCG_GUESTS: behaviour, WORK_DIR: work });
      expect(r.code, r.stderr).toBe(0);
      expect(restartLines(r.stderr), behaviour).toEqual([]);
      expect(guests(), behaviour).toHaveLength(1);
    }
  });

  it("does not watch the boot with BOOT_STALL_SECONDS=0", () => {
    const r = start({ DSE_ACCEL: "tcg", FAKE_TCG_GUESTS: "stalls", BOOT_STALL_SECONDS: "0" });
    expect(r.code, r.stderr).toBe(0);
    expect(guests()).toHaveLength(1);
    expect(restartLines(r.stderr)).toEqual([]);
  });

  it("rejects a BOOT_STALL_SECONDS that is not whole seconds and removes WORK_DIR", () => {
    const r = start({ DSE_ACCEL: "tcg", BOOT_STALL_SECONDS: "1m" });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("qemu-start: BOOT_STALL_SECONDS must be whole seconds, got '1m'");
    expect(qemuCalls()).toEqual([]);
    expect(fs.existsSync(workDir)).toBe(false);
  });

  it("keeps a tcg builder whose kernel runs init", () => {
    const r = start({ DSE_ACCEL: "tcg" });
    expect(r.code, r.stderr).toBe(0);
    expect(qemuCalls()).toHaveLength(1);
    expect(r.stderr).toContain("detect-accel: tcg: DSE_ACCEL=tcg (no probe)");
    expect(r.stderr).toContain("accel tcg)");
  });

  it("probes KVM with the base's kernel and initrd (auto), then boots the builder under kvm", () => {
    const kernel = path.join(dir, "vmlinuz");
    const initrd = path.join(dir, "initrd.img");
    fs.writeFileSync(kernel, "");
    fs.writeFileSync(initrd, "");
    const r = start({
      DSE_ACCEL: "auto",
      KVM_DEVICE: path.join(dir, "kvm"),
      PROBE_TIMEOUT: "5",
      KERNEL: kernel,
      INITRD: initrd,
      APPEND: "root=/dev/vda console=ttyS0",
      FAKE_KVM_GUEST: "boots",
    });
    expect(r.code, r.stderr).toBe(0);
    const [probe, builder, ...more] = qemuCalls();
    expect(more).toEqual([]);
    expect(probe).not.toContain("-daemonize");
    expect(probe).toMatch(/^-accel kvm -cpu host /);
    expect(probe).toContain(`-kernel ${kernel} -append console=ttyS0 panic=-1 -initrd ${initrd}`);
    expect(builder).toMatch(/-accel kvm -cpu host .*-daemonize/);
    expect(r.stderr).toMatch(
      /detect-accel: kvm: kernel vmlinuz reached user space in \d+\.\d s \(Linux version 6\.1\.0-fake\)/,
    );
    expect(r.stderr).toContain("accel kvm)");
  });

  it("rejects a KVM_SERIAL_TIMEOUT that is not whole seconds and removes WORK_DIR", () => {
    const r = start({ DSE_ACCEL: "kvm", KVM_SERIAL_TIMEOUT: "soon" });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("qemu-start: KVM_SERIAL_TIMEOUT must be whole seconds, got 'soon'");
    expect(qemuCalls()).toEqual([]);
    expect(fs.existsSync(workDir)).toBe(false);
  });
});
