/**
 * How a program run ends (program-run.ts), with tiny projects. After a failed step: once no step
 * is in flight, with no fixed quiet wait, and whatever that program registers later never
 * reaches the next run, as the real engine ends the language host with the deployment (rule E5).
 * And once ended, the run keeps nothing alive through the SDK's inspector session
 * (sdk-inspector.ts), as the language host's exit keeps nothing.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as v8 from "node:v8";
import * as vm from "node:vm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Registration, runProgramOnce } from "./program-run";

const REPO = path.resolve(__dirname, "..", "..");
// Later than the 300 ms of quiet the model once waited for, so it would have leaked then too.
const LATE_MS = 600;
let root: string;

function project(name: string, index: string): string {
  const dir = path.join(root, name);
  fs.mkdirSync(dir);
  fs.symlinkSync(path.join(REPO, "node_modules"), path.join(dir, "node_modules"));
  fs.writeFileSync(path.join(dir, "index.ts"), index);
  return dir;
}

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "dse-program-run-"));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function run(projectDir: string, registered: string[]) {
  return runProgramOnce({
    projectDir,
    project: "p",
    stack: "s",
    org: "organization",
    entered: { config: {}, secretKeys: [] },
    dryRun: false,
    invoke: (token) => {
      throw new Error(`unexpected invoke ${token}`);
    },
    register: (r: Registration) => {
      registered.push(r.urn);
      return r.req.getName() === "fails"
        ? Promise.reject(new Error("boom"))
        : Promise.resolve({ id: `${r.req.getName()}-id`, state: {} });
    },
    stopped: () => false,
    log: () => undefined,
  });
}

describe("a program run after a failed step", () => {
  it("ends once no step is in flight, and what the program registers later reaches no other run", async () => {
    const failing = project(
      "failing",
      [
        'import * as pulumi from "@pulumi/pulumi";',
        "export = async () => {",
        '  new pulumi.CustomResource("test:index:Thing", "fails", {});',
        `  setTimeout(() => new pulumi.CustomResource("test:index:Thing", "late", {}), ${LATE_MS});`,
        "  return {};",
        "};",
        "",
      ].join("\n"),
    );
    const waiting = project(
      "waiting",
      [
        `export = () => new Promise((resolve) => setTimeout(() => resolve({}), ${2 * LATE_MS}));`,
        "",
      ].join("\n"),
    );
    const first: string[] = [];
    const failed = await run(failing, first);
    expect(String(failed.failure)).toContain("boom");
    expect(first).toEqual(["urn:pulumi:s::p::test:index:Thing::fails"]);

    const second: string[] = [];
    const next = await run(waiting, second);
    expect(next.failure).toBeUndefined();
    expect(next.seen).toEqual(new Set());
    expect(second).toEqual([]);
    // The late registration came during the second run and went to the first run's monitor.
    expect(first).toEqual(["urn:pulumi:s::p::test:index:Thing::fails"]);
  });
});

describe("a program run's objects", () => {
  it("are released when the run ends: the SDK's inspector session keeps no function it serialized", async () => {
    // The SDK inspects a dynamic provider's functions through its inspector session to serialize
    // them; each run keeps a weak reference to its provider's create.
    const dynamic = project(
      "dynamic",
      [
        'import * as pulumi from "@pulumi/pulumi";',
        "export = async () => {",
        '  const provider = { create: async () => ({ id: "made", outs: {} }) };',
        "  const probes = ((globalThis as Record<string, unknown>).__dseProbes ??= []) as unknown[];",
        "  probes.push(new WeakRef(provider.create));",
        '  new pulumi.dynamic.Resource(provider, "thing", {}, {});',
        "  return {};",
        "};",
        "",
      ].join("\n"),
    );
    const probes = ((globalThis as Record<string, unknown>).__dseProbes = []) as WeakRef<object>[];
    for (let i = 0; i < 3; i++) expect((await run(dynamic, [])).failure).toBeUndefined();
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc") as () => void;
    gc();
    // The runs that ended before the last are gone. The last run's module stays loaded until the
    // next run starts afresh on Node 20; Node 22 lets it go already.
    expect(probes.slice(0, 2).map((p) => p.deref() === undefined)).toEqual([true, true]);
  });
});
