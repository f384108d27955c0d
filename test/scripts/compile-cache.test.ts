/**
 * test/support/compile-cache.cjs, the code cache of the suite's Node processes: a dependency
 * loads as Node loads it, a changed file never runs from an old cache (V8 itself compares only
 * the source's length), a cache hit leaves the cache as it is, and `import()`, ESM syntax and an
 * unwritable folder fall back to Node.
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { REPO } from "../support/front-door";

const HOOK = path.join(REPO, "test", "support", "compile-cache.cjs");
/** Over the hook's 4 KB floor, so the dependency is cached. */
const PADDING = `// ${"x".repeat(5000)}\n`;

let dir: string;
let cache: string;

function writeDependency(name: string, body: string): string {
  const dep = path.join(dir, "node_modules", name);
  fs.mkdirSync(dep, { recursive: true });
  fs.writeFileSync(path.join(dep, "package.json"), `{"name":"${name}","main":"index.js"}\n`);
  const file = path.join(dep, "index.js");
  fs.writeFileSync(file, PADDING + body);
  return file;
}

/** The program each run starts. */
function writeMain(code: string): void {
  fs.writeFileSync(path.join(dir, "main.js"), code);
}

/** How each run starts: `main.js` with the hook, as the vitest workers and model processes do. */
const NODE_ARGS = ["--require", HOOK, "main.js"];
const runEnv = (env: Record<string, string> = {}) => ({
  ...process.env,
  NODE_OPTIONS: "",
  DSE_COMPILE_CACHE_DIR: cache,
  ...env,
});

/** Runs `main.js` to its end and returns what it printed. */
function run(env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, NODE_ARGS, {
    cwd: dir,
    env: runEnv(env),
    encoding: "utf8",
  });
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

/** The cache's files (one folder per Node version and architecture). */
function cached(): { name: string; mtimeMs: number }[] {
  const folder = path.join(cache, `${process.version}-${process.arch}`);
  if (!fs.existsSync(folder)) return [];
  return fs
    .readdirSync(folder)
    .map((name) => ({ name, mtimeMs: fs.statSync(path.join(folder, name)).mtimeMs }));
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dse-compile-cache-"));
  cache = path.join(dir, "cache");
  writeDependency(
    "dep",
    [
      'const sibling = require("./sibling.js");',
      "exports.value = 1;",
      "exports.where = [__filename, __dirname, module.id === __filename];",
      "exports.sibling = sibling.name;",
      'exports.resolved = require.resolve("./sibling.js");',
      "exports.cacheShared = require.cache === require('module')._cache;",
      "",
    ].join("\n"),
  );
  fs.writeFileSync(path.join(dir, "node_modules", "dep", "sibling.js"), 'exports.name = "s";\n');
  writeMain('console.log(JSON.stringify(require("dep")));\n');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("compile-cache.cjs", () => {
  it("loads a dependency as Node does, caches it once, and leaves the cache alone on a hit", () => {
    const file = path.join(dir, "node_modules", "dep", "index.js");
    const expected = {
      value: 1,
      where: [file, path.dirname(file), true],
      sibling: "s",
      resolved: path.join(path.dirname(file), "sibling.js"),
      cacheShared: true,
    };
    expect(run()).toEqual(expected);
    // Only the dependency over the floor: not main.js (no node_modules), not sibling.js (small).
    const first = cached();
    expect(first).toHaveLength(1);
    expect(first[0].name).toMatch(/^[0-9a-f]{40}$/);
    expect(run()).toEqual(expected);
    // A rejected or unread cache would be written again when the process ends.
    expect(cached()).toEqual(first);
  });

  it("writes the cache of a process that is killed rather than ended (vitest's workers)", async () => {
    writeMain('require("dep");\nsetInterval(() => undefined, 1000);\n');
    const child = spawn(process.execPath, NODE_ARGS, { cwd: dir, env: runEnv(), stdio: "ignore" });
    try {
      for (let waited = 0; cached().length === 0; waited += 100) {
        expect(waited, "no cache written while the process runs").toBeLessThan(15_000);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      child.kill("SIGKILL");
    }
    expect(cached()).toHaveLength(1);
  });

  it("never runs a changed file from the old cache, even at the same length", () => {
    expect(run().value).toBe(1);
    const file = path.join(dir, "node_modules", "dep", "index.js");
    fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace("value = 1", "value = 2"));
    expect(run().value).toBe(2);
    expect(cached()).toHaveLength(2);
  });

  it("leaves a dependency that imports dynamically to Node, on every run", () => {
    writeDependency(
      "dyn",
      [
        "exports.load = () =>",
        '  Promise.all([import("node:path"), import("./part.mjs")]).then(([p, m]) => [typeof p.join, m.part]);',
        "",
      ].join("\n"),
    );
    fs.writeFileSync(path.join(dir, "node_modules", "dyn", "part.mjs"), "export const part = 7;\n");
    writeMain('require("dyn").load().then((loaded) => console.log(JSON.stringify({ loaded })));\n');
    expect(run()).toEqual({ loaded: ["function", 7] });
    expect(cached()).toEqual([]);
    expect(run()).toEqual({ loaded: ["function", 7] });
  });

  it("leaves ESM syntax in a .js dependency to Node (require of an ES module)", () => {
    writeDependency("esm", "export const answer = 42;\n");
    writeMain('console.log(JSON.stringify({ answer: require("esm").answer }));\n');
    expect(run()).toEqual({ answer: 42 });
    expect(cached()).toEqual([]);
  });

  it("works without a cache when its folder cannot be written, or when turned off", () => {
    fs.writeFileSync(path.join(dir, "not-a-folder"), "");
    expect(run({ DSE_COMPILE_CACHE_DIR: path.join(dir, "not-a-folder", "v8") }).value).toBe(1);
    expect(run({ DSE_COMPILE_CACHE: "off" }).value).toBe(1);
    expect(cached()).toEqual([]);
  });
});
