/**
 * Process helpers of the end-to-end tests and the benchmark. The builds themselves run the real
 * program through the engine model with real providers (helpers/program.ts).
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { sshOptions } from "../../vm";
import { isAlive } from "../../support/process";
import { run, tail } from "../../support/run";

export { sshOptions };

export { run, tail, type Result } from "../../support/run";

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
