import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileSha256 } from "../file-sha256";

/** What the program reads to know the base by content (the Host seam; tests pass their own). */
export interface BaseReader {
  /** A SHA256SUMS file: http(s) URL, file:// URL or path. */
  fetchText(url: string): Promise<string>;
  /** sha256 of a local file; `cacheDir` holds fetch-base.ts's record of files checked before. */
  sha256File(file: string, cacheDir: string): Promise<string>;
}

export const SHA256 = /^[0-9a-f]{64}$/i;

/** A file's name in a URL or path, without a query string. */
export function fileName(url: string): string {
  return path.posix.basename(url.replace(/[?#].*$/, ""));
}

/** The image's line in a SHA256SUMS text ("<hash> *<name>" or "<hash>  <name>"). */
export function checksumFromSums(sums: string, name: string): string | undefined {
  for (const line of sums.split("\n")) {
    const [hash, file] = line.trim().split(/\s+/, 2);
    if (file?.replace(/^\*/, "") === name && SHA256.test(hash)) return hash.toLowerCase();
  }
  return undefined;
}

/** `stat -L -c '%s %i %d %.9Y %.9Z'`: what fetch-base.ts records of a checked file. */
function statLine(file: string): string {
  const st = fs.statSync(file, { bigint: true });
  const time = (ns: bigint) =>
    `${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, "0")}`;
  return `${st.size} ${st.ino} ${st.dev} ${time(st.mtimeNs)} ${time(st.ctimeNs)}`;
}

/** fetch-base.ts's stamp of a file: `<cacheDir>/verified/<sha256 of "realpath\n">`. */
function stampOf(file: string, cacheDir: string): string {
  const key = createHash("sha256")
    .update(`${fs.realpathSync(file)}\n`)
    .digest("hex");
  return path.join(cacheDir, "verified", key);
}

/**
 * The sha256 recorded for a file checked before, while it is unchanged since: same size, inode,
 * device, modification and status-change times (what git's index trusts).
 */
export function recordedSha256(file: string, cacheDir: string): string | undefined {
  let recorded: string;
  try {
    recorded = fs.readFileSync(stampOf(file, cacheDir), "utf8").trim();
  } catch {
    return undefined;
  }
  const [hash, ...rest] = recorded.split(" ");
  return SHA256.test(hash ?? "") && rest.join(" ") === statLine(file) ? hash : undefined;
}

/**
 * Records a file's checked sha256 with its current state; false when the cache cannot be
 * written (best effort: that only costs a hash next time).
 */
export function recordSha256(file: string, cacheDir: string, sha256: string): boolean {
  const stamp = stampOf(file, cacheDir);
  try {
    fs.mkdirSync(path.dirname(stamp), { recursive: true });
    fs.writeFileSync(`${stamp}.tmp`, `${sha256} ${statLine(file)}\n`);
    fs.renameSync(`${stamp}.tmp`, stamp);
    return true;
  } catch {
    return false;
  }
}

/** Hashes a local base, or takes the hash fetch-base.ts (or an earlier run) recorded for it. */
export async function sha256FileRemembered(file: string, cacheDir: string): Promise<string> {
  if (!fs.existsSync(file)) throw new Error("no such file");
  const recorded = recordedSha256(file, cacheDir);
  if (recorded !== undefined) return recorded;
  const hex = await fileSha256(file);
  recordSha256(file, cacheDir, hex);
  return hex;
}

/** The real reader: Node's fetch for http(s), the file system for the rest. */
export const realBaseReader: BaseReader = {
  fetchText: async (url) => {
    if (/^https?:\/\//i.test(url)) {
      const res = await fetch(url);
      if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`);
      return res.text();
    }
    return fs.promises.readFile(url.replace(/^file:\/\//, ""), "utf8");
  },
  sha256File: sha256FileRemembered,
};
