/** The SBOM step (components/lifecycle/write-sbom.ts): the document and its sha256. */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { writeSbom } from "../../components/lifecycle/write-sbom";

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dse-write-sbom-"));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("writeSbom", () => {
  it("writes the document in a new folder, no temporary file left, and returns its sha256", () => {
    const file = path.join(dir, "sboms", "dse_base-x.cdx.json");
    const doc = '{"bomFormat": "CycloneDX"}\n';
    expect(writeSbom(file, doc)).toBe(createHash("sha256").update(doc).digest("hex"));
    expect(fs.readFileSync(file, "utf8")).toBe(doc);
    expect(fs.readdirSync(path.dirname(file))).toEqual(["dse_base-x.cdx.json"]);
  });

  it("refuses an empty document and leaves an earlier SBOM as it was", () => {
    const file = path.join(dir, "x.cdx.json");
    fs.writeFileSync(file, "earlier");
    expect(() => writeSbom(file, "")).toThrow("no SBOM on stdin");
    expect(fs.readFileSync(file, "utf8")).toBe("earlier");
  });
});
