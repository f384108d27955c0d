/**
 * The image store for the host scripts that remain (the boot test) and for the steps of stacks
 * made by earlier versions:
 * `node --require ./components/ts-hook.cjs components/store/cli.ts <command>`, everything
 * else from the environment as command.local passes it. Exit status 1 with one line
 * "imagestore: ..." on stderr when something fails.
 *   STORE, STORE_CONFIG   which store (JSON settings)
 *   fail          IMAGE_ID: marks a pending image failed (kept for debugging, never published)
 *   discard-image IMAGE_ID: deletes that image unless it is complete
 * The deletes stored in the state of an earlier version (rule C3: a step's delete runs its stored
 * command, `python3 components/lifecycle/imagestore.py <command>`, which hands over to this):
 *   release  IMAGE_ID IMAGE_NAME STACK_ID STACK_TAG RETAIN KEEP: a record step's delete, the
 *            stack's claim released unless the stack's ImageClaim holds it now (an upgrade)
 *   discard  NAME GEN STACK_TAG IMAGE_NAME: a snapshot step's delete, the build's image deleted
 *            unless it was published
 */
import { requiredEnv, runHostCommand } from "../host-env";
import { type ClaimRequest, releaseImage } from "./claims";
import type { ImageStore, StoreLog } from "./image-store";
import { openStore } from "./open";
import { discardBuild, discardImage, failImage } from "./pending";
import { storeLog } from "./provider-util";
import type { StoreRef } from "../lifecycle/store";

const need = (name: string) => requiredEnv(process.env, name);

/**
 * The family a legacy record's release looks in: the stored IMAGE_NAME; a record stored before
 * the environment carried it, what its create printed last (when a refresh did not empty it,
 * rule P4); else the image's own (releaseImage reads it).
 */
function legacyFamily(): string {
  if (process.env.IMAGE_NAME) return process.env.IMAGE_NAME;
  const printed = (process.env.PULUMI_COMMAND_STDOUT ?? "").trim().split("\n").pop() ?? "";
  try {
    return (JSON.parse(printed) as { imageName?: string }).imageName ?? "";
  } catch {
    return "";
  }
}

async function releaseLegacy(store: ImageStore, log: StoreLog): Promise<void> {
  const req: ClaimRequest = {
    imageId: need("IMAGE_ID"),
    imageName: legacyFamily(),
    stackId: process.env.STACK_ID ?? "",
    stackTag: need("STACK_TAG"),
    retain: process.env.RETAIN === "true",
    keep: Number(process.env.KEEP) || 0,
  };
  const image = await store.get(req.imageId);
  if (image?.held.includes(req.stackTag)) {
    // Deleted by the first run of this version (rule E1, at the end of the run): the stack's
    // ImageClaim resource holds the claim now.
    log(`${image.name}: this stack's ImageClaim holds its claim; nothing to release here`);
    return;
  }
  await releaseImage(store, req, log);
}

async function main(command: string | undefined): Promise<void> {
  const ref = {
    store: need("STORE") as StoreRef["store"],
    config: JSON.parse(process.env.STORE_CONFIG || "{}") as Record<string, unknown>,
  };
  const store = openStore(ref);
  const log = storeLog(store.platform);
  switch (command) {
    case "fail":
      return failImage(store, need("IMAGE_ID"));
    case "discard-image":
      return discardImage(store, need("IMAGE_ID"), log);
    case "release":
      return releaseLegacy(store, log);
    case "discard":
      return discardBuild(
        store,
        {
          name: need("NAME"),
          gen: need("GEN"),
          stackTag: need("STACK_TAG"),
          imageName: need("IMAGE_NAME"),
        },
        log,
      );
    default:
      throw new Error(
        `usage: cli.ts fail|discard-image|release|discard (got ${command ?? "nothing"})`,
      );
  }
}

runHostCommand("imagestore: ", () => main(process.argv[2]));
