/**
 * README.md for a newcomer: a short top, then one quick start per platform that ends with using
 * the image and cleaning up, with the reference material in docs/. These tests keep its
 * structure, its links, its statements about supported systems and the examples' stack names in
 * step with the code.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadConfig } from "../../components/config";
import { REPO, enterProgram } from "../support/front-door";
import { upsOf } from "../support/readme-ups";

const read = (rel: string): string => fs.readFileSync(path.join(REPO, rel), "utf8");
const readme = read("README.md");
const DOCS = fs
  .readdirSync(path.join(REPO, "docs"))
  .filter((f) => f.endsWith(".md"))
  .map((f) => `docs/${f}`);

/** `## ` sections of a markdown text: heading and body, fenced code left out of the headings. */
function sections(text: string): { heading: string; body: string }[] {
  const out: { heading: string; body: string }[] = [];
  let fenced = false;
  for (const line of text.split("\n")) {
    if (/^\s*```/.test(line)) fenced = !fenced;
    if (!fenced && line.startsWith("## ")) out.push({ heading: line.slice(3), body: "" });
    else if (out.length > 0) out[out.length - 1].body += `${line}\n`;
  }
  return out;
}

/** GitHub's anchor for a heading: lower case, punctuation but `-` and `_` dropped, spaces `-`. */
function anchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

/** Every heading's anchor in a markdown file. */
function anchors(rel: string): string[] {
  let fenced = false;
  return read(rel)
    .split("\n")
    .filter((line) => {
      if (/^\s*```/.test(line)) fenced = !fenced;
      return !fenced && /^#{1,6} /.test(line);
    })
    .map((line) => anchor(line.replace(/^#+ /, "")));
}

describe("README's shape", () => {
  const lines = readme.split("\n");
  const firstSection = lines.findIndex((l) => l.startsWith("## "));

  it("has a top of at most 60 lines, with the supported systems and a contents list", () => {
    expect(firstSection, "README has no ## section").toBeGreaterThan(0);
    expect(
      firstSection,
      "README's top (before the first ## section) is too long",
    ).toBeLessThanOrEqual(60);
    const top = lines.slice(0, firstSection).join("\n");
    expect(top).toMatch(/\*\*Supported\.\*\*/);
    expect(top).toMatch(/^Contents:$/m);
  });

  it("has one numbered quick start per platform, each ending with use and clean up", () => {
    const quick = sections(readme).filter((s) => /^[1-3]\. /.test(s.heading));
    expect(quick.map((s) => s.heading)).toEqual([
      "1. Local QEMU and VirtualBox",
      "2. Your OpenStack, from `dse_vm.json`",
      "3. AWS EC2",
    ]);
    for (const { heading, body } of quick) {
      const use = body.indexOf("**Use the image, and log in.**");
      const clean = body.indexOf("**Clean up.**");
      expect(use, `${heading}: a "Use the image, and log in." step`).toBeGreaterThan(0);
      expect(clean, `${heading}: a "Clean up." step after it`).toBeGreaterThan(use);
      expect(body, `${heading}: clean up runs pulumi destroy`).toMatch(/npx pulumi destroy/);
    }
  });

  it("lists every ## section and every docs/ page in its contents", () => {
    const top = readme.slice(0, readme.indexOf("\n## "));
    for (const { heading } of sections(readme)) {
      expect(top, `contents: #${anchor(heading)}`).toContain(`(#${anchor(heading)})`);
    }
    for (const doc of DOCS) expect(top, `contents: ${doc}`).toContain(`(${doc})`);
  });
});

describe("links in README and docs/", () => {
  const files = [
    "README.md",
    ...DOCS,
    "examples/openstack-vm/README.md",
    "examples/aws-vm/README.md",
  ];

  it.each(files)("%s: every relative link names a file and heading that exist", (file) => {
    const broken: string[] = [];
    for (const [, target] of read(file).matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target)) continue; // https:, mailto:
      const [rel, hash] = target.split("#");
      const resolved = rel === "" ? file : path.normalize(path.join(path.dirname(file), rel));
      if (!fs.existsSync(path.join(REPO, resolved))) broken.push(`${target}: no ${resolved}`);
      else if (hash !== undefined && !anchors(resolved).includes(hash)) {
        broken.push(`${target}: no heading #${hash} in ${resolved}`);
      }
    }
    expect(broken).toEqual([]);
  });
});

describe("README's statements", () => {
  it("names the base systems install.sh accepts, and no other", () => {
    const lib = read("provision/lib.sh");
    const accepted = /case "\$\(dse_os_id\)" in\n\s*(.+?)\) return 0/.exec(lib)?.[1] ?? "";
    const names = [...accepted.matchAll(/"(\w+) ([\d.]+)"/g)].map(
      ([, id, version]) => `${id === "ubuntu" ? "Ubuntu" : "Debian"} ${version}`,
    );
    expect(names).toEqual(["Ubuntu 22.04", "Ubuntu 24.04", "Debian 12"]);
    const supported = /\*\*Supported\.\*\*([^]*?)\n\n/.exec(readme)?.[1].replace(/\s+/g, " ") ?? "";
    expect(supported).toContain(
      "The base image you build from: Ubuntu 22.04, Ubuntu 24.04 or Debian 12",
    );
    expect(supported).toMatch(/macOS and Windows are not supported/);
  });

  it("promises by default only the tools Pulumi.yaml's default installs", () => {
    const project = parse(read("Pulumi.yaml")) as { config: { tools: { default: string[] } } };
    expect(project.config.tools.default).toEqual(["python", "scipy", "jupyter"]);
    const intro = readme.slice(0, readme.indexOf("**Supported.**")).replace(/\s+/g, " ");
    expect(intro).toContain(
      "Jupyter by default, R and the usual command-line tools when you add them to `tools`",
    );
  });

  it("never tells to pip install a CLI, which PEP 668 refuses on Debian 12 and Ubuntu 24.04", () => {
    for (const file of ["README.md", ...DOCS]) {
      for (const paragraph of read(file).split(/\n\s*\n/)) {
        if (!/\bpip3? install (awscli|python-openstackclient)\b/.test(paragraph)) continue;
        expect(paragraph, `${file}: a pip install of a CLI must say it fails`).toMatch(/PEP 668/);
      }
    }
  });

  it("nor does the program's own message for a missing CLI", () => {
    const file = "components/openstack/prerequisites.ts";
    expect(read(file), file).toMatch(/needs the openstack CLI/);
    expect(read(file), file).not.toMatch(/(?<!pipx )\bpip3? install\b/);
  });

  it("asks nothing to install for AWS: the SDK is an npm dependency", () => {
    const aws = readme.slice(readme.indexOf("## 3. AWS EC2"), readme.indexOf("3. **Build**"));
    expect(aws).toContain("**Nothing to install** beyond Node");
    expect(aws).not.toMatch(/awscli|AWS CLI/);
    const project = JSON.parse(read("package.json")) as { dependencies: Record<string, string> };
    expect(Object.keys(project.dependencies)).toContain("@aws-sdk/client-ec2");
  });
});

describe("the examples and the quick starts", () => {
  const EXAMPLE_PLATFORM = { "openstack-vm": "openstack", "aws-vm": "aws" } as const;
  const ups = upsOf("README.md", REPO);

  it.each(Object.entries(EXAMPLE_PLATFORM))(
    "examples/%s reads a stack README builds %s on",
    (example, platform) => {
      const sets = upsOf(`examples/${example}/README.md`, path.join(REPO, "examples", example))
        .flatMap((u) => u.set)
        .filter((argv) => argv[0] === "imageStack");
      expect(sets, `examples/${example}/README.md sets imageStack`).toHaveLength(1);
      const [org, project, stack] = sets[0][1].split("/");
      expect([org, project], "a local backend's organization and this project").toEqual([
        "organization",
        "dse-image",
      ]);
      const built = ups
        .filter((u) => u.stack === stack)
        .map((u) => loadConfig(enterProgram(u).config).platforms);
      expect(built.length, `README brings up no stack "${stack}"`).toBeGreaterThan(0);
      expect(built.at(-1), `README's stack "${stack}" must build ${platform}`).toContain(platform);
      // README's section 4 sends the reader to the example with that stack's name.
      expect(readme).toContain(
        `[examples/${example}](examples/${example}/README.md) (from the \`${stack}\` stack)`,
      );
    },
  );
});
