/**
 * README.md starts with the two commands a newcomer runs (bake an image on the `local` stack; run
 * every test) after a short list of prerequisites. These tests keep that top in step with
 * package.json, package-lock.json and .ci/run, so that the commands keep working as written.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { codeBlocks, shellCommands, steps } from "../support/shell-lines";

const ROOT = path.resolve(__dirname, "..", "..");
const read = (rel: string): string => fs.readFileSync(path.join(ROOT, rel), "utf8");

interface PackageJson {
  version: string;
  bin?: string | Record<string, string>;
  engines?: { node?: string };
  scripts?: Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}
interface PackageLock {
  packages: Record<string, { version?: string; devDependencies?: Record<string, string> }>;
}

const json = <T>(rel: string): T => JSON.parse(read(rel)) as T;
const pkg = json<PackageJson>("package.json");
const scripts = pkg.scripts ?? {};
const devDeps = pkg.devDependencies ?? {};
const readme = read("README.md");
const ciRun = read(".ci/run");

/** The npm script a step runs (`npm run x`, `npm test`), if it runs one. */
function npmScript(step: string): string | undefined {
  const m = /^npm (?:run(?:-script)? (\S+)|(test|start|stop|restart))$/.exec(step);
  return m ? (m[1] ?? m[2]) : undefined;
}

/** The steps of a command with every `npm run <script>` replaced by that script's steps. */
function expand(command: string, seen: string[] = []): string[] {
  return steps(command).flatMap((step) => {
    const name = npmScript(step);
    if (name === undefined) return [step];
    if (!(name in scripts)) {
      throw new Error(`README runs \`${step}\`, but package.json has no script "${name}"`);
    }
    if (seen.includes(name)) throw new Error(`npm script "${name}" runs itself`);
    return expand(scripts[name], [...seen, name]);
  });
}

/** Every npm script a script runs, itself included. */
function reachableScripts(name: string, seen = new Set<string>()): Set<string> {
  if (seen.has(name) || !(name in scripts)) return seen;
  seen.add(name);
  for (const step of steps(scripts[name])) {
    const next = npmScript(step);
    if (next !== undefined) reachableScripts(next, seen);
  }
  return seen;
}

/** Packages named by the first `apt-get install` in a text (flags and redirections dropped). */
function aptPackages(text: string): string[] {
  const at = text.indexOf("apt-get install ");
  if (at < 0) return [];
  const args = text
    .slice(at + "apt-get install ".length)
    .replace(/\\\n/g, " ")
    .split(/[`>\n]/)[0];
  return args
    .split(/\s+/)
    .filter((word) => /^[a-z0-9][a-z0-9+.-]+$/.test(word))
    .sort();
}

/** `[major, minor]` of a version or an npm range such as `^3.248.0`. */
function minor(version: string): [number, number] {
  const m = /(\d+)\.(\d+)/.exec(version);
  if (!m) throw new Error(`not a version: "${version}"`);
  return [Number(m[1]), Number(m[2])];
}
const atLeast = (a: [number, number], b: [number, number]): boolean =>
  a[0] > b[0] || (a[0] === b[0] && a[1] >= b[1]);

const blocks = codeBlocks(readme);
const first = blocks[0];
const top = readme.slice(0, first?.offset ?? 0);
const [buildCommand = "", testCommand = ""] = first ? shellCommands(first.body) : [];
/** The pulumi CLI runs as `npx pulumi` in README and as plain `pulumi` inside npm scripts. */
const plain = (step: string): string => step.replace(/^npx (?=pulumi\b)/, "");

describe("README's first two commands", () => {
  it("come first, in one sh block, after the prerequisites and before any section", () => {
    expect(first?.lang, "README's first code block must be the ```sh block of commands").toBe("sh");
    expect(top, "no `##` section may come before README's first commands").not.toMatch(/^## /m);
    expect(
      shellCommands(first.body),
      "README's first sh block must hold exactly two commands: build on `local`, run every test",
    ).toHaveLength(2);
  });

  it("build: npm ci, a passphrase, login --local, stack select --create local, up --yes", () => {
    const expanded = expand(buildCommand).map(plain);
    const passphrase = expanded.filter((s) => /\bPULUMI_CONFIG_PASSPHRASE=/.test(s));
    expect(
      expanded.filter((s) => !passphrase.includes(s)),
      `README's first command (${buildCommand}) must install, log in to a local backend, select or create the local stack and run up non-interactively`,
    ).toEqual([
      "npm ci",
      "pulumi login --local",
      "pulumi stack select --create local",
      "pulumi up --yes",
    ]);
    expect(passphrase, "README's first command must export PULUMI_CONFIG_PASSPHRASE once").toEqual([
      expect.stringMatching(/^export PULUMI_CONFIG_PASSPHRASE=/),
    ]);
    expect(
      expanded.indexOf(passphrase[0]),
      "PULUMI_CONFIG_PASSPHRASE must be exported before the first pulumi command",
    ).toBeLessThan(expanded.findIndex((s) => s.startsWith("pulumi ")));
    expect(fs.existsSync(path.join(ROOT, "Pulumi.local.yaml")), "Pulumi.local.yaml").toBe(true);
  });

  it("build: the passphrase is empty unless one is exported, and stays exported", () => {
    const step = expand(buildCommand).find((s) => s.includes("PULUMI_CONFIG_PASSPHRASE="));
    expect(step, "README's first command must export PULUMI_CONFIG_PASSPHRASE").toBeDefined();
    const run = (env: Record<string, string>) =>
      spawnSync("bash", ["-c", `${step ?? "false"}; printenv PULUMI_CONFIG_PASSPHRASE`], {
        env: { PATH: process.env.PATH ?? "", ...env },
        encoding: "utf8",
      });
    const unset = run({});
    expect(unset.status, `\`${step}\` must export PULUMI_CONFIG_PASSPHRASE`).toBe(0);
    expect(unset.stdout, "with none exported, the passphrase must be empty").toBe("\n");
    expect(
      run({ PULUMI_CONFIG_PASSPHRASE: "a real one" }).stdout,
      "README says an exported PULUMI_CONFIG_PASSPHRASE is kept",
    ).toBe("a real one\n");
  });

  it("build: README also shows the plain commands an npm script stands for", () => {
    const viaScript = steps(buildCommand).filter((s) => npmScript(s) !== undefined);
    const shown = blocks
      .filter((b) => b.lang === "sh")
      .flatMap((b) => shellCommands(b.body))
      .map((c) => steps(c).map(plain).join(" && "));
    for (const step of viaScript) {
      const body = expand(step).map(plain).join(" && ");
      expect(
        shown.filter((command) => command.includes(body)),
        `README runs \`${step}\`: it must also show its plain steps, ${body}`,
      ).not.toEqual([]);
    }
  });

  it("build: the CLIs it runs come from devDependencies, so npx never downloads one", () => {
    const bins = new Map<string, string>();
    for (const dep of Object.keys(devDeps)) {
      const file = path.join(ROOT, "node_modules", dep, "package.json");
      if (!fs.existsSync(file)) continue;
      const { bin } = JSON.parse(fs.readFileSync(file, "utf8")) as PackageJson;
      const names =
        typeof bin === "string" ? [dep.replace(/^@[^/]+\//, "")] : Object.keys(bin ?? {});
      for (const name of names) bins.set(name, dep);
    }
    // `npx x` in README, or a plain `pulumi` inside an npm script (node_modules/.bin is on PATH).
    const used = expand(buildCommand)
      .map((s) => (s.startsWith("npx ") ? s.split(" ")[1] : s.split(" ")[0]))
      .filter((bin) => !/^(npm|export)$/.test(bin));
    expect(used, "README's first command runs the Pulumi CLI").toContain("pulumi");
    for (const bin of used) {
      expect(
        bins.has(bin),
        `README's first command runs "${bin}": no devDependency provides it`,
      ).toBe(true);
    }
  });

  it("test: npm ci, then the npm script .ci/run runs, which runs every test", () => {
    const [install, run, ...rest] = steps(testCommand);
    expect(install, `README's second command (${testCommand}) must start with npm ci`).toBe(
      "npm ci",
    );
    expect(
      rest,
      `README's second command (${testCommand}) must be npm ci && npm run <script>`,
    ).toEqual([]);
    const script = npmScript(run ?? "");
    expect(script, `README's second command must run an npm script, got \`${run}\``).toBeDefined();
    expect(scripts, `package.json has no script "${script}"`).toHaveProperty([script ?? ""]);

    const ciCommands = shellCommands(ciRun).filter((c) => /^npm\s/.test(c));
    expect(
      ciCommands.map((c) => c.replace(/^npm ci( --[\w-]+)*$/, "npm ci")),
      `.ci/run must run \`npm ci\` then \`${run}\`, as README's second command does`,
    ).toEqual(["npm ci", run]);

    const reached = reachableScripts(script ?? "");
    expect(reached.has("test"), `\`${run}\` ("run every test") must run \`npm test\``).toBe(true);
    // Every vitest project (unit, engine, the VM lanes, the real-engine and OpenStack lanes).
    const projects = [...read("vitest.config.ts").matchAll(/name: "([\w-]+)"/g)].map((m) => m[1]);
    expect(projects).toContain("openstack");
    const ran = [...reached].map((name) => scripts[name]).join(" ");
    for (const project of projects) {
      expect(
        ran.includes(`--project ${project}`),
        `\`${run}\` ("run every test") must run the vitest project "${project}"`,
      ).toBe(true);
    }
  });
});

describe(".ci/run's background work", () => {
  it("starts the cloud and the VM base from files that exist", () => {
    const files = [...ciRun.matchAll(/^\s*node --import tsx (\S+)/gm)].map((m) => m[1]);
    const scripts = [...ciRun.matchAll(/^\s*(test\/\S+\.sh) /gm)].map((m) => m[1]);
    expect(files).toEqual(["test/vm/prepare-base.ts"]);
    expect(scripts).toContain("test/openstack/cloud.sh");
    for (const f of [...files, ...scripts]) expect(fs.existsSync(path.join(ROOT, f)), f).toBe(true);
  });
});

describe("the pulumi CLI devDependency", () => {
  const pin = devDeps.pulumi ?? "";

  it("is pinned to an exact version, in package.json and package-lock.json", () => {
    expect(pin, "package.json devDependencies.pulumi must be an exact version").toMatch(
      /^\d+\.\d+\.\d+$/,
    );
    expect(pkg.dependencies ?? {}, "pulumi is a devDependency only").not.toHaveProperty(["pulumi"]);
    const lock = json<PackageLock>("package-lock.json");
    expect(
      lock.packages[""]?.devDependencies?.pulumi,
      "package-lock.json is out of date: run npm install",
    ).toBe(pin);
    expect(
      lock.packages["node_modules/pulumi"]?.version,
      "package-lock.json resolves another pulumi version",
    ).toBe(pin);
    const installed = path.join(ROOT, "node_modules", "pulumi", "package.json");
    expect(fs.existsSync(installed), "node_modules/pulumi is missing: run npm ci").toBe(true);
    expect(json<PackageJson>("node_modules/pulumi/package.json").version, "run npm ci").toBe(pin);
  });

  it("is at least the @pulumi/pulumi SDK's minor version", () => {
    expect(pin, "package.json devDependencies.pulumi").toMatch(/^\d+\.\d+\.\d+$/);
    const declared = pkg.dependencies?.["@pulumi/pulumi"] ?? "";
    expect(declared, "package.json dependencies['@pulumi/pulumi']").not.toBe("");
    const installed = json<PackageJson>("node_modules/@pulumi/pulumi/package.json").version;
    for (const [what, sdk] of [
      ["package.json's @pulumi/pulumi", declared],
      ["installed @pulumi/pulumi", installed],
    ]) {
      expect(
        atLeast(minor(pin), minor(sdk)),
        `the pulumi CLI ${pin} is older than ${what} ${sdk}: raise devDependencies.pulumi`,
      ).toBe(true);
    }
  });
});

describe("README's prerequisites", () => {
  /** The list items before the first commands, each joined into one line. */
  const items = top
    .split(/^- /m)
    .slice(1)
    .map((item) => item.replace(/\s*\n\s*/g, " ").trim());
  const item = (label: string): string => {
    const found = items.find((i) => i.startsWith(label));
    if (!found) throw new Error(`README's prerequisites need an item starting "${label}"`);
    return found;
  };
  const ciPackages = aptPackages(ciRun);

  it("name the Node version package.json's engines asks for, and how to get it", () => {
    const engines = /^>=\s*(\d+(?:\.\d+){0,2})$/.exec(pkg.engines?.node ?? "");
    expect(engines, `package.json engines.node: ${pkg.engines?.node}`).not.toBeNull();
    const node = item("Node.js");
    expect(node, "README's Node version must be package.json's engines.node").toContain(
      `>= ${engines?.[1]}`,
    );
    expect(node).toMatch(/nvm|NodeSource/);
  });

  it("list what .ci/run installs for the VM tests, and no more", () => {
    expect(ciPackages.length, ".ci/run's apt-get install").toBeGreaterThan(0);
    expect(aptPackages(item("For the VM tests")), "README vs .ci/run's apt-get install").toEqual(
      ciPackages,
    );
  });

  it("list shellcheck for npm test, and the QEMU tools for the local build, all in .ci/run", () => {
    const testPackages = aptPackages(item("For `npm test`"));
    expect(
      [...reachableScripts("test")].some((s) => /\bshellcheck\b/.test(scripts[s])),
      "npm test runs shellcheck",
    ).toBe(true);
    expect(testPackages).toContain("shellcheck");
    // test/scripts boot the long-mode probe under real QEMU and make qcow2 files with qemu-img.
    expect(testPackages).toEqual(expect.arrayContaining(["qemu-system-x86", "qemu-utils"]));
    const buildPackages = aptPackages(item("For the local build"));
    expect(buildPackages).toEqual(
      expect.arrayContaining(["qemu-system-x86", "qemu-utils", "genisoimage", "openssh-client"]),
    );
    // The local platforms' image store and QEMU supervision need no python3 (lifecycle/host.ts),
    // and the base's download is Node's (components/qemu/fetch-base.ts), not curl's.
    expect(buildPackages).not.toContain("python3");
    expect(buildPackages).not.toContain("curl");
    expect(read("components/qemu/launch.sh")).toContain("fetch-base.ts");
    for (const p of [...testPackages, ...buildPackages]) {
      expect(ciPackages, `.ci/run must install ${p}, which README lists`).toContain(p);
    }
  });

  it("say how to get /dev/kvm and that TCG works without it", () => {
    const kvm = item("For KVM");
    expect(kvm).toContain('sudo usermod -aG kvm "$USER"');
    expect(kvm).toMatch(/log in again/);
    expect(kvm).toMatch(/TCG/);
  });
});

describe("README's other pulumi commands", () => {
  const commands = blocks
    .filter((b) => b.lang === "sh")
    .flatMap((b) => shellCommands(b.body))
    .flatMap(steps);

  it("run the pinned CLI with npx", () => {
    const bare = commands.filter((s) => /^pulumi\s/.test(s));
    expect(bare, "use `npx pulumi` in README's sh blocks").toEqual([]);
  });

  it("set IDs, hashes and numeric-looking values with --type string", () => {
    // With --path, Pulumi stores a value such as 2 or 099720109477 as a number, not a string.
    const idKeys =
      /\.(sourceImage|sourceImageSha256|flavor|owners\[\d+\]|shareWithAccounts\[\d+\])'/;
    const sets = commands.filter((s) => /^npx pulumi config set\s/.test(s));
    expect(sets.length, "README's `npx pulumi config set` commands").toBeGreaterThan(0);
    const untyped = sets.filter((set) => {
      const value =
        set
          .split(" ")
          .at(-1)
          ?.replace(/^['"]|['"]$/g, "") ?? "";
      return (/^[\d.eE+-]+$/.test(value) || idKeys.test(set)) && !/ --type string /.test(set);
    });
    expect(untyped, "these need --type string").toEqual([]);
  });
});

describe("the license", () => {
  it("LICENSE is the text of the license package.json names", () => {
    const { license } = JSON.parse(read("package.json")) as { license: string };
    expect(license).toBe("Apache-2.0");
    const text = read("LICENSE");
    expect(text).toMatch(/^\s*Apache License\s+Version 2\.0, January 2004\s/);
    expect(text).toContain("END OF TERMS AND CONDITIONS");
  });
});
