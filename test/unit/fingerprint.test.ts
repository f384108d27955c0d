import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  CONTENT_KEYS,
  PROVISION_DIR,
  fingerprint,
  listFiles,
  stackFingerprint,
} from "../../components/lifecycle/fingerprint";
import { familyPrefix } from "../../components/lifecycle/names";
import { parseStackConfig } from "../../components/config";

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
    expect(familyPrefix("dse_base", after)).not.toBe(familyPrefix("dse_base", before));
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
    ["aptMirror", { aptMirror: "http://mirror.example/debian" }],
  ])("changes with %s", (_what, change) => {
    expect(fingerprint({ ...inputs(), ...change })).not.toBe(fingerprint(inputs()));
  });

  it("ignores the order of tools and of setting keys", () => {
    const fp = fingerprint(inputs());
    expect(fingerprint({ ...inputs(), tools: ["scipy", "python"] })).toBe(fp);
    expect(fingerprint({ ...inputs(), settings: { platform: "openstack", flavor: "2" } })).toBe(fp);
  });

  it("names the image family with the first 12 hex digits", () => {
    expect(familyPrefix("dse_base", "0123456789abcdef".repeat(4))).toBe("dse_base-0123456789ab-");
  });
});

describe("which stack settings are fingerprinted", () => {
  const stack = (extra: Record<string, unknown>) =>
    parseStackConfig({ platforms: ["qemu"], qemu: { sourceImageUrl: "/base.qcow2" }, ...extra });
  const fp = (extra: Record<string, unknown>) =>
    stackFingerprint(stack(extra), "base", { platform: "qemu" });

  it("lists the keys that change what is in the image", () => {
    expect(CONTENT_KEYS).toEqual(["tools", "pythonSource", "aptMirror"]);
  });

  it.each([
    ["tools", { tools: ["python", "r"] }],
    ["pythonSource", { pythonSource: "apt" }],
    // The mirror ends up in the image's apt sources.
    ["aptMirror", { aptMirror: "http://mirror.example/debian" }],
  ])("%s changes it", (_key, extra) => {
    expect(fp(extra)).not.toBe(fp({}));
  });

  it.each([
    ["httpProxy", { httpProxy: "http://proxy:3128" }],
    ["httpsProxy", { httpsProxy: "http://proxy:3128" }],
    ["noProxy", { noProxy: "localhost" }],
    // Versions are pinned by the lock file; the index only says where they come from.
    ["pipIndexUrl", { pipIndexUrl: "https://pypi.example/simple/" }],
    ["builderTtlMinutes", { builderTtlMinutes: 60 }],
    ["keepBuilderOnFailure", { keepBuilderOnFailure: true }],
    ["retainImages", { retainImages: true }],
    ["bootTest", { bootTest: false }],
    ["maxImageAgeDays", { maxImageAgeDays: 7 }],
    ["retention", { retention: { keep: 3 } }],
    ["sshTimeoutMinutes", { sshTimeoutMinutes: 20 }],
  ])("%s does not", (_key, extra) => {
    expect(fp(extra)).toBe(fp({}));
  });
});
