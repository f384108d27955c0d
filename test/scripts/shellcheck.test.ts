import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(__dirname, "..", "..");

/** Every shell script under the given folders, relative to the repo root. */
function scripts(...dirs: string[]): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const entry of fs.readdirSync(path.join(ROOT, rel), { withFileTypes: true })) {
      const child = path.join(rel, entry.name);
      if (entry.isDirectory()) walk(child);
      else if (entry.name.endsWith(".sh")) out.push(child);
    }
  };
  for (const dir of dirs) if (fs.existsSync(path.join(ROOT, dir))) walk(dir);
  return out.sort();
}

// shellcheck itself runs once, in `npm run lint` (every script, -x, all severities).
describe("shell scripts", () => {
  const files = scripts("provision", "components", "test/vm");

  it("finds the provision scripts", () => {
    expect(files).toEqual(
      expect.arrayContaining([
        "provision/install.sh",
        "provision/verify.sh",
        "provision/cleanup.sh",
        "provision/audit.sh",
        "components/qemu/detect-accel.sh",
        "components/qemu/make-seed.sh",
      ]),
    );
  });

  it.each(files)("%s is executable and strict", (file) => {
    const text = fs.readFileSync(path.join(ROOT, file), "utf8");
    expect(text.startsWith("#!/usr/bin/env bash\n") || text.startsWith("#!/bin/bash\n")).toBe(true);
    // Libraries (*lib.sh) are sourced, not run: the scripts that source them set strict mode.
    if (/lib\.sh$/.test(file)) return;
    expect(text).toMatch(/set -euo pipefail/);
    expect(fs.statSync(path.join(ROOT, file)).mode & 0o111).not.toBe(0);
  });
});
