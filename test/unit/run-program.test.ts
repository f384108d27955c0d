/**
 * components/run-program.ts: a program's output and exit status; with a time bound, a program
 * (and what it started) still running then is killed and the result says so, as timeout(1) does.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runProgram } from "../../components/run-program";

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dse-run-program-"));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Running: there and not a zombie (an orphan's zombie waits for an init that may never reap). */
const running = (pid: number) => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
};

describe("runProgram", () => {
  it("returns the exit status, stdout, stderr and both interleaved", async () => {
    const r = await runProgram("sh", ["-c", "echo out; echo err >&2; exit 3"]);
    expect(r).toEqual({ code: 3, stdout: "out\n", stderr: "err\n", both: "out\nerr\n" });
  });

  it("within its time bound is left alone", async () => {
    const r = await runProgram("sh", ["-c", "echo done"], { timeoutSeconds: 30 });
    expect(r).toEqual({ code: 0, stdout: "done\n", stderr: "", both: "done\n" });
  });

  it("past its time bound is killed with what it started, and ends with status 124", async () => {
    const pidFile = path.join(dir, "child.pid");
    const r = await runProgram("sh", ["-c", `echo started; sleep 30 & echo $! >${pidFile}; wait`], {
      timeoutSeconds: 0.5,
    });
    expect(r).toEqual({
      code: 124,
      stdout: "started\n",
      stderr: "sh did not finish in 0.5s\n",
      both: "started\nsh did not finish in 0.5s\n",
    });
    const child = Number(fs.readFileSync(pidFile, "utf8"));
    // The kill of the group reaches the shell's child too.
    await new Promise((r) => setTimeout(r, 200));
    expect(running(child)).toBe(false);
  });
});
