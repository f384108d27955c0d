/**
 * The SBOM step: `node --require ./components/ts-hook.cjs components/lifecycle/write-sbom.ts`.
 * Writes the image's CycloneDX SBOM (the program made it from the builder's inventory; it
 * arrives on stdin) to SBOM_PATH atomically, and prints its sha256, which the snapshot stores on
 * the image.
 *
 * Env: SBOM_PATH  where the document goes (<sbomDir>/<image name>.cdx.json, relative to the
 *                 project folder or absolute)
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { requiredEnv, runHostCommand } from "../host-env";

/** Writes `document` to `file` through a temporary file; returns its sha256. */
export function writeSbom(file: string, document: string): string {
  if (document.length === 0) throw new Error("no SBOM on stdin");
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(`${file}.tmp`, document);
  fs.renameSync(`${file}.tmp`, file);
  return createHash("sha256").update(document).digest("hex");
}

if (require.main === module)
  runHostCommand("write-sbom: ", () => {
    const file = requiredEnv(process.env, "SBOM_PATH");
    const sha = writeSbom(file, fs.readFileSync(0, "utf8"));
    process.stderr.write(`==> sbom: ${file}\n`);
    return `${sha}\n`;
  });
