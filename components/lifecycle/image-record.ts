import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";

export interface ImageRecordArgs {
  /** Image name with the fingerprint prefix; a new name replaces the record (and the image). */
  imageName: pulumi.Input<string>;
  /**
   * Host command that finishes the image (snapshot/export, then builder teardown) and prints one
   * JSON line `{id, name, createdAt, manifest, sha256?}` on stdout.
   */
  create: pulumi.Input<string>;
  /** Environment of `create`; builder-derived, so ignored after the first run. */
  environment?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Host command deleting the image whose record is in `$PULUMI_COMMAND_STDOUT`. */
  delete: pulumi.Input<string>;
  /** Resources `create` must wait for (the provisioning). */
  dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/** What `create` printed, as the component's outputs. */
export interface ImageRecordOutput {
  id: string;
  name: string;
  createdAt: string;
  manifest: Record<string, unknown>;
  sha256?: string;
}

export function parseImageRecord(stdout: string): ImageRecordOutput {
  const last = stdout.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(last) as ImageRecordOutput;
  } catch {
    throw new Error(`the image step printed no image record; its last line was: ${last}`);
  }
}

/**
 * The image as a resource that outlives its builder. Declared in every run: while the builder is
 * gone its builder-derived inputs change, and `ignoreChanges` keeps the first run's record, so an
 * unchanged fingerprint (or `pulumi refresh`) never rebuilds. Only a new image name replaces it,
 * and the replaced record's `delete` removes the old image.
 */
export function imageRecord(
  name: string,
  args: ImageRecordArgs,
  parent: pulumi.Resource,
): command.local.Command {
  return new command.local.Command(
    name,
    {
      create: args.create,
      environment: args.environment,
      delete: args.delete,
      // A changed delete command (e.g. retainImages toggled) must not re-run the build.
      update: 'printf "%s\\n" "$PULUMI_COMMAND_STDOUT"',
      triggers: [args.imageName],
      logging: "stderr",
    },
    {
      parent,
      dependsOn: args.dependsOn,
      ignoreChanges: ["create", "environment"],
      deleteBeforeReplace: false,
    },
  );
}
