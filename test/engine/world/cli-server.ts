/**
 * Serves the fake CLIs (`openstack`, `aws`, `ssh`, `qemu-img`, ...) that the real host scripts
 * call: each is a tiny bash shim on PATH that sends its argv over TCP to this in-process server,
 * so every fake shares one world (the same objects the fake Pulumi providers see) and a call
 * costs milliseconds. Test utility, never shipped.
 */
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export type CliHandler = (args: string[], cwd: string) => Promise<CliResult> | CliResult;

export const ok = (stdout = ""): CliResult => ({ code: 0, stdout, stderr: "" });
export const fail = (stderr: string, code = 1): CliResult => ({ code, stdout: "", stderr });

// The shim: argv NUL-separated after the tool name, cwd and argc; the answer is the exit code,
// the stderr length, stderr, then stdout until the server closes the connection.
// Bash builtins only (no head, no cat): a call costs one process.
const SHIM = `#!/usr/bin/env bash
export LC_ALL=C
exec 3<>"/dev/tcp/127.0.0.1/$DSE_FAKE_WORLD_PORT" || { echo "fake world unreachable" >&2; exit 99; }
printf '%s\\0' "__TOOL__" "$PWD" "$#" "$@" >&3
read -r rc <&3
if [ "$rc" = killed ]; then
  # A kill fault: SIGKILL the whole step (its process group) as a killed \`pulumi up\` would,
  # so no EXIT trap runs. Only a step the provider started in its own group says it may.
  if [ -n "\${DSE_ENGINE_KILLABLE:-}" ]; then
    read -r _ _ _ _ pgid _ </proc/$$/stat
    kill -KILL -- "-$pgid"
  fi
  exit 137
fi
read -r n <&3
if [ "$n" -gt 0 ]; then IFS= read -r -d '' -N "$n" err <&3; printf '%s' "$err" >&2; fi
IFS= read -r -d '' out <&3
printf '%s' "$out"
exit "$rc"
`;

/** The answer that makes the shim kill its step (see SHIM). */
export const KILLED: CliResult = { code: -9, stdout: "", stderr: "" };

export class CliServer {
  private server?: net.Server;
  private handlers = new Map<string, CliHandler>();
  port = 0;
  /** Every call, for assertions: tool and argv. */
  readonly calls: { tool: string; args: string[] }[] = [];
  /** Consulted before each call's handler: `true` kills the calling step (a kill fault). */
  killsCall?: (tool: string, args: string[], cwd: string) => boolean;

  on(tool: string, handler: CliHandler): void {
    this.handlers.set(tool, handler);
  }

  async start(binDir: string): Promise<void> {
    this.server = net.createServer((socket) => this.serve(socket));
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
    fs.mkdirSync(binDir, { recursive: true });
    for (const tool of this.handlers.keys()) {
      const file = path.join(binDir, tool);
      fs.writeFileSync(file, SHIM.replace("__TOOL__", tool), { mode: 0o755 });
    }
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) =>
      this.server ? this.server.close(() => resolve()) : resolve(),
    );
  }

  private serve(socket: net.Socket): void {
    let buffer = Buffer.alloc(0);
    let handled = false;
    socket.on("data", (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      const parts = buffer.toString("utf8").split("\0");
      if (handled || parts.length < 4) return;
      const argc = Number(parts[2]);
      if (parts.length < 4 + argc) return;
      handled = true;
      const [tool, cwd] = parts;
      const args = parts.slice(3, 3 + argc);
      this.calls.push({ tool, args });
      void this.answer(tool, args, cwd).then((r) => {
        if (r === KILLED) return void socket.end("killed\n");
        const err = Buffer.from(r.stderr);
        socket.end(
          Buffer.concat([Buffer.from(`${r.code}\n${err.length}\n`), err, Buffer.from(r.stdout)]),
        );
      });
    });
    socket.on("error", () => undefined);
  }

  private async answer(tool: string, args: string[], cwd: string): Promise<CliResult> {
    if (this.killsCall?.(tool, args, cwd)) return KILLED;
    const handler = this.handlers.get(tool);
    if (!handler) return fail(`fake ${tool}: no handler`, 127);
    try {
      return await handler(args, cwd);
    } catch (e) {
      return fail(`fake ${tool} ${args.join(" ")}: ${(e as Error).message}`, 1);
    }
  }
}

/**
 * `--flag value` pairs and positionals of a CLI argv (flags listed in `booleans` take no value).
 * `greedy`: a flag takes every following word up to the next flag (the AWS CLI's list values).
 */
export function parseArgs(args: string[], booleans: readonly string[] = [], greedy = false) {
  const flags = new Map<string, string[]>();
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a.startsWith("--") || (a.startsWith("-") && a.length === 2)) {
      const [name, inline] = a.split(/=(.*)/s, 2);
      if (booleans.includes(name)) {
        flags.set(name, [...(flags.get(name) ?? []), "true"]);
      } else {
        const values = [inline ?? args[++i]];
        while (
          greedy &&
          inline === undefined &&
          i + 1 < args.length &&
          !args[i + 1].startsWith("--")
        ) {
          values.push(args[++i]);
        }
        flags.set(name, [...(flags.get(name) ?? []), ...values]);
      }
    } else {
      positional.push(a);
    }
  }
  return {
    flags,
    positional,
    one: (name: string) => flags.get(name)?.[0],
    all: (name: string) => flags.get(name) ?? [],
    has: (name: string) => flags.has(name),
  };
}

/** `k=v` words (`--property k=v`, `-o K=V`) as a map. */
export function keyValues(words: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const w of words) {
    const at = w.indexOf("=");
    if (at > 0) out[w.slice(0, at)] = w.slice(at + 1);
  }
  return out;
}
