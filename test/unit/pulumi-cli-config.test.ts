// The Pulumi CLI config model (test/support/pulumi-cli) against upstream's own expectations
// (sdk/go/common/workspace/project_test.go, loaders_test.go at v3.248.0) and the CLI behaviour
// this repo relies on: `pulumi config set` with and without --path/--type, and what the program
// is handed.
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import {
  CliConfigError,
  ConfigMap,
  GoInt,
  configSet,
  loadProject,
  loadStackConfig,
  programConfig,
  programEnv,
  stackFileText,
} from "../support/pulumi-cli/config";

const ROOT = path.resolve(__dirname, "..", "..");

function cliError(f: () => unknown): CliConfigError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CliConfigError);
    return e as CliConfigError;
  }
  throw new Error("expected a CliConfigError");
}

/** Upstream's tests: a project named `test`, a stack `dev`. */
function run(projectYaml: string, stackYaml: string, stack = "dev") {
  const project = loadProject(projectYaml);
  return programConfig(project, stack, loadStackConfig(project, stackYaml));
}

const runError = (projectYaml: string, stackYaml: string) =>
  cliError(() => run(projectYaml, stackYaml)).message;

describe("Pulumi.yaml (LoadProjectBytes)", () => {
  it("reads full and shorthand declarations (TestProjectLoadsConfigSchemas)", () => {
    const project = loadProject(`
name: test
runtime: dotnet
config:
  integerSchemaFull:
    type: integer
    description: a very important value
    default: 1
  integerSchemaSimple: 20
  textSchemaFull:
    type: string
    default: t3.micro
  textSchemaSimple: t4.large
  booleanSchemaFull:
    type: boolean
    default: true
  booleanSchemaSimple: false
  simpleArrayOfStrings:
    type: array
    items:
      type: string
    default: [hello]
  arrayOfArrays:
    type: array
    items:
      type: array
      items:
        type: string
  secretString:
    type: string
    secret: true
`);
    expect(project.name).toBe("test");
    expect(project.config.size).toBe(9);
    expect(project.config.get("integerSchemaFull")).toEqual({
      type: "integer",
      description: "a very important value",
      default: new GoInt(1n),
      secret: false,
    });
    // Shorthands are untyped declarations with a default.
    expect(project.config.get("integerSchemaSimple")).toEqual({
      default: new GoInt(20n),
      secret: false,
    });
    expect(project.config.get("textSchemaSimple")).toEqual({ default: "t4.large", secret: false });
    expect(project.config.get("booleanSchemaSimple")).toEqual({ default: false, secret: false });
    expect(project.config.get("simpleArrayOfStrings")).toEqual({
      type: "array",
      items: { type: "string" },
      default: ["hello"],
      secret: false,
    });
    expect(project.config.get("arrayOfArrays")?.items).toEqual({
      type: "array",
      items: { type: "string" },
    });
    expect(project.config.get("secretString")).toEqual({ type: "string", secret: true });
  });

  it("turns other namespaces' shorthands into values, and an old `config: <dir>` into stackConfigDir", () => {
    const project = loadProject("name: test\nconfig:\n  aws:region: us-west-1\n");
    expect(project.config.get("aws:region")).toEqual({ value: "us-west-1", secret: false });
    const old = loadProject("name: test\nruntime: dotnet\nconfig: ./some/path\n");
    expect(old.stackConfigDir).toBe("./some/path");
    expect(old.config.size).toBe(0);
    expect(
      cliError(() => loadProject("name: test\nconfig: ./some/path\nstackConfigDir: ./other\n"))
        .message,
    ).toBe(
      "Should not use both config and stackConfigDir to define the stack directory. " +
        "Use only stackConfigDir instead.",
    );
  });

  it.each([
    [
      "instanceSize:\n    type: string\n    default: t3.micro\n    value: t4.large",
      "project config 'instanceSize' cannot have both a 'default' and 'value' attribute",
    ],
    [
      "instanceSize:\n    type: array\n    default: [t3.micro, t4.large]",
      "The configuration key 'instanceSize' declares an array but does not specify the " +
        "underlying type via the 'items' attribute",
    ],
    [
      "instanceSize:\n    type: integer\n    default: hello",
      "The default value specified for configuration key 'instanceSize' is not of the expected type 'integer'",
    ],
    [
      "values:\n    type: array\n    items:\n      type: array\n      items:\n        type: string\n    default: [hello]",
      "The default value specified for configuration key 'values' is not of the expected type 'array<array<string>>'",
    ],
    [
      "aws:region:\n    type: string\n    value:\n      region: us-west-1",
      "Configuration key 'aws:region' is not namespaced by the project and should not define a type",
    ],
    [
      "aws:region:\n    default: us-west-1",
      "Configuration key 'aws:region' is not namespaced by the project and should not define a " +
        "default value. Did you mean to use the 'value' attribute instead of 'default'?",
    ],
    [
      "aws:region:\n    description: where",
      "Configuration key 'aws:region' is namespaced and must provide an attribute 'value'",
    ],
  ])("rejects %j with Project.Validate's message", (block, message) => {
    expect(cliError(() => loadProject(`name: test\nconfig:\n  ${block}\n`)).message).toBe(
      `could not unmarshal 'Pulumi.yaml': ${message}`,
    );
  });

  it("accepts defaults of the declared type, whole floats and numeric text included", () => {
    const project = loadProject(`
name: test
config:
  count: {type: integer, default: 1}
  whole: {type: integer, default: 2.0}
  text: {type: integer, default: "3"}
  nested: {type: array, items: {type: array, items: {type: string}}, default: [[hello]]}
  anything: {type: object, default: {hello: world}}
`);
    expect(project.config.size).toBe(5);
  });

  it("checks the name first, with upstream's hints", () => {
    expect(cliError(() => loadProject("Name: project\nruntime: test\n")).message).toBe(
      "could not validate 'Pulumi.yaml': project is missing a 'name' attribute; found 'Name' instead",
    );
    expect(cliError(() => loadProject("{}")).message).toBe(
      "could not validate 'Pulumi.yaml': project is missing a 'name' attribute",
    );
    expect(cliError(() => loadProject("name:\n")).message).toBe(
      "could not validate 'Pulumi.yaml': project is missing a non-empty string 'name' attribute",
    );
    expect(cliError(() => loadProject('"hello"')).message).toBe(
      "could not validate 'Pulumi.yaml': expected project to be an object, was 'string'",
    );
    expect(cliError(() => loadProject("4: hello")).message).toBe(
      "could not validate 'Pulumi.yaml': expected only string keys, got '%!s(int=4)'",
    );
  });

  it("applies project.json to the config block (leaf lines; upstream's order varies)", () => {
    const typo = cliError(() =>
      loadProject("name: test\nconfig:\n  foo:\n    type: string\n    defualt: x\n"),
    ).message;
    expect(typo).toMatch(/^could not validate 'Pulumi\.yaml': \d+ errors occurred:\n\t\* /);
    expect(typo).toContain("* #/config/foo: oneOf failed");
    expect(typo).toContain("* #/config/foo: additionalProperties 'defualt' not allowed");
    const float = cliError(() => loadProject("name: test\nconfig:\n  ratio: 1.5\n")).message;
    expect(float).toContain("* #/config/ratio: expected integer, but got number");
    const type = cliError(() =>
      loadProject("name: test\nconfig:\n  n:\n    type: number\n"),
    ).message;
    expect(type).toContain("* #/config/n/type: value must be one of 'string', 'integer'");
  });
});

describe("Pulumi.<stack>.yaml (LoadProjectStackBytes)", () => {
  const project = loadProject("name: test\n");

  it("stores every top-level scalar as text, read the way yaml.v3 reads it", () => {
    const map = loadStackConfig(
      project,
      `
config:
  plain: t4.large
  count: 20
  flag: true
  answer: yes
  octal: 010
  leadingZero: 08
  underscores: 1_000
  hex: 0x1F
  whole: 1.0
  quoted: "2"
  big: 18446744073709551615
  date: 2020-01-01
  aws:region: us-east-1
`,
    );
    const text = Object.fromEntries([...map.entries].map(([k, e]) => [k, e.value.value]));
    expect(text).toEqual({
      "test:plain": "t4.large",
      "test:count": "20",
      "test:flag": "true",
      "test:answer": "yes", // YAML 1.1 booleans stay strings in interface{}
      "test:octal": "8", // yaml.v3 still reads 0-prefixed ints as octal
      "test:leadingZero": "8", // not octal, so a float 8
      "test:underscores": "1000",
      "test:hex": "31",
      "test:whole": "1",
      "test:quoted": "2",
      "test:big": "18446744073709551615",
      "test:date": "2020-01-01",
      "aws:region": "us-east-1",
    });
    expect([...map.entries.values()].every((e) => !e.value.object && !e.value.secure)).toBe(true);
  });

  it("keeps objects and lists as Go JSON: sorted keys, HTML-safe escapes, numbers kept", () => {
    const map = loadStackConfig(
      project,
      'config:\n  obj:\n    b: 1\n    a: [x, 2.50, null]\n    c: "<&>"\n    B: {secure: c2g=}\n',
    );
    expect(map.value("test:obj")).toEqual({
      value: '{"B":{"secure":"c2g="},"a":["x",2.5,null],"b":1,"c":"\\u003c\\u0026\\u003e"}',
      secure: true, // an object holding a secret is a secret as a whole
      object: true,
      typ: "unknown",
    });
  });

  it("reads empty values as empty strings, with the CLI's warning (TestEmptyValueWarning)", () => {
    const map = loadStackConfig(
      loadProject("name: project\n"),
      'config:\n  project:a:\n  project:b: null\n  project:c: ~\n  project:d: ""\n',
    );
    expect([...map.entries.values()].map((e) => e.value.value)).toEqual(["", "", "", ""]);
    expect(map.warnings).toEqual([
      'No value for configuration keys "project:a", "project:b", "project:c". This is currently ' +
        'treated as an empty string `""`, but will be treated as `null` in a future version of ' +
        'pulumi.\nSet the values to `""` to avoid this warning.',
    ]);
    expect(loadStackConfig(project, "config:\n  a:\n  b:\n").warnings[0]).toMatch(
      /^No value for configuration keys "test:a" and "test:b"\. /,
    );
    expect(loadStackConfig(project, "config:\n  a:\n").warnings[0]).toMatch(
      /^No value for configuration key "test:a"\. .*\nSet the value to `""` to avoid/s,
    );
  });

  it("reads an empty file as no config", () => {
    expect(loadStackConfig(project, "").entries.size).toBe(0);
  });
});

describe("pulumi up/preview: defaults, required keys, types (mergeConfig)", () => {
  it("inherits project defaults (TestStackConfigIsInheritedFromProjectConfig)", () => {
    const pc = run(
      "name: test\nconfig:\n  instanceSize: t3.micro\n  instanceCount: 20\n  protect: true\n",
      "config:\n  test:instanceSize: t4.large\n",
    );
    expect(pc).toEqual({
      config: {
        "test:instanceCount": "20",
        "test:instanceSize": "t4.large",
        "test:protect": "true",
      },
      secretKeys: [],
    });
  });

  it("passes other namespaces' values down (TestNamespacedConfigValuesAreInheritedCorrectly)", () => {
    const pc = run(
      'name: test\nconfig:\n  aws:region: us-west-1\n  pulumi:disable-default-providers: ["*"]\n  instanceSize: t3.micro\n',
      "config:\n  instanceSize: t4.large\n",
    );
    expect(pc.config).toEqual({
      "aws:region": "us-west-1",
      "pulumi:disable-default-providers": '["*"]',
      "test:instanceSize": "t4.large",
    });
  });

  it("does not check untyped values, declared or not", () => {
    expect(
      run(
        "name: test\nconfig:\n  instanceSize: t3.micro\n  aws:region: us-west-1\n",
        "config:\n  instanceSize: 9999\n  aws:region: 42\n",
      ).config,
    ).toEqual({ "test:instanceSize": "9999", "aws:region": "42" });
    expect(
      run(
        "name: test\nconfig:\n  instanceSize:\n    default: t3.micro\n  region:\n    value: us-west-1\n",
        "config:\n  aws:answer: 42\n",
      ).config,
    ).toEqual({
      "aws:answer": "42",
      "test:instanceSize": "t3.micro",
      "test:region": "us-west-1",
    });
    expect(
      run("name: test\nconfig:\n  createVpc: true\n", "config:\n  instanceSize: 42\n").config,
    ).toEqual({ "test:createVpc": "true", "test:instanceSize": "42" });
    expect(run("name: test\n", "config:\n  hello: 21\n").config).toEqual({ "test:hello": "21" });
  });

  it("hands object values down as JSON (TestUntypedProjectConfigObjectValuesPassedDownToStack)", () => {
    const pc = run(
      "name: test\nconfig:\n  instanceSize:\n    value:\n      hello: world\n  aws:config:\n    value:\n      region: us-west-1\n  ratio:\n    default: 1.5\n",
      "config:\n  aws:whatever: 42\n",
    );
    expect(pc.config).toEqual({
      "aws:config": '{"region":"us-west-1"}',
      "aws:whatever": "42",
      "test:instanceSize": '{"hello":"world"}',
      "test:ratio": "1.5",
    });
  });

  it.each([
    ["values:\n    type: array\n    items:\n      type: string", "value 'values'"],
    [
      "another:\n    type: string\n  values:\n    type: array\n    items:\n      type: string",
      "values 'another' and 'values'",
    ],
    [
      "world:\n    type: string\n  hello:\n    type: integer\n  values:\n    type: array\n    items:\n      type: string",
      "values 'hello', 'values' and 'world'",
    ],
    // Untyped declarations without default or value are required too.
    ["needed:\n    description: no default", "value 'needed'"],
  ])("names missing values: %j", (block, which) => {
    const e = cliError(() => run(`name: test\nconfig:\n  ${block}\n`, ""));
    expect(e.message).toBe(`Stack 'dev' is missing configuration ${which}`);
    expect(e.cliText).toBe(
      `validating stack config: Stack 'dev' is missing configuration ${which}`,
    );
  });

  it.each([
    // [type declaration, stack value, passes]
    ["type: integer", "20", true],
    ["type: integer", "hello", false],
    ["type: integer", "1.0", true], // a whole float is stored as "1"
    ["type: integer", "1.5", false],
    ["type: integer", '"+5"', true], // strconv.Atoi takes a sign
    ["type: integer", '" 5"', false],
    ["type: integer", "18446744073709551615", false], // past int64
    ["type: boolean", "true", true],
    ["type: boolean", "True", true], // yaml.v3 reads True as a bool: stored "true"
    ["type: boolean", '"True"', false],
    ["type: boolean", "yes", false],
    ["type: string", "20", true], // scalars are all text at the top level
    ["type: string", "[a]", false],
    ["type: object", "{a: 1}", true],
    ["type: object", "a", false],
    ["type: array\n    items:\n      type: string", "someValue", false],
    ["type: array\n    items:\n      type: string", "[a, b]", true],
    ["type: array\n    items:\n      type: integer", "[1, 2.0]", true],
    ["type: array\n    items:\n      type: integer", "[1.5]", false],
    ["type: array\n    items:\n      type: boolean", "[true, 'false']", true],
  ])("types: %s with %s -> %s", (decl, value, passes) => {
    const projectYaml = `name: test\nconfig:\n  importantNumber:\n    ${decl}\n`;
    const stackYaml = `config:\n  test:importantNumber: ${value}\n`;
    if (passes) {
      expect(() => run(projectYaml, stackYaml)).not.toThrow();
    } else {
      const type = loadProject(projectYaml).config.get("importantNumber")!;
      const name = type.items ? `array<${type.items.type}>` : type.type!;
      expect(runError(projectYaml, stackYaml)).toBe(
        `Stack 'dev' with configuration key 'importantNumber' must be of type '${name}'`,
      );
    }
  });

  it("checks a typed project `value` like a stack value, and only typed keys for `secret`", () => {
    expect(runError("name: test\nconfig:\n  n:\n    type: integer\n    value: abc\n", "")).toBe(
      "Stack 'dev' with configuration key 'n' must be of type 'integer'",
    );
    const secret = "name: test\nconfig:\n  importantNumber:\n    type: integer\n    secret: true\n";
    expect(runError(secret, "config:\n  test:importantNumber: 20\n")).toBe(
      "Stack 'dev' with configuration key 'importantNumber' must be encrypted as it's secret",
    );
    const pc = run(secret, "config:\n  test:importantNumber:\n    secure: MjA=\n");
    expect(pc).toEqual({
      config: { "test:importantNumber": "20" },
      secretKeys: ["test:importantNumber"],
    });
    // `secret: true` without a type is never enforced.
    expect(() =>
      run("name: test\nconfig:\n  k:\n    secret: true\n", "config:\n  k: 1\n"),
    ).not.toThrow();
  });

  it("keeps uint64s as text (TestStackConfigUInt64)", () => {
    expect(
      run("name: test\n", "config:\n  test:instanceSize: 18446744073709551615\n").config,
    ).toEqual({
      "test:instanceSize": "18446744073709551615",
    });
  });
});

describe("pulumi config set", () => {
  const project = loadProject(`
name: dse-image
config:
  platforms:
    type: array
    items:
      type: string
  builderTtlMinutes:
    type: integer
    default: 120
  bootTest:
    type: boolean
    default: true
`);
  const fresh = () => loadStackConfig(project, "config:\n  dse-image:platforms: [qemu]\n");
  const set = (map: ConfigMap, ...argv: string[]) => configSet(project, map, argv);
  const given = (...argv: string[][]) => {
    const map = fresh();
    for (const a of argv) set(map, ...a);
    return map;
  };
  const shown = (map: ConfigMap, key: string) => programConfig(project, "dev", map).config[key];
  const setError = (map: ConfigMap, ...argv: string[]) => cliError(() => set(map, ...argv)).message;

  it("--path coerces nested numbers and bools; --type string keeps the text", () => {
    const map = given(["--path", "dse-image:openstack.flavor", "2"]);
    expect(map.value("dse-image:openstack")).toEqual({
      value: '{"flavor":2}',
      secure: false,
      object: true,
      typ: "unknown",
    });
    expect(shown(map, "dse-image:openstack")).toBe('{"flavor":2}');
    set(map, "--path", "--type", "string", "dse-image:openstack.flavor", "2");
    expect(shown(map, "dse-image:openstack")).toBe('{"flavor":"2"}');
    set(map, "--path", "dse-image:openstack.insecure", "true");
    set(map, "--path", "dse-image:openstack.zone", "0123"); // leading 0: stays text
    set(map, "--path", "dse-image:openstack.ratio", "1.5"); // only integers are coerced
    set(map, "--path", "dse-image:openstack.offset", "--", "-5");
    expect(shown(map, "dse-image:openstack")).toBe(
      '{"flavor":"2","insecure":true,"offset":-5,"ratio":"1.5","zone":"0123"}',
    );
  });

  it("keeps top-level entries as text, even with --path, and they still pass `type: integer`", () => {
    const map = given(
      ["dse-image:builderTtlMinutes", "60"],
      ["--path", "dse-image:bootTest", "false"],
    );
    expect(map.value("dse-image:builderTtlMinutes")).toEqual({
      value: "60",
      secure: false,
      object: false,
      typ: "unknown",
    });
    expect(map.value("dse-image:bootTest")?.value).toBe("false");
    expect(shown(map, "dse-image:builderTtlMinutes")).toBe("60");
    expect(shown(map, "dse-image:bootTest")).toBe("false");
    set(map, "builderTtlMinutes", "sixty"); // no namespace: the project's
    expect(cliError(() => programConfig(project, "dev", map)).message).toBe(
      "Stack 'dev' with configuration key 'builderTtlMinutes' must be of type 'integer'",
    );
  });

  it("builds lists with --path", () => {
    const map = given(["--path", "dse-image:platforms[0]", "aws"]);
    expect(shown(map, "dse-image:platforms")).toBe('["aws"]'); // replaced the existing list's item
    set(map, "--path", "dse-image:platforms[1]", "qemu");
    expect(shown(map, "dse-image:platforms")).toBe('["aws","qemu"]');
    expect(setError(map, "--path", "dse-image:platforms[5]", "x")).toBe(
      "could not set config: [platforms 5]: array index out of range",
    );
    expect(setError(map, "--path", "dse-image:platforms.x", "x")).toBe(
      "could not set config: [platforms x]: key for an array must be an int",
    );
    // A new list is sized by the index: the gap is nulls.
    expect(shown(given(["--path", "dse-image:extra[2]", "x"]), "dse-image:extra")).toBe(
      '[null,null,"x"]',
    );
  });

  it("parses paths: quoted keys, a top-level quoted key, and the errors", () => {
    const map = given(
      ["--path", 'dse-image:tags["a.b"]', "v"],
      ["--path", 'dse-image:["x.y"]', "w"],
      ["dse-image:openstack.flavor", "2"], // without --path the dot is part of the key
      ["--path", "aws:tags.team", "data"], // only the top segment is a key
    );
    expect(map.value("dse-image:tags")?.value).toBe('{"a.b":"v"}');
    expect(map.value("dse-image:x.y")?.value).toBe("w");
    expect(map.value("dse-image:openstack.flavor")?.value).toBe("2");
    expect(map.value("aws:tags")?.value).toBe('{"team":"data"}');
    expect(setError(map, "--path", "dse-image:a[x]", "v")).toBe(
      'could not set config: invalid config key path: invalid array index: strconv.ParseInt: parsing "x": invalid syntax',
    );
    expect(setError(map, "a:b:c", "v")).toBe(
      "invalid configuration key: could not parse a:b:c as a configuration key " +
        "(configuration keys should be of the form `<namespace>:<name>`)",
    );
  });

  it("replaces a top-level scalar with a map, but not a nested one", () => {
    const map = given(["dse-image:plain", "text"], ["--path", "dse-image:plain.y", "1"]);
    expect(map.value("dse-image:plain")?.value).toBe('{"y":1}');
    expect(setError(map, "--path", "dse-image:plain.y.z", "1")).toBe(
      "could not set config: [plain y]: expected a map",
    );
    expect(setError(fresh(), "--path", "dse-image:o.secure", "x")).toBe(
      'could not set config: maps with the single key "secure" are reserved',
    );
  });

  it("--type int|bool|float store the parsed value; bad input fails without touching the file", () => {
    const map = given(
      ["--type", "int", "dse-image:builderTtlMinutes", "60"],
      ["--type", "bool", "dse-image:a", "T"],
      ["--type", "bool", "dse-image:b", "yes"], // not a Go bool: false, with only a log line
      ["--type", "float", "dse-image:c", "1.50"],
      ["--path", "--type", "float", "dse-image:o.f", "2"],
    );
    const text = (k: string) => map.value(`dse-image:${k}`)?.value;
    expect([text("builderTtlMinutes"), text("a"), text("b"), text("c"), text("o")]).toEqual([
      "60",
      "true",
      "false",
      "1.5",
      '{"f":2}',
    ]);
    expect(setError(map, "--type", "int", "dse-image:n", "abc")).toBe(
      'strconv.Atoi: parsing "abc": invalid syntax',
    );
    expect(map.value("dse-image:n")).toBeUndefined();
    expect(setError(map, "--path", "--type", "int", "dse-image:o.n", "abc")).toBe(
      'could not set config: strconv.Atoi: parsing "abc": invalid syntax',
    );
    expect(setError(map, "--type", "number", "dse-image:n", "1")).toBe(
      'invalid type "number"; must be one of string, int, bool, or float',
    );
  });

  it("parses argv like cobra/pflag", () => {
    const map = fresh();
    set(map, "dse-image:k", "v", "--type=string", "-s", "dev");
    expect(map.value("dse-image:k")?.value).toBe("v");
    expect(setError(map)).toBe("requires at least 1 arg(s), only received 0");
    expect(setError(map, "a", "b", "c")).toBe("accepts at most 2 arg(s), received 3");
    expect(setError(map, "--bogus", "k", "v")).toBe("unknown flag: --bogus");
    expect(setError(map, "k", "-5")).toBe("unknown shorthand flag: '5' in -5");
    expect(setError(map, "k", "v", "--type")).toBe("flag needs an argument: --type");
    expect(setError(map, "--path=maybe", "k", "v")).toBe(
      'invalid argument "maybe" for "--path" flag: strconv.ParseBool: parsing "maybe": invalid syntax',
    );
    expect(setError(map, "--secret", "--type", "int", "k", "1")).toBe(
      "if any flags in the group [secret plaintext type] are set none of the others can be; " +
        "[secret type] were all set",
    );
    configSet(project, map, ["dse-image:piped"], { stdin: "line\n" });
    configSet(project, map, ["--raw", "dse-image:raw"], { stdin: "line\n" });
    expect([map.value("dse-image:piped")?.value, map.value("dse-image:raw")?.value]).toEqual([
      "line",
      "line\n",
    ]);
  });

  it("--secret stores ciphertext; the program gets the plaintext and the key as secret", () => {
    const map = given(
      ["--secret", "dbPassword", "hunter2"],
      ["--path", "--secret", "dse-image:creds.password", "pw"],
    );
    expect(map.value("dse-image:dbPassword")).toEqual({
      value: "aHVudGVyMg==", // base64, as upstream's test crypter
      secure: true,
      object: false,
      typ: "unknown",
    });
    expect(map.value("dse-image:creds")?.value).toBe('{"password":{"secure":"cHc="}}');
    const pc = programConfig(project, "dev", map);
    expect(pc.config["dse-image:dbPassword"]).toBe("hunter2");
    expect(pc.config["dse-image:creds"]).toBe('{"password":"pw"}');
    expect(pc.secretKeys).toEqual(["dse-image:creds", "dse-image:dbPassword"]);
    expect(stackFileText(map)).toContain("  dse-image:creds:\n    password:\n      secure: cHc=\n");
  });

  it("refuses plaintext that looks like a secret, unless --plaintext", () => {
    const map = fresh();
    // zxcvbn's entropy test is not modelled: the model refuses to guess.
    expect(() => set(map, "apiToken", "x")).toThrow(/looksLikeSecret \(zxcvbn\) is not modelled/);
    expect(
      cliError(() => configSet(project, map, ["apiToken", "x"], { looksLikeSecret: () => true }))
        .message,
    ).toBe(
      "config value for 'dse-image:apiToken' looks like a secret; rerun with --secret to " +
        "encrypt it, or --plaintext if you meant to store in plaintext",
    );
    set(map, "--plaintext", "apiToken", "x");
    expect(map.value("dse-image:apiToken")?.value).toBe("x");
  });
});

describe("what the program receives", () => {
  it("is read back by @pulumi/pulumi's Config as the program would", async () => {
    const project = loadProject(
      "name: dse-image\nconfig:\n  ttl:\n    type: integer\n    default: 120\n  boot: true\n",
    );
    const map = loadStackConfig(project, "config:\n  qemu:\n    cpus: 2\n    accel: <auto>\n");
    configSet(project, map, ["--secret", "pass", "pw"]);
    const pc = programConfig(project, "dev", map);
    const env = programEnv(pc);
    // The language host's keys use the old `ns:config:key` spelling; values are the texts above,
    // and the object's text is itself Go JSON (so `<` arrives as \u003c, which JSON.parse undoes).
    expect(JSON.parse(env.PULUMI_CONFIG)).toEqual({
      "dse-image:config:boot": "true",
      "dse-image:config:pass": "pw",
      "dse-image:config:qemu": '{"accel":"\\u003cauto\\u003e","cpus":2}',
      "dse-image:config:ttl": "120",
    });
    expect(env.PULUMI_CONFIG).not.toContain("<");
    expect(env.PULUMI_CONFIG_SECRET_KEYS).toBe('["dse-image:pass"]');
    pulumi.runtime.setAllConfig(pc.config, pc.secretKeys);
    try {
      const config = new pulumi.Config("dse-image");
      expect(config.requireNumber("ttl")).toBe(120);
      expect(config.requireBoolean("boot")).toBe(true);
      expect(config.requireObject("qemu")).toEqual({ accel: "<auto>", cpus: 2 });
      expect(await pulumi.isSecret(config.requireSecret("pass"))).toBe(true);
    } finally {
      pulumi.runtime.setAllConfig({});
    }
  });
});

describe("this repo's Pulumi.yaml and stack files", () => {
  const project = loadProject(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8"));
  const stack = (name: string) =>
    loadStackConfig(project, fs.readFileSync(path.join(ROOT, `Pulumi.${name}.yaml`), "utf8"));

  it.each(["local", "dev"])("pulumi up -s %s passes the CLI's config rules", (name) => {
    expect(() => programConfig(project, name, stack(name))).not.toThrow();
  });

  it("pulumi up -s local hands the program its config, with Pulumi.yaml's defaults", () => {
    const pc = programConfig(project, "local", stack("local"));
    expect(pc.secretKeys).toEqual([]);
    expect(pc.config).toMatchObject({
      "dse-image:platforms": '["qemu"]',
      "dse-image:tools": '["python","scipy","jupyter"]',
      "dse-image:builderTtlMinutes": "120",
      "dse-image:retainImages": "false",
      "dse-image:aptMirror": "",
    });
    // Nested YAML numbers stay numbers inside the object's JSON; keys come sorted.
    expect(pc.config["dse-image:qemu"]).toMatch(
      /^\{"accelerator":"auto","cpus":2,"diskSizeGb":20,"memoryMb":4096,"outputDir":"\.\/images",/,
    );
  });
});
