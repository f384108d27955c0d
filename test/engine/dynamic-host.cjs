/**
 * The dynamic provider plugin as the engine model runs it: one process per deployment, started in
 * the project folder (pulumi/pulumi sdk/go/common/resource/plugin/plugin.go `cmd.Dir = pwd`),
 * that turns each resource's stored `__provider` text into a provider with require-from-string
 * and caches it per text (sdk/nodejs/cmd/dynamic-provider/index.ts `getProvider`). One JSON
 * request per stdin line, one JSON answer per stdout line. Test utility, never shipped.
 */
"use strict";
const readline = require("node:readline");
const { createRequire } = require("node:module");

// The SDK's own copy, as the plugin loads it.
const requireFromString = createRequire(require.resolve("@pulumi/pulumi"))("require-from-string");

const cache = new Map();
function providerOf(text) {
  let provider = cache.get(text);
  if (provider === undefined) {
    provider = requireFromString(text).handler();
    cache.set(text, provider);
  }
  return provider;
}

async function answer(req) {
  const provider = providerOf(req.provider);
  switch (req.method) {
    case "check":
      return provider.check ? provider.check(req.olds, req.news) : { inputs: req.news };
    case "diff":
      return provider.diff ? provider.diff(req.id, req.olds, req.news) : {};
    case "create":
      return provider.create(req.news);
    case "read":
      return provider.read ? provider.read(req.id, req.olds) : { id: req.id, props: req.olds };
    case "update":
      return provider.update ? ((await provider.update(req.id, req.olds, req.news)) ?? {}) : {};
    case "delete":
      if (provider.delete) await provider.delete(req.id, req.olds);
      return {};
    default:
      throw new Error(`unknown method ${req.method}`);
  }
}

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const req = JSON.parse(line);
  answer(req).then(
    (result) => process.stdout.write(`${JSON.stringify({ seq: req.seq, result })}\n`),
    (e) =>
      process.stdout.write(`${JSON.stringify({ seq: req.seq, error: String(e?.message ?? e) })}\n`),
  );
});
