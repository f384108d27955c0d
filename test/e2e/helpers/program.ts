/**
 * `pulumi up` of the real program on the local platforms, for real: the engine model (state,
 * diffs, the engine's rules) with real providers (test/engine/real.ts), so a build runs exactly
 * the chain, commands and scripts the program declares, on a real QEMU VM. Shared by the
 * end-to-end tests and the benchmark.
 */
import * as path from "node:path";
import { Engine, type RunResult } from "../../engine/engine";
import { RealProviders, type RealOptions } from "../../engine/real";
import type { DebianBase } from "../../vm";
import { sha256File } from "./processes";

/** Stack config of a local build from the test base (direct kernel boot, a small disk). */
export function localConfig(
  base: DebianBase,
  root: string,
  extra: Record<string, unknown> = {},
  platforms: string[] = ["qemu"],
): Record<string, unknown> {
  return {
    platforms,
    tools: ["python"],
    pythonSource: "apt",
    builderTtlMinutes: 60,
    sbomDir: path.join(root, "images"),
    qemu: {
      sourceImageUrl: `file://${base.disk}`,
      sourceImageSha256: sha256File(base.disk),
      cacheDir: path.join(root, "cache"),
      outputDir: path.join(root, "images"),
      kernel: base.kernel,
      initrd: base.initrd,
      append: base.append,
      sshUser: base.user,
      diskSizeGb: 6,
      memoryMb: 2048,
      cpus: 2,
      accelerator: process.env.DSE_ACCEL ?? "auto",
    },
    virtualbox: {
      outputDir: path.join(root, "images"),
      vmName: "dse e2e",
      memoryMb: 1536,
      cpus: 3,
    },
    ...extra,
  };
}

export interface LocalStack {
  engine: Engine;
  providers: RealProviders;
  up(): Promise<RunResult>;
}

/** A stack of the real program whose runs use the real providers. */
export function localStack(
  name: string,
  config: Record<string, unknown>,
  opts: RealOptions = {},
): LocalStack {
  const providers = new RealProviders(opts);
  const engine = new Engine(name, providers, config);
  return { engine, providers, up: () => engine.up() };
}
