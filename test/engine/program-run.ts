/**
 * One run of the real program (index.ts) under the SDK's mock monitor, as the Node language host
 * runs it: in the project folder, with the config the CLI handed over, every resource
 * registration answered by the caller's step handler. The engine (engine.ts) runs it once for the
 * preview and once for the update of every `pulumi up`. Test utility, never shipped.
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as sdkStateModule from "@pulumi/pulumi/runtime/state";
import type { ProgramConfig } from "../support/front-door";
import { withRunObjectGroup } from "./sdk-inspector";

/** The slice of the SDK's RegisterResourceRequest the model reads. */
export interface RegisterRequest {
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

/** A registration: its URN, request and plain inputs. */
export interface Registration {
  urn: string;
  req: RegisterRequest;
  inputs: Record<string, unknown>;
}

export interface ProgramRunOptions {
  projectDir: string;
  project: string;
  stack: string;
  org: string;
  entered: ProgramConfig;
  /** `pulumi preview` (and the preview half of `up`): the SDK's isDryRun(). */
  dryRun: boolean;
  invoke(token: string, inputs: Record<string, unknown>): Record<string, unknown>;
  /** Answers one registration with the resource's ID and state (its outputs). */
  register(r: Registration): Promise<{ id: string; state: Record<string, unknown> }>;
  /** True once the run must stop starting steps (a failure, a kill): rule E5. */
  stopped(): boolean;
  /** Unhandled rejections and other notes for the run's log. */
  log(line: string): void;
}

export interface ProgramRunResult {
  outputs?: Record<string, unknown>;
  /** The first failure: a step's, or the program's own. */
  failure?: unknown;
  /** URNs the program registered. */
  seen: Set<string>;
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

/**
 * Under vitest every run imports the program afresh, so module-level state starts empty as in a
 * new language host process. The benchmark runs outside vitest (vitest cannot be imported there);
 * the program keeps no state between runs that this would change (its caches are keyed by the
 * run's config object).
 */
async function freshProgramModules(): Promise<void> {
  if (!process.env.VITEST) return;
  const { vi } = await import("vitest");
  vi.resetModules();
}

/** The SDK's per-run state store (internal; what the Automation API's inline programs use). */
const sdkState = sdkStateModule as unknown as { withLocalStorage<T>(run: () => T): T };

/**
 * One run in a state store of its own, as the Automation API runs each inline program
 * (sdk/nodejs/automation/server.js `run`: "Setup a new async state store for this run"): the
 * program's mock monitor, config and stack live in it, and whatever this program does after the
 * run has ended reaches its own monitor, never the next run's. What the SDK's inspector session
 * bound for the run is released when the run ends, as the language host's exit releases it
 * (sdk-inspector.ts).
 */
export function runProgramOnce(o: ProgramRunOptions): Promise<ProgramRunResult> {
  return withRunObjectGroup(() => sdkState.withLocalStorage(() => runInOwnStore(o)));
}

async function runInOwnStore(o: ProgramRunOptions): Promise<ProgramRunResult> {
  const seen = new Set<string>();
  let failure: unknown;
  let inFlight = 0;
  let over = false;
  let settle = () => undefined as void;
  const idle: (() => void)[] = [];
  const halted = () => failure !== undefined || o.stopped();

  await freshProgramModules();
  await pulumi.runtime.setMocks(
    {
      newResource: () => {
        throw new Error("engine model: registration went around the hook");
      },
      call: (args) => o.invoke(args.token, args.inputs as Record<string, unknown>),
    },
    o.project,
    o.stack,
    o.dryRun,
    o.org,
  );
  pulumi.runtime.setAllConfig(o.entered.config, o.entered.secretKeys);
  const monitor = pulumi.runtime.getMonitor() as unknown as MockMonitorLike & {
    mocks: { newResource: (args: { inputs: Record<string, unknown> }) => Promise<unknown> };
  };
  monitor.mocks.newResource = () => {
    throw new Error("engine model: newResource without a request");
  };
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, callback) => {
    monitor.mocks.newResource = async (args) => {
      // The run has ended, and with the real engine the language host with it: no answer.
      if (over) return new Promise<never>(() => undefined);
      inFlight++;
      const urn = monitor.newUrn(req.getParent(), req.getType(), req.getName());
      try {
        // Rule E5: after a failure (or a kill) no new step starts.
        if (halted()) throw new Error(`step for ${urn} not started: the deployment was cancelled`);
        seen.add(urn);
        if (process.env.DSE_ENGINE_VERBOSE) process.stderr.write(`[engine] register ${urn}\n`);
        const inputs = (await plain(args.inputs)) as Record<string, unknown>;
        return await o.register({ urn, req, inputs });
      } catch (e) {
        if (failure === undefined && !o.stopped()) failure = e;
        throw e;
      } finally {
        if (--inFlight === 0) {
          idle.splice(0).forEach((f) => f());
          if (halted()) settle();
        }
      }
    };
    return register(req, callback);
  };

  // A failed step rejects the Outputs that depend on it; the SDK reports what nobody awaits as
  // unhandled rejections. Like Pulumi's own run loop, collect them instead of crashing.
  const vitestHandlers = process.listeners("unhandledRejection");
  process.removeAllListeners("unhandledRejection");
  const collect = (reason: unknown) =>
    o.log(`unhandled: ${reason instanceof Error ? reason.message : String(reason)}`);
  process.on("unhandledRejection", collect);
  let outputs: Record<string, unknown> | undefined;
  // The language host runs the program in the project folder.
  const cwd = process.cwd();
  process.chdir(o.projectDir);
  // The SDK takes a stack trace for every promise it makes (runtime/debuggable.js
  // `debuggablePromise`): a quarter of this process's time with vitest's formatter, which maps
  // each frame back to TypeScript, and a tenth with V8's. No frames while the program runs
  // (DSE_ENGINE_VERBOSE keeps them): the traces only feed source positions, which the model
  // does not read, and the model reports a failure by its message.
  const frames = Error.stackTraceLimit;
  if (!process.env.DSE_ENGINE_VERBOSE) Error.stackTraceLimit = 0;
  try {
    const program = (await import(path.join(o.projectDir, "index.ts"))) as {
      default: () => Promise<Record<string, unknown>>;
    };
    const declared = await program.default();
    const all = pulumi.output(declared) as unknown as {
      promise(): Promise<Record<string, unknown>>;
    };
    // After a failed step the real engine ends the deployment and the program with it (rule
    // E5); here the Outputs that waited for the failed resource never settle, so the run ends
    // once no step is in flight after the failure. What the program would register later goes
    // to this run's monitor (its own store), which no longer answers.
    const ended = new Promise<undefined>((resolve) => {
      settle = () => resolve(undefined);
      if (halted() && inFlight === 0) resolve(undefined);
    });
    outputs = await Promise.race([all.promise(), ended]);
  } catch (e) {
    failure ??= e;
  }
  const trace = (m: string) =>
    process.env.DSE_ENGINE_VERBOSE && process.stderr.write(`[engine] ${m}\n`);
  trace(`program done (failure: ${String(failure)})`);
  if (!halted())
    await (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> })
      .waitForRPCs()
      .catch(() => undefined);
  trace("rpcs done");
  while (inFlight > 0) await new Promise<void>((r) => idle.push(r));
  trace("steps done");
  await new Promise((r) => setTimeout(r, 0));
  over = true;
  process.removeListener("unhandledRejection", collect);
  Error.stackTraceLimit = frames;
  process.chdir(cwd);
  for (const h of vitestHandlers) process.on("unhandledRejection", h);
  return { outputs, failure, seen };
}
