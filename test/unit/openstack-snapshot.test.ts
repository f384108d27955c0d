/**
 * The OpenStack snapshot (components/openstack/snapshot.ts) over the `openstack` CLI, mocked by
 * the in-memory Glance of test/support and a Nova server answering as python-openstackclient
 * does: the builder sealed, stopped, waited for, this build's earlier unpublished images gone,
 * and the pending image created with all of its properties in the one create call.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { snapshotServer } from "../../components/openstack/snapshot";
import { StoreError } from "../../components/store/image-store";
import { type CliResult, OpenStackImageStore } from "../../components/store/openstack";
import type { PendingMeta } from "../../components/store/pending";
import { FakeOpenStack, ok } from "../support/fake-openstack-cli";

const SERVER = "5f0c5d1e-8d39-4c55-9d53-0f2b8d1d9a10";
const BUILD: PendingMeta = {
  name: "dse_base-91e2e3577da8-20261205",
  gen: "g2",
  stackTag: "3476bb56",
  imageName: "dse_base",
  fingerprint: "91e2e3577da8aa",
  sbomSha256: "ab12",
  sourceImage: "22a2004b-8cb6-4526-aa87-8fed5b3ad1e5",
  manifest: { python: "3.11.2" },
};
const POLL = { seconds: 0.001, attempts: 3 };

let cloud: FakeOpenStack;
let store: OpenStackImageStore;
let logs: string[];
/** Nova's answers to `server show -c status`, in order; the last one repeats. */
let statuses: string[];
let createOutput: CliResult;

beforeEach(() => {
  cloud = new FakeOpenStack();
  logs = [];
  store = new OpenStackImageStore({ osFlags: ["--insecure"] }, cloud.cli, {
    settleSeconds: 0,
    log: (m) => logs.push(m),
  });
  statuses = ["ACTIVE", "SHUTOFF"];
  // With --wait the client prints its progress to stdout before the ID (test/openstack/README.md).
  createOutput = ok("\rProgress: 100\nd3c0ffee-0000-4000-8000-000000000001\n");
  cloud.other = (args) => {
    const line = args.join(" ");
    if (line.startsWith("server set") || line.startsWith("server stop")) return ok("");
    if (line.startsWith("server show"))
      return ok(`${statuses.length > 1 ? statuses.shift() : statuses[0]}\n`);
    if (line.startsWith("server image create")) return createOutput;
    if (line.startsWith("console log show")) return ok("[    0.0] kernel panic\n");
    throw new Error(`unexpected call: ${line}`);
  };
});

const snapshot = () => snapshotServer(store, SERVER, BUILD, (m) => logs.push(m), POLL);
const nova = () => cloud.calls.filter((c) => c[1] === "server" || c[1] === "console");

describe("the OpenStack snapshot", () => {
  it("seals and stops the builder, then creates the pending image with every property in the call", async () => {
    await expect(snapshot()).resolves.toBe("d3c0ffee-0000-4000-8000-000000000001");
    expect(nova()).toEqual([
      ["--insecure", "server", "set", "--property", "dse_sealed=true", SERVER],
      ["--insecure", "server", "stop", SERVER],
      ["--insecure", "server", "show", "-f", "value", "-c", "status", SERVER],
      ["--insecure", "server", "show", "-f", "value", "-c", "status", SERVER],
      [
        "--insecure",
        ...["server", "image", "create", "--wait", "-f", "value", "-c", "id"],
        ...["--name", `${BUILD.name}.pending`],
        ...["--property", "dse_fingerprint=91e2e3577da8aa"],
        ...["--property", "dse_state=pending"],
        ...["--property", "dse_gen=g2"],
        ...["--property", "dse_build_stack=3476bb56"],
        ...["--property", "dse_image_name=dse_base"],
        ...["--property", `dse_final_name=${BUILD.name}`],
        ...["--property", "dse_sbom_sha256=ab12"],
        ...["--property", `dse_source_image=${BUILD.sourceImage}`],
        ...["--property", 'dse_manifest_0={"python":"3.11.2"}'],
        SERVER,
      ],
    ]);
    expect(logs).toEqual([
      `Stopping server: ${SERVER} ...`,
      `Creating the image: ${BUILD.name}.pending`,
      "Image: d3c0ffee-0000-4000-8000-000000000001",
    ]);
  });

  it("deletes this build's earlier killed or pending images first, and nothing else", async () => {
    const mine = {
      dse_image_name: "dse_base",
      dse_final_name: BUILD.name,
      dse_build_stack: "3476bb56",
    };
    cloud.add({ id: "killed-1", status: "killed", properties: { ...mine, dse_state: "pending" } });
    cloud.add({ id: "pending-1", properties: { ...mine, dse_state: "pending" } });
    cloud.add({ id: "complete-1", properties: { ...mine, dse_state: "complete" } });
    cloud.add({
      id: "other-stack",
      properties: { ...mine, dse_build_stack: "aaaaaaaa", dse_state: "pending" },
    });
    cloud.add({
      id: "claimed",
      properties: { ...mine, dse_state: "pending", dse_user_aaaaaaaa: "organization/x/prod" },
    });
    await snapshot();
    expect([...cloud.images.keys()].sort()).toEqual(["claimed", "complete-1", "other-stack"]);
  });

  it("tolerates a builder that is already stopped (a retry): Nova refuses the stop", async () => {
    statuses = ["SHUTOFF"];
    const base = cloud.other!;
    cloud.other = (args) =>
      args[1] === "stop"
        ? { code: 1, stdout: "", stderr: "Cannot 'stop' instance while it is in vm_state stopped" }
        : base(args);
    await expect(snapshot()).resolves.toBe("d3c0ffee-0000-4000-8000-000000000001");
  });

  it("a builder gone to ERROR fails with its console, and no image is made", async () => {
    statuses = ["ACTIVE", "ERROR"];
    const error = await snapshot().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as Error).message).toBe(
      `server ${SERVER} went to ERROR; its console:\n[    0.0] kernel panic\n`,
    );
    expect(nova().some((c) => c.includes("image"))).toBe(false);
  });

  it("a builder that never stops times out with its last status", async () => {
    statuses = ["ACTIVE"];
    await expect(snapshot()).rejects.toThrow(
      `timed out after 0.003s waiting for server ${SERVER} to stop (last status: ACTIVE)`,
    );
  });

  it("an upload Glance kills fails with the client's message", async () => {
    createOutput = {
      code: 1,
      stdout: "",
      stderr: `Error creating server snapshot: ${BUILD.name}.pending (image x is killed)`,
    };
    await expect(snapshot()).rejects.toThrow(
      `openstack server image create exited 1: Error creating server snapshot: ${BUILD.name}.pending (image x is killed)`,
    );
  });
});
