/**
 * The SDK's inspector session, made to forget each program run once it ends.
 *
 * The SDK serializes a dynamic provider's functions through an inspector session of its own
 * process (pulumi/pulumi v3.248.0 sdk/nodejs/runtime/closure/v8Hooks.ts `getSessionAsync`,
 * v8.ts `getRuntimeIdForFunctionAsync`): it enables the debugger without `maxScriptsCacheSize`,
 * and binds every function it inspects with `Runtime.evaluate` in no object group, so the
 * session holds it (and all its closure reaches: the run's resources and Outputs) until the
 * session ends. Under the CLI the session ends with the language host after one run. The model
 * runs hundreds of programs in one process: each run held several MB for good, the heap grew
 * past 400 MB over a test file, and every fork a step start costs grew with it (nodejs/node
 * #47195 names the same retention for objects passed to `console` while a session is open).
 *
 * So the model puts what each run binds in an object group of that run and releases the group
 * when the run ends, and lets the debugger drop the scripts the heap has already collected
 * (each run evaluates the program's modules afresh). What the SDK reads from the session is
 * unchanged. Test utility, never shipped.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type * as inspector from "node:inspector";
import * as v8Hooks from "@pulumi/pulumi/runtime/closure/v8Hooks";

type Post = (
  method: string,
  params?: object,
  callback?: (err: Error | null, result?: unknown) => void,
) => void;

/** The methods whose results the SDK keeps bound in the session (the rest inherit their group). */
const BINDING = new Set(["Runtime.evaluate", "Runtime.callFunctionOn"]);

const runGroup = new AsyncLocalStorage<string>();
let ready: Promise<inspector.Session> | undefined;
let runs = 0;

function post(session: inspector.Session, method: string, params: object): Promise<unknown> {
  return new Promise((resolve, reject) =>
    (session.post as unknown as Post)(method, params, (err, res) =>
      err ? reject(err) : resolve(res),
    ),
  );
}

/** The SDK's session (it makes it on first use, as the program's first serialization would). */
function sdkSession(): Promise<inspector.Session> {
  ready ??= (async () => {
    const hooks = v8Hooks as unknown as { getSessionAsync(): Promise<inspector.Session> };
    const session = await hooks.getSessionAsync();
    // Collected scripts are kept up to this many bytes (V8's Debugger.enable; none: no limit).
    await post(session, "Debugger.enable", { maxScriptsCacheSize: 0 });
    const sdkPost = (session.post as unknown as Post).bind(session);
    (session as unknown as { post: Post }).post = (method, params, callback) => {
      const group = runGroup.getStore();
      const grouped =
        group !== undefined && BINDING.has(method) && typeof params === "object"
          ? { ...params, objectGroup: group }
          : params;
      return sdkPost(method, grouped, callback);
    };
    return session;
  })();
  return ready;
}

/** Runs one program run with what the SDK binds for it released when it ends. */
export async function withRunObjectGroup<T>(run: () => Promise<T>): Promise<T> {
  const session = await sdkSession();
  const group = `dse-engine-run-${++runs}`;
  try {
    return await runGroup.run(group, run);
  } finally {
    await post(session, "Runtime.releaseObjectGroup", { objectGroup: group });
  }
}
