/**
 * The stacks a document's sh blocks bring up, read as a reader would run them: per block,
 * `stack select` / `stack init` picks a stack, each `config set` after it is kept (placeholders
 * and command substitutions replaced by what stands in for the reader's values), and each
 * `pulumi up` or `preview`, or the end of a block that set something after its last `up`, is one
 * bring-up. test/unit/readme-config.test.ts enters each as the CLI does.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { REPO } from "./front-door";
import { codeBlocks, shellCommands, shellWords, steps } from "./shell-lines";

/** The reader's own values, written as placeholders, and what stands in for them here. */
export const PLACEHOLDERS: Record<string, string> = {
  "<sha256>": "a".repeat(64),
  "<name>": "research",
  "<image-id>": "5f0b6f4e-2b9f-4c1e-9d6a-0c8e3c1f2a7b",
  "<flavor>": "m1.medium",
  "<network-id>": "7d3c2a10-4e5f-4a6b-8c9d-0e1f2a3b4c5d",
};
/** Command substitutions README uses, and what they print. */
export const SUBSTITUTIONS: Record<string, string> = {
  "curl -s https://checkip.amazonaws.com": "198.51.100.7",
  "cat ~/.ssh/id_ed25519.pub": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIreader reader@laptop",
  "npx pulumi stack output publicIp": "203.0.113.10",
  "npx pulumi stack output address": "203.0.113.11",
};

export interface Up {
  /** Where in which document: for the test's name. */
  where: string;
  projectDir: string;
  stack: string;
  set: string[][];
}

/** The stacks a document's sh blocks bring up, with the config set commands before each. */
export function upsOf(doc: string, projectDir: string): Up[] {
  const text = fs.readFileSync(path.join(REPO, doc), "utf8");
  const ups: Up[] = [];
  for (const block of codeBlocks(text).filter((b) => b.lang === "sh")) {
    const line = text.slice(0, block.offset).split("\n").length;
    let stack: string | undefined;
    let set: string[][] = [];
    let checked = true;
    const up = (what: string) => {
      if (stack === undefined) throw new Error(`${doc}:${line}: \`${what}\` before a stack select`);
      ups.push({ where: `${doc}:${line} ${what}`, projectDir, stack, set: [...set] });
      checked = true;
    };
    for (const step of shellCommands(block.body).flatMap(steps)) {
      const words = shellWords(step, (cmd) => {
        const out = SUBSTITUTIONS[cmd];
        if (out === undefined) throw new Error(`${doc}:${line}: unknown $(${cmd}) in: ${step}`);
        return out;
      });
      if (words[0] === "npx") words.shift();
      if (words[0] !== "pulumi") continue;
      const [, verb, sub] = words;
      if (verb === "stack" && (sub === "select" || sub === "init")) {
        stack = words
          .slice(3)
          .filter((w) => !w.startsWith("-"))
          .pop();
        set = [];
      } else if (verb === "config" && sub === "set") {
        set.push(
          words.slice(3).map((w) => {
            if (!/^<[^>]+>$/.test(w)) return w;
            const value = PLACEHOLDERS[w];
            if (value === undefined) throw new Error(`${doc}:${line}: unknown placeholder ${w}`);
            return value;
          }),
        );
        checked = false;
      } else if (verb === "up" || verb === "preview") {
        up(`pulumi ${verb}`);
      }
    }
    if (!checked) up("(end of block)");
  }
  return ups;
}
