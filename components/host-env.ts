/*
 * Reading the environment of a host command (components/{aws,openstack,store}/cli.ts): command.local
 * passes every setting as an environment variable.
 */

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
