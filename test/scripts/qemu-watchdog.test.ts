/**
 * components/qemu/watchdog.sh removes its builder's folder once qemu is gone, but only while the
 * folder is still that builder's: a boot test's next run stops the old test qemu and starts a new
 * one in the same folder within the old watchdog's 3-second poll (found in the engine model).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";

const SCRIPT = path.resolve(__dirname, "..", "..", "components", "qemu", "watchdog.sh");

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dse-watchdog-"));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A PID that no process has: a child that already exited. */
function deadPid(): number {
  const r = spawnSync("bash", ["-c", "sh -c 'echo $$'"], { encoding: "utf8" });
  return Number(r.stdout.trim());
}

function watchdog(token: string) {
  return spawnSync("bash", [SCRIPT], {
    encoding: "utf8",
    env: {
      ...process.env,
      WORK_DIR: dir,
      QEMU_PID: String(deadPid()),
      DEADLINE: String(Math.floor(Date.now() / 1000) + 3600),
      BUILDER_TOKEN: token,
    },
  });
}

it("removes the folder of its own qemu once qemu is gone", () => {
  fs.writeFileSync(path.join(dir, ".dse-builder"), "111-1\n");
  expect(watchdog("111-1").status).toBe(0);
  expect(fs.existsSync(dir)).toBe(false);
});

it("leaves a folder a later start took over (another token)", () => {
  fs.writeFileSync(path.join(dir, ".dse-builder"), "222-2\n");
  fs.writeFileSync(path.join(dir, "overlay.qcow2"), "new");
  expect(watchdog("111-1").status).toBe(0);
  expect(fs.readFileSync(path.join(dir, "overlay.qcow2"), "utf8")).toBe("new");
});

it("leaves a folder stop.sh claimed for the export", () => {
  fs.writeFileSync(path.join(dir, ".dse-builder"), "111-1\n");
  fs.writeFileSync(path.join(dir, "export.claim"), "");
  expect(watchdog("111-1").status).toBe(0);
  expect(fs.existsSync(path.join(dir, "export.claim"))).toBe(true);
});
