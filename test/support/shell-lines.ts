/**
 * Shell command lines as README and scripts write them: fenced code blocks, commands joined over
 * continuation lines, steps of an `&&` chain, and the words of one command. Test utility.
 */

/** Where `token` starts in `text` outside single and double quotes (and not after a `\`). */
function unquotedIndexes(text: string, token: string): number[] {
  const found: number[] = [];
  let quote = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === quote) quote = "";
      else if (c === "\\" && quote === '"') i++;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === "\\") i++;
    else if (text.startsWith(token, i)) found.push(i);
  }
  return found;
}

/** A shell line without its trailing `# comment`. */
export function stripComment(line: string): string {
  const at = unquotedIndexes(line, "#").find((i) => i === 0 || /\s/.test(line[i - 1]));
  return (at === undefined ? line : line.slice(0, at)).trim();
}

/** A command split at its top-level `&&`. */
export function steps(command: string): string[] {
  const cuts = unquotedIndexes(command, "&&");
  const parts: string[] = [];
  let from = 0;
  for (const cut of cuts) {
    parts.push(command.slice(from, cut));
    from = cut + 2;
  }
  parts.push(command.slice(from));
  return parts.map((s) => s.trim().replace(/\s+/g, " "));
}

/**
 * The fenced code blocks of a Markdown text, in order; a block indented under a list item comes
 * with its indentation removed, as the reader copies it.
 */
export function codeBlocks(md: string): { lang: string; body: string; offset: number }[] {
  return [...md.matchAll(/^( *)```(\w*)\n([\s\S]*?)^\1```$/gm)].map((m) => ({
    lang: m[2],
    body: m[3].replace(new RegExp(`^ {0,${m[1].length}}`, "gm"), ""),
    offset: m.index,
  }));
}

/** The commands of a shell block: comments and blank lines dropped, continued lines joined. */
export function shellCommands(body: string): string[] {
  const commands: string[] = [];
  let pending = "";
  for (const raw of body.split("\n")) {
    const line = stripComment(raw);
    if (!line) continue;
    pending = pending ? `${pending} ${line}` : line;
    if (/(\\|&&|\|\||\|)$/.test(pending)) {
      pending = pending.replace(/\\$/, "").trim();
      continue;
    }
    commands.push(pending);
    pending = "";
  }
  if (pending) commands.push(pending);
  return commands;
}

/**
 * The words of one command as a POSIX shell splits them: single and double quotes, backslash
 * escapes; a command substitution `$(...)` is replaced by `substitute(its command)`.
 */
export function shellWords(command: string, substitute: (cmd: string) => string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote = "";
  const add = (text: string) => (word = (word ?? "") + text);
  for (let i = 0; i < command.length; i++) {
    const c = command[i];
    if (quote === "'") {
      if (c === "'") quote = "";
      else add(c);
    } else if (c === "$" && command[i + 1] === "(") {
      let depth = 1;
      let j = i + 2;
      for (; j < command.length && depth > 0; j++) {
        if (command[j] === "(") depth++;
        if (command[j] === ")") depth--;
      }
      add(substitute(command.slice(i + 2, j - 1)));
      i = j - 1;
    } else if (quote === '"') {
      if (c === '"') quote = "";
      else if (c === "\\" && /["\\$`]/.test(command[i + 1] ?? "")) add(command[++i]);
      else add(c);
    } else if (c === "'" || c === '"') {
      quote = c;
      add("");
    } else if (c === "\\") {
      add(command[++i] ?? "");
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else {
      add(c);
    }
  }
  if (quote) throw new Error(`unterminated ${quote} in: ${command}`);
  if (word !== undefined) words.push(word);
  return words;
}
