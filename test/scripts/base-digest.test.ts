/**
 * The program knows a local base by its sha256 (components/qemu/base-digest.ts) and shares
 * fetch-base.ts's record of files checked before, so a multi-GB base is hashed once, by whichever
 * of the two meets it first, and again only when it changed.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sha256FileRemembered } from "../../components/qemu/base-digest";
import { fetchBase as fetchBaseImage } from "../../components/qemu/fetch-base";

let dir: string;
let image: string;
let cache: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dse-digest-"));
  image = path.join(dir, "base.qcow2");
  cache = path.join(dir, "cache");
  fs.writeFileSync(image, "a base image\n");
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const sha256 = (file: string) => createHash("sha256").update(fs.readFileSync(file)).digest("hex");

/** The builder's start step's check of the base, with what it logs. */
async function fetchBase(expected: string) {
  let stderr = "";
  const log = (line: string) => (stderr += `==> qemu: ${line}\n`);
  const req = { sourceUrl: image, sourceSha256: expected, cacheDir: cache, retrySeconds: 0, log };
  return fetchBaseImage(req).then(
    () => ({ code: 0, stderr }),
    (e: Error) => ({ code: 1, stderr: `${stderr}qemu-fetch-base: ${e.message}\n` }),
  );
}

/** The one stamp file in the cache. */
function stamp(): string {
  const [name] = fs.readdirSync(path.join(cache, "verified"));
  return path.join(cache, "verified", name);
}

describe("sha256FileRemembered", () => {
  it("hashes the file, and fetch-base.ts then trusts the record without hashing again", async () => {
    expect(await sha256FileRemembered(image, cache)).toBe(sha256(image));
    const r = await fetchBase(sha256(image));
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`sha256 of ${image} checked before; unchanged since`);
  });

  it("takes the hash fetch-base.ts recorded while the file is unchanged", async () => {
    expect((await fetchBase(sha256(image))).code).toBe(0);
    // The record's hash is what comes back: nothing was read (a real record is never wrong).
    const [, ...statLine] = fs.readFileSync(stamp(), "utf8").trim().split(" ");
    fs.writeFileSync(stamp(), `${"e".repeat(64)} ${statLine.join(" ")}\n`);
    expect(await sha256FileRemembered(image, cache)).toBe("e".repeat(64));
  });

  it("hashes a file again once it changed, even to the same size", async () => {
    await sha256FileRemembered(image, cache);
    fs.writeFileSync(image, "b base image\n");
    expect(await sha256FileRemembered(image, cache)).toBe(sha256(image));
  });

  it("still answers when the cache cannot be written", async () => {
    fs.writeFileSync(cache, "a file where the cache folder should be");
    expect(await sha256FileRemembered(image, cache)).toBe(sha256(image));
  });

  it("fails on a missing file with a short reason", async () => {
    await expect(sha256FileRemembered(path.join(dir, "nope"), cache)).rejects.toThrow(
      "no such file",
    );
  });
});
