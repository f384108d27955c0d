import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { onPath } from "../../components/host-tools";

describe("onPath: command -v for programs", () => {
  let dir: string;
  let other: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "dse-onpath-"));
    other = fs.mkdtempSync(path.join(os.tmpdir(), "dse-onpath-"));
    fs.writeFileSync(path.join(dir, "tool"), "#!/bin/sh\n", { mode: 0o755 });
    fs.writeFileSync(path.join(dir, "notes"), "text\n", { mode: 0o644 });
    fs.mkdirSync(path.join(dir, "folder"));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(other, { recursive: true, force: true });
  });

  it("finds an executable file in any PATH folder", () => {
    expect(onPath("tool", { PATH: `${other}:${dir}` })).toBe(true);
    expect(onPath("tool", { PATH: other })).toBe(false);
  });

  it("skips files that are not executable, and folders", () => {
    expect(onPath("notes", { PATH: dir })).toBe(false);
    expect(onPath("folder", { PATH: dir })).toBe(false);
  });

  it("takes a name with a slash as a path, and an unset PATH as empty", () => {
    expect(onPath(path.join(dir, "tool"), {})).toBe(true);
    expect(onPath("tool", {})).toBe(false);
  });

  it("agrees with the shell's command -v for a real tool", () => {
    expect(onPath("sh")).toBe(true);
    expect(onPath("dse-no-such-tool")).toBe(false);
  });
});
