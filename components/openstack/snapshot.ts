import type { StoreLog } from "../store/image-store";
import { StoreError } from "../store/image-store";
import type { OpenStackImageStore } from "../store/openstack";
import { type PendingMeta, discardEarlier, pendingMeta } from "../store/pending";
import { propertyArgs } from "../store/openstack";
import { serverStatus } from "./servers";

/** How often the server's status is read while it stops, and how many times. */
export interface PollSettings {
  seconds: number;
  attempts: number;
}

/** `POLL_SECONDS` (default 5) as the scripts read it; 180 attempts. */
export function pollSettings(env: NodeJS.ProcessEnv = process.env): PollSettings {
  const seconds = Number(env.POLL_SECONDS);
  return { seconds: Number.isFinite(seconds) && seconds > 0 ? seconds : 5, attempts: 180 };
}

const sleep = (seconds: number) => new Promise((r) => setTimeout(r, seconds * 1000));

/** The last lines of the server's console, for an error message; never fails. */
async function consoleTail(store: OpenStackImageStore, serverId: string): Promise<string> {
  try {
    return await store.run(["console", "log", "show", "--lines", "30", serverId]);
  } catch {
    return `(no console log for server ${serverId})`;
  }
}

async function waitForShutoff(
  store: OpenStackImageStore,
  serverId: string,
  poll: PollSettings,
): Promise<void> {
  let status = "";
  for (let i = 0; i < poll.attempts; i++) {
    status = await serverStatus(store, serverId);
    if (status === "SHUTOFF") return;
    if (status === "ERROR") {
      throw new StoreError(
        `server ${serverId} went to ERROR; its console:\n${await consoleTail(store, serverId)}`,
      );
    }
    await sleep(poll.seconds);
  }
  throw new StoreError(
    `timed out after ${poll.attempts * poll.seconds}s waiting for server ${serverId} to stop (last status: ${status})`,
  );
}

/**
 * The OpenStack snapshot: marks the provisioned builder sealed, stops it, and snapshots it into
 * this build's PENDING image, named `<name>.pending`, with every property of the build in the
 * create call: an interrupted snapshot still leaves a whole pending image that the next run tests
 * and publishes, never one without its state. This stack's earlier unpublished or killed images
 * for the same name go first. It tears nothing down: a failed snapshot leaves the sealed builder
 * for the next run (the plan snapshots it again); the teardown step runs after this one.
 * Returns the pending image's ID.
 */
export async function snapshotServer(
  store: OpenStackImageStore,
  serverId: string,
  build: PendingMeta,
  log: StoreLog,
  poll: PollSettings = pollSettings(),
): Promise<string> {
  // Sealed: provisioned and cleaned up. The probe lets the next run snapshot it again instead of
  // building anew, and nothing ever starts it again.
  await store.run(["server", "set", "--property", "dse_sealed=true", serverId]);
  log(`Stopping server: ${serverId} ...`);
  // Already stopped (a retry, the builder's TTL): Nova refuses the stop; the status decides.
  await store.run(["server", "stop", serverId]).catch(() => undefined);
  await waitForShutoff(store, serverId, poll);
  await discardEarlier(store, build, log);
  log(`Creating the image: ${build.name}.pending`);
  const out = await store.run(
    [
      "server",
      "image",
      "create",
      "--wait",
      "-f",
      "value",
      "-c",
      "id",
      "--name",
      `${build.name}.pending`,
      ...propertyArgs(pendingMeta(build), build.manifest),
      serverId,
    ],
    "server image create",
  );
  // With --wait the client writes its progress to stdout before the ID: the ID is the last line.
  const id = out.trim().split("\n").pop()?.trim() ?? "";
  if (!id) throw new StoreError(`openstack server image create printed no image ID: ${out}`);
  log(`Image: ${id}`);
  return id;
}
