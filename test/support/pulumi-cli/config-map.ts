// sdk/go/common/resource/config (key.go, value.go, object.go, map.go, plaintext.go) and
// sdk/go/common/resource/properties_path.go, as the CLI uses them at v3.248.0.
import {
  GoAny,
  GoError,
  GoFloat,
  GoIfaceMap,
  GoInt,
  goAtoi,
  goFormatKey,
  goJsonFloat,
  goJsonString,
  goKeyCompare,
  goParseBool,
  goParseFloat,
  parseGoJson,
  parseInt10,
  parseUint10,
} from "./go-values";

/** A secure string inside a config object: `{secure: <ciphertext>}` on disk (object.go). */
export class Ciphertext {
  constructor(readonly ciphertext: string) {}
}

/** object.go's `object`: what a config value is once its string form is decoded. */
export type Obj = null | boolean | string | GoInt | GoFloat | Ciphertext | Obj[] | Map<string, Obj>;

export type ValueType = "unknown" | "string" | "int" | "bool" | "float";

/** value.go's Value: the text, and whether it is ciphertext and/or JSON. */
export interface Value {
  readonly value: string;
  readonly secure: boolean;
  readonly object: boolean;
  /** Only `config set --type` sets it, and only until the stack file is written. */
  readonly typ: ValueType;
}

export const newValue = (value: string): Value => ({
  value,
  secure: false,
  object: false,
  typ: "unknown",
});

export interface Key {
  readonly namespace: string;
  readonly name: string;
}

export const keyString = (k: Key): string => `${k.namespace}:${k.name}`;

/** key.go: ParseKey. `ns:name`, or the old `ns:config:name`; anything else is an error. */
export function parseKey(s: string): Key {
  const parts = s.split(":");
  if (parts.length === 2) return { namespace: parts[0], name: parts[1] };
  if (parts.length === 3 && parts[1] === "config") return { namespace: parts[0], name: parts[2] };
  throw new GoError(
    `could not parse ${s} as a configuration key ` +
      "(configuration keys should be of the form `<namespace>:<name>`)",
  );
}

/** Decrypts one ciphertext. The default mirrors upstream's test Base64Crypter. */
export type Decrypter = (ciphertext: string) => string;

export const base64Decrypter: Decrypter = (ct) => {
  if (ct.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(ct)) {
    throw new GoError(
      `illegal base64 data at input byte ${Math.max(0, ct.search(/[^A-Za-z0-9+/=]/))}`,
    );
  }
  return Buffer.from(ct, "base64").toString("utf8");
};

export const base64Encrypter = (plaintext: string): string =>
  Buffer.from(plaintext, "utf8").toString("base64");

// ---- object.go -------------------------------------------------------------------------------

/** unmarshalObject: a decoded YAML/JSON value becomes an object; {secure: s} becomes ciphertext. */
export function objectFromGo(v: GoAny): Obj {
  if (v instanceof GoIfaceMap) {
    return objectFromGo(new Map(v.entries.map(([k, x]) => [goFormatKey(k), x])));
  }
  if (v instanceof Map) {
    const secure = v.get("secure");
    if (v.size === 1 && typeof secure === "string") return new Ciphertext(secure);
    return new Map([...v].map(([k, x]) => [k, objectFromGo(x)]));
  }
  if (Array.isArray(v)) return v.map(objectFromGo);
  return v;
}

export function objectSecure(o: Obj): boolean {
  if (o instanceof Ciphertext) return true;
  if (Array.isArray(o)) return o.some(objectSecure);
  if (o instanceof Map) return [...o.values()].some(objectSecure);
  return false;
}

/** json.Marshal(object.marshalObject()): Go's key order and escaping, secrets as {"secure":..}. */
export function goJson(o: Obj | GoAny): string {
  if (o === null) return "null";
  if (typeof o === "boolean") return String(o);
  if (typeof o === "string") return goJsonString(o);
  if (o instanceof GoInt) return o.v.toString();
  if (o instanceof GoFloat) return goJsonFloat(o.v);
  if (o instanceof Ciphertext) return `{"secure":${goJsonString(o.ciphertext)}}`;
  if (Array.isArray(o)) return `[${o.map((x: Obj | GoAny) => goJson(x)).join(",")}]`;
  const entries: [string, Obj | GoAny][] =
    o instanceof GoIfaceMap ? o.entries.map(([k, v]) => [goFormatKey(k), v]) : [...o];
  entries.sort(([a], [b]) => goKeyCompare(a, b));
  return `{${entries.map(([k, v]) => `${goJsonString(k)}:${goJson(v)}`).join(",")}}`;
}

/** object.MarshalString: scalars as text (numbers/bools as JSON), the rest as JSON objects. */
export function marshalValue(o: Obj): Value {
  if (typeof o === "boolean" || o instanceof GoInt || o instanceof GoFloat) {
    return { value: goJson(o), secure: false, object: false, typ: "unknown" };
  }
  if (typeof o === "string") return newValue(o);
  if (o instanceof Ciphertext)
    return { value: o.ciphertext, secure: true, object: false, typ: "unknown" };
  return { value: goJson(o), secure: objectSecure(o), object: true, typ: "unknown" };
}

/** Value.unmarshalObject: how the stored text is read back (typed values parse here). */
export function unmarshalObject(c: Value): Obj {
  if (c.secure || c.object || c.typ === "unknown") {
    if (!c.object) return c.secure ? new Ciphertext(c.value) : c.value;
    return objectFromGo(parseGoJson(c.value, true));
  }
  switch (c.typ) {
    case "string":
      return c.value;
    case "int":
      return new GoInt(goAtoi(c.value));
    case "bool":
      // value.go logs "Failed to parse boolean value ... Defaulting to false." and carries on.
      return goParseBool(c.value) ?? false;
    case "float":
      return new GoFloat(goParseFloat(c.value));
  }
}

/** object.go: coerce. "true"/"false", and base-10 integers not starting with 0, stop being text. */
export function coerce(v: string): boolean | GoInt | undefined {
  if (v === "false") return false;
  if (v === "true") return true;
  if (v.length > 1 && v[0] === "0") return undefined;
  try {
    return new GoInt(parseInt10(v));
  } catch {
    const u = parseUint10(v);
    return u === undefined ? undefined : new GoInt(u);
  }
}

/** Value.coerceObject: only untyped plain text is coerced; --type string opts out. */
export function coerceObject(c: Value): Obj {
  if (c.secure || c.object || c.typ !== "unknown") return unmarshalObject(c);
  return coerce(c.value) ?? unmarshalObject(c);
}

/** Value.Value(decrypter) / Plaintext.marshalText: the string the program is handed. */
export function decryptedText(c: Value, decrypt: Decrypter): string {
  const o = unmarshalObject(c);
  if (typeof o === "string") return o;
  if (o instanceof Ciphertext) return decrypt(o.ciphertext);
  const plain = (x: Obj): Obj =>
    x instanceof Ciphertext
      ? decrypt(x.ciphertext)
      : Array.isArray(x)
        ? x.map(plain)
        : x instanceof Map
          ? new Map([...x].map(([k, v]) => [k, plain(v)]))
          : x;
  return goJson(plain(o));
}

// ---- properties_path.go ----------------------------------------------------------------------

export type PathElem = string | number;

/** ParsePropertyPathStrict: `a.b[0]["x.y"]`; any run of characters up to `.`/`[` is a name. */
export function parsePropertyPath(path: string): PathElem[] {
  const out: PathElem[] = [];
  if (path.startsWith("."))
    throw new GoError("expected property path to start with a name or index");
  let p = path;
  while (p.length > 0) {
    if (p[0] === ".") {
      p = p.slice(1);
      if (p.length === 0) throw new GoError("expected property path to end with a name or index");
      if (p[0] === "[") throw new GoError("expected property name after '.'");
    } else if (p[0] === "[") {
      if (p[1] === '"') {
        let key = "";
        let i = 2;
        for (;;) {
          if (i >= p.length) throw new GoError("missing closing quote in property name");
          if (p[i] === '"') {
            i++;
            break;
          }
          if (p[i] === "\\" && p[i + 1] === '"') {
            key += '"';
            i += 2;
          } else {
            key += p[i++];
          }
        }
        if (p[i] !== "]") throw new GoError("missing closing bracket in property access");
        out.push(key);
        p = p.slice(i + 1);
      } else {
        const close = p.indexOf("]");
        if (close === -1) throw new GoError("missing closing bracket in array index");
        const segment = p.slice(1, close);
        if (segment === "*") out.push("*");
        else {
          try {
            out.push(Number(parseInt10(segment)));
          } catch (e) {
            throw new GoError(`invalid array index: ${(e as Error).message}`);
          }
        }
        p = p.slice(close + 1);
      }
    } else {
      const end = p.search(/[.[]/);
      out.push(end === -1 ? p : p.slice(0, end));
      p = end === -1 ? "" : p.slice(end);
    }
  }
  return out;
}

/** Go's %v of a PropertyPath ([]any): `[a 0 b]`. */
const fmtPath = (p: PathElem[]) => `[${p.join(" ")}]`;

const newContainer = (accessor: PathElem): Obj[] | Map<string, Obj> =>
  typeof accessor === "number" ? new Array<Obj>(accessor + 1).fill(null) : new Map<string, Obj>();

/** object.Set; returns the receiver's new value. */
function objectSet(c: Obj, prefix: PathElem[], path: PathElem[], nv: Obj): Obj {
  if (path.length === 0) return nv;
  let cur: Obj[] | Map<string, Obj>;
  if (Array.isArray(c) || c instanceof Map) cur = c;
  else if (c === null) cur = newContainer(path[0]);
  else {
    // COMPAT: a scalar at the first level is replaced by a container instead of a type error.
    if (prefix.length !== 1) {
      throw new GoError(
        `${fmtPath(prefix)}: expected ${typeof path[0] === "number" ? "an array" : "a map"}`,
      );
    }
    cur = newContainer(path[0]);
  }
  const pre = [...prefix, path[0]];
  const head = path[0];
  if (Array.isArray(cur)) {
    if (typeof head !== "number")
      throw new GoError(`${fmtPath(pre)}: key for an array must be an int`);
    if (head < 0 || head > cur.length)
      throw new GoError(`${fmtPath(pre)}: array index out of range`);
    if (head === cur.length) cur.push(null);
    cur[head] = objectSet(cur[head], pre, path.slice(1), nv);
    return cur;
  }
  if (typeof head !== "string")
    throw new GoError(`${fmtPath(pre)}: key for a map must be a string`);
  if (path.length === 1 && cur.size === 0 && head === "secure" && typeof nv === "string") {
    throw new GoError('maps with the single key "secure" are reserved');
  }
  cur.set(head, objectSet(cur.get(head) ?? null, pre, path.slice(1), nv));
  return cur;
}

function objectGet(c: Obj, path: PathElem[]): Obj | undefined {
  if (path.length === 0) return c;
  const [head, ...rest] = path;
  if (Array.isArray(c)) {
    return typeof head === "number" && head >= 0 && head < c.length
      ? objectGet(c[head], rest)
      : undefined;
  }
  if (c instanceof Map && typeof head === "string" && c.has(head))
    return objectGet(c.get(head)!, rest);
  return undefined;
}

// ---- map.go ----------------------------------------------------------------------------------

/** map.go: parseKeyPath. The key's name is a path; its first segment names the stored key. */
function parseKeyPath(k: Key): [PathElem[], Key] {
  let p: PathElem[];
  try {
    p = parsePropertyPath(k.name);
  } catch (e) {
    throw new GoError(`invalid config key path: ${(e as Error).message}`);
  }
  if (p.length === 0) throw new GoError("empty config key path");
  if (typeof p[0] !== "string")
    throw new GoError("first path segement of config key must be a string");
  if (p[0] === "") throw new GoError("config key is empty");
  return [p, { namespace: k.namespace, name: p[0] }];
}

/** config.Map: a stack's config, keyed `namespace:name`, plus the warnings loading it printed. */
export class ConfigMap {
  readonly entries = new Map<string, { key: Key; value: Value }>();
  readonly warnings: string[] = [];

  clone(): ConfigMap {
    const m = new ConfigMap();
    for (const [k, e] of this.entries) m.entries.set(k, e);
    m.warnings.push(...this.warnings);
    return m;
  }

  /** The stored value of `namespace:name` (no path). */
  value(key: string): Value | undefined {
    return this.entries.get(key)?.value;
  }

  /** Map.Get. With a path the nested value is returned as its own Value (a number becomes "2"). */
  get(k: Key, path: boolean): Value | undefined {
    if (!path) return this.entries.get(keyString(k))?.value;
    const [p, configKey] = parseKeyPath(k);
    const root = this.entries.get(keyString(configKey))?.value;
    if (p.length === 1) return root;
    const found = objectGet(unmarshalObject(root ?? newValue("")), p.slice(1));
    return found === undefined ? undefined : marshalValue(found);
  }

  /** Map.Set. A top-level entry keeps the value as given (text stays text, even with a path). */
  set(k: Key, v: Value, path: boolean): void {
    if (!path) {
      this.entries.set(keyString(k), { key: k, value: v });
      return;
    }
    const [p, configKey] = parseKeyPath(k);
    let nv: Obj = null;
    if (p.length > 1 || v.typ !== "unknown") nv = coerceObject(v);
    if (p.length === 1) {
      this.entries.set(keyString(configKey), { key: configKey, value: v });
      return;
    }
    const root = this.entries.get(keyString(configKey))?.value;
    const obj = objectSet(
      root ? unmarshalObject(root) : newContainer(p[1]),
      p.slice(0, 1),
      p.slice(1),
      nv,
    );
    this.entries.set(keyString(configKey), { key: configKey, value: marshalValue(obj) });
  }
}
