/**
 * The long-mode probe detect-accel.sh boots (components/qemu/longmode-probe): the committed
 * probe.bin is what probe.asm assembles to, and it really reaches 64-bit code, proven under TCG
 * (this needs no KVM): only its 64-bit path writes "LM64" to the serial port and exits QEMU
 * with status 85 through isa-debug-exit.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

const QEMU_DIR = path.resolve(__dirname, "..", "..", "components", "qemu");
const PROBE_DIR = path.join(QEMU_DIR, "longmode-probe");
const PROBE_BIN = path.join(PROBE_DIR, "probe.bin");
const QEMU = "qemu-system-x86_64";

function onPath(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dse-longmode-probe-"));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Boots a copy of probe.bin under TCG with `cpu`; returns QEMU's exit status and the serial. */
function bootUnderTcg(cpu: string): { code: number | null; serial: string } {
  if (!onPath(QEMU)) {
    throw new Error(`${QEMU} is not installed (apt-get install qemu-system-x86)`);
  }
  const disk = path.join(dir, "probe.bin");
  const serial = path.join(dir, "serial.log");
  fs.copyFileSync(PROBE_BIN, disk);
  const r = spawnSync(
    QEMU,
    [
      ...["-accel", "tcg", "-cpu", cpu, "-machine", "pc", "-nodefaults", "-display", "none"],
      ...["-no-reboot", "-m", "32", "-serial", `file:${serial}`],
      ...["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"],
      ...["-drive", `file=${disk},format=raw`],
    ],
    { encoding: "utf8", timeout: 20_000, killSignal: "SIGKILL" },
  );
  return { code: r.status, serial: fs.existsSync(serial) ? fs.readFileSync(serial, "utf8") : "" };
}

describe("longmode-probe/probe.bin", () => {
  it("is a 512-byte boot sector", () => {
    const bin = fs.readFileSync(PROBE_BIN);
    expect(bin.length).toBe(512);
    expect(bin.subarray(510).toString("hex")).toBe("55aa");
  });

  it("is what probe.asm assembles to (needs nasm)", ({ skip }) => {
    skip(
      !onPath("nasm"),
      "nasm is not on PATH, so probe.bin was not re-assembled from probe.asm (apt-get install nasm)",
    );
    const out = path.join(dir, "rebuilt.bin");
    const r = spawnSync("bash", [path.join(PROBE_DIR, "build.sh")], {
      env: { ...process.env, OUT: out },
      encoding: "utf8",
    });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(fs.readFileSync(out).equals(fs.readFileSync(PROBE_BIN))).toBe(true);
  });

  it("reaches 64-bit code under TCG: serial LM64 and exit status 85", () => {
    expect(bootUnderTcg("max")).toEqual({ code: 85, serial: "LM64\n" });
  });

  it("writes nothing and triple-faults on a CPU without long mode (the signals are 64-bit only)", () => {
    expect(bootUnderTcg("qemu32")).toEqual({ code: 0, serial: "" });
  });

  it("makes detect-accel.sh pick kvm when QEMU really runs it (TCG standing in for KVM)", () => {
    // A QEMU wrapper that turns the probe's `-accel kvm -cpu host` into `-accel tcg -cpu max`,
    // and a fake KVM device: the whole probe path with the real QEMU and the committed binary.
    const wrapper = path.join(dir, "qemu-as-kvm");
    fs.writeFileSync(
      wrapper,
      `#!/usr/bin/env bash
args=()
for arg in "$@"; do
  case $arg in kvm) arg=tcg ;; host) arg=max ;; esac
  args+=("$arg")
done
exec ${QEMU} "\${args[@]}"
`,
      { mode: 0o755 },
    );
    fs.writeFileSync(path.join(dir, "kvm"), "");
    const r = spawnSync("bash", [path.join(QEMU_DIR, "detect-accel.sh")], {
      env: {
        PATH: process.env.PATH,
        TMPDIR: dir,
        KVM_DEVICE: path.join(dir, "kvm"),
        QEMU_SYSTEM: wrapper,
        PROBE_TIMEOUT: "8",
      },
      encoding: "utf8",
      timeout: 20_000,
    });
    expect(r.stdout).toBe("kvm\n");
    expect(r.stderr).toMatch(/^detect-accel: kvm: long-mode probe ran in \d+\.\d s\n$/);
  });
});
