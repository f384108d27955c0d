/**
 * Boots throwaway Debian 12 VMs under QEMU for e2e tests and the benchmark. API: README.md.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { BootWatch } from "./boot-watch";

export const REPO_ROOT = path.resolve(__dirname, "..", "..");
const VM_DIR = __dirname;
const HOST_DIR = path.join(REPO_ROOT, "components", "qemu");
export const CACHE_DIR = path.join(REPO_ROOT, ".cache", "vm");
/** A kernel silent this long before init is hung (start.sh's BOOT_STALL_SECONDS default)... */
const BOOT_STALL_MS = 60_000;
/** ...and is booted again, up to this many boots in all. */
const BOOTS = 3;

type Log = (line: string) => void;
const defaultLog: Log = (line) => process.stderr.write(`[vm] ${line}\n`);

export interface DebianBase {
  disk: string;
  kernel: string;
  initrd: string;
  append: string;
  rootfsTar: string;
  user: string;
}

export interface BaseOptions {
  mirror?: string;
  log?: Log;
}

export interface RunOptions {
  check?: boolean;
  timeoutMs?: number;
  input?: string;
  onOutput?: (chunk: string) => void;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface VmOptions {
  disk: string;
  kernel?: string;
  initrd?: string;
  append?: string;
  user?: string;
  memoryMb?: number;
  cpus?: number;
  diskSizeGb?: number;
  accel?: "kvm" | "tcg" | "auto";
  sshTimeoutMs?: number;
  builderTtlMinutes?: number;
  log?: Log;
}

export interface Vm {
  user: string;
  sshPort: number;
  keyPath: string;
  publicKey: string;
  accel: "kvm" | "tcg";
  serialLog: string;
  workDir: string;
  overlay: string;
  run(cmd: string, opts?: RunOptions): Promise<RunResult>;
  copyIn(localPath: string, remotePath: string): Promise<void>;
  copyOut(remotePath: string, localPath: string): Promise<void>;
  sshArgs(): string[];
  shutdown(): Promise<void>;
  stop(): Promise<void>;
}

/** The Debian archive this host's apt uses: reachable from here by construction. */
export function hostDebianMirror(): string {
  const files = ["/etc/apt/sources.list"];
  try {
    for (const f of fs.readdirSync("/etc/apt/sources.list.d").sort()) {
      files.push(path.join("/etc/apt/sources.list.d", f));
    }
  } catch {
    // no sources.list.d: fall back below
  }
  for (const file of files) {
    let text = "";
    try {
      text = fs.readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n")) {
      if (line.trimStart().startsWith("#")) continue;
      for (const word of line.split(/\s+/)) {
        if (/^https?:\/\/\S+\/debian\/?$/.test(word)) return word.replace(/\/$/, "");
      }
    }
  }
  return "http://deb.debian.org/debian";
}

function runProcess(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number; onOutput?: Log } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: opts.env ?? process.env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill("SIGKILL");
          }, opts.timeoutMs);
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
      opts.onOutput?.(d);
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
      opts.onOutput?.(d);
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      if (timedOut) stderr += `\n[vm] ${cmd} killed after ${opts.timeoutMs} ms`;
      resolve({
        code: code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : 1),
        stdout,
        stderr,
      });
    });
    // A command that exits without reading its input (ssh running a remote command) closes the
    // pipe first: the late write's EPIPE is not the command's failure, its exit status is.
    child.stdin.on("error", () => undefined);
    child.stdin.end(opts.input ?? "");
  });
}

function lastLines(text: string, n = 20): string {
  return text.trimEnd().split("\n").slice(-n).join("\n");
}

async function mustRun(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  const r = await runProcess(cmd, args, { env });
  if (r.code !== 0) {
    throw new Error(
      `${cmd} ${args.join(" ")} exited ${r.code}:\n${lastLines(r.stderr + r.stdout)}`,
    );
  }
  return r.stdout;
}

/** Builds the cached Debian 12 base once; concurrent callers wait on the same flock. */
export async function ensureDebianBase(opts: BaseOptions = {}): Promise<DebianBase> {
  const log = opts.log ?? defaultLog;
  const mirror = opts.mirror ?? hostDebianMirror();
  const script = path.join(VM_DIR, "build-base.sh");
  const key = createHash("sha256")
    .update(fs.readFileSync(script))
    .update("\0")
    .update(mirror)
    .digest("hex")
    .slice(0, 16);
  const dir = path.join(CACHE_DIR, key);
  const base: DebianBase = {
    disk: path.join(dir, "disk.qcow2"),
    kernel: path.join(dir, "vmlinuz"),
    initrd: path.join(dir, "initrd.img"),
    append: "",
    rootfsTar: path.join(dir, "rootfs.tar"),
    user: "debian",
  };
  if (!fs.existsSync(base.disk)) {
    fs.mkdirSync(CACHE_DIR, { recursive: true });
    log(`building the Debian 12 base in ${dir} (a few minutes, once)`);
    const r = await runProcess("flock", [path.join(CACHE_DIR, ".lock"), "bash", script], {
      env: { ...process.env, OUT_DIR: dir, MIRROR: mirror },
      onOutput: (chunk) => {
        for (const line of chunk.split("\n")) if (line.startsWith("build-base:")) log(line);
      },
    });
    if (r.code !== 0 || !fs.existsSync(base.disk)) {
      throw new Error(`building the VM base failed (exit ${r.code}):\n${lastLines(r.stderr, 40)}`);
    }
  }
  base.append = fs.readFileSync(path.join(dir, "append"), "utf8").trim();
  return base;
}

function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface AccelOptions {
  /** Probe KVM with this kernel (VMs booted by kernel): KVM counts only if it prints under it. */
  kernel?: string;
  initrd?: string;
  /** Gets detect-accel.sh's stderr: the choice and why; default: stderr. */
  log?: Log;
}

export interface AccelChoice {
  accel: "kvm" | "tcg";
  /** Why, from detect-accel.sh: e.g. "long-mode probe ran in 0.2 s", "/dev/kvm missing". */
  reason: string;
}

/**
 * The accelerator components/qemu/detect-accel.sh picks: the same detection the QEMU platform's
 * start.sh runs. Logs the choice and the reason.
 */
export function chooseAccel(
  requested?: "kvm" | "tcg" | "auto",
  opts: AccelOptions = {},
): AccelChoice {
  const log = opts.log ?? defaultLog;
  const env = { ...process.env };
  if (requested) env.DSE_ACCEL = requested;
  delete env.PROBE_KERNEL;
  delete env.PROBE_INITRD;
  if (opts.kernel) {
    env.PROBE_KERNEL = opts.kernel;
    if (opts.initrd) env.PROBE_INITRD = opts.initrd;
  }
  // The script bounds its probe (PROBE_TIMEOUT); this only guards against a stuck host.
  const r = spawnSync("bash", [path.join(HOST_DIR, "detect-accel.sh")], {
    env,
    encoding: "utf8",
    timeout: 120_000,
  });
  const accel = r.stdout.trim();
  const lines = r.stderr.split("\n").filter((line) => line.trim());
  for (const line of lines) log(line);
  if (r.status !== 0 || (accel !== "kvm" && accel !== "tcg")) {
    throw new Error(`detect-accel.sh failed (exit ${r.status}): ${r.stderr}`);
  }
  const decision = `detect-accel: ${accel}: `;
  const reason = lines.find((line) => line.startsWith(decision))?.slice(decision.length) ?? "";
  return { accel, reason };
}

/** `chooseAccel(...).accel`: kvm or tcg. */
export function detectAccel(
  requested?: "kvm" | "tcg" | "auto",
  opts: AccelOptions = {},
): "kvm" | "tcg" {
  return chooseAccel(requested, opts).accel;
}

interface Live {
  qemu?: ChildProcess;
  workDir: string;
  controlPath: string;
  sshBase: string[];
}

/** VMs still running in this process: killed synchronously if the process exits or is signalled. */
const live = new Set<Live>();
let handlersInstalled = false;

function killSync(vm: Live): void {
  if (vm.qemu && vm.qemu.exitCode === null && vm.qemu.signalCode === null) {
    vm.qemu.kill("SIGTERM");
  }
  spawnSync("ssh", [...vm.sshBase, "-O", "exit", "dse-vm"], { stdio: "ignore", timeout: 5000 });
  fs.rmSync(vm.workDir, { recursive: true, force: true });
  live.delete(vm);
}

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on("exit", () => {
    for (const vm of [...live]) killSync(vm);
  });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      for (const vm of [...live]) killSync(vm);
      process.exit(128 + (os.constants.signals[signal] ?? 0));
    });
  }
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** ssh options for a throwaway guest on a loopback port: only this key, no host key records. */
export function sshOptions(port: number, keyPath: string): string[] {
  return [
    "-p",
    String(port),
    "-i",
    keyPath,
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "IdentityAgent=none",
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "GlobalKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
    "-o",
    "BatchMode=yes",
    "-o",
    "ConnectTimeout=20",
  ];
}

export async function startVm(opts: VmOptions): Promise<Vm> {
  const log = opts.log ?? defaultLog;
  const user = opts.user ?? "debian";
  let accel = detectAccel(opts.accel ?? (process.env.DSE_ACCEL as VmOptions["accel"]), {
    kernel: opts.kernel,
    initrd: opts.initrd,
    log,
  });
  installExitHandlers();
  // Short path: the ssh control socket must fit in a unix socket address.
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "dse-vm-"));
  const state: Live = { workDir, controlPath: path.join(workDir, "ctl"), sshBase: [] };
  live.add(state);
  try {
    const keyPath = path.join(workDir, "id_ed25519");
    await mustRun("ssh-keygen", [
      "-q",
      "-t",
      "ed25519",
      "-N",
      "",
      "-C",
      "dse-image-build",
      "-f",
      keyPath,
    ]);
    const publicKey = fs.readFileSync(`${keyPath}.pub`, "utf8").trim();
    const overlay = path.join(workDir, "disk.qcow2");
    const createArgs = [
      "create",
      "-q",
      "-f",
      "qcow2",
      "-F",
      "qcow2",
      "-b",
      path.resolve(opts.disk),
      overlay,
    ];
    if (opts.diskSizeGb) createArgs.push(`${opts.diskSizeGb}G`);
    const createOverlay = async () => {
      fs.rmSync(overlay, { force: true });
      await mustRun("qemu-img", createArgs);
    };
    await createOverlay();
    const seed = path.join(workDir, "seed.iso");
    await mustRun("bash", [path.join(HOST_DIR, "make-seed.sh")], {
      ...process.env,
      SEED_PATH: seed,
      SSH_PUBLIC_KEY: publicKey,
      SSH_USER: user,
      INSTANCE_ID: `dse-test-${randomBytes(6).toString("hex")}`,
      ...(opts.builderTtlMinutes ? { BUILDER_TTL_MINUTES: String(opts.builderTtlMinutes) } : {}),
    });
    const serialLog = path.join(workDir, "serial.log");
    const qemuLog = path.join(workDir, "qemu.log");

    const sshBaseFor = (port: number) => [
      ...sshOptions(port, keyPath),
      "-o",
      "ServerAliveInterval=15",
      "-o",
      "ServerAliveCountMax=8",
      "-o",
      `ControlPath=${state.controlPath}`,
      "-o",
      "ControlMaster=auto",
      "-o",
      "ControlPersist=yes",
      "-o",
      "HostKeyAlias=dse-vm",
      "-o",
      "HostName=127.0.0.1",
      "-o",
      `User=${user}`,
    ];

    let port = 0;
    const deadline = Date.now() + (opts.sshTimeoutMs ?? 6 * 60_000);
    // The free port can be taken between probing and QEMU binding it: retry with another.
    const launch = async (): Promise<ChildProcess> => {
      for (let attempt = 1; ; attempt++) {
        port = await freeLoopbackPort();
        const qemuArgs = [
          "-name",
          "dse-test-vm",
          "-machine",
          "pc",
          "-accel",
          accel === "kvm" ? "kvm" : "tcg,thread=multi",
          "-cpu",
          accel === "kvm" ? "host" : "max",
          "-m",
          String(opts.memoryMb ?? 2048),
          "-smp",
          String(opts.cpus ?? 2),
          "-nodefaults",
          "-display",
          "none",
          "-no-reboot",
          "-serial",
          `file:${serialLog}`,
          // A throwaway overlay: guest fsyncs need not reach the host disk.
          "-drive",
          `file=${overlay},if=virtio,format=qcow2,cache=unsafe,discard=unmap`,
          "-drive",
          `file=${seed},if=virtio,format=raw,readonly=on`,
          "-netdev",
          `user,id=net0,hostfwd=tcp:127.0.0.1:${port}-:22`,
          "-device",
          "virtio-net-pci,netdev=net0",
          "-device",
          "virtio-rng-pci",
        ];
        if (opts.kernel) {
          qemuArgs.push(
            "-kernel",
            opts.kernel,
            "-initrd",
            opts.initrd ?? "",
            "-append",
            opts.append ?? "",
          );
        }
        const out = fs.openSync(qemuLog, "a");
        state.qemu = spawn(
          "bash",
          [path.join(VM_DIR, "run-qemu.sh"), "qemu-system-x86_64", ...qemuArgs],
          {
            env: { ...process.env, WATCH_PID: String(process.pid), WORK_DIR: workDir },
            stdio: ["ignore", out, out],
          },
        );
        fs.closeSync(out);
        state.sshBase = sshBaseFor(port);
        log(`qemu (${accel}) started, ssh on 127.0.0.1:${port}, work dir ${workDir}`);
        if (await waitForExit(state.qemu, 3000)) {
          const qlog = fs.readFileSync(qemuLog, "utf8");
          if (attempt < 3 && /hostfwd|Could not set up host forwarding/i.test(qlog)) continue;
          throw new Error(`qemu exited at start:\n${lastLines(qlog)}`);
        }
        return state.qemu;
      }
    };
    let qemu = await launch();

    const started = Date.now();
    let watch = new BootWatch(serialLog, BOOT_STALL_MS);
    for (let boot = 1; ;) {
      const r = await runProcess("ssh", [...state.sshBase, "dse-vm", "true"], {
        timeoutMs: 60_000,
      });
      if (r.code === 0) break;
      if (qemu.exitCode !== null || qemu.signalCode !== null) {
        throw new Error(
          `the VM stopped before SSH came up:\n${lastLines(fs.readFileSync(qemuLog, "utf8"))}\n` +
            `serial:\n${readTail(serialLog)}`,
        );
      }
      const stalled = watch.stalled();
      if (stalled && boot < BOOTS) {
        boot++;
        // As start.sh does: a stall under kvm is nested KVM that passed the probe.
        accel = "tcg";
        log(`the VM's ${stalled}; booting it again under tcg on a fresh overlay (boot ${boot})`);
        qemu.kill("SIGTERM");
        if (!(await waitForExit(qemu, 10_000))) qemu.kill("SIGKILL");
        await waitForExit(qemu, 10_000);
        fs.rmSync(serialLog, { force: true });
        await createOverlay();
        qemu = await launch();
        watch = new BootWatch(serialLog, BOOT_STALL_MS);
        continue;
      }
      if (Date.now() > deadline) {
        throw new Error(
          `no SSH on 127.0.0.1:${port} in time; last error: ${r.stderr.trim()}\nserial:\n${readTail(serialLog)}`,
        );
      }
      await sleep(3000);
    }
    log(`ssh up after ${Math.round((Date.now() - started) / 1000)} s`);

    const vm: Vm = {
      user,
      sshPort: port,
      keyPath,
      publicKey,
      accel,
      serialLog,
      workDir,
      overlay,
      sshArgs: () => [...state.sshBase],
      async run(cmd, runOpts = {}) {
        const r = await runProcess("ssh", [...state.sshBase, "dse-vm", cmd], {
          input: runOpts.input,
          timeoutMs: runOpts.timeoutMs ?? 30 * 60_000,
          onOutput: runOpts.onOutput,
        });
        if (runOpts.check && r.code !== 0) {
          throw new Error(
            `in the VM: ${cmd}\nexited ${r.code}:\n${lastLines(r.stderr + "\n" + r.stdout, 30)}`,
          );
        }
        return r;
      },
      async copyIn(localPath, remotePath) {
        await mustRun("scp", [
          "-q",
          "-r",
          ...scpArgs(state.sshBase),
          localPath,
          `dse-vm:${remotePath}`,
        ]);
      },
      async copyOut(remotePath, localPath) {
        await mustRun("scp", [
          "-q",
          "-r",
          ...scpArgs(state.sshBase),
          `dse-vm:${remotePath}`,
          localPath,
        ]);
      },
      async shutdown() {
        await runProcess("ssh", [...state.sshBase, "dse-vm", "sudo systemctl poweroff"], {
          timeoutMs: 30_000,
        });
        if (!(await waitForExit(qemu, 3 * 60_000))) qemu.kill("SIGTERM");
        await waitForExit(qemu, 10_000);
        spawnSync("ssh", [...state.sshBase, "-O", "exit", "dse-vm"], {
          stdio: "ignore",
          timeout: 5000,
        });
      },
      async stop() {
        if (!live.has(state)) return;
        qemu.kill("SIGTERM");
        if (!(await waitForExit(qemu, 10_000))) qemu.kill("SIGKILL");
        killSync(state);
      },
    };
    return vm;
  } catch (err) {
    killSync(state);
    throw err;
  }
}

/** scp spells the port -P; every other ssh option carries over as -o/-i. */
function scpArgs(sshBase: string[]): string[] {
  const out = [...sshBase];
  const i = out.indexOf("-p");
  if (i >= 0) out[i] = "-P";
  return out;
}

function readTail(file: string, n = 30): string {
  try {
    return lastLines(fs.readFileSync(file, "utf8"), n);
  } catch {
    return "(no output)";
  }
}
