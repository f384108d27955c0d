import * as pulumi from "@pulumi/pulumi";
import { HasCommand, hasCommand } from "../host-tools";
import { stackIdOf, stackTagOf } from "./names";
import { Probe, probeStore } from "./store";

/**
 * What the program reads from the operator's machine and the clouds before it declares anything.
 * One seam, so unit tests can answer without a cloud and the engine model can run the real ones.
 */
export interface Host {
  hasCommand: HasCommand;
  probe: Probe;
  now: () => Date;
  /** `<org>/<project>/<stack>`. */
  stackId: string;
  /** Short, stable tag of the stack ID (claims, builder names). */
  stackTag: string;
}

export function realHost(overrides: Partial<Host> = {}): Host {
  const stackId =
    overrides.stackId ??
    stackIdOf(pulumi.getOrganization(), pulumi.getProject(), pulumi.getStack());
  return {
    hasCommand,
    probe: probeStore,
    now: () => new Date(),
    ...overrides,
    stackId,
    stackTag: overrides.stackTag ?? stackTagOf(stackId),
  };
}
