/**
 * The dynamic resources share one provider object per kind, so the SDK serializes each kind's
 * provider once per program run (sdk/nodejs/dynamic/index.ts caches by object): a serialization
 * parses the closure's source with TypeScript, and a build declares several of these resources.
 */
import { beforeAll, describe, expect, it, vi } from "vitest";
import { installMocks, valueOf } from "./mocks";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const closure = require("@pulumi/pulumi/runtime/closure/serializeClosure") as {
  serializeFunction: (...args: unknown[]) => Promise<unknown>;
};

let run: ReturnType<typeof installMocks>;
beforeAll(() => {
  run = installMocks();
});

describe("thinProvider", () => {
  it("is one object per kind", async () => {
    const { thinProvider } = await import("../../components/store/thin-provider");
    expect(thinProvider("ImageClaim")).toBe(thinProvider("ImageClaim"));
    expect(thinProvider("ImageClaim")).not.toBe(thinProvider("PendingImage"));
  });

  it("is serialized once for several resources of its kind, into one text", async () => {
    const serialize = vi.spyOn(closure, "serializeFunction");
    const { PendingImage } = await import("../../components/store/pending-image");
    const args = {
      store: { store: "qemu" as const, config: {} },
      snapshot: "qemu" as const,
      environment: {},
      gen: "g1",
      stackTag: "3476bb56",
      imageName: "dse_base",
      fingerprint: "f".repeat(64),
      manifest: "{}",
    };
    const first = new PendingImage("first", { ...args, name: "dse_base-a" });
    const second = new PendingImage("second", { ...args, name: "dse_base-b" });
    await Promise.all([valueOf(first.urn), valueOf(second.urn)]);
    const providers = run
      .ofType("pulumi-nodejs:dynamic:PendingImage")
      .map((r) => r.inputs.__provider);
    expect(providers).toHaveLength(2);
    expect(typeof providers[0]).toBe("string");
    expect(providers[1]).toBe(providers[0]);
    expect(serialize).toHaveBeenCalledTimes(1);
    serialize.mockRestore();
  });
});
