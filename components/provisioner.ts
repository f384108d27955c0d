import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import type { ProvisionEnv, PythonSource, ToolGroup } from "./config/stack";
import { PROVISION_DIR } from "./lifecycle/fingerprint";
import {
  PROVISION_STEPS,
  REMOTE_DIR,
  onFailure,
  prepareCommand,
  provisionCommand,
} from "./provision-commands";

export interface ProvisionerArgs {
  /** Address the builder's SSH server is reachable at. */
  host: pulumi.Input<string>;
  /** SSH port. Default 22. */
  port?: pulumi.Input<number>;
  /** Login user with passwordless sudo, e.g. `ubuntu`. */
  user: pulumi.Input<string>;
  /** The temporary build key (OpenSSH PEM). Kept secret. */
  privateKey: pulumi.Input<string>;
  /** Expected SSH host key; unchecked when unknown. Default: unchecked. */
  hostKey?: pulumi.Input<string>;
  /** Tool groups for install.sh (`DSE_TOOLS`). */
  tools: pulumi.Input<ToolGroup[]>;
  /** `pip` or `apt` (`DSE_PYTHON_SOURCE`). Default `pip`. */
  pythonSource?: pulumi.Input<PythonSource>;
  /** Build fingerprint: passed to the scripts and the trigger of every step. */
  fingerprint: pulumi.Input<string>;
  /** Mirror, index and proxy variables for the scripts. Default: none. */
  env?: pulumi.Input<ProvisionEnv>;
  /** Zero-fill free space during cleanup. Default false. */
  zeroFreeSpace?: pulumi.Input<boolean>;
  /** Builder TTL for the guest-side dead-man switch. Default 120. */
  builderTtlMinutes?: pulumi.Input<number>;
  /** Keep the builder running when a step fails. Default false. */
  keepBuilderOnFailure?: pulumi.Input<boolean>;
  /** Folder to upload. Default: this project's provision/. */
  provisionDir?: string;
}

/**
 * Uploads provision/ and runs install.sh, verify.sh and cleanup.sh on a builder over SSH.
 * verify.sh's stdout is the manifest.
 */
export class Provisioner extends pulumi.ComponentResource {
  /** JSON printed by verify.sh: each tool and its version. */
  public readonly manifest: pulumi.Output<string>;
  /** The last step; depend on it before snapshotting. */
  public readonly done: command.remote.Command;

  constructor(name: string, args: ProvisionerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("dse-image:index:Provisioner", name, {}, opts);

    const connection: command.types.input.remote.ConnectionArgs = {
      host: args.host,
      port: args.port ?? 22,
      user: args.user,
      privateKey: pulumi.secret(args.privateKey),
      hostKey: args.hostKey,
      // Builders take a while to boot: keep dialling (each dial up to 15 s) for about 10 minutes.
      dialErrorLimit: 40,
      perDialTimeout: 15,
    };
    const triggers = [args.fingerprint];
    const settings = pulumi
      .all([
        args.tools,
        args.pythonSource ?? "pip",
        args.fingerprint,
        args.env ?? {},
        args.zeroFreeSpace ?? false,
        args.keepBuilderOnFailure ?? false,
      ])
      .apply(([tools, pythonSource, fingerprint, env, zeroFreeSpace, keep]) => ({
        settings: { tools, pythonSource, fingerprint, env, zeroFreeSpace },
        keep,
      }));
    // Never reused: a builder is gone once its image exists, so nothing may reconnect later.
    const step = { parent: this, retainOnDelete: true };

    const prepare = new command.remote.Command(
      `${name}-prepare`,
      {
        connection,
        create: pulumi.output(args.builderTtlMinutes ?? 120).apply(prepareCommand),
        triggers,
      },
      step,
    );
    const upload = new command.remote.CopyToRemote(
      `${name}-upload`,
      {
        connection,
        source: new pulumi.asset.FileArchive(args.provisionDir ?? PROVISION_DIR),
        remotePath: REMOTE_DIR,
        triggers,
      },
      { ...step, dependsOn: [prepare] },
    );
    let previous: pulumi.Resource = upload;
    const commands: Partial<Record<string, command.remote.Command>> = {};
    for (const stepName of PROVISION_STEPS) {
      commands[stepName] = new command.remote.Command(
        `${name}-${stepName}`,
        {
          connection,
          create: settings.apply(({ settings: s, keep }) =>
            onFailure(provisionCommand(stepName, s), keep),
          ),
          triggers,
          // Progress of long installs streams to the Pulumi log; stdout of verify is the manifest.
          logging: stepName === "verify" ? "stderr" : "stdoutAndStderr",
        },
        { ...step, dependsOn: [previous] },
      );
      previous = commands[stepName];
    }
    this.manifest = commands.verify!.stdout;
    this.done = commands.cleanup!;
    this.registerOutputs({ manifest: this.manifest });
  }
}
