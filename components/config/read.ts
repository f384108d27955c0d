import * as pulumi from "@pulumi/pulumi";
import { NAMESPACE, fail } from "./errors";
import { RawObject } from "./validate";

/**
 * The stack's `dse-image:*` config as plain values. Pulumi hands objects and lists over as JSON
 * text and scalars as strings; the parsers accept both forms of scalars.
 */
export function readRawConfig(all: Record<string, string> = pulumi.runtime.allConfig()): RawObject {
  const raw: RawObject = {};
  const prefix = `${NAMESPACE}:`;
  for (const [name, text] of Object.entries(all)) {
    if (!name.startsWith(prefix)) continue;
    const key = name.slice(prefix.length);
    raw[key] = /^\s*[[{]/.test(text) ? parseJson(key, text) : text;
  }
  return raw;
}

function parseJson(key: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    return fail(key, `is not valid JSON (${(e as Error).message})`);
  }
}
