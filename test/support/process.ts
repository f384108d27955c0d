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

/** Pids of processes whose environment has `DSE_TEST_TAG=<tag>`: what one test started. */
export function taggedProcesses(tag: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const env = fs.readFileSync(`/proc/${entry}/environ`, "utf8");
      if (env.split("\0").includes(`DSE_TEST_TAG=${tag}`)) pids.push(Number(entry));
    } catch {
      // gone, or not ours
    }
  }
  return pids;
}
