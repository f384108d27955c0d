/**
 * dse-image's local QEMU pipeline run for real, outside Pulumi: the SAME host scripts the
 * QemuImage component runs (hostScript(), in its dependsOn order: fetch, seed, start, the
 * Provisioner's prepare/upload/install/verify/cleanup over SSH, stop, export). Shared by the
 * end-to-end test and the benchmark, so both measure exactly what the component does.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  REMOTE_DIR,
  onFailure,
  prepareCommand,
  provisionCommand,
  type ProvisionSettings,
} from "../../../components/provision-commands";
import { hostScript } from "../../../components/qemu/image";
import { REPO_ROOT, sshOptions, type DebianBase } from "../../vm";

export { sshOptions };

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(
  cmd: string,
  args: string[],
  opts: { env?: Record<string, string>; input?: string; timeoutMs?: number } = {},
): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: { ...process.env, ...opts.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      if (process.env.DSE_E2E_VERBOSE) process.stderr.write(d);
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 30 * 60_000);
    child.on("error", reject);
    // A command that exits without reading stdin (ssh to a refusing host) must not throw EPIPE.
    child.stdin.on("error", () => undefined);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(opts.input ?? "");
  });
}

export const tail = (text: string, n = 25) => text.trim().split("\n").slice(-n).join("\n");

export async function mustRun(cmd: string, args: string[], env?: Record<string, string>) {
  const r = await run(cmd, args, { env });
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} exited ${r.code}:\n${tail(r.stderr)}`);
  }
  return r.stdout;
}

export function sha256File(file: string): string {
  return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface ImageRecord {
  id: string;
  name: string;
  sha256: string;
  manifest: Record<string, unknown>;
}

export interface LocalBuildOptions {
  base: DebianBase;
  settings: ProvisionSettings;
  imageName: string;
  /** Folder for the cache, key and output; the caller removes it. */
  root: string;
  log: (line: string) => void;
  diskSizeGb?: number;
}

export interface LocalBuild {
  record: ImageRecord;
  /** Wall seconds of each step, in order, and of the whole build. */
  steps: Record<string, number>;
  seconds: number;
  /** Builder facts the e2e checks after the build. */
  keyPath: string;
  workDir: string;
  builderPid: number;
  buildMachineId: string;
}

/**
 * Runs the whole pipeline. On failure it kills the builder before rethrowing; the watchdog then
 * removes the work folder, as it does for the component.
 */
export async function buildLocalImage(o: LocalBuildOptions): Promise<LocalBuild> {
  const started = Date.now();
  const steps: Record<string, number> = {};
  const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    const value = await fn();
    steps[name] = (Date.now() - t0) / 1000;
    o.log(`${name}: ${steps[name].toFixed(1)} s`);
    return value;
  };
  const hostStep = async (script: string, env: Record<string, string>) => {
    const r = await run("sh", ["-c", hostScript(script)], { env });
    if (r.code !== 0) throw new Error(`${script} exited ${r.code}:\n${tail(r.stderr + r.stdout)}`);
    return r.stdout.trim();
  };

  const cacheDir = path.join(o.root, "cache");
  const workDir = path.join(cacheDir, "builds", o.imageName);
  const keyPath = path.join(o.root, "build_key");
  const user = o.base.user;
  let port = 0;
  let builderPid = 0;
  const ssh = () => [...sshOptions(port, keyPath), `${user}@127.0.0.1`];
  const remote = async (cmd: string, what: string) => {
    const r = await run("ssh", [...ssh(), cmd]);
    if (r.code !== 0) throw new Error(`${what} exited ${r.code}:\n${tail(r.stderr + r.stdout)}`);
    return r.stdout;
  };

  try {
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
    const cached = await timed("fetch", () =>
      hostStep("fetch-base.sh", {
        SOURCE_URL: `file://${o.base.disk}`,
        SOURCE_SHA256: sha256File(o.base.disk),
        CACHE_DIR: cacheDir,
      }),
    );
    const seedPath = path.join(workDir, "seed.iso");
    await timed("seed", () =>
      hostStep("make-seed.sh", {
        SEED_PATH: seedPath,
        SSH_PUBLIC_KEY: publicKey,
        SSH_USER: user,
        INSTANCE_ID: `${o.imageName}-build`,
        BUILDER_TTL_MINUTES: "60",
      }),
    );
    port = Number(
      await timed("start", () =>
        hostStep("start.sh", {
          BASE_IMAGE: cached,
          WORK_DIR: workDir,
          SEED_PATH: seedPath,
          DISK_SIZE_GB: String(o.diskSizeGb ?? 6),
          MEMORY_MB: "2048",
          CPUS: "2",
          DSE_ACCEL: process.env.DSE_ACCEL ?? "auto",
          KERNEL: o.base.kernel,
          INITRD: o.base.initrd,
          APPEND: o.base.append,
          BUILDER_TTL_MINUTES: "60",
        }),
      ),
    );
    builderPid = Number(fs.readFileSync(path.join(workDir, "qemu.pid"), "utf8").trim());
    await timed("ssh", async () => {
      const until = Date.now() + 10 * 60_000;
      for (;;) {
        const r = await run("ssh", [...ssh(), "true"], { timeoutMs: 60_000 });
        if (r.code === 0) return;
        if (!isAlive(builderPid)) throw new Error("the builder stopped before SSH came up");
        if (Date.now() > until) throw new Error(`no SSH in time: ${r.stderr.trim()}`);
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
    });
    await timed("prepare", () => remote(prepareCommand(60), "prepare"));
    // Like the Provisioner's dial retries: sshd may restart once while cloud-init finishes.
    const upload = async (attempt = 1): Promise<string> =>
      mustRun("scp", [
        "-q",
        "-r",
        ...sshOptions(port, keyPath).map((a) => (a === "-p" ? "-P" : a)),
        path.join(REPO_ROOT, "provision"),
        `${user}@127.0.0.1:${REMOTE_DIR}`,
      ]).catch(async (e: unknown) => {
        if (attempt >= 4 || !isAlive(builderPid)) throw e;
        o.log(`upload failed (attempt ${attempt}), retrying: ${String(e).split("\n").pop()}`);
        await new Promise((resolve) => setTimeout(resolve, 3000));
        return upload(attempt + 1);
      });
    await timed("upload", () => upload());
    const step = (name: "install" | "verify" | "cleanup") =>
      timed(name, () => remote(onFailure(provisionCommand(name, o.settings), false), name));
    await step("install");
    const manifest = await step("verify");
    const buildMachineId = (await remote("cat /etc/machine-id", "machine-id")).trim();
    await step("cleanup");
    await timed("stop", () => hostStep("stop.sh", { WORK_DIR: workDir, SHUTDOWN_TIMEOUT: "45" }));
    const line = await timed("export", () =>
      hostStep("export.sh", {
        WORK_DIR: workDir,
        OUTPUT_DIR: path.join(o.root, "images"),
        IMAGE_NAME: o.imageName,
        FINGERPRINT: o.settings.fingerprint,
        SOURCE_IMAGE: `file://${o.base.disk}`,
        MANIFEST: manifest,
      }),
    );
    const record = JSON.parse(line.split("\n").pop()!) as ImageRecord;
    return {
      record,
      steps,
      seconds: (Date.now() - started) / 1000,
      keyPath,
      workDir,
      builderPid,
      buildMachineId,
    };
  } catch (e) {
    if (builderPid && isAlive(builderPid)) process.kill(builderPid, "SIGKILL");
    throw e;
  }
}

/** Waits for the builder's watchdog to exit once qemu is gone, so its folder can be removed. */
export async function waitForWatchdogs(): Promise<void> {
  for (let i = 0; i < 20 && (await run("pgrep", ["-f", "qemu/watchdog.sh"])).code === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}
