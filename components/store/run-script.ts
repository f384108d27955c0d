import { spawn } from "node:child_process";
import * as path from "node:path";

/**
 * Runs a platform's host script (QEMU's snapshot.sh) from a dynamic resource: bash,
 * in the project folder, its progress on stderr as a command step shows it. Returns the last line
 * of its stdout (its result); a failure throws the script's name, exit status and last lines.
 */
export function runHostScript(
  script: string,
  env: Record<string, string>,
  args: string[] = [],
): Promise<string> {
  const name = path.basename(script, ".sh");
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [script, ...args], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      process.stderr.write(d);
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (code === 0) {
        resolve(stdout.trim().split("\n").pop() ?? "");
        return;
      }
      const tail = stderr.trim().split("\n").slice(-8).join("\n");
      reject(new Error(`${name} exited ${code ?? signal}: ${tail}`));
    });
  });
}
