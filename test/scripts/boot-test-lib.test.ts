/**
 * boot-test-lib.sh's way out (bt_finish, the EXIT trap bt_run installs): the platform's remover
 * runs unless a failed test is kept for debugging, and the local temp folder goes either way.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

const LIB = path.join(__dirname, "..", "..", "components", "lifecycle", "boot-test-lib.sh");

/** Sources the library, makes its temp folder, sets the failed check, and leaves by bt_finish. */
function finish(env: { keep?: string; failed?: string }) {
  const r = spawnSync(
    "bash",
    [
      "-c",
      `set -euo pipefail
. '${LIB}'
remove() { echo "removed"; }
BT_TMP=$(mktemp -d)
echo "$BT_TMP"
BT_INSTANCE="machine m-1"
BT_FAILED_CHECK="${env.failed ?? ""}"
bt_finish remove`,
    ],
    { encoding: "utf8", env: { ...process.env, KEEP_ON_FAILURE: env.keep ?? "" } },
  );
  const [tmp, ...out] = r.stdout.trim().split("\n");
  return { status: r.status, tmp, out, stderr: r.stderr.trim() };
}

describe("boot-test-lib.sh bt_finish", () => {
  it("removes the test instance of a passed test, even with KEEP_ON_FAILURE", () => {
    const r = finish({ keep: "true" });
    expect(r.status).toBe(0);
    expect(r.out).toEqual(["removed"]);
    expect(r.stderr).toBe("");
    expect(fs.existsSync(r.tmp)).toBe(false);
  });

  it("removes the test instance of a failed test by default", () => {
    const r = finish({ failed: "cloud-init" });
    expect(r.out).toEqual(["removed"]);
    expect(fs.existsSync(r.tmp)).toBe(false);
  });

  it("keeps a failed test's instance with KEEP_ON_FAILURE=true, naming it", () => {
    const r = finish({ keep: "true", failed: "cloud-init" });
    expect(r.status).toBe(0);
    expect(r.out).toEqual([]);
    expect(r.stderr).toBe("==> boot test: kept the test machine m-1 for debugging");
    expect(fs.existsSync(r.tmp)).toBe(false);
  });
});
