/**
 * The engine model: runs the real program (index.ts) under the SDK's mock monitor for several
 * simulated `pulumi up` / `up --refresh` / `refresh` / `destroy` runs with state kept between
 * them, applying the rules of ../shared/reference/pulumi-engine-semantics.md. Each rule the code
 * relies on names its number. Mocks alone have no state, diff, replace, refresh or failure
 * handling; this does, so multi-run behaviour can be tested. Test utility, never shipped.
 */
import { type ProgramConfig, REPO, enterProgram, stackFileOf } from "../support/front-door";
import { type Registration, runProgramOnce } from "./program-run";
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
  /** What the preview half of `up` planned (no provider call, no side effect). */
  preview: { urn: string; op: StepOp }[];
  logs: string[];
}

export interface UpOptions {
  refresh?: boolean;
  /** Stop the run (as if the operator's machine died) once a step whose URN contains this completes. */
  killAfter?: string;
  /**
   * Kill the run (the operator's machine dies) in the middle of the first step whose URN contains
   * this: its side effect in the cloud happens (a typed resource is created) or is cut short (a
   * remote command's session drops), and the step becomes a pending operation, not state.
   */
  killDuring?: string;
  /** `pulumi up --skip-preview`: the program runs once. Default: preview, then update. */
  skipPreview?: boolean;
  /**
   * What another stack's `pulumi up` did meanwhile: `run` goes just before the create of the
   * first step whose URN contains `before`, with that step's inputs. Two stacks' runs at the same
   * time, which the model cannot run side by side (the SDK runs one program at a time in a
   * process): the scenario makes the other run's store calls itself, with the real store code.
   */
  meanwhile?: { before: string; run: (inputs: Record<string, unknown>) => Promise<void> };
}

export interface RefreshOptions {
  /** `pulumi refresh --clear-pending-creates`. */
  clearPendingCreates?: boolean;
}

/** pulumi-command resources whose outputs carry the command's stdout and stderr. */
const COMMANDS_WITH_OUTPUT = ["command:local:Command", "command:remote:Command"];

/**
 * A step in flight when the run was killed: the snapshot journal keeps it as a pending operation
 * in every later snapshot until a refresh clears it (pulumi/pulumi pkg/engine/journal_snapshot.go
 * `Write` copies them; pkg/cmd/pulumi/operations/refresh.go clears pending CREATEs only when asked,
 * interactively or with --clear-pending-creates).
 */
export interface PendingOperation {
  urn: string;
  type: "creating" | "updating" | "deleting";
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
  /** Steps a killed run left in flight (see PendingOperation). */
  pendingOperations: PendingOperation[] = [];
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
    private stackName: string,
    readonly providers: Providers,
    /** The stack file's config (Pulumi.<stack>.yaml), keys without the project's namespace. */
    public config: Record<string, unknown>,
    readonly project = "dse-image",
    private orgName = "organization",
  ) {}

  get stack(): string {
    return this.stackName;
  }

  get org(): string {
    return this.orgName;
  }

  get stackId(): string {
    return `${this.org}/${this.project}/${this.stack}`;
  }

  /**
   * `pulumi stack rename [<org>/]<name>` (or an export/import into another organisation or
   * backend): the state is kept, only the stack name in every URN changes (pulumi/pulumi
   * pkg/resource/edit/operations.go `RenameStack`: URNs, parents, dependencies and URN references
   * in properties; stored inputs and outputs, a command's environment included, stay as they
   * are). The next `up` runs the program under the new name against that state.
   */
  rename(name: string, org = this.org): void {
    const from = `urn:pulumi:${this.stack}::`;
    const to = `urn:pulumi:${name}::`;
    const renameUrn = (urn: string) => (urn.startsWith(from) ? to + urn.slice(from.length) : urn);
    const renamed = [...this.state.values()].map((e) => ({
      ...e,
      urn: renameUrn(e.urn),
      parent: renameUrn(e.parent),
      dependencies: e.dependencies.map(renameUrn),
    }));
    this.state.clear();
    for (const e of renamed) this.state.set(e.urn, e);
    this.pendingDeletes = this.pendingDeletes.map((e) => ({ ...e, urn: renameUrn(e.urn) }));
    this.pendingOperations = this.pendingOperations.map((o) => ({ ...o, urn: renameUrn(o.urn) }));
    this.formerStackIds.push(this.stackId);
    this.stackName = name;
    this.orgName = org;
  }

  /** The stack's IDs before each rename: what it made under them is still its own. */
  readonly formerStackIds: string[] = [];

  // --- pulumi refresh / up --refresh: rule E6 ---------------------------------------------
  async refresh(opts: RefreshOptions = {}, result?: RunResult): Promise<RunResult> {
    if (result) return this.refreshRun(opts, result);
    return this.deployment(() => this.refreshRun(opts));
  }

  /**
   * One deployment: the plugins the engine started for it end with it (here the dynamic provider
   * plugin), so the next one loads the checkout's code afresh.
   */
  private async deployment(run: () => Promise<RunResult>): Promise<RunResult> {
    try {
      return await run();
    } finally {
      this.providers.dynamic.close();
    }
  }

  private async refreshRun(opts: RefreshOptions, result?: RunResult): Promise<RunResult> {
    const run = result ?? newRun();
    // A refresh clears the pending operations but CREATEs, which only an interactive choice or
    // --clear-pending-creates clears (pkg/cmd/pulumi/operations/refresh.go).
    this.pendingOperations = this.pendingOperations.filter(
      (op) => op.type === "creating" && !opts.clearPendingCreates,
    );
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
  up(opts: UpOptions = {}): Promise<RunResult> {
    const { meanwhile } = opts;
    let done = false;
    const once = meanwhile && {
      before: meanwhile.before,
      run: async (inputs: Record<string, unknown>) => {
        if (done) return;
        done = true;
        await meanwhile.run(inputs);
      },
    };
    return this.deployment(() => this.upRun({ ...opts, meanwhile: once }));
  }

  private async upRun(opts: UpOptions): Promise<RunResult> {
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
      if (opts.refresh) await this.refreshRun({}, run);
    } catch (e) {
      return finish(run, e);
    }

    // `pulumi up` previews first, then updates (pkg/backend/apply.go
    // `PreviewThenPromptThenExecute`, also with --yes): the program runs twice, and what it reads
    // at program time (rule E7: the probe, the clock) it reads twice.
    if (!opts.skipPreview) {
      const preview = await this.runOnce(run, entered, true, () => false, this.previewStep(run));
      if (preview.failure !== undefined) return finish(run, preview.failure);
    }
    if (this.pendingOperations.length > 0) {
      // pkg/resource/deploy/deployment_executor.go `printPendingOperationsWarning`.
      run.logs.push(
        `warning: Attempting to deploy or update resources with ${this.pendingOperations.length} pending operations from previous deployment.`,
      );
    }
    const replaced: StateEntry[] = [];
    let stopped = false;
    const update = await this.runOnce(
      run,
      entered,
      false,
      () => stopped,
      (r) => this.updateStep(run, r, replaced, opts, () => (stopped = true)),
    );
    const { outputs, seen } = update;
    const failure = update.failure;
    if (failure !== undefined || stopped) {
      // Rule E5: a failed deployment runs no deletes; replaced resources wait for the next run.
      this.pendingDeletes.push(...replaced);
      return finish(
        run,
        failure ?? new Error(`killed during or after a step: ${opts.killAfter ?? opts.killDuring}`),
      );
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
  destroy(): Promise<RunResult> {
    return this.deployment(() => this.destroyRun());
  }

  private async destroyRun(): Promise<RunResult> {
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

  /** One run of the program with the given step handler. */
  private runOnce(
    run: RunResult,
    entered: ProgramConfig,
    dryRun: boolean,
    stopped: () => boolean,
    register: (r: Registration) => Promise<{ id: string; state: Record<string, unknown> }>,
  ) {
    return runProgramOnce({
      projectDir: this.projectDir,
      project: this.project,
      stack: this.stack,
      org: this.org,
      entered,
      dryRun,
      invoke: (token, inputs) => this.providers.invoke(token, inputs),
      register,
      stopped,
      log: (line) => run.logs.push(line),
    });
  }

  /** The plain inputs of a registration, with rule E2's ignored paths taken from the old state. */
  private inputsOf(r: Registration, old: StateEntry | undefined): Record<string, unknown> {
    const inputs = structuredClone(r.inputs);
    if (old) {
      // Rule E2: ignored paths take the old state's values before the diff, and a replacement
      // is created with them too.
      for (const p of r.req.getIgnorechangesList()) setPath(inputs, p, getPath(old.inputs, p));
    }
    return inputs;
  }

  private baseOf(r: Registration) {
    return {
      urn: r.urn,
      type: r.req.getType(),
      name: r.req.getName(),
      parent: r.req.getParent(),
      custom: r.req.getCustom(),
      dependencies: r.req.getDependenciesList(),
      retainOnDelete: r.req.getRetainondelete() ?? false,
      deleteBeforeReplace: r.req.getDeletebeforereplace(),
    };
  }

  /**
   * The preview's answer: the diff, and no provider call. A resource to create, update or
   * replace has only its inputs for outputs, which the SDK reads as unknown in a dry run
   * (runtime/rpc.js `resolveProperties`), so nothing waits for them: as the engine's preview.
   */
  private previewStep(run: RunResult) {
    return async (r: Registration): Promise<{ id: string; state: Record<string, unknown> }> => {
      const base = this.baseOf(r);
      if (!base.custom || base.type.startsWith("pulumi:providers:"))
        return { id: "", state: r.inputs };
      const old = this.state.get(r.urn);
      const inputs = this.inputsOf(r, old);
      if (!old) {
        run.preview.push({ urn: r.urn, op: "create" });
        return { id: "", state: inputs };
      }
      // The preview diffs through the provider too (a dynamic resource's diff runs its code).
      const diff = await this.providers.for(base.type).diff(old, inputs);
      run.preview.push({ urn: r.urn, op: diff });
      if (diff === "same") return { id: old.id, state: old.outputs };
      return { id: diff === "update" ? old.id : "", state: inputs };
    };
  }

  /** The update's answer: the provider's create, update or nothing, and the state. */
  private async updateStep(
    run: RunResult,
    r: Registration,
    replaced: StateEntry[],
    opts: UpOptions,
    stop: () => void,
  ): Promise<{ id: string; state: Record<string, unknown> }> {
    const base = this.baseOf(r);
    const { urn, name, type } = base;
    if (!base.custom || type.startsWith("pulumi:providers:")) {
      const id = base.custom ? `${name}-provider` : "";
      this.state.set(urn, { ...base, id, inputs: r.inputs, outputs: r.inputs });
      return { id, state: r.inputs };
    }
    const provider = this.providers.for(type);
    const old = this.state.get(urn);
    const inputs = this.inputsOf(r, old);
    const diff = old ? await provider.diff(old, inputs) : undefined;
    if (opts.killDuring && urn.includes(opts.killDuring) && diff !== "same") {
      await this.killedMidStep(urn, type, inputs, old, diff);
      stop();
      throw new Error(`the operator's machine died during ${urn}`);
    }
    if (opts.meanwhile && !old && urn.includes(opts.meanwhile.before))
      await opts.meanwhile.run(inputs);
    const answer = await (async () => {
      if (!old) {
        const created = await provider.create(inputs, { urn, name });
        this.state.set(urn, { ...base, id: created.id, inputs, outputs: created.outputs });
        run.steps.push({ urn, op: "create" });
        return { id: created.id, state: created.outputs };
      }
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
    })();
    if (opts.killAfter && urn.includes(opts.killAfter)) stop();
    return answer;
  }

  /**
   * The operator's machine dies while a step is in flight. A typed resource's create reached the
   * cloud (the object exists, the state never hears of it); a remote command's SSH session drops,
   * which kills what it ran on the builder before it finished (nothing of it completes); a local
   * command dies with the machine. The step stays a pending operation (PendingOperation).
   */
  private async killedMidStep(
    urn: string,
    type: string,
    inputs: Record<string, unknown>,
    old: StateEntry | undefined,
    diff: string | undefined,
  ): Promise<void> {
    if (!type.startsWith("command:")) {
      await this.providers.for(type).create(inputs, { urn, name: urn.split("::").pop()! });
    }
    this.pendingOperations.push({ urn, type: old && diff === "update" ? "updating" : "creating" });
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

  /**
   * Deletes in reverse dependency order, one antichain at a time, the steps of an antichain in
   * parallel (pulumi/pulumi pkg/resource/deploy/step_generator.go `ScheduleDeletes`,
   * deployment_executor.go `ExecuteParallel(antichain)`): nothing goes while something that needs
   * it remains, and a failed delete stops the run after its antichain's other steps finished.
   */
  private async deleteAll(entries: StateEntry[], run: RunResult, pending: boolean): Promise<void> {
    let left = [...entries];
    while (left.length > 0) {
      const free = left.filter(
        (e) => !left.some((o) => o !== e && (o.dependencies.includes(e.urn) || o.parent === e.urn)),
      );
      const antichain = free.length > 0 ? free : [left[0]];
      const results = await Promise.allSettled(
        antichain.map(async (entry) => {
          await this.deleteOne(entry, run);
          if (!pending && this.state.get(entry.urn) === entry) this.state.delete(entry.urn);
        }),
      );
      const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failed) throw failed.reason;
      left = left.filter((e) => !antichain.includes(e));
    }
  }
}

function newRun(): RunResult {
  return { ok: false, steps: [], preview: [], logs: [] };
}

function finish(run: RunResult, e: unknown): RunResult {
  run.ok = false;
  run.error = e instanceof Error ? e.message : String(e);
  return run;
}
