import * as fs from "node:fs";
import * as path from "node:path";
import { requiredEnv as need } from "../host-env";
import type { Launcher } from "../lifecycle/boot-test-run";
import { runProgram } from "../run-program";
import { StoreError, type StoreLog } from "../store/image-store";
import { shellQuote } from "../shell";

/**
 * The local boot test's machine (components/lifecycle/boot-test-run.ts): a throwaway overlay on
 * the pending qcow2 (the image itself is never written) with a NoCloud seed carrying this test's
 * key and pinned host key, started by start.sh in `<builder folder>-test`; teardown.sh stops it
 * and removes the folder, first what a killed earlier attempt left in it. The QEMU process
 * supervision stays in those scripts. The OVA is made from the same disk, so this test is its
 * test too.
 *
 * Env: IMAGE_ID, NAME, TEST_NAME (the machine's cloud-init instance ID), USER_DATA, STACK_TAG and
 * GEN (with CACHE_DIR: paths-lib.sh), and start.sh's MEMORY_MB CPUS DSE_ACCEL KERNEL INITRD APPEND
 * BUILDER_TTL_MINUTES.
 */
export function qemuTestMachine(
  env: NodeJS.ProcessEnv,
  log: StoreLog,
  run: typeof runProgram = runProgram,
): Launcher {
  let work = "";
  const script = (name: string, vars: Record<string, string>) =>
    run("bash", [path.join(__dirname, name)], { env: { ...env, ...vars }, echo: true });
  const folder = async () => {
    const r = await run(
      "bash",
      ["-c", `. ${shellQuote(path.join(__dirname, "paths-lib.sh"))} && dse_builder_dir`],
      { env },
    );
    if (r.code !== 0) throw new StoreError(`the test machine's folder: ${r.stderr.trim()}`);
    return `${r.stdout.trim()}-test`;
  };
  return {
    describe: `machine ${need(env, "TEST_NAME")}`,
    async launch() {
      work = await folder();
      // A killed earlier attempt at this test left its machine running in the same folder.
      await script("teardown.sh", { WORK_DIR: work });
      fs.mkdirSync(work, { recursive: true });
      const seed = path.join(work, "seed.iso");
      const made = await script("make-seed.sh", {
        SEED_PATH: seed,
        INSTANCE_ID: need(env, "TEST_NAME"),
        USER_DATA: env.USER_DATA ?? "",
      });
      if (made.code !== 0) throw new StoreError(`make-seed.sh exited ${made.code}`);
      const started = await script("start.sh", {
        BASE_IMAGE: need(env, "IMAGE_ID"),
        WORK_DIR: work,
        SEED_PATH: seed,
        DISK_SIZE_GB: "0",
      });
      const port = Number(started.stdout.trim().split("\n").pop());
      if (started.code !== 0 || !Number.isInteger(port))
        throw new StoreError(`start.sh exited ${started.code}`);
      log(`booting ${env.NAME ?? ""} from ${env.IMAGE_ID} on 127.0.0.1:${port}`);
      return {
        host: "127.0.0.1",
        port,
        describe: `machine in ${work} (serial log: ${work}/serial.log)`,
        consoleCommand: `WORK_DIR=${shellQuote(work)} bash ${shellQuote(path.join(__dirname, "console.sh"))}`,
      };
    },
    async remove() {
      if (!work) return;
      const r = await script("teardown.sh", { WORK_DIR: work });
      if (r.code !== 0) log(`could not remove the test machine in ${work}`);
    },
  };
}
