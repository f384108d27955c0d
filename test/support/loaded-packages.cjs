/**
 * Preloaded (`node --require`) into a host command under test: when the process exits, writes the
 * npm packages it loaded, one per line, to the file named by DSE_LOADED_PACKAGES. Test utility.
 */
"use strict";
const fs = require("node:fs");

process.on("exit", () => {
  const names = new Set();
  for (const file of Object.keys(require.cache)) {
    const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(file);
    if (m) names.add(m[1]);
  }
  fs.writeFileSync(process.env.DSE_LOADED_PACKAGES, [...names].sort().join("\n"));
});
