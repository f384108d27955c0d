/**
 * Who does an OVA export's work. The work (a temp folder in `<outputDir>/.pending` holding the
 * converted disk, gigabytes; for the vboxmanage builder also a VM registered in VirtualBox) is
 * named after the host and PID of the process doing it, so a later export can tell the work of an
 * attempt that died (a `pulumi up` killed mid-export never reaches its cleanup) from the work of
 * one still running (another stack exporting into the same folder) and remove only the former.
 * Work named after another host (an output folder on a shared file system) is never touched.
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
