/**
 * The upload step's stdin (components/provision-archive.ts): provision/ itself, the same text on
 * every machine, unpacked by the exact command the builder runs.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { provisionArchive } from "../../components/provision-archive";
import { uploadCommand } from "../../components/provision-commands";
import { PROVISION_DIR } from "../../components/lifecycle/fingerprint";

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dse-archive-"));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A provision/ folder with one script, one data file and one nested file. */
function folder(root: string, modes: { script: number; data: number }): string {
  const p = path.join(root, "provision");
  fs.mkdirSync(path.join(p, "lib"), { recursive: true });
  fs.writeFileSync(path.join(p, "install.sh"), "#!/bin/sh\necho hi\n", { mode: modes.script });
  fs.writeFileSync(path.join(p, "requirements.lock"), "numpy==1.26.4\n", { mode: modes.data });
  fs.writeFileSync(path.join(p, "lib", "x.sh"), "x\n", { mode: modes.data });
  fs.chmodSync(path.join(p, "install.sh"), modes.script);
  fs.chmodSync(path.join(p, "requirements.lock"), modes.data);
  return p;
}

describe("provisionArchive", () => {
  it("is the same text for the same files, whatever their times, owners or group bits", () => {
    const a = folder(path.join(dir, "a"), { script: 0o755, data: 0o644 });
    const b = folder(path.join(dir, "b"), { script: 0o775, data: 0o664 });
    fs.utimesSync(path.join(b, "install.sh"), new Date(2001, 1, 1), new Date(2001, 1, 1));
    expect(provisionArchive(b)).toBe(provisionArchive(a));
    fs.writeFileSync(path.join(b, "install.sh"), "#!/bin/sh\necho changed\n");
    expect(provisionArchive(b)).not.toBe(provisionArchive(a));
  });

  it("unpacks with the upload command into provision/, scripts executable, nothing else", () => {
    const source = folder(path.join(dir, "src"), { script: 0o755, data: 0o644 });
    const target = path.join(dir, "var-tmp");
    fs.mkdirSync(target);
    const command = uploadCommand().replaceAll("/var/tmp/dse-build", target);
    execFileSync("sh", ["-c", command], { input: provisionArchive(source) });
    const listing = execFileSync("find", [".", "-printf", "%M %p\\n"], {
      cwd: target,
      encoding: "utf8",
    });
    expect(listing.trim().split("\n").sort()).toEqual(
      [
        "drwxr-xr-x .",
        "drwxr-xr-x ./provision",
        "drwxr-xr-x ./provision/lib",
        "-rw-r--r-- ./provision/lib/x.sh",
        "-rw-r--r-- ./provision/requirements.lock",
        "-rwxr-xr-x ./provision/install.sh",
      ].sort(),
    );
    expect(fs.readFileSync(path.join(target, "provision", "install.sh"), "utf8")).toBe(
      "#!/bin/sh\necho hi\n",
    );
  });

  it("holds every file of this project's provision/ and no path of this machine", () => {
    const text = Buffer.from(provisionArchive(PROVISION_DIR), "base64");
    const listing = execFileSync("tar", ["-tzf", "-"], { input: text, encoding: "utf8" });
    expect(listing).toContain("provision/install.sh\n");
    expect(listing).toContain("provision/verify.sh\n");
    expect(execFileSync("gzip", ["-dc"], { input: text }).includes(PROVISION_DIR)).toBe(false);
  });
});
