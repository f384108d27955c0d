/**
 * One scenario of the engine model: a fresh world, stacks with the config of each platform, runs,
 * and the invariants after every run. Test utility, never shipped.
 */
import * as path from "node:path";
import { expect } from "vitest";
import { stackTagOf } from "../../components/lifecycle/names";
import { REPO } from "../support/front-door";
import { Engine, RunResult, UpOptions } from "./engine";
import { checkInvariants } from "./invariants";
import { Providers } from "./providers";
import { World } from "./world/world";

export type Family = "openstack" | "aws" | "local";

export const AWS_REGION = "eu-west-1";

export class Scenario {
  readonly providers: Providers;
  readonly stacks: Engine[] = [];
  /** Published images may outlive their stacks (retainImages). */
  retained = false;

  private constructor(readonly world: World) {
    this.providers = new Providers(world, AWS_REGION);
    this.localCache = this.defaultLocalCache;
  }

  static async create(): Promise<Scenario> {
    const s = new Scenario(await World.create());
    s.world.openstack.addImage({
      id: "debian-12-base",
      name: "debian-12",
      owner: "proj-public",
      visibility: "public",
    });
    s.world.openstack.fips.set("fip-fixed", {
      id: "fip-fixed",
      address: "192.168.0.2",
      description: "",
    });
    return s;
  }

  async close(): Promise<void> {
    await this.world.close();
  }

  /** Where the stacks write their SBOMs (the default, ./images, is the working directory). */
  get sbomDir(): string {
    return path.join(this.world.root, "sbom");
  }

  /** Where local images are: the world's output folder, and `images/` of a moved checkout. */
  get localDirs(): string[] {
    const checkouts = this.stacks.filter((e) => e.projectDir !== REPO).map((e) => e.projectDir);
    return [path.join(this.world.root, "images"), ...checkouts.map((d) => path.join(d, "images"))];
  }

  /** The local cache: the world's, or the user's cache when a scenario leaves cacheDir unset. */
  localCache = "";

  get defaultLocalCache(): string {
    return path.join(this.world.root, "cache");
  }

  /** The stack config of one platform family (the local family builds qemu and virtualbox). */
  config(family: Family, extra: Record<string, unknown> = {}): Record<string, unknown> {
    const common = { tools: ["python"], pythonSource: "apt", sbomDir: this.sbomDir, ...extra };
    switch (family) {
      case "openstack":
        return {
          platforms: ["openstack"],
          openstack: {
            sourceImage: "debian-12-base",
            flavor: "2",
            floatingIp: "192.168.0.2",
            sshAllowedCidrs: ["203.0.113.0/24"],
          },
          ...common,
        };
      case "aws":
        return {
          platforms: ["aws"],
          aws: {
            region: AWS_REGION,
            sourceAmi: "ami-0b0b0000000000001",
            sshAllowedCidrs: ["203.0.113.0/24"],
            copyToRegions: ["eu-central-1"],
          },
          ...common,
        };
      case "local":
        return {
          platforms: ["qemu", "virtualbox"],
          qemu: {
            sourceImageUrl: this.world.baseImage,
            cacheDir: this.defaultLocalCache,
            outputDir: this.localDirs[0],
            accelerator: "tcg",
            sshUser: "debian",
            diskSizeGb: 2,
          },
          virtualbox: { outputDir: this.localDirs[0] },
          ...common,
        };
    }
  }

  stack(name: string, config: Record<string, unknown>): Engine {
    const e = new Engine(name, this.providers, config);
    this.stacks.push(e);
    return e;
  }

  tag(engine: Engine): string {
    return stackTagOf(engine.stackId);
  }

  /** `pulumi up`, then the invariants; `expectOk` false for runs that must fail. */
  async up(engine: Engine, opts: UpOptions & { expectOk?: boolean } = {}): Promise<RunResult> {
    const r = await this.running(engine, () => engine.up(opts));
    if ((opts.expectOk ?? true) && !r.ok) {
      const failed = this.providers.commandRuns
        .filter((c) => c.code !== 0)
        .map((c) => `${c.script}: ${c.stderr.slice(-600)}`);
      throw new Error(`${engine.stack}: up failed: ${r.error}\n${failed.join("\n")}`);
    }
    if (opts.expectOk === false) expect(r.ok, `${engine.stack}: up should have failed`).toBe(false);
    this.check(r.ok ? engine : undefined);
    return r;
  }

  async destroy(engine: Engine): Promise<RunResult> {
    const r = await this.running(engine, () => engine.destroy());
    expect(r.error).toBeUndefined();
    this.check(engine);
    return r;
  }

  /**
   * Two stacks' runs at the same moment: the invariants after one of them hold for the stacks
   * not in a run; what a stack in a run exports is known once its run ends.
   */
  private readonly inRun = new Set<Engine>();

  private async running(engine: Engine, run: () => Promise<RunResult>): Promise<RunResult> {
    this.inRun.add(engine);
    try {
      return await run();
    } finally {
      this.inRun.delete(engine);
    }
  }

  check(succeeded?: Engine): void {
    checkInvariants(this.world, {
      stacks: this.stacks.filter((e) => !this.inRun.has(e)),
      succeeded,
      localDirs: this.localDirs,
      localCache: this.localCache,
      retained: this.retained,
    });
  }
}

/** Resource names a run created, without the URN prefix. */
export function created(
  r: RunResult,
  op: "create" | "replace" | "delete" | "update" = "create",
): string[] {
  return r.steps.filter((s) => s.op === op).map((s) => s.urn.split("::").pop()!);
}

/** The role of a lifecycle resource name: `openstack-<build>-<gen>-snapshot` -> `snapshot`. */
export function roles(names: string[]): string[] {
  return names.map((n) => n.replace(/^[a-z]+-.+?-\d{8}(-\d+)?(-g[0-9a-z]+)?-/, "")).sort();
}
