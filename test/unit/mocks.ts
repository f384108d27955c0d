import * as pulumi from "@pulumi/pulumi";
import { vi } from "vitest";

/** One `newResource` call the program made. */
export interface RecordedResource {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
  /** Custom-resource options the SDK sends to the engine (parent URN, dependencies, ...). */
  urn: string;
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
  /** The recorded resource of this type and name; throws when absent. */
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
      const found = run.resources.find((r) => r.type === type && r.name === name);
      if (!found) {
        const have = run.resources.map((r) => `${r.type} ${r.name}`).join("\n  ");
        throw new Error(`no ${type} named ${name}; recorded:\n  ${have}`);
      }
      return found;
    },
    ofType: (type) => run.resources.filter((r) => r.type === type),
  };
  pulumi.runtime.setMocks(
    {
      newResource(args: pulumi.runtime.MockResourceArgs) {
        const inputs = args.inputs as Record<string, unknown>;
        const urn = `urn:pulumi:test::dse-image::${args.type}::${args.name}`;
        run.resources.push({ type: args.type, name: args.name, inputs, urn });
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

/** Stack config as Pulumi hands it to the program: JSON text for objects and lists. */
export function stackConfig(values: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(values).map(([k, v]) => [
      `dse-image:${k}`,
      typeof v === "string" ? v : JSON.stringify(v),
    ]),
  );
}
