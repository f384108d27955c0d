// The Go side of the Pulumi CLI model: how gopkg.in/yaml.v3, encoding/json and strconv turn text
// into values and back. Config behaviour hangs on these details (a YAML `010` is 8, a float 2.0
// prints as 2, objects are re-marshalled with sorted keys), so they are modelled, not approximated
// by the JS equivalents. Upstream: pulumi v3.248.0 (sdk/go/common/...), yaml.v3 v3.0.1.
import { isAlias, isMap, isPair, isScalar, isSeq, parseDocument } from "yaml";
import type { Document, Node as YamlNode } from "yaml";

/** A Go int/int64/uint64. yaml.v3 gives `int`, or `uint64` past int64 (resolve.go: resolve). */
export class GoInt {
  constructor(readonly v: bigint) {}
  /** uint64 rather than int: such values are not `int` for isPrimitiveValue/ValidateConfigValue. */
  get unsigned(): boolean {
    return this.v > INT64_MAX;
  }
}

/** A Go float64. Kept apart from ints: a Go float64 2 still marshals as "2", but is not `int`. */
export class GoFloat {
  constructor(readonly v: number) {}
}

/** A yaml.v3 mapping with a non-string key: decoded as map[interface{}]interface{}. */
export class GoIfaceMap {
  constructor(readonly entries: [GoAny, GoAny][]) {}
}

/** What yaml.v3 / encoding/json decode into `interface{}`. */
export type GoAny =
  null | boolean | string | GoInt | GoFloat | GoAny[] | Map<string, GoAny> | GoIfaceMap;

/** An error whose text is exactly what the Go code returns. */
export class GoError extends Error {}

export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

// ---- strconv ---------------------------------------------------------------------------------

/** strconv.Quote, close enough for error texts (Go escapes a few more non-printables). */
export function goQuote(s: string): string {
  return JSON.stringify(s);
}

/** strconv.Atoi (ValidateConfigValue accepts numeric strings with it; --type int stores with it). */
export function goAtoi(s: string): bigint {
  return parseInt10(s, "strconv.Atoi");
}

/** strconv.ParseInt(s, 10, 64): an optional sign, then digits only (no `_`, no prefix). */
export function parseInt10(s: string, fn = "strconv.ParseInt"): bigint {
  if (!/^[+-]?[0-9]+$/.test(s)) throw new GoError(`${fn}: parsing ${goQuote(s)}: invalid syntax`);
  const v = BigInt(s);
  if (v < INT64_MIN || v > INT64_MAX) {
    throw new GoError(`${fn}: parsing ${goQuote(s)}: value out of range`);
  }
  return v;
}

/** strconv.ParseUint(s, 10, 64): digits only, no sign. */
export function parseUint10(s: string): bigint | undefined {
  if (!/^[0-9]+$/.test(s)) return undefined;
  const v = BigInt(s);
  return v <= UINT64_MAX ? v : undefined;
}

/** strconv.ParseBool. */
export function goParseBool(s: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(s)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(s)) return false;
  return undefined;
}

/** strconv.ParseFloat(s, 64): decimal, hex (`0x1p4`), inf/infinity/nan; `_` only after a prefix. */
export function goParseFloat(s: string): number {
  const err = (why: string) => new GoError(`strconv.ParseFloat: parsing ${goQuote(s)}: ${why}`);
  if (/^[+-]?(inf|infinity)$/i.test(s)) return s.startsWith("-") ? -Infinity : Infinity;
  if (/^nan$/i.test(s)) return NaN;
  let v: number;
  const hex =
    /^([+-]?)0[xX]((?:[0-9a-fA-F_]+\.?[0-9a-fA-F_]*|\.[0-9a-fA-F_]+))[pP]([+-]?[0-9_]+)$/.exec(s);
  if (hex) {
    const [int, frac = ""] = hex[2].replaceAll("_", "").split(".");
    const mant =
      Number.parseInt(int || "0", 16) + (frac ? Number.parseInt(frac, 16) / 16 ** frac.length : 0);
    v = (hex[1] === "-" ? -1 : 1) * mant * 2 ** Number(hex[3].replaceAll("_", ""));
  } else if (/^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/.test(s)) {
    v = Number(s);
  } else {
    throw err("invalid syntax");
  }
  if (!Number.isFinite(v)) throw err("value out of range");
  return v;
}

// ---- encoding/json ---------------------------------------------------------------------------

/** Go's json.Marshal of a float64 (encode.go: floatEncoder); JS agrees on digits and exponents. */
export function goJsonFloat(f: number): string {
  if (Number.isNaN(f)) throw new GoError("json: unsupported value: NaN");
  if (!Number.isFinite(f)) throw new GoError(`json: unsupported value: ${f > 0 ? "+Inf" : "-Inf"}`);
  return Object.is(f, -0) ? "-0" : String(f);
}

/** Go's json.Marshal of a string: HTML-safe (`<>&` escaped), U+2028/9 escaped, bad UTF-16 -> U+FFFD. */
export function goJsonString(s: string): string {
  const wellFormed = s.replace(
    /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g,
    "\uFFFD",
  );
  return JSON.stringify(wellFormed).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** Go sorts map keys by bytes (UTF-8), which is not JS's UTF-16 order. */
export function goKeyCompare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/** A JSON parser that keeps Go's number kinds: `useNumber` mimics Decoder.UseNumber + Int64(). */
export function parseGoJson(text: string, useNumber: boolean): GoAny {
  let i = 0;
  const fail = (): never => {
    throw new GoError(
      i >= text.length
        ? "unexpected end of JSON input"
        : `invalid character ${goQuote(text[i]).replaceAll('"', "'")} looking for beginning of value`,
    );
  };
  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i])) i++;
  };
  const value = (): GoAny => {
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      const m = new Map<string, GoAny>();
      ws();
      if (text[i] === "}") {
        i++;
        return m;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        const k = str();
        ws();
        if (text[i++] !== ":") fail();
        m.set(k, value());
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "}") {
          i++;
          return m;
        } else fail();
      }
    }
    if (c === "[") {
      i++;
      const a: GoAny[] = [];
      ws();
      if (text[i] === "]") {
        i++;
        return a;
      }
      for (;;) {
        a.push(value());
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "]") {
          i++;
          return a;
        } else fail();
      }
    }
    if (c === '"') return str();
    for (const [lit, v] of [
      ["true", true],
      ["false", false],
      ["null", null],
    ] as const) {
      if (text.startsWith(lit, i)) {
        i += lit.length;
        return v;
      }
    }
    const num = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i));
    if (!num) return fail();
    i += num[0].length;
    if (useNumber && /^-?[0-9]+$/.test(num[0])) {
      const n = BigInt(num[0]);
      if (n >= INT64_MIN && n <= INT64_MAX) return new GoInt(n);
    }
    return new GoFloat(Number(num[0]));
  };
  const str = (): string => {
    // eslint-disable-next-line no-control-regex -- JSON strings may not hold raw control characters
    const m = /^"(?:[^"\\\u0000-\u001f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"/.exec(text.slice(i));
    if (!m) return fail();
    i += m[0].length;
    return JSON.parse(m[0]) as string;
  };
  const v = value();
  ws();
  if (i < text.length)
    throw new GoError(
      `invalid character ${goQuote(text[i]).replaceAll('"', "'")} after top-level value`,
    );
  return v;
}

// ---- gopkg.in/yaml.v3 --------------------------------------------------------------------------

/** yaml.v3's plain-scalar resolution into interface{} (resolve.go: resolve with no tag). */
export function resolvePlain(s: string): GoAny {
  if (["true", "True", "TRUE"].includes(s)) return true;
  if (["false", "False", "FALSE"].includes(s)) return false;
  if (["", "~", "null", "Null", "NULL"].includes(s)) return null;
  if ([".nan", ".NaN", ".NAN"].includes(s)) return new GoFloat(NaN);
  if ([".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"].includes(s)) return new GoFloat(Infinity);
  if (["-.inf", "-.Inf", "-.INF"].includes(s)) return new GoFloat(-Infinity);
  const hint = s[0];
  if (hint === ".") {
    // Not in the map: maybe a normal float (strconv.ParseFloat on the text as is).
    return /^\.[0-9]+([eE][+-]?[0-9]+)?$/.test(s) ? new GoFloat(Number(s)) : s;
  }
  if (/[0-9+-]/.test(hint)) {
    // Int, float, or timestamp. Timestamps stay strings for interface{} (decode.go), and "YYYY-"
    // is never a number, so they need no case here. `_` is dropped before parsing: 1_000 is 1000.
    const plain = s.replaceAll("_", "");
    const int = parseIntBase0(plain);
    if (int !== undefined) return new GoInt(int);
    if (/^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/.test(plain)) {
      const f = Number(plain);
      if (Number.isFinite(f)) return new GoFloat(f); // out of range: ParseFloat errs, stays a string
    }
  }
  return s;
}

/** strconv.ParseInt(s, 0, 64), then ParseUint(s, 0, 64): 0x, 0o, 0b and YAML-1.1 octal `0777`. */
function parseIntBase0(s: string): bigint | undefined {
  const m = /^([+-]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$/.exec(s);
  if (!m) return undefined;
  const body = /^0[0-7]+$/.test(m[2]) ? `0o${m[2].slice(1)}` : m[2].toLowerCase();
  const v = (m[1] === "-" ? -1n : 1n) * BigInt(body);
  if (v >= INT64_MIN && v <= INT64_MAX) return v;
  return m[1] === "" && v <= UINT64_MAX ? v : undefined;
}

/** yaml.Unmarshal(b, &interface{}) of a whole document. */
export function decodeYaml(text: string): GoAny {
  // The failsafe schema keeps every scalar a string with its source text, so yaml.v3's own
  // resolution rules (not YAML 1.2 core's) decide what is an int, a float, a bool or null.
  const doc = parseDocument(text, { schema: "failsafe" });
  if (doc.errors.length > 0) {
    throw new GoError(`yaml: ${doc.errors[0].message.split("\n")[0]}`);
  }
  return toGo(doc.contents, doc);
}

function toGo(node: unknown, doc: Document): GoAny {
  if (node === null || node === undefined) return null;
  if (isAlias(node)) return toGo(node.resolve(doc), doc);
  if (isScalar(node)) {
    const source = typeof node.source === "string" ? node.source : String(node.value);
    const tag = node.tag;
    if (tag === "tag:yaml.org,2002:str") return source;
    if (tag === "tag:yaml.org,2002:binary") return Buffer.from(source, "base64").toString("utf8");
    if (tag && /^tag:yaml.org,2002:(int|float|bool|null)$/.test(tag)) {
      const v = resolvePlain(source);
      if (tag.endsWith(":float") && v instanceof GoInt) return new GoFloat(Number(v.v));
      return v;
    }
    if (tag) return source; // a custom tag: the model keeps the text
    return node.type === "PLAIN" ? resolvePlain(source) : source;
  }
  if (isSeq(node)) return node.items.map((item) => toGo(item, doc));
  if (isMap(node)) {
    const entries: [GoAny, GoAny][] = [];
    const merged: [GoAny, GoAny][] = [];
    for (const pair of node.items) {
      if (!isPair(pair)) continue;
      const keyNode = pair.key as YamlNode | null;
      // `<<` merges another mapping in; explicit keys win (yaml.v3 decode.go: merge).
      if (
        isScalar(keyNode) &&
        keyNode.type === "PLAIN" &&
        keyNode.source === "<<" &&
        !keyNode.tag
      ) {
        const src = toGo(pair.value, doc);
        for (const m of Array.isArray(src) ? src : [src]) {
          if (m instanceof Map) merged.push(...m.entries());
        }
        continue;
      }
      entries.push([toGo(keyNode, doc), toGo(pair.value, doc)]);
    }
    const all = [...merged.filter(([k]) => !entries.some(([e]) => e === k)), ...entries];
    if (all.every(([k]) => typeof k === "string")) return new Map(all as [string, GoAny][]);
    return new GoIfaceMap(all);
  }
  return null;
}

/** Go's %T for the messages that name a decoded value's type. */
export function goTypeName(v: GoAny): string {
  if (v === null) return "<nil>";
  if (typeof v === "boolean") return "bool";
  if (typeof v === "string") return "string";
  if (v instanceof GoInt) return v.unsigned ? "uint64" : "int";
  if (v instanceof GoFloat) return "float64";
  if (Array.isArray(v)) return "[]interface {}";
  if (v instanceof Map) return "map[string]interface {}";
  return "map[interface {}]interface {}";
}

/** Go's %v of a scalar map key (object.go: unmarshalObject stringifies map[any]any keys). */
export function goFormatKey(v: GoAny): string {
  if (v === null) return "<nil>";
  if (v instanceof GoInt) return v.v.toString();
  if (v instanceof GoFloat) return String(v.v); // %v uses %g: differs past 1e21 and below 1e-4
  if (typeof v === "boolean" || typeof v === "string") return String(v);
  return JSON.stringify(v);
}
