import * as fs from "node:fs";

/**
 * True when pid runs. A zombie does not: an exited, daemonized process stays one until init
 * reaps it, which some inits (containers, this sandbox) do only every few seconds.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0] !== "Z";
  } catch {
    return false;
  }
}
