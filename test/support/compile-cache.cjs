/**
 * V8's code cache for the dependencies of the test suite's Node processes: the vitest workers
 * (vitest.config.ts) and every node process of the engine model (world.ts NODE_OPTIONS), which
 * all start cold. Parsing @pulumi/pulumi, @pulumi/aws and @aws-sdk/client-ec2 (one 2 MB file) is
 * most of what such a process spends loading them (EC2: 87 of 150 ms); with the cache V8 skips
 * it. Semantics are unchanged: only dependency files under node_modules are cached, each under
 * the SHA-1 of its path and exact text (V8's own check of cached data compares the source's
 * length, not its text), and anything this hook cannot take (ESM syntax, `import()`, a rejected
 * cache, an unwritable folder) goes to Node's own loader. Test utility, never shipped.
 *
 * Env: DSE_COMPILE_CACHE_DIR (default: node_modules/.cache/dse-image/v8 of this checkout);
 * DSE_COMPILE_CACHE=off turns it off.
 */
"use strict";
const crypto = require("node:crypto");
const fs = require("node:fs");
const Module = require("node:module");
const path = require("node:path");
// The module's timers, not the globals a test may fake.
const timers = require("node:timers");
const vm = require("node:vm");

const DEPENDENCY = `${path.sep}node_modules${path.sep}`;
/** Below this size a file's cache read costs about what its parse does. */
const MIN_BYTES = 4096;
/**
 * A script V8 11.3 (Node 20) builds from cached data loses the host options that route its
 * `import()` to Node's loader (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING on a cache hit, seen with
 * Node 20.20): a file that may import dynamically, even in a string it evaluates, stays with Node.
 */
const DYNAMIC_IMPORT = /\bimport\s*\(/;
const FLUSH_MS = 3000;

function cacheFolder() {
  const root =
    process.env.DSE_COMPILE_CACHE_DIR ||
    path.join(__dirname, "..", "..", "node_modules", ".cache", "dse-image", "v8");
  // Cached data is only valid for the V8 build and flags that made it.
  return path.join(root, `${process.version}-${process.arch}`);
}

function install() {
  const folder = cacheFolder();
  const nodeCompile = Module.prototype._compile;
  /** Scripts compiled without usable cached data, whose data is still to be written. */
  const fresh = [];

  Module.prototype._compile = function compileWithCache(content, filename, format) {
    if (
      format === "module" ||
      content.length < MIN_BYTES ||
      !filename.includes(DEPENDENCY) ||
      DYNAMIC_IMPORT.test(content)
    )
      return nodeCompile.call(this, content, filename, format);
    const file = path.join(
      folder,
      crypto.createHash("sha1").update(filename).update("\0").update(content).digest("hex"),
    );
    let cachedData;
    try {
      cachedData = fs.readFileSync(file);
    } catch {
      cachedData = undefined;
    }
    let script;
    try {
      script = new vm.Script(Module.wrap(content), { filename, cachedData });
    } catch {
      // ESM syntax in a .js file (Node 20.19 loads it as a module) or a real syntax error:
      // Node's loader decides and reports.
      return nodeCompile.call(this, content, filename, format);
    }
    if (cachedData === undefined || script.cachedDataRejected) remember({ file, script });
    return runWrapper(this, script.runInThisContext({ displayErrors: true }), filename);
  };

  // Written when the process ends, or a few seconds after its first fresh script for a process
  // that is killed rather than ended (vitest's workers): by then the functions it ran are in.
  let timer;
  const flush = () => {
    timers.clearTimeout(timer);
    timer = undefined;
    const scripts = fresh.splice(0);
    if (scripts.length === 0) return;
    try {
      fs.mkdirSync(folder, { recursive: true });
      for (const { file, script } of scripts) {
        // Whole files only: another process may read this one at any moment.
        const partial = `${file}.${process.pid}`;
        fs.writeFileSync(partial, script.createCachedData());
        fs.renameSync(partial, file);
      }
    } catch {
      // An unwritable cache costs speed, never a test.
    }
  };
  const remember = (entry) => {
    fresh.push(entry);
    timer ??= timers.setTimeout(flush, FLUSH_MS).unref();
  };
  process.once("exit", flush);
}

/** Calls a module's wrapper as Node's `_compile` does (lib/internal/modules/cjs/loader.js). */
function runWrapper(module, wrapper, filename) {
  const require = (id) => module.require(id);
  require.resolve = (request, options) => Module._resolveFilename(request, module, false, options);
  require.resolve.paths = (request) => Module._resolveLookupPaths(request, module);
  require.main = process.mainModule;
  require.extensions = Module._extensions;
  require.cache = Module._cache;
  const exports = module.exports;
  return Reflect.apply(wrapper, exports, [
    exports,
    require,
    module,
    filename,
    path.dirname(filename),
  ]);
}

if (process.env.DSE_COMPILE_CACHE !== "off") install();
