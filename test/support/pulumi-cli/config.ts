// A model of the Pulumi CLI's config "front door" (v3.248.0): what Pulumi.yaml and
// Pulumi.<stack>.yaml mean, what `pulumi config set` stores, and what `pulumi up`/`preview`
// check and hand the Node.js program before it runs. The CLI cannot run here, so tests use this.
import { stringify } from "yaml";
import {
  Ciphertext,
  ConfigMap,
  Decrypter,
  Key,
  Obj,
  Value,
  ValueType,
  base64Decrypter,
  base64Encrypter,
  decryptedText,
  goJson,
  keyString,
  marshalValue,
  newValue,
  objectFromGo,
  parseKey,
  unmarshalObject,
} from "./config-map";
import {
  GoAny,
  GoError,
  GoFloat,
  GoIfaceMap,
  GoInt,
  decodeYaml,
  goKeyCompare,
  goParseBool,
  goTypeName,
  parseGoJson,
} from "./go-values";
import {
  CliConfigError,
  Project,
  ProjectConfigType,
  badVerbS,
  inferFullTypeName,
  validateConfigValue,
} from "./project";

export { Ciphertext, ConfigMap, GoFloat, GoInt, base64Decrypter, base64Encrypter, CliConfigError };
export type { Decrypter, Key, Project, ProjectConfigType, Value };
export { loadProject } from "./project";

/** Any Go-side failure becomes the CLI's text; model limits stay plain Errors. */
function cli<T>(wrap: string, f: () => T, cliWrap = ""): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof GoError)
      throw new CliConfigError(wrap + e.message, cliWrap + wrap + e.message);
    throw e;
  }
}

/**
 * loaders.go: LoadProjectStackBytes. Keys without a namespace get the project's
 * (stackConfigNamespacedWithProject); `key:` with no value is "" plus checkForEmptyConfig's
 * warning; every top-level scalar is stored as text ("20", "true"), objects and lists as JSON.
 */
export function loadStackConfig(project: Project, yamlText: string): ConfigMap {
  // yamlMarshaler.Unmarshal: syntax errors (yaml.v3's wording is not reproduced) get this prefix.
  const raw = cli("invalid YAML file: ", () => decodeYaml(yamlText.replace(/^\uFEFF/, "")));
  return cli("", () => {
    const map = new ConfigMap();
    if (raw === null) return map; // an empty stack file
    if (raw instanceof GoIfaceMap) {
      // SimplifyMarshalledProject, which stack files go through too.
      const bad = raw.entries.find(([k]) => typeof k !== "string");
      throw new GoError(`expected only string keys, got '${badVerbS(bad![0])}'`);
    }
    if (!(raw instanceof Map)) {
      throw new GoError(`expected project to be an object, was '${goTypeName(raw)}'`);
    }
    if (raw.has("environment")) {
      throw new Error("pulumi-cli model: stack environments (Pulumi ESC) are not modelled");
    }
    const config = raw.get("config");
    if (config === undefined || config === null) return map;
    if (!(config instanceof Map)) {
      // Decoding into config.Map (map[string]Value) fails; yaml.v3's detail is not reproduced.
      throw new GoError(
        `could not unmarshal map: yaml: cannot unmarshal ${goTypeName(config)} into map`,
      );
    }
    // Upstream builds a Go map here, so if both `x` and `<project>:x` appear either may win.
    const namespaced = new Map<string, GoAny>();
    for (const [k, v] of config) namespaced.set(k.includes(":") ? k : `${project.name}:${k}`, v);
    emptyConfigWarning(namespaced, map.warnings);
    for (const [k, v] of namespaced) {
      let key: Key;
      try {
        key = parseKey(k);
      } catch (e) {
        throw new GoError(`could not unmarshal map: ${(e as Error).message}`);
      }
      // A YAML null reaches config.Value as its zero value (yaml.v3 skips UnmarshalYAML): "".
      map.entries.set(keyString(key), {
        key,
        value: v === null ? newValue("") : marshalValue(objectFromGo(v)),
      });
    }
    return map;
  });
}

/** loaders.go: checkForEmptyConfig (upstream's key order is Go map order; here, file order). */
function emptyConfigWarning(config: Map<string, GoAny>, warnings: string[]): void {
  const keys = [...config].filter(([, v]) => v === null).map(([k]) => `"${k}"`);
  if (keys.length === 0) return;
  const s = keys.length > 1 ? "s" : "";
  warnings.push(
    `No value for configuration key${s} ${keys.join(keys.length === 2 ? " and " : ", ")}. ` +
      'This is currently treated as an empty string `""`, ' +
      "but will be treated as `null` in a future version of pulumi.\n" +
      `Set the value${s} to \`""\` to avoid this warning.`,
  );
}

// ---- pulumi config set -----------------------------------------------------------------------

export interface ConfigSetOptions {
  /** The value when argv has only the key (piped stdin). */
  stdin?: string;
  /** Encrypts a --secret value; default base64, like upstream's test Base64Crypter. */
  encrypt?: (plaintext: string) => string;
  /**
   * looksLikeSecret's zxcvbn entropy test, consulted only for keys matching
   * /passwd|pass|password|pwd|secret|token/i set without --secret/--plaintext. Not modelled:
   * without this hook such a command throws rather than guess.
   */
  looksLikeSecret?: (key: string, value: string) => boolean;
}

interface FlagSpec {
  kind: "bool" | "string";
  short?: string;
}
// `config set`'s own flags, `config`'s persistent ones, and a few root flags; others are rejected.
const FLAGS: Record<string, FlagSpec> = {
  path: { kind: "bool" },
  plaintext: { kind: "bool" },
  secret: { kind: "bool" },
  raw: { kind: "bool" },
  type: { kind: "string" },
  stack: { kind: "string", short: "s" },
  "config-file": { kind: "string" },
  "non-interactive": { kind: "bool" },
  color: { kind: "string" },
  cwd: { kind: "string", short: "C" },
};

/** spf13/pflag parsing: interspersed flags, `--` ends them, `-5` is an (unknown) shorthand. */
function parseArgv(argv: string[]): { flags: Map<string, string>; args: string[] } {
  const flags = new Map<string, string>();
  const args: string[] = [];
  const setFlag = (
    name: string,
    spec: FlagSpec,
    raw: string | undefined,
    next: () => string | undefined,
    shown: string,
  ) => {
    let v = raw;
    if (spec.kind === "bool") {
      v ??= "true";
      if (goParseBool(v) === undefined) {
        throw new GoError(
          `invalid argument "${v}" for "${shown}" flag: strconv.ParseBool: parsing ${JSON.stringify(v)}: invalid syntax`,
        );
      }
    } else {
      v ??= next();
      if (v === undefined) {
        throw new GoError(
          `flag needs an argument: ${shown.startsWith("--") ? shown : `'${shown.slice(1)}' in ${shown}`}`,
        );
      }
    }
    flags.set(name, v);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => (i + 1 < argv.length ? argv[++i] : undefined);
    if (a === "--") {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      const name = a.slice(2, eq === -1 ? undefined : eq);
      const spec = FLAGS[name];
      if (!spec) throw new GoError(`unknown flag: --${name}`);
      setFlag(name, spec, eq === -1 ? undefined : a.slice(eq + 1), next, `--${name}`);
    } else if (a.startsWith("-") && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const c = a[j];
        const entry = Object.entries(FLAGS).find(([, s]) => s.short === c);
        if (!entry) throw new GoError(`unknown shorthand flag: '${c}' in ${a}`);
        const [name, spec] = entry;
        if (spec.kind === "bool") {
          setFlag(name, spec, undefined, next, `-${c}`);
          continue;
        }
        const rest = a.slice(j + 1).replace(/^=/, "");
        setFlag(name, spec, rest === "" ? undefined : rest, next, a);
        break;
      }
    } else {
      args.push(a);
    }
  }
  return { flags, args };
}

const KEY_PATTERN = /passwd|pass|password|pwd|secret|token/i;

/** configSetCmd.Run's --type switch. */
const VALUE_TYPES = new Map<string, ValueType>([
  ["", "unknown"],
  ["string", "string"],
  ["int", "int"],
  ["bool", "bool"],
  ["float", "float"],
]);

/**
 * `pulumi config set <argv...>` (pkg/cmd/pulumi/config/config.go: newConfigSetCmd, Run), then
 * SaveProjectStack: `map` ends as the stack file would read back (types from --type only survive
 * as the YAML scalar they were written as). On error `map` is unchanged, as the file would be.
 */
export function configSet(
  project: Project,
  map: ConfigMap,
  argv: string[],
  opts: ConfigSetOptions = {},
): void {
  const { flags, args } = cli("", () => parseArgv(argv));
  const bool = (f: string) => goParseBool(flags.get(f) ?? "false") === true;
  // constrictor's argument predicate: <key> [value].
  if (args.length < 1) throw new CliConfigError("requires at least 1 arg(s), only received 0");
  if (args.length > 2)
    throw new CliConfigError(`accepts at most 2 arg(s), received ${args.length}`);
  // cobra MarkFlagsMutuallyExclusive("secret", "plaintext", "type"): set means given at all.
  const set = ["secret", "plaintext", "type"].filter((f) => flags.has(f)).sort();
  if (set.length > 1) {
    throw new CliConfigError(
      `if any flags in the group [secret plaintext type] are set none of the others can be; [${set.join(" ")}] were all set`,
    );
  }
  const path = bool("path");
  const key = cli("invalid configuration key: ", () => parseConfigKey(project.name, args[0], path));
  let value = args[1];
  if (value === undefined) {
    if (opts.stdin === undefined)
      throw new Error("pulumi-cli model: no value; pass it in argv or opts.stdin");
    value = bool("raw") ? opts.stdin : opts.stdin.replace(/\n$/, "");
  }
  let v: Value;
  if (bool("secret")) {
    v = {
      value: (opts.encrypt ?? base64Encrypter)(value),
      secure: true,
      object: false,
      typ: "unknown",
    };
  } else {
    const t = flags.get("type") ?? "";
    const typ = VALUE_TYPES.get(t);
    if (!typ)
      throw new CliConfigError(
        `invalid type ${JSON.stringify(t)}; must be one of string, int, bool, or float`,
      );
    v = { value, secure: false, object: false, typ };
    if (!bool("plaintext") && KEY_PATTERN.test(key.name)) {
      if (!opts.looksLikeSecret) {
        throw new Error(
          `pulumi-cli model: looksLikeSecret (zxcvbn) is not modelled for '${keyString(key)}'`,
        );
      }
      if (opts.looksLikeSecret(keyString(key), value)) {
        throw new CliConfigError(
          `config value for '${keyString(key)}' looks like a secret; ` +
            "rerun with --secret to encrypt it, or --plaintext if you meant to store in plaintext",
        );
      }
    }
  }
  const next = map.clone();
  cli("could not set config: ", () => next.set(key, v, path));
  // SaveProjectStack writes every value through Value.MarshalYAML; reading the file back stores
  // each as MarshalString of what was written. A bad --type value fails here (unwrapped). One
  // deviation: `--type float inf|nan` fails here, where upstream writes `.inf` and the next load fails.
  const saved = cli("", () =>
    [...next.entries].map(
      ([k, e]) => [k, { key: e.key, value: marshalValue(unmarshalObject(e.value)) }] as const,
    ),
  );
  map.entries.clear();
  for (const [k, e] of saved) map.entries.set(k, e);
}

/** pkg/cmd/pulumi/config/io.go: ParseConfigKey. With --path only the top segment is namespaced. */
export function parseConfigKey(projectName: string, key: string, path: boolean): Key {
  if (path) {
    const i = key.search(/[[.]/);
    if (i > 0) {
      const top = parseConfigKey(projectName, key.slice(0, i), false);
      return { namespace: top.namespace, name: top.name + key.slice(i) };
    }
  }
  return parseKey(key.includes(":") ? key : `${projectName}:${key}`);
}

// ---- pulumi up / preview ---------------------------------------------------------------------

export interface ProgramConfig {
  /** What the Node SDK's config holds: "namespace:key" -> text (objects/lists as Go JSON). */
  config: Record<string, string>;
  /** Keys whose value is (or contains) a secret; upstream's order is Go map order, here sorted. */
  secretKeys: string[];
}

/** workspace/config.go: parseConfigKey for a Pulumi.yaml config key. */
function projectKey(projectName: string, key: string): Key {
  return key.includes(":") ? parseKey(key) : { namespace: projectName, name: key };
}

/** workspace/config.go: createConfigValue. string/int/bool as %v text, anything else as JSON. */
function createConfigValue(raw: GoAny): Value {
  if (typeof raw === "string" || typeof raw === "boolean") return newValue(String(raw));
  if (raw instanceof GoInt && !raw.unsigned) return newValue(raw.v.toString());
  return { value: goJson(raw), secure: false, object: true, typ: "unknown" };
}

/**
 * What `pulumi up`/`preview` do with config before running the program: mergeConfig via
 * ValidateStackConfigAndApplyProjectConfig (defaults, missing keys, typed keys), then the engine's
 * Config.Decrypt + SecureKeys (pkg/resource/deploy/source_eval.go: Iterate), which the Node
 * language host passes as PULUMI_CONFIG / PULUMI_CONFIG_SECRET_KEYS. `map` is not changed.
 */
export function programConfig(
  project: Project,
  stackName: string,
  map: ConfigMap,
  opts: { decrypt?: Decrypter } = {},
): ProgramConfig {
  const decrypt = opts.decrypt ?? base64Decrypter;
  const stack = map.clone();
  const wrap = "validating stack config: "; // up.go / preview.go
  const keys = [...project.config.keys()].sort(goKeyCompare);
  const missing: string[] = [];
  for (const k of keys) {
    const t = project.config.get(k)!;
    const key = cli("", () => projectKey(project.name, k), wrap);
    const found = cli(
      `getting stack config value for key '${keyString(key)}': `,
      () => stack.get(key, true),
      wrap,
    );
    const fallback = t.default ?? t.value;
    // Only the project's own keys can be missing; `aws:region` declarations always carry a value.
    if (found === undefined && fallback === undefined && key.namespace === project.name)
      missing.push(k);
    else if (found === undefined && fallback !== undefined) {
      cli("", () => stack.set(key, createConfigValue(fallback), true), wrap);
    }
  }
  if (missing.length > 0) {
    const msg = missingKeysError(missing, stackName);
    throw new CliConfigError(msg, wrap + msg);
  }
  // validateStackConfigValues: decrypt everything once, then check each explicitly typed key.
  cli("", () => [...stack.entries.values()].forEach((e) => decryptedText(e.value, decrypt)), wrap);
  for (const k of keys) {
    const t = project.config.get(k)!;
    if (t.type === undefined) continue; // untyped declarations (even `secret: true`) are not checked
    const key = projectKey(project.name, k);
    const sv = cli(
      `getting stack config value for key '${keyString(key)}': `,
      () => stack.get(key, true),
      wrap,
    );
    const stackValue = sv ?? newValue("");
    const fail = (msg: string) => new CliConfigError(msg, wrap + msg);
    if (t.secret && !stackValue.secure) {
      throw fail(
        `Stack '${stackName}' with configuration key '${k}' must be encrypted as it's secret`,
      );
    }
    const text = cli("", () => decryptedText(stackValue, decrypt), wrap);
    // An object value is JSON: validated as json.Unmarshal gives it (numbers are float64s).
    const content: GoAny = stackValue.object ? cli("", () => parseGoJson(text, false), wrap) : text;
    if (!validateConfigValue(t.type, t.items, content)) {
      throw fail(
        `Stack '${stackName}' with configuration key '${k}' must be of type '${inferFullTypeName(t.type, t.items)}'`,
      );
    }
  }
  const config: Record<string, string> = {};
  const secretKeys: string[] = [];
  for (const [k, e] of [...stack.entries].sort(([a], [b]) => goKeyCompare(a, b))) {
    config[k] = cli("failed to decrypt config: ", () => decryptedText(e.value, decrypt));
    if (e.value.secure) secretKeys.push(k);
  }
  return { config, secretKeys };
}

/** workspace/config.go: missingStackConfigurationKeysError and formatMissingKeys. */
function missingKeysError(keys: string[], stackName: string): string {
  if (keys.length === 1) return `Stack '${stackName}' is missing configuration value '${keys[0]}'`;
  const sorted = [...keys].sort(goKeyCompare);
  const list = `${sorted
    .slice(0, -1)
    .map((k) => `'${k}'`)
    .join(", ")} and '${sorted[sorted.length - 1]}'`;
  return `Stack '${stackName}' is missing configuration values ${list}`;
}

/**
 * The environment pulumi-language-nodejs gives the program (main.go: constructConfig uses the
 * old `ns:config:key` spelling, which @pulumi/pulumi/runtime/config.js cleanKey() undoes).
 */
export function programEnv(pc: ProgramConfig): {
  PULUMI_CONFIG: string;
  PULUMI_CONFIG_SECRET_KEYS: string;
} {
  const m = new Map(
    Object.entries(pc.config).map(([k, v]) => {
      const key = parseKey(k);
      return [`${key.namespace}:config:${key.name}`, v] as [string, Obj];
    }),
  );
  return { PULUMI_CONFIG: goJson(m), PULUMI_CONFIG_SECRET_KEYS: goJson(pc.secretKeys) };
}

/** Roughly the `config:` block `pulumi config set` writes (yaml.v3's quoting is not reproduced). */
export function stackFileText(map: ConfigMap): string {
  const plain = (o: Obj): unknown => {
    if (o instanceof GoInt) return Number.isSafeInteger(Number(o.v)) ? Number(o.v) : o.v.toString();
    if (o instanceof GoFloat) return o.v;
    if (o instanceof Ciphertext) return { secure: o.ciphertext };
    if (Array.isArray(o)) return o.map(plain);
    if (o instanceof Map)
      return Object.fromEntries(
        [...o].sort(([a], [b]) => goKeyCompare(a, b)).map(([k, v]) => [k, plain(v)]),
      );
    return o;
  };
  const entries = [...map.entries].sort(([a], [b]) => goKeyCompare(a, b));
  if (entries.length === 0) return "{}\n";
  return stringify({
    config: Object.fromEntries(entries.map(([k, e]) => [k, plain(unmarshalObject(e.value))])),
  });
}
