import { fail, show } from "./errors";

/** A config object as read from the stack: plain JSON values keyed by name. */
export type RawObject = Record<string, unknown>;

export function isPresent(value: unknown): boolean {
  return value !== undefined && value !== null && value !== "";
}

export function requireString(path: string, value: unknown, what = "a non-empty string"): string {
  if (typeof value !== "string" || value.trim() === "") {
    fail(path, `expected ${what}, got ${value === undefined ? "nothing" : show(value)}`);
  }
  return value;
}

export function optionalString(path: string, value: unknown, what?: string): string | undefined {
  return isPresent(value) ? requireString(path, value, what) : undefined;
}

export function stringOr(path: string, value: unknown, fallback: string, what?: string): string {
  return optionalString(path, value, what) ?? fallback;
}

/** Accepts real booleans and the strings `pulumi config set` stores. */
export function booleanOr(path: string, value: unknown, fallback: boolean): boolean {
  if (!isPresent(value)) return fallback;
  if (value === true || value === "true") return true;
  if (value === false || value === "false") return false;
  return fail(path, `expected true or false, got ${show(value)}`);
}

export function integerOr(
  path: string,
  value: unknown,
  fallback: number | undefined,
  min: number,
  max: number,
): number | undefined {
  if (!isPresent(value)) return fallback;
  const n = typeof value === "string" && /^-?\d+$/.test(value.trim()) ? Number(value) : value;
  if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) {
    fail(path, `expected a whole number from ${min} to ${max}, got ${show(value)}`);
  }
  return n;
}

export function oneOf<T extends string>(
  path: string,
  value: unknown,
  allowed: readonly T[],
  fallback: T,
): T {
  if (!isPresent(value)) return fallback;
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
    fail(path, `expected one of ${allowed.join(", ")}, got ${show(value)}`);
  }
  return value as T;
}

export function stringArray(
  path: string,
  value: unknown,
  fallback: string[],
  what = "strings",
): string[] {
  if (!isPresent(value)) return fallback;
  if (!Array.isArray(value)) fail(path, `expected a list of ${what}, got ${show(value)}`);
  value.forEach((item, i) => requireString(`${path}[${i}]`, item, `one of ${what}`));
  return value as string[];
}

/** Membership check on a list, naming the first bad item and its index. */
export function enumArray<T extends string>(
  path: string,
  value: unknown,
  allowed: readonly T[],
  fallback: T[],
): T[] {
  const items = stringArray(path, value, fallback);
  items.forEach((item, i) => {
    if (!(allowed as readonly string[]).includes(item)) {
      fail(`${path}[${i}]`, `expected one of ${allowed.join(", ")}, got ${show(item)}`);
    }
  });
  const dup = items.find((item, i) => items.indexOf(item) !== i);
  if (dup !== undefined) fail(path, `lists ${show(dup)} twice`);
  return items as T[];
}

export function stringMap(path: string, value: unknown): Record<string, string> {
  if (!isPresent(value)) return {};
  if (typeof value !== "object" || Array.isArray(value)) {
    fail(path, `expected a map of names to strings, got ${show(value)}`);
  }
  for (const [k, v] of Object.entries(value as RawObject)) {
    if (typeof v !== "string") fail(`${path}.${k}`, `expected a string, got ${show(v)}`);
  }
  return value as Record<string, string>;
}

/**
 * An object-valued key. Unknown keys are errors so that a typo (`flavour`) never silently falls
 * back to a default.
 */
export function object(path: string, value: unknown, allowed: readonly string[]): RawObject {
  if (!isPresent(value)) return {};
  if (typeof value !== "object" || Array.isArray(value)) {
    fail(path, `expected an object with keys ${allowed.join(", ")}, got ${show(value)}`);
  }
  for (const key of Object.keys(value as RawObject)) {
    if (!allowed.includes(key)) {
      fail(`${path}.${key}`, `unknown key; expected one of ${allowed.join(", ")}`);
    }
  }
  return value as RawObject;
}

export function exclusive(path: string, raw: RawObject, a: string, b: string): void {
  if (isPresent(raw[a]) && isPresent(raw[b])) {
    fail(`${path}.${b}`, `cannot be set together with ${path}.${a}; set only one of them`);
  }
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

export function isIpv4(text: string): boolean {
  return IPV4.test(text);
}

function isCidr(text: string): boolean {
  const [addr, bits, ...rest] = text.split("/");
  if (rest.length > 0 || bits === undefined || !/^\d{1,3}$/.test(bits)) return false;
  if (isIpv4(addr)) return Number(bits) <= 32;
  return addr.includes(":") && /^[0-9a-fA-F:.]+$/.test(addr) && Number(bits) <= 128;
}

export function cidrArray(path: string, value: unknown, fallback: string[]): string[] {
  const items = stringArray(path, value, fallback, "CIDR blocks");
  items.forEach((item, i) => {
    if (!isCidr(item)) {
      fail(`${path}[${i}]`, `expected a CIDR block like 203.0.113.0/24, got ${show(item)}`);
    }
  });
  return items;
}
