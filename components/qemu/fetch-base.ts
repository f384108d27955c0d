/**
 * Fetches the QEMU builder's base image into the cache and verifies it; prints its cached path
 * (launch.sh runs it with ../ts-hook.cjs). A cached copy whose sha256 matches is reused; a local
 * file (file:// URL or path) is used in place, never copied.
 *
 * Env:
 *   SOURCE_URL     http(s) URL, file:// URL or path of the base cloud image (qcow2 or raw)
 *   SOURCE_SHA256  expected sha256 (the program resolves qemu.sourceImageSha256's `file:` form,
 *                  a SHA256SUMS file, first): required for http(s) URLs, checked when set for
 *                  local files
 *   CACHE_DIR      cache folder; downloads land in <CACHE_DIR>/base/<sha256>/<file name>, and
 *                  <CACHE_DIR>/verified/ remembers files whose sha256 was checked
 *   RETRY_SECONDS  pause between download attempts (default 5)
 * Output: the base image's absolute path on stdout; progress on stderr. Exit status 1 with one
 * line "qemu-fetch-base: ..." naming the setting when it fails.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { envSeconds, requiredEnv, runHostCommand } from "../host-env";
import { fileSha256 } from "../file-sha256";
import { SHA256, fileName, recordSha256, recordedSha256 } from "./base-digest";

const SHA_KEY = "dse-image:qemu.sourceImageSha256";
const URL_KEY = "dse-image:qemu.sourceImageUrl";

export interface FetchBaseRequest {
  sourceUrl: string;
  /** A sha256, or empty (local files only). */
  sourceSha256: string;
  cacheDir: string;
  retrySeconds: number;
  log: (line: string) => void;
}

function expectedSha256(req: FetchBaseRequest): string {
  const spec = req.sourceSha256;
  if (spec !== "" && !SHA256.test(spec))
    throw new Error(`SOURCE_SHA256 is not a sha256: ${JSON.stringify(spec)} (${SHA_KEY})`);
  return spec.toLowerCase();
}

/** Checked before with this expected sha256, and unchanged since (size, inode, times). */
const verifiedBefore = (file: string, expected: string, cacheDir: string) =>
  recordedSha256(file, cacheDir) === expected;

/** Best effort: a cache that cannot be written only means the next build hashes again. */
function rememberVerified(file: string, expected: string, req: FetchBaseRequest): void {
  if (!recordSha256(file, req.cacheDir, expected))
    req.log(`warning: could not remember the check in ${req.cacheDir}/verified`);
}

function mismatch(what: string, expected: string, actual: string): Error {
  return new Error(`sha256 mismatch for ${what}: expected ${expected} (${SHA_KEY}), got ${actual}`);
}

async function useLocalFile(req: FetchBaseRequest, expected: string): Promise<string> {
  const file = req.sourceUrl.replace(/^file:\/\//, "");
  if (!fs.statSync(file, { throwIfNoEntry: false })?.isFile()) {
    throw new Error(`base image ${file} (${URL_KEY}) does not exist`);
  }
  if (expected !== "") {
    if (verifiedBefore(file, expected, req.cacheDir)) {
      req.log(`sha256 of ${file} checked before; unchanged since`);
    } else {
      const actual = await fileSha256(file);
      if (actual !== expected) throw mismatch(file, expected, actual);
      rememberVerified(file, expected, req);
    }
  }
  return fs.realpathSync(file);
}

/** Statuses worth another attempt, as curl's --retry takes them. */
const TRANSIENT = new Set([408, 429, 500, 502, 503, 504]);

/** One attempt: the file's sha256, or why not and whether another attempt may succeed. */
type Attempt = { sha256: string } | { reason: string; retry: boolean };

const reasonOf = (e: unknown) =>
  (e as Error & { cause?: Error }).cause?.message ?? (e as Error).message;

async function attemptDownload(url: string, file: string): Promise<Attempt> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    return { reason: reasonOf(e), retry: true };
  }
  if (!res.ok || res.body === null) {
    return { reason: `HTTP ${res.status} ${res.statusText}`, retry: TRANSIENT.has(res.status) };
  }
  const hash = createHash("sha256");
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  try {
    await pipeline(Readable.fromWeb(res.body), hashing, fs.createWriteStream(file));
  } catch (e) {
    // A connection lost mid-body is worth another attempt; a full or unwritable disk is not.
    const local = ["open", "write"].includes((e as NodeJS.ErrnoException).syscall ?? "");
    return { reason: reasonOf(e), retry: !local };
  }
  return { sha256: hash.digest("hex") };
}

/** Downloads `url` to `file`, hashing on the way; retries transient failures like curl --retry 5. */
async function downloadTo(url: string, file: string, req: FetchBaseRequest): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    const result = await attemptDownload(url, file);
    if ("sha256" in result) return result.sha256;
    if (!result.retry || attempt === 6) {
      throw new Error(`could not download ${url} (${URL_KEY}): ${result.reason}`);
    }
    req.log(`download of ${url} failed (${result.reason}); attempt ${attempt + 1} of 6`);
    await new Promise((resolve) => setTimeout(resolve, req.retrySeconds * 1000));
  }
}

/** A cached download that was checked before and is unchanged, or hashes right now. */
async function cachedCopyValid(file: string, expected: string, req: FetchBaseRequest) {
  if (verifiedBefore(file, expected, req.cacheDir)) return true;
  if ((await fileSha256(file)) !== expected) return false;
  rememberVerified(file, expected, req);
  return true;
}

async function download(req: FetchBaseRequest, expected: string): Promise<string> {
  if (expected === "") throw new Error(`${SHA_KEY} is required for ${req.sourceUrl}`);
  const name = fileName(req.sourceUrl);
  const dir = path.join(req.cacheDir, "base", expected);
  const file = path.join(dir, name);
  if (fs.existsSync(file) && (await cachedCopyValid(file, expected, req))) {
    req.log(`base image cached: ${file}`);
    return fs.realpathSync(file);
  }
  fs.mkdirSync(dir, { recursive: true });
  const part = path.join(dir, `.${name}.${process.pid}.${Date.now()}`);
  try {
    req.log(`downloading ${req.sourceUrl}`);
    const actual = await downloadTo(req.sourceUrl, part, req);
    if (actual !== expected) throw mismatch(req.sourceUrl, expected, actual);
    fs.renameSync(part, file);
  } finally {
    fs.rmSync(part, { force: true });
  }
  rememberVerified(file, expected, req);
  return fs.realpathSync(file);
}

/** The base image's absolute path, fetched and checked as the header says. */
export async function fetchBase(req: FetchBaseRequest): Promise<string> {
  const expected = expectedSha256(req);
  return /^https?:\/\//i.test(req.sourceUrl)
    ? download(req, expected)
    : useLocalFile(req, expected);
}

async function main(env: NodeJS.ProcessEnv): Promise<string> {
  const file = await fetchBase({
    sourceUrl: requiredEnv(env, "SOURCE_URL"),
    sourceSha256: env.SOURCE_SHA256 ?? "",
    cacheDir: requiredEnv(env, "CACHE_DIR"),
    retrySeconds: envSeconds(env.RETRY_SECONDS, 5),
    log: (line) => process.stderr.write(`==> qemu: ${line}\n`),
  });
  return `${file}\n`;
}

if (require.main === module) runHostCommand("qemu-fetch-base: ", () => main(process.env));
