/**
 * Process helpers of the end-to-end tests and the benchmark. The builds themselves run the real
 * program through the engine model with real providers (helpers/program.ts).
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { sshOptions } from "../../vm";
import { isAlive } from "../../support/process";

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

export { isAlive };

/** Waits for the builder's watchdog to exit once qemu is gone, so its folder can be removed. */
export async function waitForWatchdogs(): Promise<void> {
  for (let i = 0; i < 20 && (await run("pgrep", ["-f", "qemu/watchdog.sh"])).code === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}
