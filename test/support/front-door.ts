/**
 * The only way tests hand config to the program: as the Pulumi CLI does before `up` or `preview`
 * runs it. Pulumi.yaml's declarations (defaults, required keys, types) and the stack file's values
 * go through the CLI model (./pulumi-cli, read from pulumi/pulumi v3.248.0), so a committed stack,
 * a README line or a scenario that the CLI would refuse fails here too, with the CLI's message.
 * Test utility, never shipped.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { stringify } from "yaml";
import {
  type ProgramConfig,
  configSet,
  loadProject,
  loadStackConfig,
  programConfig,
} from "./pulumi-cli/config";

export { CliConfigError, type ProgramConfig } from "./pulumi-cli/config";

/** This checkout: its Pulumi.yaml and committed stack files. */
export const REPO = path.resolve(__dirname, "..", "..");

/** The namespace of every key the program reads (Pulumi.yaml's `name`). */
const NAMESPACE = "dse-image";

/**
 * A stack file's text for config values written as a person writes them in Pulumi.<stack>.yaml:
 * keys without a namespace are the project's, values are YAML (lists, maps, numbers, booleans).
 */
export function stackFileOf(values: Record<string, unknown>): string {
  const config = Object.fromEntries(
    Object.entries(values)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [k.includes(":") ? k : `${NAMESPACE}:${k}`, v]),
  );
  return stringify({ config });
}

export interface FrontDoor {
  /** Folder holding Pulumi.yaml. Default: this checkout. */
  projectDir?: string;
  stack: string;
  /** The stack file's text. Default: `<projectDir>/Pulumi.<stack>.yaml`, or an empty stack. */
  stackFile?: string;
  /** `pulumi config set` commands run on the stack first: each the argv after `config set`. */
  set?: string[][];
}

/**
 * What `pulumi up` hands the program: throws CliConfigError with the CLI's own message when the
 * CLI would stop before running it.
 */
export function enterProgram(door: FrontDoor): ProgramConfig {
  const dir = door.projectDir ?? REPO;
  const project = loadProject(fs.readFileSync(path.join(dir, "Pulumi.yaml"), "utf8"));
  const file = path.join(dir, `Pulumi.${door.stack}.yaml`);
  const text = door.stackFile ?? (fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "{}\n");
  const map = loadStackConfig(project, text);
  for (const argv of door.set ?? []) configSet(project, map, argv);
  return programConfig(project, door.stack, map);
}
