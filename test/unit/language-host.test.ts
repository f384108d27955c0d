/**
 * The program as pulumi-language-nodejs loads it: the `tsconfig` runtime option of Pulumi.yaml
 * becomes PULUMI_NODEJS_TSCONFIG_PATH (pulumi/pulumi sdk/nodejs/cmd/pulumi-language-nodejs
 * main.go), and @pulumi/pulumi's cmd/run registers ts-node with that config: the project's
 * ts-node, else the SDK's vendored 7.0.1, with the project's TypeScript (tsutils.js
 * `typeScriptRequireStrings`, run.js `run`). The registration below is run.js's, step by step, in
 * a fresh Node process, so a TypeScript feature or an option that process cannot load fails here.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { REPO } from "../support/front-door";

const LOAD = `
const path = require("path");
const tsutils = require("@pulumi/pulumi/tsutils");
const tsConfigPath = process.env.PULUMI_NODEJS_TSCONFIG_PATH ?? "tsconfig.json";
const compilerOptions = tsutils.loadTypeScriptCompilerOptions(tsConfigPath);
const { tsnodeRequire, typescriptRequire } = tsutils.typeScriptRequireStrings();
require(tsnodeRequire).register({
  compiler: typescriptRequire,
  transpileOnly: compilerOptions.noCheck,
  project: tsConfigPath,
  skipProject: false,
  compilerOptions: {
    target: "ES2020", module: "nodenext", moduleResolution: "nodenext", sourceMap: "true",
    ...compilerOptions,
  },
});
const program = require(path.resolve("index.ts"));
console.log(JSON.stringify({ tsnode: path.basename(tsnodeRequire), exported: typeof program }));
`;

describe("the program under the Node language host", () => {
  const runtime = (
    parse(fs.readFileSync(path.join(REPO, "Pulumi.yaml"), "utf8")) as {
      runtime: { options: { typescript: boolean; tsconfig: string } };
    }
  ).runtime.options;

  it("compiles with the tsconfig Pulumi.yaml names, which only transpiles", () => {
    expect(runtime.typescript).toBe(true);
    const tsconfig = JSON.parse(fs.readFileSync(path.join(REPO, runtime.tsconfig), "utf8")) as {
      compilerOptions: Record<string, unknown>;
    };
    expect(tsconfig.compilerOptions.noCheck).toBe(true);
  });

  it("loads index.ts and gets the program's function, as `pulumi up` does", () => {
    const r = spawnSync(process.execPath, ["-e", LOAD], {
      cwd: REPO,
      env: { ...process.env, PULUMI_NODEJS_TSCONFIG_PATH: runtime.tsconfig },
      encoding: "utf8",
    });
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toEqual({ tsnode: "ts-node@7.0.1", exported: "function" });
  });
});
