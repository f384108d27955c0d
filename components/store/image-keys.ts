import type { ClaimKind, ImageMeta } from "./image";

/**
 * How a cloud keeps an image's record as string keys and values (Glance properties, EC2 tags):
 * each store names the keys; writing and reading them is the same for both.
 */
export interface KeySpelling {
  /** The key of each metadata field. */
  meta: Record<keyof ImageMeta, string>;
  /** Prefix of a claim's key; the stack tag follows, the value is the stack ID. */
  claim: Record<ClaimKind, string>;
  /** Prefix of the key that marks a claim as an ImageClaim's. */
  held: string;
  /** The key of the manifest's n-th piece. */
  manifestPiece: (n: number) => string;
  /** The longest value the cloud takes. */
  pieceSize: number;
}

/** What verify.sh printed, as JSON: an object, `{}` for nothing, `{raw}` for text that is not JSON. */
export function parseManifest(text: string): Record<string, unknown> {
  try {
    const parsed = JSON.parse(text || "{}") as unknown;
    return parsed !== null && typeof parsed === "object" ? (parsed as Record<string, unknown>) : {};
  } catch {
    return { raw: text };
  }
}

/** The keys and values of the metadata set, then the manifest in pieces the cloud takes. */
export function recordEntries(
  spelling: KeySpelling,
  meta: ImageMeta,
  manifest?: Record<string, unknown>,
): [string, string][] {
  const entries: [string, string][] = [];
  for (const [key, value] of Object.entries(meta) as [keyof ImageMeta, string | undefined][]) {
    if (value !== undefined) entries.push([spelling.meta[key], value]);
  }
  if (manifest !== undefined) {
    const text = JSON.stringify(manifest);
    for (let at = 0, n = 0; at < text.length; at += spelling.pieceSize, n++)
      entries.push([spelling.manifestPiece(n), text.slice(at, at + spelling.pieceSize)]);
  }
  return entries;
}

/** The record kept in `values`: metadata, claims, held claims and the manifest made whole. */
export function readRecord(spelling: KeySpelling, values: Record<string, string>) {
  const meta: ImageMeta = {};
  for (const [key, name] of Object.entries(spelling.meta) as [keyof ImageMeta, string][]) {
    if (values[name]) (meta as Record<string, string>)[key] = values[name];
  }
  const byPrefix = (prefix: string) =>
    Object.fromEntries(
      Object.entries(values)
        .filter(([k]) => k.startsWith(prefix))
        .map(([k, v]) => [k.slice(prefix.length), v]),
    );
  let manifestText = "";
  for (let n = 0; values[spelling.manifestPiece(n)] !== undefined; n++)
    manifestText += values[spelling.manifestPiece(n)];
  return {
    meta,
    users: byPrefix(spelling.claim.users),
    kept: byPrefix(spelling.claim.kept),
    held: Object.keys(byPrefix(spelling.held)).sort(),
    manifest: parseManifest(manifestText),
  };
}
