import * as path from "node:path";
import * as tar from "tar";
import { listFiles } from "./lifecycle/fingerprint";

/**
 * provision/ as the Provisioner's upload step receives it on stdin: a gzipped tar, base64, whose
 * entries are `provision/<file>`. It is an input stored in the state, so it holds the files
 * themselves and no path of this machine (a `FileArchive` would store its absolute path: rule
 * P3), and it is the same text for the same files on any machine: sorted names, mtime 0, no
 * owners (`portable`), and modes 0755 or 0644 by the executable bit alone, which is all of a
 * file's mode that git keeps and that the fingerprint covers.
 */
export function provisionArchive(dir: string): string {
  const chunks: Buffer[] = [];
  const pack = tar.create(
    {
      cwd: dir,
      prefix: path.basename(dir),
      gzip: { level: 9 },
      portable: true,
      sync: true,
      mtime: new Date(0),
      filter: (_file, stat) => {
        // The stat object is the one the entry is written from.
        const mode = stat.mode ?? 0o644;
        stat.mode = (mode & ~0o7777) | (mode & 0o111 ? 0o755 : 0o644);
        return true;
      },
    },
    listFiles(dir),
  );
  pack.on("data", (chunk: Buffer) => chunks.push(chunk));
  return Buffer.concat(chunks).toString("base64");
}
