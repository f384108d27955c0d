import { StoreError } from "./image-store";

/** Progress for the operator, as the scripts print it: `==> <platform>: message` on stderr. */
export const storeLog =
  (platform: string) =>
  (message: string): void => {
    process.stderr.write(`==> ${platform}: ${message}\n`);
  };

/** Runs a store call; a StoreError becomes the operator's one-line message, not a stack trace. */
export async function operatorError<T>(what: () => Promise<T>): Promise<T> {
  try {
    return await what();
  } catch (e) {
    if (e instanceof StoreError) throw new Error(e.message);
    throw e;
  }
}
