import * as fs from "node:fs";
import { OWNER_TAG, isDeadOwner, ownerTag } from "../owner-tag";
import { StoreError } from "./image-store";

/**
 * One local image record changed by one process at a time. A record is a JSON file rewritten
 * whole (components/store/local.ts), and two stacks' runs may change the same image at once (one
 * claims the image the other releases): a rewrite from a read the other's write made stale would
 * drop its claim, and with it the protection of an image that stack still uses. Cloud stores
 * change one property or tag per call, so only the local store needs this.
 *
 * The lock is `<record>.lock`, made with O_EXCL and named after its owner (owner-tag.ts); a lock
 * whose owner died on this host (a killed run) is taken over. Two waiters taking over the same
 * dead owner's lock in the same instant could both proceed; the lock is held for milliseconds, so
 * its owner dying inside it and two waiters at that moment is left at that.
 */
export function withRecordLock<T>(record: string, work: () => T, timeoutMs = 30_000): T {
  const lock = `${record}.lock`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      fs.writeFileSync(lock, ownerTag(), { flag: "wx" });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    const owner = readOwner(lock);
    if (owner !== undefined && isDeadOwner(owner.host, owner.pid)) {
      fs.rmSync(lock, { force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new StoreError(
        `${record} stayed locked by ${owner?.tag ?? "another process"} for ${timeoutMs / 1000} s; ` +
          `if no dse-image run is running, remove ${lock}`,
      );
    }
    sleepSync(10);
  }
  try {
    return work();
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

const TAG = new RegExp(`^${OWNER_TAG}$`);

function readOwner(lock: string): { tag: string; host: string; pid: number } | undefined {
  let tag: string;
  try {
    tag = fs.readFileSync(lock, "utf8").trim();
  } catch {
    return undefined;
  }
  const m = TAG.exec(tag);
  return m ? { tag, host: m[1], pid: Number(m[2]) } : undefined;
}

/** The store's calls are synchronous (local files); the wait for a lock is milliseconds. */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
