import * as path from "node:path";
import type * as pulumi from "@pulumi/pulumi";
import type { ProvisionEnv, PythonSource, ToolGroup } from "../config/stack";
import { projectRelative } from "../project-files";
import { shellQuote } from "../shell";
import type { Plan } from "./plan";
import type { StoreRef } from "./store";

/*
 * What a platform and the lifecycle say to each other: the build's settings, the driver a
 * platform hands the lifecycle (launch, scripts, store), and what the lifecycle asks of it.
 */

/** Shell command running a script of the lifecycle or of a platform folder (rule P3). */
export function script(file: string): string {
  return `bash ${shellQuote(projectRelative(file))}`;
}

/** Registers the project's TypeScript in a step's process (ts-hook.cjs says why not tsx/cjs). */
const TS_HOOK = path.join(__dirname, "..", "ts-hook.cjs");

/**
 * Shell command running a TypeScript host command of this project (rule P3, as `script`), with
 * ts-hook.cjs: tsx's CommonJS hook only (the package is CommonJS, and `--import tsx` also starts
 * Node's off-thread ESM loader, 220 ms against 80 ms a step), and only over this project's files.
 */
export function tsCommand(file: string, ...args: string[]): string {
  const hook = `.${path.sep}${projectRelative(TS_HOOK)}`;
  return ["node", "--require", hook, projectRelative(file), ...args].map(shellQuote).join(" ");
}

export const WAIT_SSH = path.join(__dirname, "wait-ssh.ts");
export const WRITE_SBOM = path.join(__dirname, "write-sbom.ts");

/** Stack-wide settings of one build, as the platforms pass them on. */
export interface BuildSettings {
  tools: ToolGroup[];
  pythonSource: PythonSource;
  provisionEnv: ProvisionEnv;
  keepBuilderOnFailure: boolean;
  builderTtlMinutes: number;
  sshTimeoutMinutes: number;
  bootTest: boolean;
  retainImages: boolean;
  /** Previous images of this stack kept after a rebuild. */
  keep: number;
  /** Folder of the SBOMs, relative to the project folder (or absolute, as configured). */
  sbomDir: string;
}

/** What the lifecycle hands a platform to launch its builder with. */
export interface LaunchRequest {
  /** Resource name base of this generation's children. */
  base: string;
  /** Cloud name of the builder and its key pair, security group, ...: the teardown finds it. */
  cloudName: string;
  /** Cloud-config with the pinned host key and the dead-man switch (rule S2, S1). */
  userData: pulumi.Output<string>;
  /** The temporary build key's public line. */
  publicKey: pulumi.Output<string>;
  /** Tags/metadata every builder-side object carries, for the probe and the teardown. */
  labels: Record<string, string>;
  /** The builder waits for these (the teardown of earlier generations). */
  after: pulumi.Resource[];
  /**
   * Declares a step that does nothing on create and runs the teardown, with its stored PREFIX
   * (rule C3), when this generation leaves the program or the stack is destroyed. A platform makes
   * it depend on the builder's key pair, security group and floating IP, and the builder depend on
   * it: Pulumi deletes dependents first (step_generator.go ScheduleDeletes), so it removes a
   * builder the state never heard of (a run killed while creating it) before their typed deletes
   * meet it in use, even after a stack rename changed the prefix the next sweep looks for.
   */
  sweepOnDelete: (dependsOn: pulumi.Resource[]) => pulumi.Resource;
}

/** A builder a platform declared. */
export interface Builder {
  /** Identity of the machine: a new one re-runs every remote step. */
  id: pulumi.Output<string>;
  host: pulumi.Input<string>;
  port: pulumi.Input<number>;
  /** Remote steps wait for these (e.g. the floating IP association). */
  ready: pulumi.Resource[];
  /** Environment of the snapshot and console scripts (builder ID, work folder, ...). */
  env: Record<string, pulumi.Input<string>>;
}

/**
 * How one platform launches and tears down; everything else is the lifecycle's, and the image
 * (snapshot, publish, claim) is the image store's (components/store/). `scripts` holds
 * teardown.sh (deletes every builder-side object whose name starts with PREFIX; a stored delete,
 * rule C3). The boot test's instance is the platform's Launcher (boot-test-cli.ts picks it by
 * `platform`).
 */
export interface PlatformDriver {
  platform: "openstack" | "aws" | "qemu";
  scripts: string;
  /**
   * Shell command printing the last lines of the builder's console, for errors (the SSH wait's
   * CONSOLE_COMMAND), with the builder's `env`.
   */
  consoleCommand: string;
  /**
   * Shell command stopping the builder from the host, with the builder's `env`, when its SSH
   * never came up (wait-ssh.ts): the state a failed step's power-off leaves (SHUTOFF, terminated,
   * qemu gone), which the next plan replaces with a new generation.
   */
  stopCommand: string;
  /** Environment every script of this platform gets (CLI flags, region, profile, ...). */
  env: Record<string, pulumi.Input<string>>;
  store: StoreRef;
  sshUser: string;
  /** cleanup.sh zero-fills free space (only where the image is compressed from a raw disk). */
  zeroFreeSpace: boolean;
  /** NoCloud platforms create the login user in the user data; clouds inject key pairs. */
  userInUserData: boolean;
  launch(request: LaunchRequest): Builder;
  /** Launch settings of the boot test's instance (flavor, network, subnet, ...). */
  bootTestEnv: Record<string, pulumi.Input<string>>;
}

export interface ChainArgs {
  plan: Plan;
  fingerprint: string;
  imageName: string;
  /** What the image was built from (recorded on the image). */
  sourceImage: string;
  stackId: string;
  stackTag: string;
  settings: BuildSettings;
}

/** Where an image's CycloneDX SBOM goes: `<sbomDir>/<image name>.cdx.json`. */
export function sbomPathOf(settings: BuildSettings, name: string): string {
  return path.join(settings.sbomDir, `${name}.cdx.json`);
}

/** The last line of a step's stdout: scripts print their result last. */
export function lastLine(out: string): string {
  return out.trim().split("\n").pop() ?? "";
}
