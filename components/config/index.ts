import { readRawConfig } from "./read";
import { StackConfig, parseStackConfig } from "./stack";

export { ConfigError } from "./errors";
export * from "./stack";

/** The stack's validated config; every problem is a `ConfigError` naming the key. */
export function loadConfig(all?: Record<string, string>): StackConfig {
  return parseStackConfig(readRawConfig(all));
}
