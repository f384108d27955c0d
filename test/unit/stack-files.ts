import { enterProgram } from "../support/front-door";

/** A committed stack file's config as `pulumi up` hands it to the program (the CLI's rules). */
export function stackFileConfig(stack: string): Record<string, string> {
  return enterProgram({ stack }).config;
}
