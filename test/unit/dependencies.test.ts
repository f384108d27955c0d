/**
 * What `npm ci` installs runs on the Node version package.json's `engines` promises (README's
 * prerequisites name it). The AWS SDK announces that its releases after the first week of January
 * 2027 need Node >= 22 (its NodeVersionSupportWarning): with a caret range, the first lockfile
 * refresh after that would have broken every operator on Node 20 with nothing in package.json
 * saying so. Runtime dependencies are exact versions, and every package of the lockfile must
 * accept the oldest Node that `engines` allows.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as semver from "semver";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(__dirname, "..", "..");

interface PackageJson {
  engines?: { node?: string };
  dependencies?: Record<string, string>;
}
interface PackageLock {
  packages: Record<string, { version?: string; engines?: unknown }>;
}

const read = <T>(rel: string): T => JSON.parse(fs.readFileSync(path.join(ROOT, rel), "utf8")) as T;
const pkg = read<PackageJson>("package.json");
const lock = read<PackageLock>("package-lock.json");

/** The packages of the lockfile whose `engines.node` excludes `node`. */
function refusingNode(l: PackageLock, node: string): string[] {
  return Object.entries(l.packages).flatMap(([where, p]) => {
    const wanted = (p.engines as { node?: unknown } | undefined)?.node;
    if (where === "" || typeof wanted !== "string") return [];
    if (semver.satisfies(node, wanted, { includePrerelease: true })) return [];
    return [`${where}@${p.version}: engines.node ${wanted}`];
  });
}

describe("dependencies", () => {
  const oldest = semver.minVersion(pkg.engines?.node ?? "")?.version;

  it("every runtime dependency is one exact version, as CI tested it", () => {
    const ranged = Object.entries(pkg.dependencies ?? {}).filter(([, v]) => !semver.valid(v));
    expect(ranged).toEqual([]);
  });

  it("every package the lockfile installs runs on the oldest Node engines.node allows", () => {
    expect(oldest, `package.json engines.node: ${pkg.engines?.node}`).toMatch(/^\d+\.\d+\.\d+$/);
    expect(refusingNode(lock, oldest!)).toEqual([]);
  });

  it("names a package whose engines.node excludes that Node", () => {
    const newer: PackageLock = {
      packages: {
        "": { version: "0.1.0" },
        "node_modules/@aws-sdk/client-ec2": { version: "3.2000.0", engines: { node: ">=22.0.0" } },
        "node_modules/tar": { version: "7.5.24", engines: { node: ">=18" } },
        "node_modules/no-engines": { version: "1.0.0" },
      },
    };
    expect(refusingNode(newer, "20.19.0")).toEqual([
      "node_modules/@aws-sdk/client-ec2@3.2000.0: engines.node >=22.0.0",
    ]);
  });
});
