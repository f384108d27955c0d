import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  PROVISION_DIR,
  fingerprint,
  imageNameFor,
  listFiles,
} from "../../components/lifecycle/fingerprint";

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dse-fp-"));
  fs.cpSync(PROVISION_DIR, dir, { recursive: true });
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const inputs = () => ({
  provisionDir: dir,
  tools: ["python", "scipy"],
  pythonSource: "pip",
  sourceImage: "ubuntu-24.04",
  settings: { flavor: "2", platform: "openstack" },
});

describe("fingerprint", () => {
  it("is a stable sha256 of the provision files and settings", () => {
    const fp = fingerprint(inputs());
    expect(fp).toMatch(/^[0-9a-f]{64}$/);
    expect(fingerprint(inputs())).toBe(fp);
    expect(fingerprint({ ...inputs(), provisionDir: PROVISION_DIR })).toBe(fp);
  });

  it("changes when a file under provision/ changes, and so does the image name", () => {
    const before = fingerprint(inputs());
    const file = path.join(dir, listFiles(dir)[0]);
    fs.appendFileSync(file, "\n# edited\n");
    const after = fingerprint(inputs());
    expect(after).not.toBe(before);
    expect(imageNameFor("dse_base", after)).not.toBe(imageNameFor("dse_base", before));
  });

  it("changes when a file is added, renamed or made executable", () => {
    const before = fingerprint(inputs());
    fs.writeFileSync(path.join(dir, "extra.sh"), "echo hi\n");
    const added = fingerprint(inputs());
    expect(added).not.toBe(before);
    fs.renameSync(path.join(dir, "extra.sh"), path.join(dir, "other.sh"));
    const renamed = fingerprint(inputs());
    expect(renamed).not.toBe(added);
    fs.chmodSync(path.join(dir, "other.sh"), 0o755);
    expect(fingerprint(inputs())).not.toBe(renamed);
  });

  it.each([
    ["tools", { tools: ["python"] }],
    ["pythonSource", { pythonSource: "apt" }],
    ["sourceImage", { sourceImage: "debian-12" }],
    ["settings", { settings: { flavor: "3", platform: "openstack" } }],
  ])("changes with %s", (_what, change) => {
    expect(fingerprint({ ...inputs(), ...change })).not.toBe(fingerprint(inputs()));
  });

  it("ignores the order of tools and of setting keys", () => {
    const fp = fingerprint(inputs());
    expect(fingerprint({ ...inputs(), tools: ["scipy", "python"] })).toBe(fp);
    expect(fingerprint({ ...inputs(), settings: { platform: "openstack", flavor: "2" } })).toBe(fp);
  });

  it("names the image with the first 12 hex digits", () => {
    expect(imageNameFor("dse_base", "0123456789abcdef".repeat(4))).toBe("dse_base-0123456789ab");
  });
});
