/**
 * The image store for the host scripts that remain (the boot test): `node --import tsx
 * components/store/cli.ts <command>`, everything else from the environment as command.local
 * passes it. Exit status 1 with one line "imagestore: ..." on stderr when something fails.
 *   STORE, STORE_CONFIG   which store (JSON settings)
 *   fail          IMAGE_ID: marks a pending image failed (kept for debugging, never published)
 *   discard-image IMAGE_ID: deletes that image unless it is complete
 */
import { openStore } from "./open";
import { discardImage, failImage } from "./pending";
import { storeLog } from "./provider-util";
import type { StoreRef } from "../lifecycle/store";

async function main(command: string | undefined): Promise<void> {
  const ref = {
    store: process.env.STORE as StoreRef["store"],
    config: JSON.parse(process.env.STORE_CONFIG || "{}") as Record<string, unknown>,
  };
  const id = process.env.IMAGE_ID;
  if (!id) throw new Error("IMAGE_ID is required");
  const store = openStore(ref);
  switch (command) {
    case "fail":
      return failImage(store, id);
    case "discard-image":
      return discardImage(store, id, storeLog(store.platform));
    default:
      throw new Error(`usage: cli.ts fail|discard-image (got ${command ?? "nothing"})`);
  }
}

main(process.argv[2]).catch((e: Error) => {
  process.stderr.write(`imagestore: ${e.message}\n`);
  process.exitCode = 1;
});
