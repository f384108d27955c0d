/**
 * The real-engine lane: the Pulumi CLI itself (the version package.json pins, driven through the
 * Automation API's LocalWorkspace) runs `preview`, `up`, a second `up` that changes nothing, and
 * `destroy` on a local stack of a fresh checkout, with a file backend in a temp folder and a
 * small tool selection on the test VM base. Everything the engine model stands in for elsewhere
 * (config, state, diffs, the language host, the provider plugins) is the real thing here.
 *
 * It needs get.pulumi.com (the CLI and its plugins download on first use) and root (the test base
 * is built with debootstrap): where either is missing it skips and says why in one line. Run it on
 * a networked machine before a release: `sudo npm run test:integration`.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LocalWorkspace, PulumiCommand, type Stack } from "@pulumi/pulumi/automation";
import { afterAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { checkout } from "../support/checkout";
import { REPO } from "../support/front-door";
import { ensureDebianBase } from "../vm";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { resolve: resolveCli } = require("pulumi/lib/resolve") as {
  resolve: () => Promise<string>;
};

/** package.json's dependencies: the provider plugins' versions. */
const DEPENDENCIES = (
  JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")) as {
    dependencies: Record<string, string>;
  }
).dependencies;

/** Why this lane cannot run here, or the CLI to run it with: it needs the CLI and root. */
async function pulumiCli(): Promise<PulumiCommand | string> {
  if (process.getuid?.() !== 0) return "the test base is built with debootstrap, which needs root";
  try {
    const bin = await resolveCli();
    return await PulumiCommand.get({ root: path.dirname(path.dirname(bin)) });
  } catch (e) {
    return `the Pulumi CLI could not be had (${(e as Error).message}); this lane needs get.pulumi.com`;
  }
}

/** A stack of a fresh checkout, its config a stack file as a user writes one. */
async function localStack(root: string, project: string, cli: PulumiCommand): Promise<Stack> {
  const base = await ensureDebianBase();
  checkout(project);
  fs.writeFileSync(
    path.join(project, "Pulumi.integration.yaml"),
    stringify({
      config: {
        "dse-image:platforms": ["qemu"],
        "dse-image:tools": ["python"],
        "dse-image:pythonSource": "apt",
        "dse-image:qemu": {
          sourceImageUrl: `file://${base.disk}`,
          kernel: base.kernel,
          initrd: base.initrd,
          append: base.append,
          sshUser: base.user,
          diskSizeGb: 6,
          memoryMb: 2048,
        },
      },
    }),
  );
  fs.mkdirSync(path.join(root, "state"));
  const stack = await LocalWorkspace.createOrSelectStack(
    { stackName: "integration", workDir: project },
    {
      pulumiCommand: cli,
      envVars: {
        PULUMI_BACKEND_URL: `file://${path.join(root, "state")}`,
        PULUMI_CONFIG_PASSPHRASE: "",
        XDG_CACHE_HOME: path.join(root, "cache"),
      },
    },
  );
  for (const dep of ["@pulumi/command", "@pulumi/tls", "@pulumi/aws", "@pulumi/openstack"])
    await stack.workspace.installPlugin(dep.replace("@pulumi/", ""), `v${DEPENDENCIES[dep]}`);
  return stack;
}

describe("the local stack under the real Pulumi CLI", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "dse-integration-"));
  const project = path.join(root, "checkout");
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  const images = () =>
    fs.existsSync(path.join(project, "images"))
      ? fs.readdirSync(path.join(project, "images")).filter((f) => f.endsWith(".qcow2"))
      : [];

  it("preview plans a build; up builds and exports the qcow2; a second up changes nothing; destroy removes it", async (ctx) => {
    const cli = await pulumiCli();
    if (typeof cli === "string") {
      process.stderr.write(`integration lane skipped: ${cli}\n`);
      ctx.skip(cli);
    }
    const stack = await localStack(root, project, cli as PulumiCommand);

    const preview = await stack.preview();
    expect(preview.changeSummary.create ?? 0).toBeGreaterThan(0);

    const up = await stack.up({ onOutput: (line) => process.stderr.write(line) });
    expect(up.summary.result).toBe("succeeded");
    const qemu = (up.outputs.imageIds.value as Record<string, string>).qemu;
    expect(fs.existsSync(path.join(project, qemu))).toBe(true);
    expect(images()).toEqual([path.basename(qemu)]);

    const again = await stack.up();
    const changes = again.summary.resourceChanges ?? {};
    expect(Object.keys(changes).filter((op) => op !== "same")).toEqual([]);
    expect(again.outputs.imageIds.value).toEqual(up.outputs.imageIds.value);

    await stack.destroy();
    expect(images()).toEqual([]);
  });
});
