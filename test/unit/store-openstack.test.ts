/**
 * The OpenStack image store (components/store/openstack.ts) over its transport, the `openstack`
 * CLI, mocked by a small in-memory Glance and Nova answering the calls the store makes with the
 * JSON python-openstackclient 6.x prints (`image show`, `image list --long`, `server list
 * --long`, `token issue`), and the image rules of components/store/claims.ts run on it.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { claimImage, releaseImage } from "../../components/store/claims";
import { widening } from "../../components/store/glance-change";
import { StoreError } from "../../components/store/image-store";
import { FakeOpenStack, PROJECT } from "../support/fake-openstack-cli";
import {
  MANIFEST_PIECE,
  OpenStackImageStore,
  propertiesOf,
  propertyArgs,
} from "../../components/store/openstack";

let cloud: FakeOpenStack;
let store: OpenStackImageStore;
let logs: string[];
const log = (m: string) => logs.push(m);
/** No wait before a change's read-back: this Glance saves each change before it answers. */
const SETTLED = { settleSeconds: 0, log };
const dev = { stackTag: "3476bb56", stackId: "organization/dse-image/dev" };
const prod = { stackTag: "aaaaaaaa", stackId: "organization/dse-image/prod" };

beforeEach(() => {
  cloud = new FakeOpenStack();
  logs = [];
  store = new OpenStackImageStore({ osFlags: ["--insecure"] }, cloud.cli, SETTLED);
});

/** A complete image of family dse_base with these extra properties. */
function complete(id: string, props: Record<string, string> = {}, createdAt?: string): void {
  cloud.add({
    id,
    name: `dse_base-${id}`,
    ...(createdAt ? { created_at: createdAt } : {}),
    properties: {
      dse_state: "complete",
      dse_image_name: "dse_base",
      dse_fingerprint: "f".repeat(64),
      dse_manifest_0: '{"python": "3.11"}',
      ...props,
    },
  });
}

describe("OpenStackImageStore reads", () => {
  it("an image's properties as meta, claims, held claims, manifest and owner", async () => {
    const manifest = { python: "3.11.2", numpy: "1.24.2", note: "x".repeat(300) };
    const pieces = propertyArgs({}, manifest).filter((_, i) => i % 2 === 1);
    cloud.add({
      id: "img-1",
      name: "dse_base-0123456789ab-20261201",
      properties: {
        dse_state: "complete",
        dse_image_name: "dse_base",
        dse_gen: "g1",
        dse_boot_test: '{"passed":true}',
        ...Object.fromEntries(
          pieces.map((p): [string, string] => [
            p.slice(0, p.indexOf("=")),
            p.slice(p.indexOf("=") + 1),
          ]),
        ),
        [`dse_user_${dev.stackTag}`]: dev.stackId,
        [`dse_held_${dev.stackTag}`]: "true",
        [`dse_kept_${prod.stackTag}`]: prod.stackId,
        hw_disk_bus: "virtio",
      },
    });
    expect(pieces.length).toBe(2);
    expect(await store.get("img-1")).toEqual({
      id: "img-1",
      name: "dse_base-0123456789ab-20261201",
      createdAt: "2026-12-01T00:00:00Z",
      meta: { state: "complete", imageName: "dse_base", gen: "g1", bootTest: '{"passed":true}' },
      users: { [dev.stackTag]: dev.stackId },
      kept: { [prod.stackTag]: prod.stackId },
      held: [dev.stackTag],
      holds: { [dev.stackTag]: "true" },
      manifest,
      extra: { owner: PROJECT },
    });
    // Every call carries the configured flags first.
    expect(cloud.calls).toEqual([["--insecure", "image", "show", "-f", "json", "img-1"]]);
  });

  it.each([
    ["killed", "pending"],
    ["queued", "complete"],
  ])("a %s image (state %s) reads as broken: never adopted or resumed", async (status, state) => {
    cloud.add({ id: "img-1", status, properties: { dse_state: state } });
    expect((await store.get("img-1"))?.meta.state).toBe("broken");
  });

  it("a missing or deleted image is undefined; any other failure is a StoreError naming it", async () => {
    expect(await store.get("img-none")).toBeUndefined();
    cloud.add({ id: "img-2", status: "pending_delete", properties: {} });
    expect(await store.get("img-2")).toBeUndefined();
    const failing = new OpenStackImageStore({}, () =>
      Promise.resolve({ code: 1, stdout: "", stderr: "HTTP 503 Service Unavailable\n" }),
    );
    const read = failing.get("img-3");
    await expect(read).rejects.toThrow(StoreError);
    await expect(read).rejects.toThrow("openstack image show img-3: HTTP 503 Service Unavailable");
  });

  it("lists the family of this project only, hidden (superseded) images included", async () => {
    complete("img-a");
    complete("img-b");
    cloud.images.get("img-b")!.os_hidden = true;
    complete("img-other");
    cloud.images.get("img-other")!.owner = "another-project";
    cloud.images.get("img-other")!.visibility = "public";
    cloud.add({ id: "img-c", properties: { dse_image_name: "other_family" } });
    const ids = (await store.listFamily("dse_base")).map((i) => i.id);
    expect(ids).toEqual(["img-a", "img-b"]);
  });

  it("lists the stack's builders: running, sealed (stopped after its cleanup) or stopped", async () => {
    const builder = (ID: string, Status: string, extra: Record<string, string> = {}) =>
      cloud.servers.push({
        ID,
        Name: `dse-${dev.stackTag}-openstack-${ID}`,
        Status,
        Properties: { dse_role: "builder", dse_build: "b1", dse_gen: "g1", ...extra },
      });
    builder("s1", "ACTIVE");
    builder("s2", "SHUTOFF", { dse_sealed: "true" });
    builder("s3", "SHUTOFF");
    builder("s4", "ERROR");
    cloud.servers.push({
      ID: "s5",
      Name: `dse-${dev.stackTag}-openstack-test`,
      Status: "ACTIVE",
      Properties: { dse_role: "test" },
    });
    expect(await store.listBuilders(dev.stackTag)).toEqual([
      { id: "s1", build: "b1", gen: "g1", status: "running" },
      { id: "s2", build: "b1", gen: "g1", status: "sealed" },
      { id: "s3", build: "b1", gen: "g1", status: "stopped" },
      { id: "s4", build: "b1", gen: "g1", status: "stopped" },
    ]);
  });

  it("takes an older client's properties text as well as JSON", () => {
    expect(propertiesOf("dse_state='complete', dse_user_ab='o/p/s'")).toEqual({
      dse_state: "complete",
      dse_user_ab: "o/p/s",
    });
    expect(propertiesOf({ dse_gen: "g1", os_hidden: false })).toEqual({
      dse_gen: "g1",
      os_hidden: "false",
    });
  });
});

describe("OpenStackImageStore writes", () => {
  it("meta and the manifest in pieces Glance takes, read back whole", async () => {
    cloud.add({ id: "img-1", properties: {} });
    const manifest = Object.fromEntries(
      Array.from({ length: 40 }, (_, i) => [`tool${i}`, `${i}.0`]),
    );
    await store.setMeta("img-1", { state: "pending", gen: "g2" }, manifest);
    const props = cloud.images.get("img-1")!.properties;
    const pieces = Object.keys(props).filter((k) => k.startsWith("dse_manifest_"));
    expect(pieces.length).toBe(Math.ceil(JSON.stringify(manifest).length / MANIFEST_PIECE));
    expect(Object.values(props).every((v) => v.length <= 255)).toBe(true);
    const image = await store.get("img-1");
    expect(image?.manifest).toEqual(manifest);
    expect(image?.meta).toEqual({ state: "pending", gen: "g2" });
  });

  it("publishes under the final name, visibility and extra properties, state complete", async () => {
    const published = new OpenStackImageStore(
      { visibility: "shared", properties: { os_distro: "ubuntu", hw_qemu_guest_agent: "yes" } },
      cloud.cli,
      SETTLED,
    );
    cloud.add({ id: "img-1", name: "dse_base-x.pending", properties: { dse_state: "pending" } });
    expect(await published.publish((await published.get("img-1"))!, "dse_base-x")).toBe("img-1");
    // The change, then its read-back.
    expect(cloud.calls.at(-1)).toEqual(["image", "show", "-f", "json", "img-1"]);
    expect(cloud.calls.at(-2)).toEqual([
      "image",
      "set",
      "--name",
      "dse_base-x",
      "--shared",
      "--property",
      "hw_qemu_guest_agent=yes",
      "--property",
      "os_distro=ubuntu",
      "--property",
      "dse_state=complete",
      "img-1",
    ]);
    expect(cloud.images.get("img-1")).toMatchObject({ name: "dse_base-x", visibility: "shared" });
  });

  it("deletes; an image already gone is done; another failure names the image", async () => {
    complete("img-1");
    await store.delete((await store.get("img-1"))!);
    expect(cloud.images.has("img-1")).toBe(false);
    await store.delete({ id: "img-1" } as never);
    const failing = new OpenStackImageStore({}, () =>
      Promise.resolve({ code: 1, stdout: "", stderr: "HTTP 409 Conflict: image in use\n" }),
    );
    await expect(failing.delete({ id: "img-9" } as never)).rejects.toThrow(
      "openstack image delete img-9: HTTP 409 Conflict: image in use",
    );
  });
});

describe("OpenStackImageStore changes that another change at the same moment undoes", () => {
  const ci = { stackTag: "cccccccc", stackId: "organization/dse-image/ci" };
  const claimOf = (stack: { stackTag: string }) => `dse_user_${stack.stackTag}`;

  it("a claim Glance lost to another stack's claim is made again; both hold", async () => {
    complete("img-1", { [claimOf(dev)]: dev.stackId });
    // ci claims the image at the same moment: its request read the image before prod's claim.
    cloud.concurrent.push({ id: "img-1", change: (i) => (i.properties[claimOf(ci)] = ci.stackId) });
    await store.setClaim((await store.get("img-1"))!, "users", prod.stackTag, prod.stackId);
    const calls = cloud.calls.slice(-4);
    expect((await store.get("img-1"))!.users).toEqual({
      [dev.stackTag]: dev.stackId,
      [prod.stackTag]: prod.stackId,
      [ci.stackTag]: ci.stackId,
    });
    expect(logs).toEqual([
      `another change to image img-1 at the same moment undid this one (${claimOf(prod)}): Glance keeps the whole record each change read; making it again`,
    ]);
    const set = ["--insecure", "image", "set", "--property", `${claimOf(prod)}=${prod.stackId}`];
    const show = ["--insecure", "image", "show", "-f", "json", "img-1"];
    expect(calls).toEqual([[...set, "img-1"], show, [...set, "img-1"], show]);
  });

  it("a claim dropped and brought back by another change is dropped again", async () => {
    complete("img-1", { [claimOf(dev)]: dev.stackId, [claimOf(prod)]: prod.stackId });
    cloud.concurrent.push({ id: "img-1", change: (i) => (i.properties.dse_boot_test = "{}") });
    await store.dropClaim((await store.get("img-1"))!, "users", prod.stackTag);
    expect((await store.get("img-1"))!.users).toEqual({ [dev.stackTag]: dev.stackId });
    expect(cloud.images.get("img-1")!.properties.dse_boot_test).toBe("{}");
    expect(logs).toHaveLength(1);
  });

  it("a superseded image shown again by another change is hidden again", async () => {
    complete("img-1");
    cloud.concurrent.push({ id: "img-1", change: (i) => (i.properties[claimOf(ci)] = ci.stackId) });
    await store.supersede((await store.get("img-1"))!, "dse_base-img-2");
    expect(cloud.images.get("img-1")).toMatchObject({ os_hidden: true });
    expect(cloud.images.get("img-1")!.properties).toMatchObject({
      dse_superseded_by: "dse_base-img-2",
      [claimOf(ci)]: ci.stackId,
    });
    expect(logs[0]).toMatch(/undid this one \(os_hidden, dse_superseded_by\)/);
  });

  it("gives up, saying so, when its change is undone every time", async () => {
    const twice = new OpenStackImageStore({}, cloud.cli, { ...SETTLED, attempts: 2 });
    complete("img-1");
    for (const n of [1, 2]) cloud.concurrent.push({ id: "img-1", change: () => n });
    await expect(
      twice.setClaim((await twice.get("img-1"))!, "users", prod.stackTag, prod.stackId),
    ).rejects.toThrow(
      new StoreError(
        `another change to image img-1 at the same moment undid this one (${claimOf(prod)}): Glance keeps the whole record each change read, 2 times; run \`pulumi up\` again`,
      ),
    );
    expect(logs).toHaveLength(1);
  });

  it("claiming an image deleted since it was read fails naming it; dropping a claim from it is done", async () => {
    complete("img-1", { [claimOf(dev)]: dev.stackId });
    const image = (await store.get("img-1"))!;
    cloud.images.delete("img-1");
    const gone =
      "image img-1 is gone: another stack's run released it since this run read it (or it was removed by hand); run `pulumi up` again to rebuild it";
    await expect(store.setClaim(image, "users", prod.stackTag, prod.stackId)).rejects.toThrow(
      new StoreError(gone),
    );
    await expect(store.setHeld(image, prod.stackTag, true)).rejects.toThrow(new StoreError(gone));
    await store.dropClaim(image, "users", dev.stackTag);
  });

  it("a change Glance refuses fails naming the call, the image and Glance's answer", async () => {
    complete("img-1");
    const refusing = new OpenStackImageStore(
      { visibility: "public" },
      (args) =>
        args[1] === "set"
          ? Promise.resolve({
              code: 1,
              stdout: "",
              stderr: "ForbiddenException: 403: Forbidden to publicize image\n",
            })
          : cloud.cli(args),
      SETTLED,
    );
    await expect(refusing.publish((await refusing.get("img-1"))!, "dse_base-x")).rejects.toThrow(
      new StoreError(
        "openstack image set img-1 exited 1: ForbiddenException: 403: Forbidden to publicize image",
      ),
    );
  });

  it("a claim past Glance's image_property_quota says what the 413 means and what to do", async () => {
    complete("img-1");
    const full = new OpenStackImageStore(
      {},
      (args) =>
        args[1] === "set"
          ? Promise.resolve({
              code: 1,
              stdout: "",
              stderr:
                "HttpException: 413: Client Error for url: http://127.0.0.1:9292/v2/images/img-1, Request Entity Too Large\n",
            })
          : cloud.cli(args),
      SETTLED,
    );
    await expect(
      full.setClaim((await full.get("img-1"))!, "users", prod.stackTag, prod.stackId),
    ).rejects.toThrow(
      new StoreError(
        "openstack image set img-1 exited 1: HttpException: 413: Client Error for url: " +
          "http://127.0.0.1:9292/v2/images/img-1, Request Entity Too Large. The image holds as " +
          "many properties as Glance's image_property_quota allows (glance-api.conf, default " +
          "128): each stack using it adds up to three (dse_user_, dse_held_, dse_kept_ and its " +
          "stack tag). Destroy stacks that no longer use it, or ask the cloud's operator to " +
          "raise image_property_quota",
      ),
    );
  });

  it("a claim whose image another stack deleted just after it was made fails naming the image", async () => {
    complete("img-1");
    const image = (await store.get("img-1"))!;
    // The other stack's release had checked the image before the claim, and deletes it now.
    const deleting = new OpenStackImageStore(
      {},
      async (args) => {
        const r = await cloud.cli(args);
        if (args[1] === "set") cloud.images.delete("img-1");
        return r;
      },
      SETTLED,
    );
    await expect(deleting.setClaim(image, "users", prod.stackTag, prod.stackId)).rejects.toThrow(
      /^image img-1 is gone: another stack's run released it since this run read it/,
    );
  });
});

describe("the image rules (claims.ts) on OpenStack", () => {
  const request = (imageId: string, keep = 0) => ({
    imageId,
    imageName: "dse_base",
    ...dev,
    retain: false,
    keep,
  });

  it("claims an image: the stack's user property, held by the resource", async () => {
    complete("img-1");
    const record = await claimImage(store, request("img-1"), log);
    expect(record).toMatchObject({ id: "img-1", name: "dse_base-img-1", imageName: "dse_base" });
    expect(cloud.images.get("img-1")!.properties).toMatchObject({
      [`dse_user_${dev.stackTag}`]: dev.stackId,
      // What the claim asks of the image: another stack leaving takes back only the rest.
      [`dse_held_${dev.stackTag}`]: '{"visibility":"private","properties":[]}',
    });
    // The claim and its held mark in one change: one `image set`, read back once.
    expect(cloud.calls.filter((c) => c.includes("set"))).toHaveLength(1);
  });

  it("with retention.keep 1 a rebuild keeps the previous image hidden and superseded", async () => {
    complete("img-old", { [`dse_user_${dev.stackTag}`]: dev.stackId }, "2026-11-01T00:00:00Z");
    complete("img-new");
    await claimImage(store, request("img-new", 1), log);
    const old = cloud.images.get("img-old")!;
    expect(old.properties[`dse_kept_${dev.stackTag}`]).toBe(dev.stackId);
    // Retention lists the family once (both lists at once: with and without hidden images).
    expect(cloud.calls.filter((c) => c.includes("list"))).toHaveLength(2);
    // The old claim's release (its ImageClaim leaving the program) marks it superseded.
    await releaseImage(store, request("img-old", 1), log);
    expect(old.properties[`dse_user_${dev.stackTag}`]).toBeUndefined();
    expect(old.os_hidden).toBe(true);
    expect(old.properties.dse_superseded_by).toBe("dse_base-img-new");
    expect(cloud.images.has("img-old")).toBe(true);
  });

  it("a claim widens the image to the stack's visibility and adds its missing properties", async () => {
    complete("img-1", { os_distro: "debian" });
    const sharing = new OpenStackImageStore(
      { visibility: "shared", properties: { os_distro: "ubuntu", hw_qemu_guest_agent: "yes" } },
      cloud.cli,
      SETTLED,
    );
    await claimImage(sharing, request("img-1"), log);
    const image = cloud.images.get("img-1")!;
    expect(image.visibility).toBe("shared");
    // Another stack's value stays: a claim only adds.
    expect(image.properties).toMatchObject({ os_distro: "debian", hw_qemu_guest_agent: "yes" });
    expect(logs).toContain(
      "dse_base-img-1 (img-1): setting visibility shared, hw_qemu_guest_agent as this stack asks",
    );
    // A stack asking for less (private, the default) takes nothing away, and changes nothing.
    const calls = cloud.calls.length;
    await claimImage(store, { ...request("img-1"), ...prod }, log);
    expect(image.visibility).toBe("shared");
    expect(
      cloud.calls.slice(calls).filter((c) => c.includes("set") && c.includes("--private")),
    ).toEqual([]);
  });

  it("takes back a visibility and properties no other claim asks for; the last release the rest", async () => {
    complete("img-1");
    const storeOf = (visibility: string, properties: Record<string, string>) =>
      new OpenStackImageStore({ visibility, properties }, cloud.cli, SETTLED);
    const before = { visibility: "public", properties: { a: "1", b: "2" } };
    await claimImage(storeOf("public", before.properties), request("img-1"), log);
    const prodStore = storeOf("shared", { b: "2" });
    await claimImage(prodStore, { ...request("img-1"), ...prod }, log);
    const image = cloud.images.get("img-1")!;
    expect(image.visibility).toBe("public");
    expect(image.properties[`dse_held_${dev.stackTag}`]).toBe(
      '{"visibility":"public","properties":["a","b"]}',
    );
    logs = [];

    await claimImage(storeOf("private", {}), request("img-1"), log, { ...dev, settings: before });
    expect(image.visibility).toBe("shared");
    expect(image.properties.a).toBeUndefined();
    expect(image.properties.b).toBe("2");
    expect(image.properties[`dse_held_${dev.stackTag}`]).toBe(
      '{"visibility":"private","properties":[]}',
    );
    expect(logs).toContain(
      "no stack asks for visibility public, a on image img-1 any more: it goes shared, removing a",
    );

    // prod leaves the image to dev, which asks for nothing: private, and b goes.
    await releaseImage(prodStore, { ...request("img-1"), ...prod }, log);
    expect(cloud.images.has("img-1")).toBe(true);
    expect(image.visibility).toBe("private");
    expect(image.properties.b).toBeUndefined();
  });

  it("a claim that records nothing, or a visibility set wider by hand, keeps what it has", async () => {
    complete("img-1", {
      [`dse_user_${prod.stackTag}`]: prod.stackId,
      [`dse_held_${prod.stackTag}`]: "true",
    });
    const before = { visibility: "shared", properties: { a: "1" } };
    const sharing = new OpenStackImageStore(before, cloud.cli, SETTLED);
    await claimImage(sharing, request("img-1"), log);
    logs = [];
    await claimImage(store, request("img-1"), log, { ...dev, settings: before });
    const image = cloud.images.get("img-1")!;
    expect([image.visibility, image.properties.a]).toEqual(["shared", "1"]);
    expect(logs).toEqual([
      `image img-1 keeps its visibility and properties: the claims of ${prod.stackId} do not record which they rely on (made by an earlier version, or kept by retention)`,
    ]);

    // Made public by hand: not this stack's doing, it stays when the stack leaves.
    delete image.properties[`dse_user_${prod.stackTag}`];
    image.visibility = "public";
    await claimImage(sharing, request("img-1"), log, { ...dev, settings: {} });
    await claimImage(store, request("img-1"), log, { ...dev, settings: before });
    expect([image.visibility, image.properties.a]).toEqual(["public", undefined]);
  });

  it("property names too long for one property record nothing, and say so", async () => {
    complete("img-1");
    const properties = Object.fromEntries(
      Array.from({ length: 30 }, (_, i) => [`property_${i}`, "x"]),
    );
    const many = new OpenStackImageStore({ properties }, cloud.cli, SETTLED);
    await claimImage(many, request("img-1"), log);
    expect(cloud.images.get("img-1")!.properties[`dse_held_${dev.stackTag}`]).toBe("true");
    expect(logs).toContain(
      "imageProperties' names do not fit in one property (Glance takes 255 characters): other stacks never take back a visibility or property of img-1 while this stack claims it",
    );
  });

  it("a Read names the visibility and properties the stack asks for that the image lacks", async () => {
    complete("img-1", { os_distro: "debian" });
    const sharing = new OpenStackImageStore(
      { visibility: "shared", properties: { os_distro: "ubuntu", hw_qemu_guest_agent: "yes" } },
      cloud.cli,
      SETTLED,
    );
    const image = (await sharing.get("img-1"))!;
    expect(await sharing.replicasGone(image)).toEqual(["visibility shared", "hw_qemu_guest_agent"]);
    await claimImage(sharing, request("img-1"), log);
    expect(await sharing.replicasGone(image)).toEqual([]);
    cloud.images.delete("img-1");
    expect(await sharing.replicasGone(image)).toEqual([]);
  });

  it("widening an image deleted since it was read names it gone", async () => {
    complete("img-1");
    const image = (await store.get("img-1"))!;
    cloud.images.delete("img-1");
    await expect(store.ensureReplicas(image)).rejects.toThrow(
      /^image img-1 is gone: another stack's run released it since this run read it/,
    );
  });

  it("widening: a wider visibility and the absent properties, nothing else", () => {
    const row = { id: "i", visibility: "community", properties: { a: "1" } };
    expect(widening(row, "public", { a: "2", b: "3" })).toEqual({
      visibility: "public",
      set: { b: "3" },
    });
    expect(widening(row, "shared", { a: "2" })).toEqual({});
    expect(widening({ id: "i" }, "shared", {})).toEqual({ visibility: "shared" });
  });

  it("a release deletes the image no stack claims, and keeps one another stack uses", async () => {
    complete("img-1", { [`dse_user_${prod.stackTag}`]: prod.stackId });
    await claimImage(store, request("img-1"), log);
    await releaseImage(store, request("img-1"), log);
    expect(cloud.images.get("img-1")!.properties).not.toHaveProperty(`dse_user_${dev.stackTag}`);
    expect(cloud.images.get("img-1")!.properties).not.toHaveProperty(`dse_held_${dev.stackTag}`);
    await releaseImage(store, { ...request("img-1"), ...prod }, log);
    expect(cloud.images.has("img-1")).toBe(false);
  });
});

describe("the source image by content", () => {
  it("is its ID and Glance's digest of its bytes, found by ID or name", async () => {
    cloud.add({ id: "22a2004b", name: "ubuntu-24.04", os_hash_value: "9f86d0", properties: {} });
    await expect(store.describeSource("22a2004b")).resolves.toEqual({
      id: "22a2004b",
      checksum: "9f86d0",
    });
  });

  it("names the image when Glance cannot find it or cannot boot it", async () => {
    await expect(store.describeSource("ubuntu-99.04")).rejects.toThrow(
      new StoreError("source image ubuntu-99.04: No Image found for ubuntu-99.04"),
    );
    cloud.add({ id: "33b3", status: "queued", properties: {} });
    await expect(store.describeSource("33b3")).rejects.toThrow(
      new StoreError("source image 33b3 (33b3) is queued, not active: a builder cannot boot it"),
    );
  });
});
