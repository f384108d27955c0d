// Pulumi.yaml as the CLI reads it: sdk/go/common/workspace/loaders.go (LoadProjectBytes) and
// project.go (ValidateProject, RewriteShorthandConfigValues, Project.Validate, ValidateConfigValue)
// with the config block of project.json, at v3.248.0.
import {
  GoAny,
  GoError,
  GoFloat,
  GoIfaceMap,
  GoInt,
  decodeYaml,
  goAtoi,
  goKeyCompare,
  goTypeName,
} from "./go-values";

/** A failure with the text the Pulumi CLI prints (after its `error: ` prefix). */
export class CliConfigError extends Error {
  /**
   * @param message the upstream function's error text
   * @param cliText the whole chain the command prints, when the command wraps it (for
   *   `pulumi up`/`preview`: "validating stack config: " + message)
   */
  constructor(
    message: string,
    readonly cliText: string = message,
  ) {
    super(message);
    this.name = "CliConfigError";
  }
}

export interface ProjectConfigItemsType {
  type: string;
  items?: ProjectConfigItemsType;
}

/** ProjectConfigType. `default`/`value` are the YAML values as Go decoded them (GoInt, ...). */
export interface ProjectConfigType {
  type?: string;
  description?: string;
  items?: ProjectConfigItemsType;
  default?: GoAny;
  value?: GoAny;
  secret: boolean;
}

export interface Project {
  name: string;
  /** Keys as written in Pulumi.yaml (`instanceSize`, `aws:region`), after the shorthand rewrite. */
  config: Map<string, ProjectConfigType>;
  stackConfigDir?: string;
}

const TYPES = ["string", "integer", "boolean", "array", "object"];
const DECLARATION_ATTRS = ["type", "items", "description", "secret", "default", "value"];

/** LoadProjectBytes. `path` only appears in messages; the CLI passes Pulumi.yaml's full path. */
export function loadProject(yamlText: string, path = "Pulumi.yaml"): Project {
  let raw: GoAny;
  try {
    raw = decodeYaml(yamlText.replace(/^\uFEFF/, "")); // readFileStripUTF8BOM
  } catch (e) {
    // The yaml.v3 text after "yaml: " is not reproduced byte for byte.
    throw new CliConfigError(
      `could not unmarshal '${path}': invalid YAML file: ${(e as Error).message}`,
    );
  }
  const validation = validateProject(raw);
  if (validation) throw new CliConfigError(`could not validate '${path}': ${validation}`);
  const def = raw as Map<string, GoAny>;

  // RewriteConfigPathIntoStackConfigDir: `config: <path>` is the old spelling of stackConfigDir.
  let config = def.get("config");
  let stackConfigDir =
    typeof def.get("stackConfigDir") === "string"
      ? (def.get("stackConfigDir") as string)
      : undefined;
  if (typeof config === "string") {
    if (def.has("stackConfigDir")) {
      throw new CliConfigError(
        "Should not use both config and stackConfigDir to define the stack directory. " +
          "Use only stackConfigDir instead.",
      );
    }
    stackConfigDir = config;
    config = null;
  }
  const name = def.get("name") as string;
  const project: Project = { name, config: new Map(), stackConfigDir };
  if (config instanceof Map) {
    for (const [key, value] of config) {
      project.config.set(key, toConfigType(key, shorthand(name, key, value)));
    }
  }
  const invalid = validateProjectConfig(project);
  if (invalid) throw new CliConfigError(`could not unmarshal '${path}': ${invalid}`);
  return project;
}

/**
 * RewriteShorthandConfigValues: a bare string/int/bool/array is a declaration with a `default`
 * when the key is the project's, and a `value` when it belongs to another namespace.
 */
function shorthand(projectName: string, key: string, value: GoAny): GoAny {
  const primitive =
    typeof value === "string" ||
    typeof value === "boolean" ||
    (value instanceof GoInt && !value.unsigned);
  if (!primitive && !Array.isArray(value)) return value;
  return new Map([[namespacedByProject(projectName, key) ? "default" : "value", value]]);
}

/** The decode of one config entry into ProjectConfigType (after the schema passed). */
function toConfigType(key: string, v: GoAny): ProjectConfigType {
  if (!(v instanceof Map)) {
    // A float or uint64 shorthand passes the schema but is not rewritten; yaml.v3 then fails.
    throw new CliConfigError(
      `yaml: unmarshal errors:\n  cannot unmarshal ${v instanceof GoFloat ? "!!float" : "!!int"} into workspace.ProjectConfigType (config '${key}')`,
    );
  }
  const items = (x: GoAny): ProjectConfigItemsType | undefined =>
    x instanceof Map
      ? {
          type: typeof x.get("type") === "string" ? (x.get("type") as string) : "",
          items: items(x.get("items") ?? null),
        }
      : undefined;
  const t: ProjectConfigType = { secret: v.get("secret") === true };
  if (typeof v.get("type") === "string") t.type = v.get("type") as string;
  if (typeof v.get("description") === "string") t.description = v.get("description") as string;
  const it = items(v.get("items") ?? null);
  if (it) t.items = it;
  // A YAML null `default:` decodes to a nil interface: no default at all.
  if (v.get("default") !== undefined && v.get("default") !== null) t.default = v.get("default");
  if (v.get("value") !== undefined && v.get("value") !== null) t.value = v.get("value");
  return t;
}

export function namespacedByProject(projectName: string, key: string): boolean {
  return !key.includes(":") || key.startsWith(`${projectName}:`);
}

/** project.go: ValidateProject (name checks, then the schema for the config block). */
function validateProject(raw: GoAny): string | undefined {
  if (raw instanceof GoIfaceMap) {
    // SimplifyMarshalledValue: only string keys at the top level; Go prints others with %s.
    const bad = raw.entries.find(([k]) => typeof k !== "string");
    if (bad) return `expected only string keys, got '${badVerbS(bad[0])}'`;
  }
  if (!(raw instanceof Map)) return `expected project to be an object, was '${goTypeName(raw)}'`;
  if (!raw.has("name")) {
    const closest = findClosestKey("name", [...raw.keys()]);
    return closest
      ? `project is missing a 'name' attribute; found '${closest}' instead`
      : "project is missing a 'name' attribute";
  }
  const name = raw.get("name");
  if (typeof name !== "string" || name === "")
    return "project is missing a non-empty string 'name' attribute";
  const errs = configSchemaErrors(raw.get("config") ?? null, raw.has("config"));
  if (errs.length === 0) return undefined;
  // hashicorp/go-multierror's ListFormatFunc.
  if (errs.length === 1) return `1 error occurred:\n\t* ${errs[0]}\n\n`;
  return `${errs.length} errors occurred:\n\t${errs.map((e) => `* ${e}`).join("\n\t")}\n\n`;
}

/** Go's %s of a non-string map key: `%!s(int=4)`. */
export function badVerbS(v: GoAny): string {
  if (v instanceof GoInt) return `%!s(${goTypeName(v)}=${v.v})`;
  if (v instanceof GoFloat) return `%!s(float64=${v.v})`;
  if (v === null) return "%!s(<nil>)";
  return `%!s(${goTypeName(v)}=${typeof v === "boolean" ? String(v) : JSON.stringify(v)})`;
}

/** findClosestKey: Levenshtein distance <= 2, case-insensitive, first alphabetically on ties. */
function findClosestKey(needle: string, keys: string[]): string {
  let match = "";
  let closest = 3;
  for (const key of [...keys].sort(goKeyCompare)) {
    const d = levenshtein(needle.toLowerCase(), key.toLowerCase());
    if (d === 0) return key;
    if (d < closest) {
      closest = d;
      match = key;
    }
  }
  return match;
}

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length];
}

function jsonType(v: GoAny): string {
  if (v === null) return "null";
  if (typeof v === "boolean") return "boolean";
  if (typeof v === "string") return "string";
  if (v instanceof GoInt || v instanceof GoFloat) return "number";
  return Array.isArray(v) ? "array" : "object";
}

const isSchemaInteger = (v: GoAny) =>
  v instanceof GoInt || (v instanceof GoFloat && Number.isInteger(v.v));

/**
 * project.json's `config` block. Upstream prints every node of jsonschema's error tree, some
 * intermediate ones ("doesn't validate with ...") and in an order that varies between runs; this
 * returns the leaf lines in upstream's wording, so assert them with toContain.
 */
function configSchemaErrors(config: GoAny, present: boolean): string[] {
  if (!present || config === null || typeof config === "string") return [];
  if (!(config instanceof Map))
    return [`#/config: expected object or string or null, but got ${jsonType(config)}`];
  const errs: string[] = [];
  for (const [key, value] of config) {
    const loc = `#/config/${encodeURIComponent(key.replaceAll("~", "~0").replaceAll("/", "~1"))}`;
    if (key === "secret") {
      // `config.properties.secret` is a boolean: a config key named "secret" can only be a bool.
      if (typeof value !== "boolean")
        errs.push(`${loc}: expected boolean, but got ${jsonType(value)}`);
      continue;
    }
    if (
      typeof value === "string" ||
      typeof value === "boolean" ||
      Array.isArray(value) ||
      isSchemaInteger(value)
    ) {
      continue;
    }
    const decl = declarationErrors(value, loc);
    if (decl.length === 0) continue;
    errs.push(`${loc}: oneOf failed`);
    for (const t of ["string", "integer", "boolean", "array"]) {
      errs.push(`${loc}: expected ${t}, but got ${jsonType(value)}`);
    }
    errs.push(...decl);
  }
  return errs;
}

/** $defs/configTypeDeclaration: the one oneOf branch an object can satisfy. */
function declarationErrors(value: GoAny, loc: string): string[] {
  if (!(value instanceof Map)) return [`${loc}: expected object, but got ${jsonType(value)}`];
  const errs: string[] = [];
  const unknown = [...value.keys()]
    .filter((k) => !DECLARATION_ATTRS.includes(k))
    .sort(goKeyCompare);
  if (unknown.length > 0) {
    errs.push(
      `${loc}: additionalProperties ${unknown.map((k) => `'${k}'`).join(", ")} not allowed`,
    );
  }
  const type = value.get("type");
  if (type !== undefined && !(typeof type === "string" && TYPES.includes(type))) {
    errs.push(`${loc}/type: value must be one of ${TYPES.map((t) => `'${t}'`).join(", ")}`);
  }
  for (const [attr, want] of [
    ["description", "string"],
    ["secret", "boolean"],
  ]) {
    const v = value.get(attr);
    if (v !== undefined && jsonType(v) !== want) {
      errs.push(`${loc}/${attr}: expected ${want}, but got ${jsonType(v)}`);
    }
  }
  if (value.has("items"))
    errs.push(...itemsSchemaErrors(value.get("items") ?? null, `${loc}/items`));
  return errs;
}

/** $defs/configItemsType: an object with a `type`, and `items` when that type is array. */
function itemsSchemaErrors(v: GoAny, loc: string): string[] {
  if (!(v instanceof Map)) return [`${loc}: expected object, but got ${jsonType(v)}`];
  const errs: string[] = [];
  const type = v.get("type");
  if (type === undefined) errs.push(`${loc}: missing properties: 'type'`);
  else if (!(typeof type === "string" && TYPES.includes(type)) && !(type instanceof Map)) {
    errs.push(`${loc}/type: oneOf failed`);
  }
  if (type === "array" && !v.has("items")) errs.push(`${loc}: missing properties: 'items'`);
  if (v.has("items")) errs.push(...itemsSchemaErrors(v.get("items") ?? null, `${loc}/items`));
  return errs;
}

/**
 * Project.Validate. Upstream ranges over a Go map, so with several bad keys which one is
 * reported varies between runs; the model reports the first in sorted order.
 */
function validateProjectConfig(project: Project): string | undefined {
  for (const key of [...project.config.keys()].sort(goKeyCompare)) {
    const t = project.config.get(key)!;
    if (t.default !== undefined && t.value !== undefined) {
      return `project config '${key}' cannot have both a 'default' and 'value' attribute`;
    }
    if (namespacedByProject(project.name, key)) {
      if (t.type === "array" && t.items === undefined) {
        return (
          `The configuration key '${key}' declares an array ` +
          "but does not specify the underlying type via the 'items' attribute"
        );
      }
      if (
        t.type !== undefined &&
        t.default !== undefined &&
        !validateConfigValue(t.type, t.items, t.default)
      ) {
        return (
          `The default value specified for configuration key '${key}' ` +
          `is not of the expected type '${inferFullTypeName(t.type, t.items)}'`
        );
      }
    } else {
      if (t.type !== undefined) {
        return `Configuration key '${key}' is not namespaced by the project and should not define a type`;
      }
      if (t.default !== undefined) {
        return (
          `Configuration key '${key}' is not namespaced by the project and should not define a default value. ` +
          "Did you mean to use the 'value' attribute instead of 'default'?"
        );
      }
      if (t.value === undefined) {
        return `Configuration key '${key}' is namespaced and must provide an attribute 'value'`;
      }
    }
  }
  return undefined;
}

/** InferFullTypeName: any `items` makes it array<...>, whatever `type` says. */
export function inferFullTypeName(
  typeName: string,
  items: ProjectConfigItemsType | undefined,
): string {
  return items ? `array<${inferFullTypeName(items.type, items.items)}>` : typeName;
}

/**
 * ValidateConfigValue. Integers may be Go ints, whole float64s (JSON numbers) or text strconv.Atoi
 * accepts; booleans may be bools or the text "true"/"false"; an unknown type name means array.
 */
export function validateConfigValue(
  typeName: string,
  items: ProjectConfigItemsType | undefined,
  value: GoAny,
): boolean {
  switch (typeName) {
    case "string":
      return typeof value === "string";
    case "integer":
      if (value instanceof GoInt) return !value.unsigned;
      if (value instanceof GoFloat) return Number.isInteger(value.v);
      if (typeof value === "string") {
        try {
          goAtoi(value);
          return true;
        } catch (e) {
          if (e instanceof GoError) return false;
          throw e;
        }
      }
      return false;
    case "boolean":
      return value === "true" || value === "false" || typeof value === "boolean";
    case "object":
      return value instanceof Map;
  }
  if (!Array.isArray(value) || !items) return false;
  return value.every((item) => validateConfigValue(items.type, items.items, item));
}
