/**
 * The engine model: runs the real program (index.ts) under the SDK's mock monitor for several
 * simulated `pulumi up` / `up --refresh` / `refresh` / `destroy` runs with state kept between
 * them, applying the rules of ../shared/reference/pulumi-engine-semantics.md. Each rule the code
 * relies on names its number. Mocks alone have no state, diff, replace, refresh or failure
 * handling; this does, so multi-run behaviour can be tested. Test utility, never shipped.
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { REPO, enterProgram, stackFileOf } from "../support/front-door";
import { Providers, ResourceProvider } from "./providers";

export interface StateEntry {
  urn: string;
  type: string;
  name: string;
  parent: string;
  custom: boolean;
  id: string;
  inputs: Record<string, unknown>;
  outputs: Record<string, unknown>;
  dependencies: string[];
  retainOnDelete: boolean;
  deleteBeforeReplace: boolean;
}

export type StepOp = "create" | "update" | "replace" | "delete" | "same" | "refresh-gone" | "drop";

export interface RunResult {
  ok: boolean;
  error?: string;
  outputs?: Record<string, unknown>;
  steps: { urn: string; op: StepOp }[];
  logs: string[];
}

export interface UpOptions {
  refresh?: boolean;
  /** Stop the run (as if the operator's machine died) once a step whose URN contains this completes. */
  killAfter?: string;
}

/** pulumi-command resources whose outputs carry the command's stdout and stderr. */
const COMMANDS_WITH_OUTPUT = ["command:local:Command", "command:remote:Command"];

/** The slice of the SDK's RegisterResourceRequest the model reads. */
interface RegisterRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getCustom(): boolean;
  getDependenciesList(): string[];
  getRetainondelete(): boolean | undefined;
  getIgnorechangesList(): string[];
  getDeletebeforereplace(): boolean;
}

interface MockMonitorLike {
  registerResource(req: RegisterRequest, callback: (...args: unknown[]) => void): Promise<void>;
  newUrn(parent: string, type: string, name: string): string;
}

/** Removes the SDK's secret wrappers and resolves archives, so inputs compare as plain JSON. */
async function plain(value: unknown): Promise<unknown> {
  if (value instanceof pulumi.asset.FileArchive) return { archive: await value.path };
  if (Array.isArray(value)) return Promise.all(value.map(plain));
  if (value !== null && typeof value === "object") {
    const obj = value as Record<string, unknown>;
    if (obj["4dabf18193072939515e22adb298388d"] === "1b47061264138c4ac30d75fd1eb44270") {
      return plain(obj.value);
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(obj)) if (v !== undefined) out[k] = await plain(v);
    return out;
  }
  return value;
}

export function getPath(obj: Record<string, unknown>, p: string): unknown {
  return p
    .split(".")
    .reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], obj);
}

function setPath(obj: Record<string, unknown>, p: string, value: unknown): void {
  const keys = p.split(".");
  let o = obj;
  for (const k of keys.slice(0, -1)) o = (o[k] ??= {}) as Record<string, unknown>;
  if (value === undefined) delete o[keys[keys.length - 1]];
  else o[keys[keys.length - 1]] = value;
}

/** One stack's state and runs. */
export class Engine {
  readonly state = new Map<string, StateEntry>();
  /** Replaced resources whose delete has not run yet (rule E3), kept across a failed run. */
  pendingDeletes: StateEntry[] = [];
  /** Every run's result, for the invariants. */
  readonly history: RunResult[] = [];
  lastOutputs?: Record<string, unknown>;

  /**
   * The checkout `pulumi up` runs in: the program's folder, and the working folder of the program
   * and of every provider plugin (pulumi/pulumi pkg/engine/project.go `getPwdMain`,
   * sdk/go/common/resource/plugin/plugin.go `cmd.Dir = pwd`). A scenario may move it (rule P3).
   */
  projectDir = REPO;

  constructor(
    readonly stack: string,
    readonly providers: Providers,
    /** The stack file's config (Pulumi.<stack>.yaml), keys without the project's namespace. */
    public config: Record<string, unknown>,
    readonly project = "dse-image",
    readonly org = "organization",
  ) {}

  get stackId(): string {
    return `${this.org}/${this.project}/${this.stack}`;
  }

  // --- pulumi refresh / up --refresh: rule E6 ---------------------------------------------
  async refresh(result?: RunResult): Promise<RunResult> {
    const run = result ?? newRun();
    for (const entry of [...this.state.values()]) {
      if (!entry.custom || entry.type.startsWith("pulumi:providers:")) continue;
      if (COMMANDS_WITH_OUTPUT.includes(entry.type)) {
        // Rule C5: a command has no Read of its own, and yet a refresh can leave its stdout and
        // stderr empty (rule P4, pulumi/pulumi-command#1377, open on 1.2.1): the worst case, always.
        entry.outputs = { ...entry.outputs, stdout: "", stderr: "" };
        continue;
      }
      const provider = this.providers.for(entry.type);
      if (!provider.read) continue;
      const read = await provider.read(entry);
      if (read === null) {
        this.state.delete(entry.urn);
        run.steps.push({ urn: entry.urn, op: "refresh-gone" });
      } else {
        entry.outputs = { ...entry.outputs, ...read.outputs };
        if (read.inputs) entry.inputs = { ...entry.inputs, ...read.inputs };
      }
    }
    if (!result) this.history.push(run);
    return run;
  }

  // --- pulumi up --------------------------------------------------------------------------
  async up(opts: UpOptions = {}): Promise<RunResult> {
    const run = newRun();
    this.history.push(run);
    this.providers.cwd = this.projectDir;
    // Rule P1: the CLI checks the stack's config against Pulumi.yaml and applies its defaults
    // before anything runs; the program gets only what comes through (test/support/front-door.ts).
    let entered;
    try {
      entered = enterProgram({
        projectDir: this.projectDir,
        stack: this.stack,
        stackFile: stackFileOf(this.config),
      });
    } catch (e) {
      return finish(run, e);
    }
    try {
      // Replaced resources a failed run could not delete go first (rule E3's deletes, deferred
      // by rule E5).
      await this.deleteAll(this.pendingDeletes, run, true);
      this.pendingDeletes = [];
      if (opts.refresh) await this.refresh(run);
    } catch (e) {
      return finish(run, e);
    }

    const seen = new Set<string>();
    const replaced: StateEntry[] = [];
    let failure: unknown;
    let stopped = false;
    let inFlight = 0;
    let lastActivity = Date.now();
    const idle: (() => void)[] = [];

    const step = async (
      req: RegisterRequest,
      monitor: MockMonitorLike,
      rawInputs: Record<string, unknown>,
    ) => {
      const type = req.getType();
      const name = req.getName();
      const urn = monitor.newUrn(req.getParent(), type, name);
      // Rule E5: after a failure (or a kill) no new step starts.
      if (failure !== undefined || stopped)
        throw new Error(`step for ${urn} not started: the deployment was cancelled`);
      seen.add(urn);
      if (process.env.DSE_ENGINE_VERBOSE) process.stderr.write(`[engine] register ${urn}\n`);
      const inputs = (await plain(rawInputs)) as Record<string, unknown>;
      const custom = req.getCustom();
      const base = {
        urn,
        type,
        name,
        parent: req.getParent(),
        custom,
        dependencies: req.getDependenciesList(),
        retainOnDelete: req.getRetainondelete() ?? false,
        deleteBeforeReplace: req.getDeletebeforereplace(),
      };
      if (!custom || type.startsWith("pulumi:providers:")) {
        this.state.set(urn, {
          ...base,
          id: custom ? `${name}-provider` : "",
          inputs,
          outputs: inputs,
        });
        return { id: custom ? `${name}-provider` : "", state: inputs };
      }
      const provider = this.providers.for(type);
      const old = this.state.get(urn);
      if (old) {
        // Rule E2: ignored paths take the old state's values before the diff, and a replacement
        // is created with them too.
        for (const p of req.getIgnorechangesList()) setPath(inputs, p, getPath(old.inputs, p));
      }
      if (!old) {
        const created = await provider.create(inputs, { urn, name });
        this.state.set(urn, { ...base, id: created.id, inputs, outputs: created.outputs });
        run.steps.push({ urn, op: "create" });
        return { id: created.id, state: created.outputs };
      }
      const diff = provider.diff(old, inputs);
      if (diff === "same") {
        Object.assign(old, base);
        run.steps.push({ urn, op: "same" });
        return { id: old.id, state: old.outputs };
      }
      if (diff === "update") {
        const outputs = await provider.update!(old, inputs);
        this.state.set(urn, { ...base, id: old.id, inputs, outputs });
        run.steps.push({ urn, op: "update" });
        return { id: old.id, state: outputs };
      }
      // Rule E3: create the replacement first, delete the old one at the end of the run,
      // unless deleteBeforeReplace.
      if (base.deleteBeforeReplace) await this.deleteOne(old, run);
      const created = await provider.create(inputs, { urn, name });
      this.state.set(urn, { ...base, id: created.id, inputs, outputs: created.outputs });
      if (!base.deleteBeforeReplace) replaced.push(old);
      run.steps.push({ urn, op: "replace" });
      return { id: created.id, state: created.outputs };
    };

    await freshProgramModules();
    await pulumi.runtime.setMocks(
      {
        newResource: () => {
          throw new Error("engine model: registration went around the hook");
        },
        call: (args) => this.providers.invoke(args.token, args.inputs as Record<string, unknown>),
      },
      this.project,
      this.stack,
      false,
      this.org,
    );
    pulumi.runtime.setAllConfig(entered.config, entered.secretKeys);
    const monitor = pulumi.runtime.getMonitor() as unknown as MockMonitorLike & {
      mocks: { newResource: (args: { inputs: Record<string, unknown> }) => Promise<unknown> };
    };
    monitor.mocks.newResource = () => {
      throw new Error("engine model: newResource without a request");
    };
    const register = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req, callback) => {
      monitor.mocks.newResource = async (args) => {
        inFlight++;
        lastActivity = Date.now();
        try {
          const result = await step(req, monitor, args.inputs);
          const urn = monitor.newUrn(req.getParent(), req.getType(), req.getName());
          if (opts.killAfter && urn.includes(opts.killAfter)) stopped = true;
          return result;
        } catch (e) {
          if (failure === undefined && !stopped) failure = e;
          throw e;
        } finally {
          lastActivity = Date.now();
          if (--inFlight === 0) idle.splice(0).forEach((f) => f());
        }
      };
      return register(req, callback);
    };

    // A failed step rejects the Outputs that depend on it; the SDK reports what nobody awaits as
    // unhandled rejections. Like Pulumi's own run loop, collect them instead of crashing.
    const vitestHandlers = process.listeners("unhandledRejection");
    process.removeAllListeners("unhandledRejection");
    const collect = (reason: unknown) =>
      run.logs.push(`unhandled: ${reason instanceof Error ? reason.message : String(reason)}`);
    process.on("unhandledRejection", collect);
    let outputs: Record<string, unknown> | undefined;
    // The language host runs the program in the project folder.
    const cwd = process.cwd();
    process.chdir(this.projectDir);
    try {
      const program = (await import(path.join(this.projectDir, "index.ts"))) as {
        default: () => Promise<Record<string, unknown>>;
      };
      const declared = await program.default();
      const all = pulumi.output(declared) as unknown as {
        promise(): Promise<Record<string, unknown>>;
      };
      // After a failed step the real engine ends the program (rule E5); here the Outputs that
      // waited for the failed resource never settle, so a quiet program counts as ended.
      const ended = new Promise<undefined>((resolve) => {
        const poll = setInterval(() => {
          if (
            (failure !== undefined || stopped) &&
            inFlight === 0 &&
            Date.now() - lastActivity > 300
          ) {
            clearInterval(poll);
            resolve(undefined);
          }
        }, 50);
        void all
          .promise()
          .finally(() => clearInterval(poll))
          .catch(() => undefined);
      });
      outputs = await Promise.race([all.promise(), ended]);
    } catch (e) {
      failure ??= e;
    }
    const trace = (m: string) =>
      process.env.DSE_ENGINE_VERBOSE && process.stderr.write(`[engine] ${m}\n`);
    trace(`program done (failure: ${String(failure)})`);
    if (failure === undefined && !stopped)
      await (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> })
        .waitForRPCs()
        .catch(() => undefined);
    trace("rpcs done");
    while (inFlight > 0) await new Promise<void>((r) => idle.push(r));
    trace("steps done");
    await new Promise((r) => setTimeout(r, 0));
    process.removeListener("unhandledRejection", collect);
    process.chdir(cwd);
    for (const h of vitestHandlers) process.on("unhandledRejection", h);

    if (failure !== undefined || stopped) {
      // Rule E5: a failed deployment runs no deletes; replaced resources wait for the next run.
      this.pendingDeletes.push(...replaced);
      return finish(run, failure ?? new Error(`killed after ${opts.killAfter}`));
    }
    // Rule E1: what the program no longer declares is deleted at the end of the run, after the
    // program has finished; with the replaced resources of rule E3.
    const gone = [...this.state.values()].filter((e) => !seen.has(e.urn));
    try {
      await this.deleteAll([...replaced, ...gone], run, false);
    } catch (e) {
      return finish(run, e);
    }
    this.lastOutputs = outputs;
    run.outputs = outputs;
    run.ok = true;
    return run;
  }

  /** pulumi destroy: every resource, dependents first. */
  async destroy(): Promise<RunResult> {
    const run = newRun();
    this.history.push(run);
    this.providers.cwd = this.projectDir;
    try {
      await this.deleteAll([...this.pendingDeletes, ...this.state.values()], run, false);
      this.pendingDeletes = [];
    } catch (e) {
      return finish(run, e);
    }
    this.lastOutputs = undefined;
    run.ok = true;
    return run;
  }

  private async deleteOne(entry: StateEntry, run: RunResult): Promise<void> {
    // Rule E4: a retained resource only leaves the state.
    if (entry.custom && !entry.retainOnDelete && !entry.type.startsWith("pulumi:providers:")) {
      const provider: ResourceProvider = this.providers.for(entry.type);
      await provider.delete?.(entry);
      run.steps.push({ urn: entry.urn, op: "delete" });
    } else if (entry.custom) {
      run.steps.push({ urn: entry.urn, op: "drop" });
    }
  }

  /** Deletes in reverse dependency order: nothing goes while something that needs it remains. */
  private async deleteAll(entries: StateEntry[], run: RunResult, pending: boolean): Promise<void> {
    const left = [...entries];
    while (left.length > 0) {
      const i = left.findIndex(
        (e) => !left.some((o) => o !== e && (o.dependencies.includes(e.urn) || o.parent === e.urn)),
      );
      const entry = left.splice(i < 0 ? 0 : i, 1)[0];
      await this.deleteOne(entry, run);
      if (!pending && this.state.get(entry.urn) === entry) this.state.delete(entry.urn);
    }
  }
}

/**
 * Under vitest every run imports the program afresh, so module-level state starts empty as in a
 * new `pulumi up` process. The benchmark runs outside vitest (vitest cannot be imported there);
 * the program keeps no state between runs that this would change (its caches are keyed by the
 * run's config object).
 */
async function freshProgramModules(): Promise<void> {
  if (!process.env.VITEST) return;
  const { vi } = await import("vitest");
  vi.resetModules();
}

function newRun(): RunResult {
  return { ok: false, steps: [], logs: [] };
}

function finish(run: RunResult, e: unknown): RunResult {
  run.ok = false;
  run.error = e instanceof Error ? e.message : String(e);
  return run;
}
