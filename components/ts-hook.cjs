/**
 * Runs this project's TypeScript in a process of its own: a host step
 * (`node --require ./components/ts-hook.cjs <file>.ts`, lifecycle/driver.ts `tsCommand`) or the
 * dynamic provider plugin (through `dse-image/providers`). tsx compiles the project's files;
 * dependencies load as Node loads them.
 *
 * Why not `--require tsx/cjs` alone: tsx's CommonJS hook (4.23, dist/register-*.cjs `isESM`)
 * reads every `.js` and `.cjs` file it is asked for and runs an ES module lexer over it, to
 * compile ESM syntax it might find. Our dependencies are CommonJS (or ESM Node loads itself,
 * `require(esm)` from Node 20.19), and the lexing cost a step a third of its start: 130 ms of an
 * AWS step's 430 (@aws-sdk/client-ec2 is one 2 MB file), 40 ms of the others' 120.
 */
"use strict";
const Module = require("node:module");
const path = require("node:path");

const DEPENDENCY = `${path.sep}node_modules${path.sep}`;
const EXTENSIONS = [".js", ".cjs"];

function registerProjectTypeScript() {
  // Already registered in this process (an older provider text registers tsx itself).
  if (Module._extensions[".ts"] !== undefined) return;
  // Node's own loader for both: it has no `.cjs` entry, its `.js` one loads those.
  const nodeLoader = Module._extensions[".js"];
  require("tsx/cjs");
  for (const ext of EXTENSIONS) {
    const tsxLoader = Module._extensions[ext];
    // tsx registers `.js` (which Node also runs for `.cjs`) and may register `.cjs` itself.
    if (tsxLoader === undefined || tsxLoader === nodeLoader) continue;
    Module._extensions[ext] = function loadModule(module, filename) {
      const loader = filename.includes(DEPENDENCY) ? nodeLoader : tsxLoader;
      return loader.call(this, module, filename);
    };
  }
}

registerProjectTypeScript();
