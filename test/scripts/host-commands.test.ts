/**
 * The TypeScript host commands (`node --require ./components/ts-hook.cjs <file>`, one process per
 * step) load only what their work needs. Each step is a process start on the operator's machine,
 * often several per `pulumi up`: fetch-base.ts once took 730 ms, 640 of them loading the Pulumi
 * SDK (and with it TypeScript and gRPC) through a config error class it never threw. (Which loader
 * a dependency reaches: ts-hook.test.ts.)
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { REPO } from "../support/front-door";

const PROBE = path.join(REPO, "test", "support", "loaded-packages.cjs");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dse-host-commands-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The npm packages a host command loaded, run as a step runs it (it fails after its imports). */
function packagesLoadedBy(file: string, ...args: string[]): string[] {
  const out = path.join(dir, path.basename(file, ".ts"));
  const r = spawnSync(
    process.execPath,
    ["--require", "./components/ts-hook.cjs", "--require", PROBE, file, ...args],
    {
      cwd: REPO,
      env: { PATH: process.env.PATH, HOME: dir, DSE_LOADED_PACKAGES: out },
      input: "",
      encoding: "utf8",
      timeout: 20_000,
    },
  );
  expect(r.status, `${file}: ${r.stderr}`).not.toBe(0);
  expect(r.stderr, file).not.toMatch(/^\s+at /m);
  return fs.readFileSync(out, "utf8").split("\n").filter(Boolean);
}

describe("host commands load no program-side packages", () => {
  it.each([
    ["components/qemu/fetch-base.ts"],
    ["components/lifecycle/wait-ssh.ts"],
    ["components/lifecycle/write-sbom.ts"],
    ["components/lifecycle/boot-test-cli.ts", "qemu"],
    ["components/aws/cli.ts", "teardown"],
    ["components/openstack/cli.ts", "teardown"],
    ["components/store/cli.ts", "discard"],
  ])("%s", (file, ...args) => {
    const packages = packagesLoadedBy(file, ...args);
    expect(packages).toContain("tsx");
    expect(packages.filter((p) => /^@pulumi\/|^typescript$|^@grpc\//.test(p))).toEqual([]);
  });
});
