/**
 * provision/lib.sh's step log: a header per step, each step's duration when the next starts or
 * the script ends, and the failed step named on a failure (without a duration).
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

const LIB = path.join(__dirname, "..", "..", "provision", "lib.sh");

/** Runs `body` in bash after sourcing lib.sh the way the scripts do (EXIT trap included). */
function script(body: string) {
  const r = spawnSync(
    "bash",
    ["-c", `set -euo pipefail\nDSE_SCRIPT=t.sh\n. '${LIB}'\ntrap dse_on_exit EXIT\n${body}`],
    { encoding: "utf8" },
  );
  return { status: r.status, lines: r.stderr.split("\n").filter(Boolean) };
}

describe("provision/lib.sh steps", () => {
  it("logs each step's duration when the next one starts and when the script ends", () => {
    // Assigning SECONDS sets bash's clock: the durations are exact.
    const r = script("dse_step one\nSECONDS=7\ndse_step two\nSECONDS=10");
    expect(r.status).toBe(0);
    expect(r.lines).toEqual([
      "==> [t.sh] one",
      't.sh: step "one" took 7 s',
      "==> [t.sh] two",
      't.sh: step "two" took 3 s',
    ]);
  });

  it("names the failed step and its exit status instead of a duration", () => {
    const r = script("dse_step one\ndse_step two\nexit 3");
    expect(r.status).toBe(3);
    expect(r.lines).toEqual([
      "==> [t.sh] one",
      't.sh: step "one" took 0 s',
      "==> [t.sh] two",
      't.sh: FAILED in step "two" (exit 3)',
    ]);
  });

  it("logs no duration when no step began", () => {
    expect(script("true").lines).toEqual([]);
  });
});
