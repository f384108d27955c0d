/**
 * test/vm's yieldToOpenStackLane: what an e2e lane starts after it runs at E2E_NICE, and a worker
 * already nicer stays so. In a child Node (the helper changes the calling thread's priority).
 */
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { E2E_NICE, REPO_ROOT } from "../vm";

/** The nice value a process started by a Node that ran the helper has; `prefix` runs that Node. */
function niceAfterYield(prefix: string[] = []): number {
  const script = [
    'const { execFileSync } = require("node:child_process");',
    'require("./test/vm").yieldToOpenStackLane();',
    'process.stdout.write(execFileSync("nice", { encoding: "utf8" }));',
  ].join("\n");
  const node = [process.execPath, "--import", "tsx", "-e", script];
  const [cmd, ...args] = [...prefix, ...node];
  const r = spawnSync(cmd, args, { cwd: REPO_ROOT, encoding: "utf8" });
  expect(r.stderr).toBe("");
  return Number(r.stdout.trim());
}

describe("yieldToOpenStackLane", () => {
  it("lowers the priority of what the lane starts to E2E_NICE", () => {
    expect(E2E_NICE).toBe(10);
    expect(niceAfterYield()).toBe(10);
  });

  it("never raises a priority set lower already", () => {
    expect(niceAfterYield(["nice", "-n", "15"])).toBe(15);
  });
});
