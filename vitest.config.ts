import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
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
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          // Real VMs under TCG: boots take ~35 s and dpkg work minutes.
          testTimeout: 30 * 60_000,
          hookTimeout: 30 * 60_000,
          pool: "forks",
          poolOptions: { forks: { singleFork: true } },
        },
      },
    ],
  },
});
