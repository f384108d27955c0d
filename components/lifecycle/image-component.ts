/*
 * What the four image components share: their options, and outputs that wait for a declaration
 * which first looks at the world (the source image, the existing images: the plan decides which
 * children exist, so it is known before they are declared).
 */
import * as pulumi from "@pulumi/pulumi";
import { Host, realHost } from "./host";

export interface ImageComponentOptions extends pulumi.ComponentResourceOptions {
  /**
   * What the component reads before it declares anything: tools on PATH, the images and builders
   * that exist, the clock, the stack's identity. Default: this machine, its clouds and the running
   * stack. Tests pass their own. Not a component arg: non-remote component args are sent to the
   * engine as the component's inputs (`@pulumi/pulumi` resource.js `ComponentResource`).
   */
  host?: Host;
}

const defaultHosts = new Map<string, Host>();

/**
 * The options Pulumi reads, and the host. Without one, components of the same stack share one
 * default host, so the QEMU disk a VirtualBox image packs is the one the qemu image declares.
 */
export function splitImageOptions(opts: ImageComponentOptions = {}): {
  resourceOpts: pulumi.ComponentResourceOptions;
  host: Host;
} {
  const { host, ...resourceOpts } = opts;
  if (host) return { resourceOpts, host };
  const fallback = realHost();
  const shared = defaultHosts.get(fallback.stackId) ?? fallback;
  defaultHosts.set(shared.stackId, shared);
  return { resourceOpts, host: shared };
}

/**
 * An output of what `declared` declares. When the declaration fails it is unknown, never
 * rejected: the component's `ready` alone carries the error, so `pulumi up` prints it once as
 * it was thrown. (A rejected output would also reach the component's registerOutputs, whose
 * serialization rewrites the error's own message to `error serializing property "outputs": ...`:
 * `@pulumi/pulumi` runtime/rpc.ts `serializeFilteredProperties`.) An unknown output runs no `apply`.
 */
export function declaredOutput<D, T>(
  declared: Promise<D>,
  pick: (d: D) => pulumi.Output<T>,
): pulumi.Output<T> {
  const settled = declared.then(pick, () => pulumi.output(pulumi.unknown));
  // `output` of a promise of an Output is that Output, with its resources, secrecy and
  // unknown-ness (sdk/nodejs/output.ts `liftInnerOutput`); its typings unwrap T once more.
  return pulumi.output(settled) as unknown as pulumi.Output<T>;
}
