import * as fs from "node:fs";
import * as path from "node:path";
import { REPO } from "./front-door";

/**
 * A checkout of the project in `dir`: what `git clone` gives (the program, its scripts, Pulumi.yaml
 * and the package manifests), with this checkout's installed node_modules. Test utility.
 */
export function checkout(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const files = ["index.ts", "components", "provision", "Pulumi.yaml", "package.json"];
  for (const entry of [...files, "package-lock.json", "tsconfig.json"])
    fs.cpSync(path.join(REPO, entry), path.join(dir, entry), { recursive: true });
  fs.symlinkSync(path.join(REPO, "node_modules"), path.join(dir, "node_modules"));
}
