import * as pulumi from "@pulumi/pulumi";

/** The namespace of every dse-image config key. */
export const NAMESPACE = "dse-image";

/**
 * A config value that cannot be used. Extends `RunError` so `pulumi up` prints the one-line
 * message without a stack trace.
 */
export class ConfigError extends pulumi.RunError {
  constructor(
    /** Full key, e.g. `dse-image:openstack.flavor`. */
    readonly key: string,
    problem: string,
  ) {
    super(`${key}: ${problem}`);
    this.name = "ConfigError";
  }
}

/** `openstack.flavor` -> `dse-image:openstack.flavor`. */
export function fullKey(path: string): string {
  return `${NAMESPACE}:${path}`;
}

export function fail(path: string, problem: string): never {
  throw new ConfigError(fullKey(path), problem);
}

/** Shows a bad value in an error message without flooding the terminal. */
export function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
