/**
 * Dynamic resources (`pulumi-nodejs:dynamic:*`) in the engine model, run as the engine runs them:
 * through the dynamic provider plugin, one process per deployment in the project folder
 * (dynamic-host.cjs), with the provider text each call's properties carry. Which text, and which
 * properties, per pulumi/pulumi v3.248.0:
 * - sdk/nodejs/cmd/dynamic-provider/index.ts: create, diff, check and update load the provider of
 *   the NEW inputs; read and delete the provider stored in the OLD state (`__provider`), so an old
 *   state's text runs after an upgrade;
 * - sdk/go/common/resource/plugin/provider_plugin.go: Diff and Update get the old OUTPUTS as
 *   `olds`, Read and Delete the stored outputs as their properties;
 * - pkg/resource/deploy/step.go `RefreshStep.Apply`: a Read that answers an empty ID means the
 *   resource is gone ("If the ID is blank treat this as a delete").
 * Test utility, never shipped.
 */
import { type ChildProcess, spawn } from "node:child_process";
import * as path from "node:path";
import * as readline from "node:readline";
import type { StateEntry } from "./engine";
import type { ResourceProvider } from "./providers";

const PROVIDER_KEY = "__provider";

type Props = Record<string, unknown>;

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

/** The dynamic provider plugin process of one deployment. */
export class DynamicPlugin {
  private child?: ChildProcess;
  private cwd?: string;
  private seq = 0;
  /** The calls waiting for the current process (a closed process's exit fails only its own). */
  private pending = new Map<number, Pending>();
  /** Every call, for assertions: method and the resource's URN. */
  readonly calls: { method: string; urn: string }[] = [];
  /**
   * What the plugin printed on stderr, line by line: the CLI shows it to the user
   * (sdk/go/common/resource/plugin/plugin.go `newPlugin`: a resource plugin's output is logged at
   * debug level unless `isDynamicPluginBinary`, whose stderr goes to `Diag.Infoerrf`).
   */
  readonly output: string[] = [];

  /** Ends the plugin process (the engine ends its plugins when a deployment ends). */
  close(): void {
    this.child?.stdin?.end();
    this.child = undefined;
    this.died = undefined;
  }

  /** Why this deployment's plugin is gone, once it died. */
  private died?: string;

  call(cwd: string, urn: string, method: string, req: Props): Promise<Props> {
    // The engine starts a deployment's plugin once: one that died fails the step in flight (the
    // CLI prints "Detected that .../pulumi-resource-... exited prematurely", pulumi/pulumi#22662)
    // and every later call of that deployment; it is not started again before the next.
    if (this.died !== undefined) return Promise.reject(new Error(this.died));
    if (this.child === undefined || this.cwd !== cwd) this.start(cwd);
    this.calls.push({ method, urn });
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { resolve: (v) => resolve(v as Props), reject });
      this.child!.stdin!.write(`${JSON.stringify({ seq, method, ...req })}\n`);
    });
  }

  private start(cwd: string): void {
    this.close();
    const pending = new Map<number, Pending>();
    this.pending = pending;
    // Its own process group, as a host step's: a kill fault (`kill:<tool> <word>...`) of a tool
    // that a provider runs SIGKILLs the plugin with it, as a killed `pulumi up` ends its plugins.
    const child = spawn(process.execPath, [path.join(__dirname, "dynamic-host.cjs")], {
      cwd,
      env: { ...process.env, DSE_ENGINE_KILLABLE: "1" },
      stdio: ["pipe", "pipe", "pipe"],
      detached: true,
    });
    child.stderr.on("data", (d: Buffer) => {
      if (process.env.DSE_ENGINE_VERBOSE) process.stderr.write(`[dynamic] ${d.toString()}`);
    });
    readline.createInterface({ input: child.stderr }).on("line", (line) => this.output.push(line));
    readline.createInterface({ input: child.stdout }).on("line", (line) => {
      const msg = JSON.parse(line) as { seq: number; result?: Props; error?: string };
      const waiting = pending.get(msg.seq);
      pending.delete(msg.seq);
      if (msg.error !== undefined) waiting?.reject(new Error(msg.error));
      else waiting?.resolve(msg.result ?? {});
    });
    child.on("exit", (code, signal) => {
      const why = `the dynamic provider plugin exited (${code ?? signal})`;
      if (this.child === child) this.died = why;
      for (const waiting of pending.values()) waiting.reject(new Error(why));
      pending.clear();
    });
    this.child = child;
    this.cwd = cwd;
  }
}

/**
 * The model's provider for every `pulumi-nodejs:dynamic:*` type. `beforeCreate` may throw an
 * injected failure for the resource (the world's faults, as for a host command).
 */
export function dynamicProvider(
  plugin: DynamicPlugin,
  cwd: () => string,
  beforeCreate: (urn: string) => void = () => undefined,
): ResourceProvider {
  const providerOf = (props: Props) => props[PROVIDER_KEY] as string;
  const withProvider = (outs: unknown, from: Props) => ({
    ...(outs as Props | undefined),
    [PROVIDER_KEY]: from[PROVIDER_KEY],
  });
  return {
    create: async (inputs, ctx) => {
      beforeCreate(ctx.urn);
      const r = await plugin.call(cwd(), ctx.urn, "create", {
        provider: providerOf(inputs),
        news: inputs,
      });
      return { id: String(r.id), outputs: withProvider(r.outs, inputs) };
    },
    diff: async (old, inputs) => {
      const r = await plugin.call(cwd(), old.urn, "diff", {
        provider: providerOf(inputs),
        id: old.id,
        olds: old.outputs,
        news: inputs,
      });
      const replaces = (r.replaces as string[] | undefined) ?? [];
      if (replaces.length > 0) return "replace";
      if (r.changes === true) return "update";
      if (r.changes === false) return "same";
      // DIFF_UNKNOWN: the engine compares the inputs itself.
      return JSON.stringify(old.inputs) === JSON.stringify(inputs) ? "same" : "update";
    },
    update: async (old, inputs) => {
      const r = await plugin.call(cwd(), old.urn, "update", {
        provider: providerOf(inputs),
        id: old.id,
        olds: old.outputs,
        news: inputs,
      });
      return withProvider(r.outs, inputs);
    },
    read: async (entry: StateEntry) => {
      const r = await plugin.call(cwd(), entry.urn, "read", {
        provider: providerOf(entry.outputs),
        id: entry.id,
        olds: entry.outputs,
      });
      if (!r.id) return null;
      return { outputs: withProvider(r.props, entry.outputs) };
    },
    delete: async (entry: StateEntry) => {
      await plugin.call(cwd(), entry.urn, "delete", {
        provider: providerOf(entry.outputs),
        id: entry.id,
        olds: entry.outputs,
      });
    },
  };
}
