/**
 * boot-test-lib.sh's way out (bt_finish, the EXIT trap bt_run installs): the platform's remover
 * runs unless a failed test is kept for debugging, and the local temp folder goes either way.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
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

/** Runs `body` after sourcing the library, in the project folder, with `env`. */
function lib(body: string, env: Record<string, string> = {}) {
  const r = spawnSync("bash", ["-c", `set -euo pipefail\n. '${LIB}'\n${body}`], {
    encoding: "utf8",
    cwd: path.join(__dirname, "..", ".."),
    env: { ...process.env, ...env },
  });
  return { status: r.status, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}

describe("boot-test-lib.sh bt_result_json", () => {
  it("prints the passed checks as JSON, quotes and backslashes escaped", () => {
    const r = lib(`BT_STARTED=$(($(date +%s) - 42))\nBT_CHECKS=(ssh 'a"b' 'c\\d')\nbt_result_json`);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      passed: true,
      seconds: 42,
      checks: ["ssh", 'a"b', "c\\d"],
    });
  });
});

describe("boot-test-lib.sh bt_reject_image on a local store (components/store/cli.ts)", () => {
  /** A pending qcow2 with its record in a temp output folder. */
  function pendingImage() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dse-reject-"));
    const file = path.join(dir, ".pending", "x.qcow2");
    fs.mkdirSync(path.dirname(file));
    fs.writeFileSync(file, "qcow2");
    fs.writeFileSync(`${file}.json`, JSON.stringify({ state: "pending", imageName: "dse_base" }));
    const env = {
      STORE: "qemu",
      STORE_CONFIG: JSON.stringify({ outputDir: dir, ext: "qcow2" }),
      IMAGE_ID: file,
    };
    return { dir, file, env };
  }

  it("deletes the rejected image", () => {
    const { dir, file, env } = pendingImage();
    const r = lib("bt_reject_image", { ...env, KEEP_ON_FAILURE: "false" });
    expect(r.status).toBe(0);
    expect([fs.existsSync(file), fs.existsSync(`${file}.json`)]).toEqual([false, false]);
    fs.rmSync(dir, { recursive: true });
  });

  it("with KEEP_ON_FAILURE keeps it, marked failed", () => {
    const { dir, file, env } = pendingImage();
    const r = lib("bt_reject_image", { ...env, KEEP_ON_FAILURE: "true" });
    expect(r.status).toBe(0);
    expect(JSON.parse(fs.readFileSync(`${file}.json`, "utf8"))).toMatchObject({ state: "failed" });
    fs.rmSync(dir, { recursive: true });
  });
});
