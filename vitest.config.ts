import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const COMPILE_CACHE = fileURLToPath(new URL("./test/support/compile-cache.cjs", import.meta.url));

export default defineConfig({
  test: {
    // One pool per kind (forks, threads) is shared by every project, and vitest's default on 2
    // cores is 1 worker per pool: the engine files would run one at a time, and the OpenStack
    // lane and the e2e lane (both forks) one after the other while a core idles. Two forks: the
    // engine files two at a time, the two VM lanes side by side (each mostly one core: a TCG
    // guest), with e2e-scripts in the threads pool beside them.
    maxWorkers: 2,
    // V8's code cache for the dependencies each test file's worker loads afresh (@pulumi/pulumi,
    // @pulumi/aws, the EC2 SDK): test/support/compile-cache.cjs.
    poolOptions: { forks: { execArgv: ["--require", COMPILE_CACHE] } },
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts", "test/scripts/**/*.test.ts"],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          // The engine model: several simulated `pulumi up` runs per test, real host scripts.
          name: "engine",
          include: ["test/engine/**/*.test.ts"],
          testTimeout: 180_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          // The real Pulumi CLI through the Automation API; skips where it cannot be had.
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          testTimeout: 60 * 60_000,
          hookTimeout: 60 * 60_000,
        },
      },
      {
        test: {
          // The OpenStack platform on a real single-node OpenStack (test/openstack/cloud.sh): a
          // third lane beside the two VM lanes (`npm run test:vms`), its guest on one vCPU.
          name: "openstack",
          include: ["test/openstack/**/*.test.ts"],
          testTimeout: 40 * 60_000,
          hookTimeout: 40 * 60_000,
          pool: "forks",
          sequence: { groupOrder: 2 },
        },
      },
      {
        test: {
          // The program's builds on real VMs under TCG: boots take ~35 s and dpkg work minutes.
          // A TCG guest mostly keeps one core busy (dpkg is single-threaded), so this lane runs
          // beside the OpenStack lane (the forks pool's second worker) and e2e-scripts (threads).
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          exclude: ["test/e2e/provision.test.ts", "test/e2e/chroot.test.ts"],
          testTimeout: 30 * 60_000,
          hookTimeout: 30 * 60_000,
          // No singleFork: vitest's forks pool runs single-fork files only after all the others,
          // which would put this lane after the OpenStack lane instead of beside it.
          pool: "forks",
          sequence: { groupOrder: 2 },
        },
      },
      {
        test: {
          // The provision scripts in one VM, then every tool group in a chroot (native dpkg):
          // one file at a time, beside the e2e lane.
          name: "e2e-scripts",
          include: ["test/e2e/provision.test.ts", "test/e2e/chroot.test.ts"],
          testTimeout: 30 * 60_000,
          hookTimeout: 30 * 60_000,
          pool: "threads",
          poolOptions: { threads: { singleThread: true } },
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
