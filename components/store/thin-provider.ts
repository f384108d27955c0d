import type * as pulumi from "@pulumi/pulumi";

/**
 * The serialized provider of a dse-image dynamic resource: it names its implementation by package
 * name and loads it when the engine calls it, so the state holds no code of ours and no path of
 * this machine. Per pulumi/pulumi v3.248.0: sdk/nodejs/dynamic/index.ts `serializeProvider`
 * stores this object's text as `__provider`; sdk/nodejs/cmd/dynamic-provider/index.ts runs the
 * text of the NEW inputs for check, diff, create and update and the STORED text for read and
 * delete, through `requireFromString`, which gives it no module folder. The dynamic provider
 * plugin runs in the project folder (sdk/go/common/resource/plugin/plugin.go `cmd.Dir = pwd`), so
 * the package resolves from the package.json there: this project itself (package.json
 * `exports`), or a project that installed it. Nothing registers TypeScript in that process:
 * `dse-image/ts-hook` does, once (components/ts-hook.cjs). A state written before it holds a text
 * that registers `tsx/cjs/api` itself; its read and delete still run, and the hook then stands
 * aside.
 */
export function thinProvider(kind: string): pulumi.dynamic.ResourceProvider {
  // One object per kind: the SDK caches a provider's serialized text by object
  // (sdk/nodejs/dynamic/index.ts `serializeProvider`, `providerCache`), and serializing a closure
  // parses its source with TypeScript, about 20 ms per resource otherwise.
  let provider = made.get(kind);
  if (provider === undefined) {
    provider = makeThinProvider(kind);
    made.set(kind, provider);
  }
  return provider;
}

const made = new Map<string, pulumi.dynamic.ResourceProvider>();

function makeThinProvider(kind: string): pulumi.dynamic.ResourceProvider {
  const impl = (): pulumi.dynamic.ResourceProvider => {
    const loaded = globalThis as {
      dseImageProviders?: Record<string, pulumi.dynamic.ResourceProvider>;
    };
    if (loaded.dseImageProviders === undefined) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { createRequire } = require("node:module") as typeof import("node:module");
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const path = require("node:path") as typeof import("node:path");
      const projectRequire = createRequire(path.join(process.cwd(), "package.json"));
      projectRequire("dse-image/ts-hook");
      loaded.dseImageProviders = (
        projectRequire("dse-image/providers") as {
          providers: Record<string, pulumi.dynamic.ResourceProvider>;
        }
      ).providers;
    }
    const provider = loaded.dseImageProviders[kind];
    if (provider === undefined) throw new Error(`dse-image has no provider ${kind}`);
    return provider;
  };
  const passThrough = (news: unknown) =>
    Promise.resolve({ inputs: news as Record<string, unknown> });
  return {
    check: (olds: unknown, news: unknown) =>
      (impl().check ?? ((_o, n) => passThrough(n)))(olds, news),
    diff: (id: string, olds: unknown, news: unknown) =>
      impl().diff?.(id, olds, news) ?? Promise.resolve({}),
    create: (inputs: unknown) => impl().create(inputs),
    read: (id: string, props: unknown) =>
      impl().read?.(id, props) ?? Promise.resolve({ id, props: props as Record<string, unknown> }),
    update: (id: string, olds: unknown, news: unknown) =>
      impl().update?.(id, olds, news) ?? Promise.resolve({}),
    delete: (id: string, props: unknown) => impl().delete?.(id, props) ?? Promise.resolve(),
  };
}
