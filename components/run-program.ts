/* Host programs run from TypeScript host steps (the boot test, the OVA export). */
import { spawn } from "node:child_process";

export interface ProgramResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved as they came. */
  both: string;
}

/** Runs a program with stdin closed; its stderr also goes on to ours when `echo` is set. */
export function runProgram(
  file: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; echo?: boolean } = {},
): Promise<ProgramResult> {
  return new Promise((resolve) => {
    const child = spawn(file, args, {
      env: opts.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
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
    child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr, both }));
  });
}
