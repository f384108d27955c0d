import { type ImageChange, wider } from "./glance-change";

/**
 * What a stack's claim asks of a Glance image besides the image itself: its `imageVisibility` and
 * the keys of its `imageProperties`. Each claim records its own on the image (the value of its
 * `dse_held_<stack tag>` property), so the stack that stops asking for a visibility or a property
 * takes it back only when no other claim on the image asks for it.
 */
export interface GlanceWants {
  visibility: string;
  properties: string[];
}

/** Glance caps a property value at 255 characters. */
const MAX_VALUE = 255;

export function glanceWantsOf(settings: {
  visibility?: string;
  properties?: Record<string, string>;
}): GlanceWants {
  return {
    visibility: settings.visibility ?? "private",
    properties: Object.keys(settings.properties ?? {}).sort(),
  };
}

/** The held property's value; undefined when it does not fit (the claim then records nothing). */
export function encodeGlanceWants(wants: GlanceWants): string | undefined {
  const value = JSON.stringify({ visibility: wants.visibility, properties: wants.properties });
  return value.length <= MAX_VALUE ? value : undefined;
}

/**
 * A held property's value read back; undefined for one that records nothing (`true`, from
 * earlier versions).
 */
export function decodeGlanceWants(value: string | undefined): GlanceWants | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value ?? "");
  } catch {
    return undefined;
  }
  const w = parsed as Partial<GlanceWants> | null;
  if (
    w === null ||
    typeof w !== "object" ||
    typeof w.visibility !== "string" ||
    !Array.isArray(w.properties) ||
    !w.properties.every((k) => typeof k === "string")
  )
    return undefined;
  return { visibility: w.visibility, properties: w.properties };
}

/** What the image is now, as far as taking back is concerned. */
export interface GlanceNow {
  visibility: string;
  properties: Record<string, unknown>;
}

/**
 * The change that takes back what `before` asked for and `asked` (every claim still on the image,
 * this stack's current settings included) does not: the visibility narrowed to the widest any of
 * them asks for, and the properties none of them names removed. A visibility wider than `before`
 * is not this stack's doing (set by hand, or by a claim that records nothing): it stays.
 */
export function takingBack(before: GlanceWants, asked: GlanceWants[], now: GlanceNow): ImageChange {
  const widest = asked.reduce((v, w) => (wider(w.visibility, v) ? w.visibility : v), "private");
  const narrow = wider(now.visibility, widest) && !wider(now.visibility, before.visibility);
  const unset = before.properties.filter(
    (k) => now.properties[k] !== undefined && !asked.some((w) => w.properties.includes(k)),
  );
  return {
    ...(narrow ? { visibility: widest } : {}),
    ...(unset.length > 0 ? { unset } : {}),
  };
}
