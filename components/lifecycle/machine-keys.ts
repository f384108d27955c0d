import type * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";

/** The keys of one machine the lifecycle launches (a builder, a boot test's instance). */
export interface MachineKeys {
  /** The temporary login key: its private half is a Pulumi secret, never logged. */
  key: tls.PrivateKey;
  /** The host key the program makes and cloud-init installs, so every SSH step pins it (S2). */
  hostKey: tls.PrivateKey;
  /** The login key's public line, trimmed, as authorized_keys takes it. */
  publicKey: pulumi.Output<string>;
  /** The host key's public line, trimmed, as known_hosts takes it. */
  hostPublicKey: pulumi.Output<string>;
}

/** `<name>-key` and `<name>-hostkey`, both ED25519. */
export function machineKeys(name: string, opts: pulumi.CustomResourceOptions): MachineKeys {
  const key = new tls.PrivateKey(`${name}-key`, { algorithm: "ED25519" }, opts);
  const hostKey = new tls.PrivateKey(`${name}-hostkey`, { algorithm: "ED25519" }, opts);
  return {
    key,
    hostKey,
    publicKey: key.publicKeyOpenssh.apply((k) => k.trim()),
    hostPublicKey: hostKey.publicKeyOpenssh.apply((k) => k.trim()),
  };
}
