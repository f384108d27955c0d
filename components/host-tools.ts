import * as fs from "node:fs";
import * as path from "node:path";

/** True when `name` is an executable on PATH. Injected in tests. */
export type HasCommand = (name: string) => boolean;

/**
 * `command -v` for programs, without starting a shell per tool: the program checks its tools on
 * every run (preview and update), and each shell was a process start on the operator's machine.
 * An empty PATH entry is the current folder, as POSIX shells read it.
 */
export function onPath(name: string, env: NodeJS.ProcessEnv = process.env): boolean {
  if (name.includes("/")) return isExecutableFile(name);
  return (env.PATH ?? "")
    .split(path.delimiter)
    .some((dir) => isExecutableFile(path.join(dir || ".", name)));
}

function isExecutableFile(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

export const hasCommand: HasCommand = (name) => onPath(name);
