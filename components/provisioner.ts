import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import type { ProvisionEnv, PythonSource, ToolGroup } from "./config/stack";
import { PROVISION_DIR } from "./lifecycle/fingerprint";
import { provisionArchive } from "./provision-archive";
import {
  DATA_STEPS,
  PROVISION_STEPS,
  onFailure,
  prepareCommand,
  provisionCommand,
  uploadCommand,
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
  /**
   * The builder's SSH host key (public line), pinned on every step (rule C10: unset means any
   * key is accepted). Default: unchecked, for callers that cannot know it.
   */
  hostKey?: pulumi.Input<string>;
  /**
   * The builder's identity (server ID, instance ID, QEMU run ID). Part of every step's
   * triggers, so a new builder re-runs prepare, upload and every step on it.
   */
  builderId: pulumi.Input<string>;
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
  /**
   * Resources the first step waits for (e.g. the SSH wait). A component's own `dependsOn` is not
   * inherited by its children, so it must be passed down here. Default: none.
   */
  after?: pulumi.Resource[];
}

/**
 * Uploads provision/ and runs install.sh, verify.sh and cleanup.sh on a builder over SSH.
 * verify.sh's stdout is the manifest. The upload is a remote command fed the folder on stdin
 * (provision-archive.ts), not a CopyToRemote, whose FileArchive would store this machine's path
 * of the folder in the state (rule P3).
 */
export class Provisioner extends pulumi.ComponentResource {
  /** JSON printed by verify.sh: each tool and its version. */
  public readonly manifest: pulumi.Output<string>;
  /** JSON printed by inventory.sh: every installed package (dpkg, pip, R). */
  public readonly inventory: pulumi.Output<string>;
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
      // The lifecycle's wait-ssh step has already waited (by time, not by dial count: rule C9)
      // until the builder's SSH answers; these retries only ride out a restarting sshd.
      dialErrorLimit: 20,
      perDialTimeout: 15,
    };
    // Rule C1: triggers replace. A new builder (C7 alone would re-run only the changed steps,
    // and C8 would copy nothing to a new host) re-runs everything; a resumed builder re-runs
    // only the steps that have not completed on it.
    const triggers = [args.fingerprint, args.builderId];
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
    // Rule E4: retained, so a step that leaves the program (its builder is gone) is only dropped
    // from the state; nothing ever reconnects to a builder to "delete" a step.
    const step = { parent: this, retainOnDelete: true };

    const prepare = new command.remote.Command(
      `${name}-prepare`,
      {
        connection,
        create: pulumi.output(args.builderTtlMinutes ?? 120).apply(prepareCommand),
        triggers,
      },
      { ...step, dependsOn: args.after },
    );
    const upload = new command.remote.Command(
      `${name}-upload`,
      {
        connection,
        create: uploadCommand(),
        stdin: provisionArchive(args.provisionDir ?? PROVISION_DIR),
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
          logging: DATA_STEPS.includes(stepName) ? "stderr" : "stdoutAndStderr",
        },
        { ...step, dependsOn: [previous] },
      );
      previous = commands[stepName];
    }
    this.manifest = commands.verify!.stdout;
    this.inventory = commands.inventory!.stdout;
    this.done = commands.cleanup!;
    this.registerOutputs({ manifest: this.manifest, inventory: this.inventory });
  }
}
