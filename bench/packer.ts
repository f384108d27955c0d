/**
 * Builder B of the benchmark: Packer 1.6.6's qemu builder on the same Debian base, running the
 * same provision/ scripts with the same commands the Provisioner runs.
 */
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  PROVISION_STEPS,
  ProvisionSettings,
  REMOTE_DIR,
  prepareCommand,
  provisionCommand,
} from "../components/provision-commands";
import { PROVISION_DIR } from "../components/lifecycle/fingerprint";

export interface PackerBuild {
  disk: string;
  kernel: string;
  initrd: string;
  append: string;
  user: string;
  accel: "kvm" | "tcg";
  /** Why `accel` (detect-accel.sh's reason), for the log. */
  accelReason?: string;
  settings: ProvisionSettings;
  memoryMb: number;
  cpus: number;
  log: (line: string) => void;
}

export interface PackerResult {
  seconds: number;
  /** Packer's output lines with the seconds since the build began: its phases. */
  lines: { at: number; line: string }[];
  /** The compressed qcow2 Packer wrote; removed with `workDir`. */
  output: string;
  workDir: string;
}

/** The template as Packer 1.6.6 reads it (JSON; HCL2 was still beta then). */
export function packerTemplate(b: PackerBuild, work: { key: string; seed: string; out: string }) {
  return {
    builders: [
      {
        type: "qemu",
        disk_image: true,
        // Packer 1.6.6 creates the backing-file overlay without -F, which QEMU 7.2 refuses.
        use_backing_file: false,
        iso_url: `file://${b.disk}`,
        iso_checksum: "none",
        format: "qcow2",
        disk_compression: true,
        // Keep the base's 6 GiB (the pipeline's diskSizeGb): Packer 1.6.6 would grow it to 40 GiB.
        disk_size: "6144M",
        skip_resize_disk: true,
        disk_interface: "virtio",
        // Packer at its best: discards reach the image file, so cleanup.sh's fstrim frees the
        // deleted blocks and no zero-fill is needed (both options exist in 1.6.6).
        disk_discard: "unmap",
        disk_detect_zeroes: "unmap",
        net_device: "virtio-net",
        accelerator: b.accel,
        headless: true,
        memory: b.memoryMb,
        cpus: b.cpus,
        output_directory: work.out,
        vm_name: "packer.qcow2",
        communicator: "ssh",
        ssh_username: b.user,
        ssh_private_key_file: work.key,
        ssh_timeout: "15m",
        host_port_min: 22000,
        host_port_max: 22999,
        vnc_bind_address: "127.0.0.1",
        shutdown_command: "sudo systemctl poweroff",
        shutdown_timeout: "5m",
        qemuargs: [
          // Packer's default CPU is qemu64; the pipeline runs `-cpu max` under TCG (host under KVM).
          ["-cpu", b.accel === "kvm" ? "host" : "max"],
          ["-kernel", b.kernel],
          ["-initrd", b.initrd],
          ["-append", b.append],
          ["-cdrom", work.seed],
        ],
      },
    ],
    provisioners: [
      { type: "shell", inline: [prepareCommand(120)] },
      { type: "file", source: PROVISION_DIR, destination: REMOTE_DIR },
      {
        type: "shell",
        inline_shebang: "/bin/bash -e",
        inline: PROVISION_STEPS.map((step) => provisionCommand(step, b.settings)),
      },
    ],
  };
}

/** Process groups still running (packer and the qemu it starts): killed by `killPackerSync`. */
const liveGroups = new Set<number>();
/** Work folders of builds in progress: removed by `killPackerSync`. */
const liveDirs = new Set<string>();

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, log: (l: string) => void) {
  return new Promise<void>((resolve, reject) => {
    // Its own process group, so an interrupted benchmark can end packer and its qemu together.
    const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    if (child.pid) liveGroups.add(child.pid);
    let tail = "";
    const onData = (chunk: Buffer) => {
      const text = chunk.toString();
      tail = (tail + text).slice(-4000);
      for (const line of text.split("\n")) if (line.trim()) log(line);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("error", reject);
    child.on("close", (code) => {
      if (child.pid) liveGroups.delete(child.pid);
      if (code === 0) resolve();
      else reject(new Error(`${cmd} exited ${code}:\n${tail}`));
    });
  });
}

function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Synchronous, for exit and signal handlers: interrupts packer (it stops its qemu), kills what
 * is left of its process group after a grace period, and removes the work folders.
 */
export function killPackerSync(): void {
  const groups = [...liveGroups].filter((g) => signalGroup(g, "SIGINT"));
  for (let i = 0; i < 10 && groups.some((g) => signalGroup(g, 0)); i++) {
    spawnSync("sleep", ["0.5"]);
  }
  for (const g of groups) signalGroup(g, "SIGKILL");
  liveGroups.clear();
  for (const dir of liveDirs) fs.rmSync(dir, { recursive: true, force: true });
  liveDirs.clear();
}

/** Removes a finished build's work folder (its output included). */
export function removePackerWork(result: PackerResult): void {
  fs.rmSync(result.workDir, { recursive: true, force: true });
  liveDirs.delete(result.workDir);
}

export async function packerBuild(b: PackerBuild): Promise<PackerResult> {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "dse-packer-"));
  liveDirs.add(workDir);
  const key = path.join(workDir, "id_ed25519");
  const seed = path.join(workDir, "seed.iso");
  const out = path.join(workDir, "out");
  const started = process.hrtime.bigint();
  const since = () => Number(process.hrtime.bigint() - started) / 1e9;
  const lines: { at: number; line: string }[] = [];
  b.log(`packer qemu builder: accelerator ${b.accel}${b.accelReason ? ` (${b.accelReason})` : ""}`);
  await run(
    "ssh-keygen",
    ["-q", "-t", "ed25519", "-N", "", "-C", "dse-image-build", "-f", key],
    process.env,
    b.log,
  );
  await run(
    "bash",
    [path.join(PROVISION_DIR, "..", "components", "qemu", "make-seed.sh")],
    {
      ...process.env,
      SEED_PATH: seed,
      SSH_PUBLIC_KEY: fs.readFileSync(`${key}.pub`, "utf8").trim(),
      SSH_USER: b.user,
      INSTANCE_ID: `dse-packer-${randomBytes(6).toString("hex")}`,
    },
    b.log,
  );
  const template = path.join(workDir, "dse_vm.json");
  fs.writeFileSync(template, JSON.stringify(packerTemplate(b, { key, seed, out }), null, 2));
  await run(
    "packer",
    ["build", "-color=false", template],
    {
      ...process.env,
      PACKER_LOG: "",
      CHECKPOINT_DISABLE: "1",
      PACKER_CACHE_DIR: path.join(workDir, "cache"),
    },
    (line) => {
      lines.push({ at: since(), line });
      b.log(line);
    },
  );
  return { seconds: since(), lines, output: path.join(out, "packer.qcow2"), workDir };
}
