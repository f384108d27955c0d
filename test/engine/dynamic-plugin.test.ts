/**
 * The model's dynamic provider plugin process (dynamic.ts): in a process group of its own that a
 * kill fault may end, and, once dead, failing every later call of its deployment at once (the
 * engine does not start it again), until the next deployment starts a new one.
 */
import * as os from "node:os";
import { afterEach, describe, expect, it } from "vitest";
import { DynamicPlugin } from "./dynamic";

/** A provider text as the plugin runs it: `create` reports its process, or SIGKILLs it. */
const PROVIDER = `exports.handler = () => ({
  create: async (news) => {
    if (news.die) process.kill(process.pid, "SIGKILL");
    const stat = require("node:fs").readFileSync("/proc/self/stat", "utf8");
    const pgrp = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
    return {
      id: "made",
      outs: { leadsGroup: pgrp === process.pid, killable: process.env.DSE_ENGINE_KILLABLE },
    };
  },
});`;

const create = (plugin: DynamicPlugin, news: Record<string, unknown>) =>
  plugin.call(os.tmpdir(), "urn:pulumi:dev::p::t::r", "create", { provider: PROVIDER, news });

describe("the dynamic provider plugin of the engine model", () => {
  const plugin = new DynamicPlugin();
  afterEach(() => plugin.close());

  it("leads a process group of its own and may be killed by a kill fault", async () => {
    const r = await create(plugin, {});
    expect(r).toEqual({ id: "made", outs: { leadsGroup: true, killable: "1" } });
  });

  it("once dead fails the call in flight and every later call of the deployment; the next starts anew", async () => {
    const died = "the dynamic provider plugin exited (SIGKILL)";
    await expect(create(plugin, { die: true })).rejects.toThrow(died);
    await expect(create(plugin, {})).rejects.toThrow(died);
    plugin.close();
    await expect(create(plugin, {})).resolves.toMatchObject({ id: "made" });
  });
});
