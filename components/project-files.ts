import * as path from "node:path";

/**
 * A file of this project as a stored command names it: relative to the project folder.
 *
 * Pulumi runs the program and every provider plugin in the project folder (pulumi/pulumi
 * pkg/engine/project.go `getPwdMain`, sdk/go/common/resource/plugin/plugin.go `cmd.Dir = pwd`),
 * and pulumi-command runs a local command without `dir` in its own working folder
 * (provider/pkg/provider/local/commandOutputs.go `run`: `os.Getwd()`). A command's text and
 * environment are stored in the state and run again by a later `up` or `destroy` (rules C3, P3),
 * maybe from a clone in another folder or on another machine: an absolute path would name a
 * folder that is gone there.
 */
export function projectRelative(file: string): string {
  return path.relative(process.cwd(), file) || ".";
}
