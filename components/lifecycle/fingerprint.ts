import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { ImageSettings } from "../config/stack";

/** The folder uploaded to every builder. */
export const PROVISION_DIR = path.resolve(__dirname, "..", "..", "provision");

export interface FingerprintInputs {
  /** Folder whose every file is sent to the builder. */
  provisionDir: string;
  tools: readonly string[];
  pythonSource: string;
  /** Source image ID, name, URL or checksum: whatever pins the base. */
  sourceImage: string;
  /** apt mirror written into the image's sources. Default: none. */
  aptMirror?: string;
  /** Platform settings that change the image's content (disk size, flavor, ...). */
  settings?: Record<string, unknown>;
}

/**
 * Stack config keys that change what ends up in the image, and so are fingerprinted (besides
 * every file under provision/, the source image and each platform's own content settings). The
 * others (proxies, the pip index of pinned versions, builder size, TTLs, retention, boot test)
 * change how the image is built or kept, not what it holds.
 */
export const CONTENT_KEYS = ["tools", "pythonSource", "aptMirror"] as const;

/** The fingerprint of a platform's image from the stack's image settings. */
export function stackFingerprint(
  config: ImageSettings,
  sourceImage: string,
  settings: Record<string, unknown>,
): string {
  return fingerprint({
    provisionDir: PROVISION_DIR,
    tools: config.tools,
    pythonSource: config.pythonSource,
    aptMirror: config.provisionEnv.APT_MIRROR,
    sourceImage,
    settings,
  });
}

/** Files under `dir`, relative and sorted, so the hash does not depend on readdir order. */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const child = rel === "" ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) walk(child);
      else if (entry.isFile()) out.push(child);
    }
  };
  walk("");
  return out.sort();
}

/** Key order must not matter: `{a, b}` and `{b, a}` are the same settings. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/**
 * sha256 over everything that decides the image's content. It names the image and decides
 * rebuilds: same fingerprint, same image.
 */
export function fingerprint(inputs: FingerprintInputs): string {
  const hash = createHash("sha256");
  for (const rel of listFiles(inputs.provisionDir)) {
    const stat = fs.statSync(path.join(inputs.provisionDir, rel));
    hash.update(`file\0${rel}\0${stat.mode & 0o111 ? "x" : "-"}\0`);
    hash.update(fs.readFileSync(path.join(inputs.provisionDir, rel)));
    hash.update("\0");
  }
  hash.update(
    JSON.stringify(
      canonical({
        tools: [...inputs.tools].sort(),
        pythonSource: inputs.pythonSource,
        sourceImage: inputs.sourceImage,
        aptMirror: inputs.aptMirror,
        settings: inputs.settings ?? {},
      }),
    ),
  );
  return hash.digest("hex");
}
