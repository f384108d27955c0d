import * as pulumi from "@pulumi/pulumi";
import { vi } from "vitest";
import { enterProgram, stackFileOf } from "../support/front-door";

/** One `newResource` call the program made. */
export interface RecordedResource {
  type: string;
  name: string;
  /**
   * The name without its build and generation: `qemu-dse_base-0123456789ab-20261129-g1a2b3-start`
   * -> `qemu-start`.
   */
  logical: string;
  inputs: Record<string, unknown>;
  urn: string;
  /** Parent URN ("" for the stack itself). */
  parent: string;
  /** URNs this resource waits for: explicit dependsOn plus every input's resource. */
  dependencies: string[];
  retainOnDelete: boolean;
  ignoreChanges: string[];
  /** Provider reference `<urn>::<id>` when one was given explicitly or inherited. */
  provider: string;
}

/** The slice of the SDK's RegisterResourceRequest the recorder reads. */
interface RegisterRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getDependenciesList(): string[];
  getRetainondelete(): boolean;
  getIgnorechangesList(): string[];
  getProvider(): string;
}

interface MockMonitorLike {
  registerResource(req: RegisterRequest, callback: (...args: unknown[]) => void): Promise<void>;
  newUrn(parent: string, type: string, name: string): string;
}

export type InvokeMocks = Record<string, (inputs: Record<string, unknown>) => unknown>;

/** Outputs a mocked resource reports beyond its inputs, by type token. */
export type StateMocks = Record<
  string,
  (name: string, inputs: Record<string, unknown>) => Record<string, unknown>
>;

export interface MockRun {
  resources: RecordedResource[];
  invokes: { token: string; inputs: Record<string, unknown> }[];
  /** The recorded resource of this type and (full or logical) name; throws when absent. */
  get(type: string, name: string): RecordedResource;
  /** Recorded resources of a type, in creation order. */
  ofType(type: string): RecordedResource[];
}

/**
 * Installs Pulumi mocks that record every resource and throw on any invoke the test did not mock,
 * so a new cloud lookup can never pass unnoticed. Call before importing program code; use
 * `vi.resetModules()` between program runs.
 */
export function installMocks(invokeMocks: InvokeMocks = {}, stateMocks: StateMocks = {}): MockRun {
  const run: MockRun = {
    resources: [],
    invokes: [],
    get(type, name) {
      const found = run.resources.find(
        (r) => r.type === type && (r.name === name || r.logical === name),
      );
      if (!found) {
        const have = run.resources.map((r) => `${r.type} ${r.name}`).join("\n  ");
        throw new Error(`no ${type} named ${name}; recorded:\n  ${have}`);
      }
      return found;
    },
    ofType: (type) => run.resources.filter((r) => r.type === type),
  };
  void pulumi.runtime.setMocks(
    {
      newResource(args: pulumi.runtime.MockResourceArgs) {
        const inputs = args.inputs as Record<string, unknown>;
        // Registrations interleave, so match on type and name (unique within a program run).
        const recorded = run.resources.filter((r) => r.type === args.type && r.name === args.name);
        recorded.forEach((r) => (r.inputs = inputs));
        const extra = stateMocks[args.type]?.(args.name, inputs) ?? {};
        return { id: `${args.name}-id`, state: { ...inputs, ...extra } };
      },
      call(args: pulumi.runtime.MockCallArgs) {
        const inputs = args.inputs as Record<string, unknown>;
        run.invokes.push({ token: args.token, inputs });
        const mock = invokeMocks[args.token];
        if (!mock) throw new Error(`unmocked invoke ${args.token}(${JSON.stringify(inputs)})`);
        return mock(inputs) as Record<string, unknown>;
      },
    },
    "dse-image",
    "test",
    false,
  );
  // newResource sees no options; wrap the monitor to record parents, dependencies and options.
  const monitor = pulumi.runtime.getMonitor() as unknown as MockMonitorLike;
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, callback) => {
    run.resources.push({
      type: req.getType(),
      name: req.getName(),
      logical: req
        .getName()
        .replace(/^([a-z]+)-.+?-[0-9a-f]{12}-\d{8}(?:-\d+)?(?:-g[0-9a-z]+)?(?=-|$)/, "$1"),
      inputs: {},
      urn: monitor.newUrn(req.getParent(), req.getType(), req.getName()),
      parent: req.getParent(),
      dependencies: req.getDependenciesList(),
      retainOnDelete: req.getRetainondelete(),
      ignoreChanges: req.getIgnorechangesList(),
      provider: req.getProvider(),
    });
    return register(req, callback);
  };
  return run;
}

/** Resolves an Output's value (mocks are not a preview, so every value is known). */
export function valueOf<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply((value) => resolve(value)));
}

/** Whether an Output is marked secret. */
export function isSecret(output: pulumi.Output<unknown>): Promise<boolean> {
  return pulumi.isSecret(output);
}

/** Fresh module graph for a new simulated `pulumi up`. */
export function freshProgram(): void {
  vi.resetModules();
}

/**
 * A stack file with these config values, as `pulumi up` hands it to the program
 * (test/support/front-door.ts): Pulumi.yaml's defaults applied, JSON text for objects and lists.
 */
export function stackConfig(values: Record<string, unknown>): Record<string, string> {
  return enterProgram({ stack: "test", stackFile: stackFileOf(values) }).config;
}

/** The SDK's marker on a secret value that reaches a mock unwrapped. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";

/** `{ secret, value }` of a mocked input: secrets arrive wrapped in the SDK's marker object. */
export function secretInput<T = Record<string, unknown>>(
  input: unknown,
): { secret: boolean; value: T } {
  if (input !== null && typeof input === "object" && SECRET_SIG in input) {
    return { secret: true, value: (input as unknown as { value: T }).value };
  }
  return { secret: false, value: input as T };
}
