/**
 * The image components as a package would serve them: constructed from the user's settings
 * alone, they look up the source and the existing images and compute the plan, fingerprint, build
 * settings and stack tag themselves (components/lifecycle/image-component.ts).
 */
import { describe, expect, it } from "vitest";
import type { StackConfig } from "../../components/config";
import type { Host } from "../../components/lifecycle/host";
import { runProgram } from "./program";
import { stackFileConfig } from "./stack-files";

/** A program declaring OpenStackImage itself, as a user of the package would. */
async function directOpenStack(config: StackConfig, host: Partial<Host>) {
  const openstack = await import("@pulumi/openstack");
  const { imageSettings } = await import("../../components/config/stack");
  const { realHost } = await import("../../components/lifecycle/host");
  const { OpenStackImage } = await import("../../components/openstack/image");
  const settings = config.openstack!;
  const provider = new openstack.Provider("openstack", {
    insecure: settings.insecure,
    cacertFile: settings.cacertFile,
  });
  const image = new OpenStackImage(
    "openstack",
    { ...imageSettings(config), ...settings },
    { providers: { openstack: provider }, host: realHost(host) },
  );
  await image.ready;
  return { imageIds: { openstack: image.imageId }, images: { openstack: image.image } };
}

describe("the image components take the user's settings", () => {
  it("OpenStackImage declared from them declares exactly what the stack's program does", async () => {
    const config = stackFileConfig("dev");
    const viaProgram = await runProgram(config);
    const direct = await runProgram(config, undefined, { program: directOpenStack });
    const declared = (r: typeof direct) =>
      r.run.resources.map((res) => ({ type: res.type, name: res.name, inputs: res.inputs }));
    expect(declared(direct)).toEqual(declared(viaProgram));
    expect(direct.run.resources.length).toBeGreaterThan(20);
    expect(direct.images).toEqual(viaProgram.images);
  });

  it("a lookup that fails rejects `ready` with the ConfigError's own one line", async () => {
    const failed = await runProgram(stackFileConfig("dev"), undefined, {
      host: { describeSource: () => Promise.reject(new Error("imagestore: no image ubuntu")) },
    }).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(Error);
    expect((failed as Error).name).toBe("ConfigError");
    // Exactly: an output that rejected would reach registerOutputs, whose serialization prefixes
    // the same error's message with `error serializing property "outputs"`.
    expect((failed as Error).message).toBe("dse-image:openstack.sourceImage: no image ubuntu");
  });
});
