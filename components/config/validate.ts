import { fail, fullKey, show } from "./errors";

/** A config object as read from the stack: plain JSON values keyed by name. */
export type RawObject = Record<string, unknown>;

/**
 * Whether a key is set. Unset (absent or null) means "use the default"; an empty string is a
 * value like any other, so every parser rejects it where it expects something: a stray
 * `pulumi config set key ""` must not silently turn into the default.
 */
export function isPresent(value: unknown): boolean {
  return value !== undefined && value !== null;
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

/**
 * An ID that may be all digits (an OpenStack flavor `2`, an AWS account ID). `pulumi config set
 * --path` stores such a value as a number, so a whole non-negative number is taken as its decimal
 * string. With `digits`, numeric IDs have exactly that many digits (AWS accounts: 12): a shorter
 * number has lost its leading zeros, which cannot be told from a typo, so it is rejected with the
 * command that stores it as a string. Other values must be non-empty strings.
 */
export function idString(path: string, value: unknown, what: string, digits?: number): string {
  if (typeof value !== "number") return requireString(path, value, what);
  if (!Number.isInteger(value) || value < 0) fail(path, `expected ${what}, got ${show(value)}`);
  const setAsString = `pulumi config set --path --type string '${fullKey(path)}'`;
  if (!Number.isSafeInteger(value)) {
    fail(
      path,
      `the number ${show(value)} is too large to be read exactly; set it as a string: ${setAsString} <ID>`,
    );
  }
  const text = String(value);
  if (digits !== undefined && text.length < digits) {
    fail(
      path,
      `the number ${text} has lost its leading zeros (${digits} digits expected); set it as a string: ${setAsString} ${text.padStart(digits, "0")}`,
    );
  }
  return text;
}

/** A list of `idString`s. */
export function idArray(
  path: string,
  value: unknown,
  fallback: string[],
  what: string,
  digits?: number,
): string[] {
  if (!isPresent(value)) return fallback;
  if (!Array.isArray(value)) fail(path, `expected a list of ${what}, got ${show(value)}`);
  return value.map((item, i) => idString(`${path}[${i}]`, item, `one of ${what}`, digits));
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

/** The URL `http://<text>` when `text` lacks a scheme (`proxy:3128`) and that passes `ok`. */
function schemeFix(text: string, ok: (candidate: string) => boolean): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return undefined;
  const candidate = `http://${text}`;
  return ok(candidate) ? candidate : undefined;
}

/**
 * Parses `text` as an http(s) URL with a host. WHATWG `URL` is lenient with special schemes
 * (`http:proxy`, `http:\\proxy`, surrounding spaces), which apt, pip and curl are not, so the
 * scheme, the `//` and the host are checked on the text itself too.
 */
function httpUrlOf(text: string): URL | undefined {
  if (/\s/.test(text) || !/^https?:\/\/[^/?#\\]/i.test(text)) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  const httpScheme = url.protocol === "http:" || url.protocol === "https:";
  return httpScheme && url.hostname !== "" ? url : undefined;
}

function checkedUrl(
  path: string,
  value: unknown,
  expected: string,
  ok: (text: string) => boolean,
): string | undefined {
  if (!isPresent(value)) return undefined;
  if (typeof value === "string" && ok(value)) return value;
  const fix = typeof value === "string" ? schemeFix(value, ok) : undefined;
  return fail(path, `expected ${expected}, got ${show(value)}${fix ? `; write it as ${fix}` : ""}`);
}

/** An http(s) URL with a host (a mirror, a package index), e.g. http://deb.debian.org/debian. */
export function httpUrl(path: string, value: unknown, example: string): string | undefined {
  return checkedUrl(
    path,
    value,
    `an http(s) URL like ${example}`,
    (text) => httpUrlOf(text) !== undefined,
  );
}

/** A proxy for apt, pip and curl: `http(s)://host[:port]`, optionally with credentials and `/`. */
export function proxyUrl(path: string, value: unknown): string | undefined {
  return checkedUrl(
    path,
    value,
    "an http(s) URL with a host and an optional port like http://proxy.example:3128",
    (text) => httpUrlOf(text) !== undefined && /^https?:\/\/[^/?#]+\/?$/i.test(text),
  );
}

function isIpv6(text: string): boolean {
  if (!/^[0-9a-fA-F:.]+$/.test(text) || !text.includes(":")) return false;
  try {
    new URL(`http://[${text}]/`);
    return true;
  } catch {
    return false;
  }
}

const LABEL = "[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
/** `localhost`, `example.com`, `.example.com` (its subdomains), `*.example.com`. */
const DOMAIN = new RegExp(`^(\\*?\\.)?${LABEL}(\\.${LABEL})*$`);

/** One `no_proxy` entry: `*`, a host or domain, an IPv4/IPv6 address or a CIDR block. */
export function isNoProxyEntry(entry: string): boolean {
  if (entry === "*" || isIpv4(entry) || isCidr(entry) || isIpv6(entry)) return true;
  // All digits and dots but not an address: a mistyped IP, not a host name.
  if (/^[\d.]+$/.test(entry)) return false;
  return entry.length <= 253 && DOMAIN.test(entry);
}

/** `no_proxy` as apt, pip and curl read it: entries separated by commas, no spaces. */
export function noProxyList(path: string, value: unknown): string | undefined {
  if (!isPresent(value)) return undefined;
  const expected =
    "expected hosts, domains, IPs or CIDR blocks separated by commas without spaces, like .example.com,10.0.0.0/8,localhost";
  if (typeof value !== "string" || value === "") fail(path, `${expected}, got ${show(value)}`);
  for (const entry of value.split(",")) {
    if (isNoProxyEntry(entry)) continue;
    const why = /\s/.test(entry)
      ? "remove the spaces"
      : entry === ""
        ? "an entry is empty"
        : `${show(entry)} is none of them`;
    fail(path, `${expected}, got ${show(value)}: ${why}`);
  }
  return value;
}
