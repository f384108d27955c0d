import { createHash } from "node:crypto";
import * as fs from "node:fs";

/** The sha256 of a file's bytes, read as a stream (base images and OVAs are gigabytes). */
export async function fileSha256(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}
