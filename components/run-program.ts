/* Host programs run from TypeScript host steps (the boot test, the OVA export). */
import { spawn } from "node:child_process";

export interface ProgramResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved as they came. */
  both: string;
}

/**
 * Runs a program with stdin closed; its stderr also goes on to ours when `echo` is set. With
 * `timeoutSeconds`, a program still running then is killed (its process group: a shell's children
 * too) and the result is exit status 124, as timeout(1) gives, with a line saying so.
 */
export function runProgram(
  file: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; echo?: boolean; timeoutSeconds?: number } = {},
): Promise<ProgramResult> {
  return new Promise((resolve) => {
    const child = spawn(file, args, {
      env: opts.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
      detached: opts.timeoutSeconds !== undefined,
    });
    let timedOut = false;
    const timer =
      opts.timeoutSeconds === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            try {
              process.kill(-child.pid!, "SIGKILL");
            } catch {
              // Gone meanwhile.
            }
          }, opts.timeoutSeconds * 1000);
    let stdout = "";
    let stderr = "";
    let both = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      both += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      both += d.toString();
      if (opts.echo) process.stderr.write(d);
    });
    child.on("error", (e) => resolve({ code: 127, stdout, stderr: e.message, both: e.message }));
    child.on("close", (code) => {
      clearTimeout(timer);
      if (!timedOut) return resolve({ code: code ?? 1, stdout, stderr, both });
      const said = `${file} did not finish in ${opts.timeoutSeconds}s`;
      resolve({ code: 124, stdout, stderr: `${stderr}${said}\n`, both: `${both}${said}\n` });
    });
  });
}
