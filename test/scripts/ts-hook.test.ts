/**
 * components/ts-hook.cjs: host steps and the dynamic provider plugin compile this project's
 * TypeScript with tsx, and leave the dependencies to Node. The observable difference: a
 * dependency's `.js` with ESM syntax reaches Node's own loader (require(esm), a module namespace)
 * instead of tsx's compiler (a CommonJS exports object), while the project's files still go
 * through tsx.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO } from "../support/front-door";

const HOOK = path.join(REPO, "components", "ts-hook.cjs");
const TSX = require.resolve("tsx/cjs", { paths: [REPO] });
let dir: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dse-ts-hook-"));
  const dep = path.join(dir, "node_modules", "esm-dep");
  fs.mkdirSync(dep, { recursive: true });
  fs.writeFileSync(path.join(dep, "package.json"), '{"name":"esm-dep","main":"index.js"}\n');
  fs.writeFileSync(path.join(dep, "index.js"), "export const answer = 42;\n");
  fs.writeFileSync(path.join(dir, "local.js"), "export const local = 1;\n");
  fs.writeFileSync(
    path.join(dir, "main.ts"),
    [
      // require, not import: tsx's import interop would wrap what the loader returned.
      'const dep = require("esm-dep") as { answer: number };',
      'const local = require("./local.js") as object;',
      "const kind = (m: object): string => Object.prototype.toString.call(m);",
      "const answer: number = dep.answer;",
      "console.log(JSON.stringify({ answer, dep: kind(dep), local: kind(local) }));",
      "",
    ].join("\n"),
  );
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Runs main.ts with the given preloads; what it printed. */
function run(...preloads: string[]): { answer: number; dep: string; local: string } {
  const r = spawnSync(process.execPath, [...preloads.flatMap((p) => ["--require", p]), "main.ts"], {
    cwd: dir,
    env: { PATH: process.env.PATH, HOME: dir },
    encoding: "utf8",
    timeout: 20_000,
  });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { answer: number; dep: string; local: string };
}

describe("ts-hook.cjs", () => {
  it("compiles the project's files with tsx and leaves dependencies to Node's own loader", () => {
    expect(run(HOOK)).toEqual({ answer: 42, dep: "[object Module]", local: "[object Object]" });
  });

  it("is what tsx alone is not: tsx compiles the dependency too (the cost the hook avoids)", () => {
    expect(run(TSX)).toEqual({ answer: 42, dep: "[object Object]", local: "[object Object]" });
  });

  it("stands aside where tsx is registered already (an older provider text registers it)", () => {
    expect(run(TSX, HOOK)).toEqual({
      answer: 42,
      dep: "[object Object]",
      local: "[object Object]",
    });
  });
});
