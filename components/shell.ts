/** Quotes one word for a POSIX shell, so any value survives `sh -c` and `ssh host cmd` intact. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** `NAME=value` words for `env`, in a stable order. */
export function envWords(env: Record<string, string | undefined>): string[] {
  return Object.keys(env)
    .sort()
    .filter((name) => env[name] !== undefined)
    .map((name) => shellQuote(`${name}=${env[name]}`));
}
