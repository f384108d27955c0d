import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fetchBase } from "../../components/qemu/fetch-base";

const REPO = path.resolve(__dirname, "..", "..");
/** As launch.sh runs it, from the project folder (ts-hook.cjs registers the project's tsx). */
const COMMAND = [
  "--require",
  path.join(REPO, "components", "ts-hook.cjs"),
  path.join(REPO, "components", "qemu", "fetch-base.ts"),
];

let dir: string;
let image: string;
let sha: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dse-fetch-"));
  image = path.join(dir, "noble-server-cloudimg-amd64.img");
  fs.writeFileSync(image, "not really a disk image\n");
  sha = createHash("sha256").update(fs.readFileSync(image)).digest("hex");
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** What the step prints and its exit status, as the CLI wrapper (main) makes them. */
async function run(sourceUrl: string, sourceSha256: string) {
  const lines: string[] = [];
  const req = {
    sourceUrl,
    sourceSha256,
    cacheDir: path.join(dir, "cache"),
    retrySeconds: 0,
    log: (line: string) => lines.push(`==> qemu: ${line}`),
  };
  return fetchBase(req).then(
    (file) => ({ code: 0, stdout: file, stderr: lines.join("\n") }),
    (e: Error) => ({
      code: 1,
      stdout: "",
      stderr: [...lines, `qemu-fetch-base: ${e.message}`].join("\n"),
    }),
  );
}

const fetch = (sourceSha256: string) => run(`file://${image}`, sourceSha256);

describe("qemu fetch-base.ts", () => {
  it("accepts a plain sha256", async () => {
    expect(await fetch(sha)).toEqual({ code: 0, stdout: fs.realpathSync(image), stderr: "" });
  });

  it("fails naming the key when the sha256 does not match", async () => {
    const wrong = "f".repeat(64);
    const r = await fetch(wrong);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `qemu-fetch-base: sha256 mismatch for ${image}: expected ${wrong} (dse-image:qemu.sourceImageSha256), got ${sha}`,
    );
  });

  it("refuses a SOURCE_SHA256 that is not a sha256 (the program resolves a SHA256SUMS file first)", async () => {
    const r = await fetch("file:https://example.org/SHA256SUMS");
    expect(r).toEqual({
      code: 1,
      stdout: "",
      stderr:
        'qemu-fetch-base: SOURCE_SHA256 is not a sha256: "file:https://example.org/SHA256SUMS" (dse-image:qemu.sourceImageSha256)',
    });
  });

  it("does not hash an unchanged file again, and hashes it again once it changed", async () => {
    expect(await fetch(sha)).toEqual({ code: 0, stdout: fs.realpathSync(image), stderr: "" });
    expect(await fetch(sha)).toEqual({
      code: 0,
      stdout: fs.realpathSync(image),
      stderr: `==> qemu: sha256 of ${image} checked before; unchanged since`,
    });
    // Same size, other content: the status-change time moves, so it is hashed and refused.
    fs.writeFileSync(image, "not really a disk imagE\n");
    const r = await fetch(sha);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^qemu-fetch-base: sha256 mismatch for /);
  });

  it("fails naming the key when the local base does not exist", async () => {
    fs.rmSync(image);
    expect(await fetch(sha)).toEqual({
      code: 1,
      stdout: "",
      stderr: `qemu-fetch-base: base image ${image} (dse-image:qemu.sourceImageUrl) does not exist`,
    });
  });

  it("still uses a checked local file when the cache cannot be written, and says so", async () => {
    const notADir = path.join(dir, "cache");
    fs.writeFileSync(notADir, "a file where the cache folder should be\n");
    expect(await fetch(sha)).toEqual({
      code: 0,
      stdout: fs.realpathSync(image),
      stderr: `==> qemu: warning: could not remember the check in ${notADir}/verified`,
    });
  });

  it("remembers a checked file per expected sha256: another sha256 is checked again", async () => {
    expect((await fetch(sha)).code).toBe(0);
    const other = "e".repeat(64);
    expect(await fetch(other)).toEqual({
      code: 1,
      stdout: "",
      stderr: `qemu-fetch-base: sha256 mismatch for ${image}: expected ${other} (dse-image:qemu.sourceImageSha256), got ${sha}`,
    });
  });
});

describe("qemu fetch-base.ts downloads", () => {
  let server: http.Server;
  let url: string;
  let requests: number;
  let status: number;
  beforeEach(async () => {
    requests = 0;
    status = 200;
    server = http.createServer((req, res) => {
      requests++;
      // -1: the connection drops before an answer.
      if (status === -1) {
        req.socket.destroy();
        return;
      }
      res.statusCode = status;
      res.end(status === 200 ? fs.readFileSync(image) : "");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/noble.img`;
  });
  afterEach(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const download = (sourceSha256: string) => run(url, sourceSha256);

  it("downloads once, then reuses the cached copy without hashing it again", async () => {
    const cached = path.join(dir, "cache", "base", sha, "noble.img");
    const first = await download(sha);
    expect(first).toEqual({
      code: 0,
      stdout: cached,
      stderr: `==> qemu: downloading ${url}`,
    });
    expect(fs.readFileSync(cached)).toEqual(fs.readFileSync(image));
    const second = await download(sha);
    expect(second).toEqual({
      code: 0,
      stdout: cached,
      stderr: `==> qemu: base image cached: ${cached}`,
    });
    expect(requests).toBe(1);
  });

  it("hashes a cached copy it has no record of, and keeps it when it matches", async () => {
    const cached = path.join(dir, "cache", "base", sha, "noble.img");
    fs.mkdirSync(path.dirname(cached), { recursive: true });
    fs.copyFileSync(image, cached);
    expect(await download(sha)).toEqual({
      code: 0,
      stdout: cached,
      stderr: `==> qemu: base image cached: ${cached}`,
    });
    expect(requests).toBe(0);
  });

  it("retries a server error, then fails naming the URL and the key", async () => {
    status = 503;
    expect(await download(sha)).toEqual({
      code: 1,
      stdout: "",
      stderr: [
        `==> qemu: downloading ${url}`,
        ...[2, 3, 4, 5, 6].map(
          (n) =>
            `==> qemu: download of ${url} failed (HTTP 503 Service Unavailable); attempt ${n} of 6`,
        ),
        `qemu-fetch-base: could not download ${url} (dse-image:qemu.sourceImageUrl): HTTP 503 Service Unavailable`,
      ].join("\n"),
    });
    expect(requests).toBe(6);
  });

  it("retries a dropped connection as well, naming the cause", async () => {
    status = -1;
    const r = await download(sha);
    expect(r.code).toBe(1);
    expect(r.stderr.split("\n").at(-1)).toMatch(
      new RegExp(
        `^qemu-fetch-base: could not download ${url} \\(dse-image:qemu.sourceImageUrl\\): \\S`,
      ),
    );
    expect(r.stderr).toContain("attempt 6 of 6");
    expect(requests).toBe(6);
  });

  it("does not retry a missing file", async () => {
    status = 404;
    const r = await download(sha);
    expect(r.stderr).toBe(
      `==> qemu: downloading ${url}\nqemu-fetch-base: could not download ${url} (dse-image:qemu.sourceImageUrl): HTTP 404 Not Found`,
    );
    expect(requests).toBe(1);
    expect(fs.readdirSync(path.join(dir, "cache", "base", sha))).toEqual([]);
  });

  it("refuses a download whose sha256 differs, naming the URL and the key, and keeps nothing", async () => {
    const wrong = "f".repeat(64);
    expect(await download(wrong)).toEqual({
      code: 1,
      stdout: "",
      stderr: `==> qemu: downloading ${url}\nqemu-fetch-base: sha256 mismatch for ${url}: expected ${wrong} (dse-image:qemu.sourceImageSha256), got ${sha}`,
    });
    expect(fs.readdirSync(path.join(dir, "cache", "base", wrong))).toEqual([]);
  });
});

describe("qemu fetch-base.ts as launch.sh runs it", () => {
  const cli = (sourceSha256: string) =>
    spawnSync(process.execPath, COMMAND, {
      cwd: REPO,
      env: {
        PATH: process.env.PATH,
        SOURCE_URL: `file://${image}`,
        SOURCE_SHA256: sourceSha256,
        CACHE_DIR: path.join(dir, "cache"),
      },
      encoding: "utf8",
    });

  it("prints the base image's path on stdout, progress on stderr", () => {
    const r = cli(sha);
    expect([r.status, r.stdout, r.stderr]).toEqual([0, `${fs.realpathSync(image)}\n`, ""]);
  });

  it("fails with exit status 1 and one line naming the setting", () => {
    const wrong = "f".repeat(64);
    const r = cli(wrong);
    expect([r.status, r.stdout, r.stderr]).toEqual([
      1,
      "",
      `qemu-fetch-base: sha256 mismatch for ${image}: expected ${wrong} (dse-image:qemu.sourceImageSha256), got ${sha}\n`,
    ]);
  });
});
