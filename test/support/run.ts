/**
 * A child process run to its end, its output captured: for the tests' helpers (end-to-end,
 * benchmark, the OpenStack lane). Test utility, never shipped.
 */
import { spawn } from "node:child_process";

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(
  cmd: string,
  args: string[],
  opts: {
    env?: Record<string, string>;
    input?: string;
    timeoutMs?: number;
    /** Each piece of stderr as it comes (progress). */
    onStderr?: (text: string) => void;
  } = {},
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
      opts.onStderr?.(d.toString());
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
