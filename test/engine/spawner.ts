/**
 * Host steps started by a small helper process (spawner-host.cjs) instead of the test process:
 * Node forks the whole parent to start a child (libuv 1.46 on Linux), and the test process grows
 * to several hundred MB over a file's scenarios, so each of its thousands of step starts copied
 * that much page table (a tenth of its time). What a step sees is unchanged: `sh -c` with the
 * same folder, environment and stdin, in a process group of its own (kill faults end it there).
 * Test utility, never shipped.
 */
import { type ChildProcess, spawn } from "node:child_process";
import * as path from "node:path";
import * as readline from "node:readline";

export interface StepResult {
  /** Exit status; null when a signal ended the step. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface StepRequest {
  command: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  stdin: string;
}

class Spawner {
  private child?: ChildProcess;
  private seq = 0;
  private waiting = new Map<number, (r: StepResult) => void>();

  run(req: StepRequest): Promise<StepResult> {
    const child = this.child ?? this.start();
    const id = ++this.seq;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      child.stdin!.write(`${JSON.stringify({ id, ...req })}\n`);
    });
  }

  private start(): ChildProcess {
    const child = spawn(process.execPath, [path.join(__dirname, "spawner-host.cjs")], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    // The helper ends with the test process (its stdin closes); it keeps no step alive.
    child.unref();
    (child.stdout as unknown as { unref(): void }).unref();
    (child.stdin as unknown as { unref(): void }).unref();
    readline.createInterface({ input: child.stdout }).on("line", (line) => {
      const msg = JSON.parse(line) as { id: number } & StepResult;
      const resolve = this.waiting.get(msg.id);
      this.waiting.delete(msg.id);
      resolve?.(msg);
    });
    child.on("exit", (code) => {
      this.child = undefined;
      for (const resolve of this.waiting.values())
        resolve({
          code: 1,
          signal: null,
          stdout: "",
          stderr: `the step spawner exited (${code})\n`,
        });
      this.waiting.clear();
    });
    this.child = child;
    return child;
  }
}

/** The test process's one spawner. */
export const spawner = new Spawner();
