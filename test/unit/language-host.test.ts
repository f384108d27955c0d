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

/** run.js's registration, in the project folder; `tsnode` is what `register` returned. */
const REGISTER = `
const fs = require("fs");
const path = require("path");
const tsutils = require("@pulumi/pulumi/tsutils");
const tsConfigPath = process.env.PULUMI_NODEJS_TSCONFIG_PATH ?? "tsconfig.json";
const compilerOptions = tsutils.loadTypeScriptCompilerOptions(tsConfigPath);
const { tsnodeRequire, typescriptRequire } = tsutils.typeScriptRequireStrings();
const tsnode = require(tsnodeRequire).register({
  compiler: typescriptRequire,
  transpileOnly: compilerOptions.noCheck,
  project: tsConfigPath,
  skipProject: !fs.existsSync(tsConfigPath),
  compilerOptions: {
    target: "ES2020", module: "nodenext", moduleResolution: "nodenext", sourceMap: "true",
    ...compilerOptions,
  },
});
`;

const LOAD = `${REGISTER}
const program = require(path.resolve("index.ts"));
console.log(JSON.stringify({ tsnode: path.basename(tsnodeRequire), exported: typeof program }));
`;

/**
 * An example's program as \`pulumi up\` in its folder compiles it, type check included (no
 * tsconfig \`noCheck\`), without running it; and where Node finds the reader it imports.
 */
const COMPILE = `${REGISTER}
const file = path.resolve("index.ts");
tsnode.compile(fs.readFileSync(file, "utf8"), file);
console.log(JSON.stringify({ checked: !compilerOptions.noCheck, reader: require.resolve("dse-image/reader") }));
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

describe("the examples under the Node language host", () => {
  const examples = fs
    .readdirSync(path.join(REPO, "examples"), { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name);

  it("are the two documented ones", () => {
    expect(examples.sort()).toEqual(["aws-vm", "openstack-vm"]);
  });

  // package.json `exports` points at TypeScript sources: without the example's tsconfig.json
  // (rootDir: the repository) TypeScript stops with TS2209, "The project root is ambiguous".
  it.each(examples)(
    "%s type-checks as `pulumi up` compiles it and imports the reader by package name",
    (example) => {
      const dir = path.join(REPO, "examples", example);
      const source = fs.readFileSync(path.join(dir, "index.ts"), "utf8");
      expect(source).toContain('from "dse-image/reader";');
      expect(source).not.toMatch(/from "\.\.\/\.\.\//);
      // The example's Pulumi.yaml names no tsconfig: the language host sets no path.
      const env = { ...process.env };
      delete env.PULUMI_NODEJS_TSCONFIG_PATH;
      // ts-node 7 would answer from its cache of an earlier compile instead of checking anew.
      env.TS_NODE_CACHE = "false";
      const r = spawnSync(process.execPath, ["-e", COMPILE], { cwd: dir, env, encoding: "utf8" });
      expect(r.stderr).toBe("");
      expect(JSON.parse(r.stdout)).toEqual({
        checked: true,
        reader: path.join(REPO, "components", "reader.ts"),
      });
    },
    60_000,
  );
});
