/**
 * The TypeScript host commands (`node --require ./components/ts-hook.cjs <file>`, one process per
 * step) load only what their work needs. Each step is a process start on the operator's machine,
 * often several per `pulumi up`: fetch-base.ts once took 730 ms, 640 of them loading the Pulumi
 * SDK (and with it TypeScript and gRPC) through a config error class it never threw. (Which loader
 * a dependency reaches: ts-hook.test.ts.) A failed step shows the user what it printed last: one
 * line that names what is wrong, never a stack trace.
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

/**
 * Runs a host command as a step runs it, without the settings it needs, so it fails after its
 * imports: the npm packages it loaded, and what it printed on stderr.
 */
function runWithoutSettings(file: string, ...args: string[]) {
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
  expect(r.status, `${file}: ${r.stderr}`).toBe(1);
  return { packages: fs.readFileSync(out, "utf8").split("\n").filter(Boolean), stderr: r.stderr };
}

// Each command with the line it fails with (host-env.ts runHostCommand): its prefix, then the
// setting it misses; no stack trace.
const COMMANDS: [string, string[], string][] = [
  ["components/qemu/fetch-base.ts", [], "qemu-fetch-base: SOURCE_URL is required"],
  ["components/lifecycle/wait-ssh.ts", [], "wait-ssh: HOST is required"],
  ["components/lifecycle/write-sbom.ts", [], "write-sbom: SBOM_PATH is required"],
  ["components/lifecycle/boot-test-cli.ts", ["qemu"], "IMAGE_ID is required"],
  ["components/aws/cli.ts", ["teardown"], "==> aws: REGION is required"],
  ["components/openstack/cli.ts", ["teardown"], "==> openstack: PREFIX is required"],
  ["components/store/cli.ts", ["discard"], "imagestore: STORE is required"],
];

describe("host commands", () => {
  it.each(COMMANDS)(
    "%s loads no program-side package, and fails with one line naming what is missing",
    (file, args, line) => {
      const { packages, stderr } = runWithoutSettings(file, ...args);
      expect(packages).toContain("tsx");
      expect(packages.filter((p) => /^@pulumi\/|^typescript$|^@grpc\//.test(p))).toEqual([]);
      expect(stderr).toBe(`${line}\n`);
    },
  );
});
