/*
 * The host commands' common ground (components/{aws,openstack,store}/cli.ts, fetch-base.ts,
 * wait-ssh.ts, write-sbom.ts, boot-test-cli.ts): command.local passes every setting as an
 * environment variable, and shows the user what a failed step printed last.
 */

/**
 * Runs a host command's work as its entry point: what the work returns goes to stdout; a failure
 * prints one line `<prefix><message>` on stderr and exits with status 1.
 */
export function runHostCommand(prefix: string, work: () => Promise<string | void> | string): void {
  Promise.resolve()
    .then(work)
    .then(
      (out) => {
        if (out) process.stdout.write(out);
      },
      (e: Error) => {
        process.stderr.write(`${prefix}${e.message}${e.message.endsWith("\n") ? "" : "\n"}`);
        process.exitCode = 1;
      },
    );
}

/** The variable's value; an error naming it when it is unset or empty. */
export function requiredEnv(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
}

/** A space-separated list (NETWORKS, SSH_ALLOWED_CIDRS, OS_FLAGS, ...). */
export const envList = (text: string | undefined): string[] =>
  (text ?? "").split(/\s+/).filter(Boolean);

/** A number of seconds, or `fallback` when unset or not a non-negative number. */
export function envSeconds(text: string | undefined, fallback: number): number {
  const n = Number(text);
  return text && Number.isFinite(n) && n >= 0 ? n : fallback;
}
