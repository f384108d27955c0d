import * as pulumi from "@pulumi/pulumi";
import { ConfigError, fullKey } from "../config/errors";
import { HasCommand, hasCommand } from "../host-tools";
import { type BaseReader, realBaseReader } from "../qemu/base-digest";
import { stackIdOf, stackTagOf } from "./names";
import { DescribeSource, Probe, describeSourceImage, probeStore } from "./store";

/**
 * What the program and its components read from the operator's machine and the clouds before
 * they declare. One seam, so unit tests can answer without a cloud and the engine model can run
 * the real ones.
 */
export interface Host {
  hasCommand: HasCommand;
  probe: Probe;
  /** A cloud's source image by content (ID and digest): the fingerprint covers it. */
  describeSource: DescribeSource;
  /** The local base by content: SHA256SUMS files, file hashes. */
  base: BaseReader;
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
    describeSource: describeSourceImage,
    base: realBaseReader,
    now: () => new Date(),
    ...overrides,
    stackId,
    stackTag: overrides.stackTag ?? stackTagOf(stackId),
  };
}

/**
 * Every platform's lifecycle runs OpenSSH on this machine (ssh-keyscan for the SSH wait, ssh and
 * scp for the boot test). Checked before anything is created. The image stores are TypeScript
 * (components/store/); python3 runs only the steps a stack made by an earlier version still has
 * in its state (components/lifecycle/imagestore.py).
 */
export function requireLifecycleTools(has: HasCommand): void {
  const missing = ["ssh", "scp", "ssh-keyscan"].filter((tool) => !has(tool));
  if (missing.length > 0) {
    throw new ConfigError(
      fullKey("platforms"),
      `building images needs ${missing.join(", ")} on this machine (the SSH wait and the boot test); install ${missing.length > 1 ? "them" : "it"} with \`sudo apt-get install openssh-client\``,
    );
  }
}
