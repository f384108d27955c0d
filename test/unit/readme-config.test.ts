/**
 * Every stack README and the examples' READMEs set up, entered the way the Pulumi CLI enters the
 * program (test/support/front-door.ts). Per sh block: `stack select` / `stack init` picks a stack
 * (its committed Pulumi.<stack>.yaml, if any), each `config set` runs on it (the CLI's own
 * semantics: --path, --type), and each `pulumi up` or `preview`, and the end of a block that set
 * something after its last `up`, must get through the CLI's project-config rules (rule P1) and,
 * for this project, the program's own config check.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../components/config";
import { REPO, enterProgram } from "../support/front-door";
import { upsOf } from "../support/readme-ups";

/** README, the reference pages that bring up a stack, and the examples' READMEs. */
const DOCS: [string, string][] = [
  ["README.md", REPO],
  ...fs
    .readdirSync(path.join(REPO, "docs"))
    .filter((f) => f.endsWith(".md") && upsOf(`docs/${f}`, REPO).length > 0)
    .map((f): [string, string] => [`docs/${f}`, REPO]),
  ...fs
    .readdirSync(path.join(REPO, "examples"))
    .filter((d) => fs.existsSync(path.join(REPO, "examples", d, "README.md")))
    .map((d): [string, string] => [`examples/${d}/README.md`, path.join(REPO, "examples", d)]),
];

describe.each(DOCS)("%s, entered as pulumi up does", (doc, projectDir) => {
  const ups = upsOf(doc, projectDir);

  it("brings up at least one stack", () => {
    expect(ups.length).toBeGreaterThan(0);
  });

  it.each(ups.map((u) => [u.where, u] as const))("%s: passes the CLI's config rules", (_, u) => {
    const { config } = enterProgram({ projectDir: u.projectDir, stack: u.stack, set: u.set });
    // This project's program then checks every dse-image key itself.
    if (u.projectDir === REPO) expect(() => loadConfig(config)).not.toThrow();
  });
});

describe("every committed stack file", () => {
  const stacks = fs
    .readdirSync(REPO)
    .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => s !== undefined);

  it("is there: local (the default) and dev (the old template)", () => {
    expect(stacks).toEqual(expect.arrayContaining(["local", "dev"]));
  });

  it.each(stacks)("Pulumi.%s.yaml passes the CLI's config rules and the program's", (stack) => {
    expect(() => loadConfig(enterProgram({ stack }).config)).not.toThrow();
  });
});

describe("the session model", () => {
  it("tracks the stack, its config set lines and each up of a block", () => {
    const ups = upsOf("README.md", REPO);
    const local = ups.find((u) => u.stack === "local" && u.set.length === 0);
    expect(local, "README's first command brings up the committed local stack").toBeDefined();
    const virtualbox = ups.find((u) =>
      u.set.some((argv) => argv.includes("dse-image:platforms[1]")),
    );
    expect(virtualbox?.set).toEqual([["--path", "dse-image:platforms[1]", "virtualbox"]]);
  });

  it("fails the way the CLI does on a key the stack does not set", () => {
    expect(() =>
      enterProgram({ stack: "newcomer", set: [["--path", "dse-image:tools[0]", "python"]] }),
    ).toThrow("Stack 'newcomer' is missing configuration value 'platforms'");
  });
});
