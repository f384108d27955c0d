/**
 * The engine model with REAL providers for the local platforms: keys from ssh-keygen, host
 * steps run for real, remote steps over OpenSSH to the real builder with the connection's host
 * key pinned (pulumi-command's FixedHostKey, rule C10) and its dial retries (rule C9). With it the
 * end-to-end tests and the benchmark run the real program (index.ts) on a real QEMU VM: the same
 * chain, commands and scripts as `pulumi up`, with nothing re-implemented. Test utility, never
 * shipped.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tar from "tar";
import { provisionArchive } from "../../components/provision-archive";
import type { StateEntry } from "./engine";
import { Providers, type ResourceProvider } from "./providers";

export interface RealOptions {
  /** Files replacing the uploaded provision/ files (name -> content): faults injected in tests. */
  provisionOverlay?: Record<string, string>;
  /** Give the builder a host key other than the one the program pins (a machine in the path). */
  swapBuilderHostKey?: boolean;
  /** Progress of every step (stderr of host steps, output of remote ones). */
  log?: (line: string) => void;
}

/** How long each step took, by resource name. */
export interface StepTime {
  name: string;
  seconds: number;
}

interface Connection {
  host: string;
  port?: number;
  user: string;
  privateKey: string;
  hostKey?: string;
  dialErrorLimit?: number;
}

function run(
  cmd: string,
  args: string[],
  input = "",
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.stdin.on("error", () => undefined);
    child.stdin.end(input);
    child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

async function sshKeygen(dir: string): Promise<{ privateKey: string; publicKey: string }> {
  const file = path.join(dir, `k${Math.random().toString(16).slice(2)}`);
  const r = await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", file]);
  if (r.code !== 0) throw new Error(`ssh-keygen: ${r.stderr}`);
  const key = {
    privateKey: fs.readFileSync(file, "utf8"),
    publicKey: fs.readFileSync(`${file}.pub`, "utf8"),
  };
  fs.rmSync(file);
  fs.rmSync(`${file}.pub`);
  return key;
}

const str = (v: unknown): string =>
  typeof v === "string" ? v : v === undefined ? "" : JSON.stringify(v);

export class RealProviders extends Providers {
  readonly times: StepTime[] = [];
  private readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "dse-real-"));

  constructor(private readonly opts: RealOptions = {}) {
    super(undefined);
  }

  close(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  protected providers(): Record<string, ResourceProvider> {
    const local = this.localCommand();
    return {
      "tls:index/privateKey:PrivateKey": {
        create: async (inputs) => {
          const k = await sshKeygen(this.dir);
          return {
            id: createHash("sha1").update(k.publicKey).digest("hex"),
            outputs: { ...inputs, privateKeyOpenssh: k.privateKey, publicKeyOpenssh: k.publicKey },
          };
        },
        diff: (old, inputs) =>
          str(old.inputs.algorithm) === str(inputs.algorithm) ? "same" : "replace",
      },
      "command:local:Command": {
        ...local,
        create: async (inputs, ctx) => {
          const t0 = Date.now();
          const tampered = await this.tamper(ctx.name, inputs);
          const result = await Promise.resolve(local.create(tampered, ctx)).catch((e: unknown) => {
            const seconds = ((Date.now() - t0) / 1000).toFixed(1);
            this.opts.log?.(`${ctx.name}: FAILED after ${seconds} s: ${String(e)}`);
            throw e;
          });
          this.times.push({ name: ctx.name, seconds: (Date.now() - t0) / 1000 });
          this.opts.log?.(`${ctx.name}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
          return result;
        },
      },
      "command:remote:Command": this.remote(),
    };
  }

  /** A builder whose host key is not the pinned one: its seed (written by its start step) carries a fresh key pair instead. */
  private async tamper(
    name: string,
    inputs: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    if (!this.opts.swapBuilderHostKey || !name.endsWith("-start")) return inputs;
    const env = { ...(inputs.environment as Record<string, string>) };
    const other = await sshKeygen(this.dir);
    env.USER_DATA = env.USER_DATA.replace(
      /( {2}ed25519_private: \|\n)(?: {4}.*\n)+( {2}ed25519_public: ).*\n/,
      (_m, head: string, pub: string) =>
        `${head}${other.privateKey
          .trimEnd()
          .split("\n")
          .map((l) => `    ${l}`)
          .join("\n")}\n${pub}${JSON.stringify(other.publicKey.trim())}\n`,
    );
    return { ...inputs, environment: env };
  }

  /** ssh options for a connection: its key, and its host key pinned when set (rule C10). */
  private sshArgs(c: Connection, portFlag: "-p" | "-P"): string[] {
    const key = path.join(this.dir, `id-${createHash("sha1").update(c.privateKey).digest("hex")}`);
    if (!fs.existsSync(key))
      fs.writeFileSync(key, c.privateKey.endsWith("\n") ? c.privateKey : `${c.privateKey}\n`, {
        mode: 0o600,
      });
    const known = path.join(this.dir, `known-${Math.random().toString(16).slice(2)}`);
    const label = (c.port ?? 22) === 22 ? c.host : `[${c.host}]:${c.port}`;
    fs.writeFileSync(
      known,
      c.hostKey ? `${label} ${c.hostKey.trim().split(/\s+/).slice(0, 2).join(" ")}\n` : "",
    );
    return [
      portFlag,
      String(c.port ?? 22),
      "-i",
      key,
      "-o",
      "IdentitiesOnly=yes",
      "-o",
      "IdentityAgent=none",
      "-o",
      `UserKnownHostsFile=${known}`,
      "-o",
      "GlobalKnownHostsFile=/dev/null",
      "-o",
      c.hostKey ? "StrictHostKeyChecking=yes" : "StrictHostKeyChecking=no",
      ...(c.hostKey ? ["-o", "HostKeyAlgorithms=ssh-ed25519"] : []),
      "-o",
      "BatchMode=yes",
      "-o",
      "ConnectTimeout=15",
      // pulumi-command dials with ssh.Dial, i.e. net.DialTimeout, whose TCP keepalive Go turns on
      // by default (15 s idle, 15 s apart, 9 probes): a builder that powers off mid-step fails
      // the step in about 2.5 minutes instead of hanging it (remote/connection.go `Dial`).
      "-o",
      "ServerAliveInterval=15",
      "-o",
      "ServerAliveCountMax=9",
      "-o",
      "LogLevel=ERROR",
    ];
  }

  /**
   * Rule C9: a failed dial (ssh exit 255: refused, timed out, host key mismatch) is retried,
   * backing off from 100 ms by 1.5 up to 5 s, dialErrorLimit times.
   */
  private async withDials(
    c: Connection,
    attempt: () => Promise<{ code: number; stdout: string; stderr: string }>,
  ) {
    const limit = c.dialErrorLimit ?? 10;
    let delay = 100;
    for (let dials = 1; ; dials++) {
      const r = await attempt();
      if (r.code !== 255) return r;
      if (dials >= limit) {
        throw new Error(
          `Dial failed after ${dials} failed attempts: ${r.stderr.trim().split("\n").pop()}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 1.5, 5000);
    }
  }

  /** The upload's archive (components/provision-archive.ts) with the overlay's files in it. */
  private overlaid(stdin: string): string {
    if (!this.opts.provisionOverlay) return stdin;
    const dir = fs.mkdtempSync(path.join(this.dir, "overlay-"));
    fs.writeFileSync(path.join(dir, "upload.tgz"), Buffer.from(stdin, "base64"));
    tar.x({ sync: true, file: path.join(dir, "upload.tgz"), cwd: dir });
    for (const [file, text] of Object.entries(this.opts.provisionOverlay)) {
      fs.writeFileSync(path.join(dir, "provision", file), text, { mode: 0o755 });
    }
    return provisionArchive(path.join(dir, "provision"));
  }

  private remote(): ResourceProvider {
    const exec = async (name: string, inputs: Record<string, unknown>) => {
      const c = inputs.connection as Connection;
      const stdin = name.endsWith("-upload") ? this.overlaid(str(inputs.stdin)) : str(inputs.stdin);
      const t0 = Date.now();
      const r = await this.withDials(c, () =>
        run("ssh", [...this.sshArgs(c, "-p"), `${c.user}@${c.host}`, str(inputs.create)], stdin),
      );
      this.times.push({ name, seconds: (Date.now() - t0) / 1000 });
      this.opts.log?.(`${name}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      if (r.code !== 0) {
        const tail = `${r.stderr}\n${r.stdout}`.trim().split("\n").slice(-20).join("\n");
        this.opts.log?.(`${name}: FAILED (exit ${r.code}): ${tail}`);
        throw new Error(`Process exited with status ${r.code}: ${name}:\n${tail}`);
      }
      return { ...inputs, stdout: r.stdout.trimEnd(), stderr: r.stderr.trimEnd() };
    };
    return {
      create: async (inputs, ctx) => ({ id: ctx.name, outputs: await exec(ctx.name, inputs) }),
      diff: (old: StateEntry, inputs) => {
        if (str(old.inputs.triggers) !== str(inputs.triggers)) return "replace";
        return str(old.inputs) === str(inputs) ? "same" : "update";
      },
      update: (old, inputs) => exec(old.name, inputs),
    };
  }
}
