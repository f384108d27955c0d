import { execFileSync } from "node:child_process";

/** True when `name` is an executable on PATH. Injected in tests. */
export type HasCommand = (name: string) => boolean;

export const hasCommand: HasCommand = (name) => {
  try {
    execFileSync("sh", ["-c", `command -v "$1"`, "sh", name], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
};
