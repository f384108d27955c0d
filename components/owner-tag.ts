/**
 * Who holds something on this machine: the host and PID of a process, as a tag. What a process
 * leaves named after itself (an OVA export's work folder, virtualbox/ova-export.ts; a local image
 * record's lock, store/record-lock.ts) tells a later process whether its owner died (a `pulumi up`
 * killed mid-way never reaches its cleanup) or still runs (another stack working in the same
 * folder), so that only a dead owner's is removed. A tag of another host (a folder on a shared
 * file system) is never taken for dead.
 */
import * as os from "node:os";

/** The host part of a tag: no dots, so a tag parses from either end. */
const hostPart = (host: string) => host.replace(/[^A-Za-z0-9-]/g, "-") || "host";

/** `<host>.<pid>`: this process, or the one given. */
export function ownerTag(host = os.hostname(), pid = process.pid): string {
  return `${hostPart(host)}.${pid}`;
}

/** The pattern of a tag inside a longer name: host, then PID. */
export const OWNER_TAG = "([A-Za-z0-9-]+)\\.(\\d+)";

/** True when host and PID name a process of this host that no longer runs. */
export function isDeadOwner(host: string, pid: number, thisHost = os.hostname()): boolean {
  if (host !== hostPart(thisHost) || !Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    // EPERM: it runs, as another user.
    return (e as NodeJS.ErrnoException).code === "ESRCH";
  }
}
