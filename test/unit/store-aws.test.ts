/**
 * The AWS image store (components/store/aws.ts) over `@aws-sdk/client-ec2`, its transport mocked
 * with aws-sdk-client-mock by the in-memory EC2 of test/support/fake-ec2-sdk.ts, and the image
 * rules of components/store/claims.ts run on it: tags, claims held by the resource, copies in
 * other regions that live and die with the home AMI, launch permissions, the AMI waiter.
 */
import { DescribeImageAttributeCommand } from "@aws-sdk/client-ec2";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type AwsStoreConfig, AwsImageStore, amiWait, copyToken } from "../../components/store/aws";
import { durationSeconds } from "../../components/store/aws-credentials";
import { claimImage, releaseImage } from "../../components/store/claims";
import { StoreError } from "../../components/store/image-store";
import { FakeEc2 } from "../support/fake-ec2-sdk";

const HOME = "eu-west-1";
const COPY = "us-east-1";
const dev = { stackTag: "3476bb56", stackId: "organization/dse-image/dev" };
const prod = { stackTag: "aaaaaaaa", stackId: "organization/dse-image/prod" };
const WAIT = { pollSeconds: 0.001, minutes: 1, settleSeconds: 0 };

let ec2: FakeEc2;
let logs: string[];
const log = (m: string) => logs.push(m);
const storeWith = (config: Partial<AwsStoreConfig> = {}) =>
  new AwsImageStore({ region: HOME, ...config }, log, undefined, WAIT);

beforeEach(() => {
  ec2 = new FakeEc2();
  logs = [];
});
afterEach(() => ec2.restore());

function complete(id: string, tags: Record<string, string> = {}, createdAt?: string) {
  return ec2.add({
    id,
    region: HOME,
    name: `dse_base-${id}`,
    ...(createdAt ? { createdAt } : {}),
    tags: { "dse-image:state": "complete", "dse-image:image-name": "dse_base", ...tags },
  });
}

const request = (imageId: string, keep = 0) => ({
  imageId,
  imageName: "dse_base",
  ...dev,
  retain: false,
  keep,
});

describe("AwsImageStore reads", () => {
  it("an AMI's tags as metadata, claims, held claims, manifest pieces and copies", async () => {
    complete("ami-1", {
      "dse-image:fingerprint": "91e2",
      "dse-image:gen": "g1",
      [`dse-image:user:${dev.stackTag}`]: dev.stackId,
      [`dse-image:held:${dev.stackTag}`]: "true",
      [`dse-image:kept:${prod.stackTag}`]: prod.stackId,
      "dse-image:manifest-0": '{"python":',
      "dse-image:manifest-1": '"3.11.2"}',
      "dse-image:copies": `${COPY}=ami-c1`,
    });
    expect(await storeWith().get("ami-1")).toEqual({
      id: "ami-1",
      name: "dse_base-ami-1",
      createdAt: expect.any(String) as string,
      meta: { state: "complete", imageName: "dse_base", fingerprint: "91e2", gen: "g1" },
      users: { [dev.stackTag]: dev.stackId },
      kept: { [prod.stackTag]: prod.stackId },
      held: [dev.stackTag],
      holds: { [dev.stackTag]: "true" },
      manifest: { python: "3.11.2" },
      extra: {
        available: true,
        copies: { [COPY]: "ami-c1" },
        // Only the regions this store's settings ask for: the copy is another stack's.
        regions: { [HOME]: "ami-1" },
        snapshots: ["snap-1"],
      },
    });
    expect(ec2.calls[0]).toEqual({
      command: "DescribeImagesCommand",
      region: HOME,
      input: { Owners: ["self"], ImageIds: ["ami-1"] },
    });
  });

  it("a gone AMI is undefined; a failed one, or a complete one not available, is broken", async () => {
    const store = storeWith();
    expect(await store.get("ami-gone")).toBeUndefined();
    ec2.add({ id: "ami-f", region: HOME, state: "failed", tags: { "dse-image:state": "pending" } });
    complete("ami-d").state = "disabled";
    expect((await store.get("ami-f"))?.meta.state).toBe("broken");
    expect((await store.get("ami-d"))?.meta.state).toBe("broken");
  });

  it("lists the family by tag, and this stack's builders by state", async () => {
    complete("ami-1");
    complete("ami-2", { "dse-image:image-name": "other" });
    const store = storeWith();
    expect((await store.listFamily("dse_base")).map((i) => i.id)).toEqual(["ami-1"]);
    const builder = (id: string, state: string, extra: Record<string, string> = {}) =>
      ec2.instances.push({
        id,
        state,
        tags: {
          "dse-image:stack": dev.stackTag,
          "dse-image:role": "builder",
          "dse-image:build": "b1",
          "dse-image:gen": "g1",
          ...extra,
        },
      });
    builder("i-1", "running");
    builder("i-2", "stopped", { "dse-image:sealed": "true" });
    builder("i-3", "stopped");
    builder("i-4", "terminated");
    expect(await store.listBuilders(dev.stackTag)).toEqual([
      { id: "i-1", build: "b1", gen: "g1", status: "running" },
      { id: "i-2", build: "b1", gen: "g1", status: "sealed" },
      { id: "i-3", build: "b1", gen: "g1", status: "stopped" },
    ]);
  });

  it("an EC2 failure is the operator's one line, naming the call and the region", async () => {
    ec2.mock.rejects(Object.assign(new Error("not authorized"), { name: "UnauthorizedOperation" }));
    await expect(storeWith().listFamily("dse_base")).rejects.toThrow(
      new StoreError("aws ec2 describe-images in eu-west-1: UnauthorizedOperation: not authorized"),
    );
  });
});

/**
 * dev claims ami-1 while prod's claim, which read it before dev's copies were recorded, makes its
 * own copies after them.
 */
async function copyingAtOnce(
  devConfig: Partial<AwsStoreConfig>,
  prodConfig: Partial<AwsStoreConfig>,
) {
  complete("ami-1");
  const devStore = storeWith(devConfig);
  const prodStore = storeWith(prodConfig);
  const readBefore = (await prodStore.get("ami-1"))!;
  await claimImage(devStore, request("ami-1"), log);
  const prodRecord = await prodStore.ensureReplicas(readBefore);
  return { devStore, prodStore, prodRecord };
}

/** prod's claim on ami-1 is written, then dev and prod release it: no AMI may be left. */
async function bothRelease(devStore: AwsImageStore, prodStore: AwsImageStore) {
  await prodStore.setClaim((await prodStore.get("ami-1"))!, "users", prod.stackTag, prod.stackId);
  await releaseImage(devStore, request("ami-1"), log);
  await releaseImage(prodStore, { ...request("ami-1"), ...prod }, log);
  expect([...ec2.amis.keys()]).toEqual([]);
}

describe("the image rules (claims.ts) on AWS", () => {
  it("claims an AMI and its copies; the user's tags go on the copy in its create call", async () => {
    complete("ami-1", { "dse-image:manifest-0": '{"r":"4.2"}' });
    const store = storeWith({
      copyToRegions: [COPY],
      shareWithAccounts: ["111122223333"],
      kmsKeyId: "alias/images",
      tags: { CostCenter: "42" },
    });
    const record = await claimImage(store, request("ami-1"), log);
    const copy = [...ec2.amis.values()].find((a) => a.region === COPY)!;
    expect(record.regions).toEqual({ [HOME]: "ami-1", [COPY]: copy.id });
    const input = {
      SourceRegion: HOME,
      SourceImageId: "ami-1",
      Name: "dse_base-ami-1",
      Description: "dse-image dse_base-ami-1, copied from eu-west-1",
      Encrypted: true,
      KmsKeyId: "alias/images",
      TagSpecifications: [
        {
          ResourceType: "image" as const,
          Tags: [
            { Key: "CostCenter", Value: "42" },
            { Key: "dse-image:source-ami", Value: "ami-1" },
          ],
        },
      ],
    };
    expect(ec2.calls.find((c) => c.command === "CopyImageCommand")).toEqual({
      command: "CopyImageCommand",
      region: COPY,
      input: { ...input, ClientToken: copyToken(input) },
    });
    expect(copy.state).toBe("available");
    expect(copy.tags).toEqual({
      CostCenter: "42",
      "dse-image:state": "complete",
      "dse-image:image-name": "dse_base",
      "dse-image:manifest-0": '{"r":"4.2"}',
      [`dse-image:user:${dev.stackTag}`]: dev.stackId,
      "dse-image:source-ami": "ami-1",
    });
    const home = ec2.amis.get("ami-1")!;
    expect(home.tags).toMatchObject({
      [`dse-image:user:${dev.stackTag}`]: dev.stackId,
      [`dse-image:held:${dev.stackTag}`]: `regions:${COPY} accounts:111122223333`,
      [`dse-image:copy:${COPY}`]: copy.id,
    });
    expect(home.tags).not.toHaveProperty("dse-image:copies");
    expect(home.launchPermissions).toEqual(["111122223333"]);
    expect(copy.launchPermissions).toEqual(["111122223333"]);
  });

  it("a release deletes the AMI, its copies and their snapshots once no stack claims them", async () => {
    complete("ami-1", { [`dse-image:user:${prod.stackTag}`]: prod.stackId });
    const store = storeWith({ copyToRegions: [COPY] });
    await claimImage(store, request("ami-1"), log);
    const copy = [...ec2.amis.values()].find((a) => a.region === COPY)!;
    await releaseImage(store, request("ami-1"), log);
    expect(ec2.amis.size).toBe(2);
    await releaseImage(store, { ...request("ami-1"), ...prod }, log);
    expect(ec2.amis.size).toBe(0);
    expect(ec2.deletedSnapshots).toEqual([copy.snapshots[0], "snap-1"]);
    // Copies first: a home AMI never goes while a copy of it stays unrecorded.
    expect(
      ec2.calls.filter((c) => c.command === "DeregisterImageCommand").map((c) => c.region),
    ).toEqual([COPY, HOME]);
  });

  it("two stacks copying to two regions at once both keep their copy recorded, and both go", async () => {
    const WEST = "us-west-2";
    const { devStore, prodStore, prodRecord } = await copyingAtOnce(
      { copyToRegions: [COPY] },
      { copyToRegions: [WEST] },
    );
    const devCopy = [...ec2.amis.values()].find((a) => a.region === COPY)!;
    const prodCopy = [...ec2.amis.values()].find((a) => a.region === WEST)!;
    expect(prodRecord).toEqual({ regions: { [HOME]: "ami-1", [WEST]: prodCopy.id } });
    expect((await devStore.get("ami-1"))!.extra.copies).toEqual({
      [COPY]: devCopy.id,
      [WEST]: prodCopy.id,
    });
    await bothRelease(devStore, prodStore);
  });

  it("two stacks copying to the same region at once get one copy, which goes with the AMI", async () => {
    // prod asks EC2 for a copy too.
    const { devStore, prodStore, prodRecord } = await copyingAtOnce(
      { copyToRegions: [COPY] },
      { copyToRegions: [COPY] },
    );
    const copies = [...ec2.amis.values()].filter((a) => a.region === COPY);
    expect(copies).toHaveLength(1);
    expect(prodRecord).toEqual({ regions: { [HOME]: "ami-1", [COPY]: copies[0].id } });
    const tokens = ec2.calls
      .filter((c) => c.command === "CopyImageCommand")
      .map((c) => c.input.ClientToken);
    expect(tokens).toEqual([tokens[0], tokens[0]]);
    await bothRelease(devStore, prodStore);
  });

  it("a copy made but not recorded (its answer lost) is not made twice by the next run", async () => {
    complete("ami-1");
    const store = storeWith({ copyToRegions: [COPY] });
    const before = (await store.get("ami-1"))!;
    await store.ensureReplicas(before);
    delete ec2.amis.get("ami-1")!.tags[`dse-image:copy:${COPY}`];
    const record = await store.ensureReplicas(before);
    const copies = [...ec2.amis.values()].filter((a) => a.region === COPY);
    expect(copies.map((c) => c.id)).toEqual([(record.regions as Record<string, string>)[COPY]]);
    expect(ec2.amis.get("ami-1")!.tags[`dse-image:copy:${COPY}`]).toBe(copies[0].id);
  });

  it("a recorded copy deregistered outside Pulumi is copied again, not answered with the gone one", async () => {
    complete("ami-1");
    const store = storeWith({ copyToRegions: [COPY] });
    const copyOf = async () => (await claimImage(store, request("ami-1"), log)).regions![COPY];
    const gone = await copyOf();
    ec2.amis.delete(gone);
    const again = await copyOf();
    expect(again).not.toBe(gone);
    expect(ec2.amis.get(again)).toMatchObject({ region: COPY, state: "available" });
    expect(ec2.amis.get("ami-1")!.tags[`dse-image:copy:${COPY}`]).toBe(again);
  });

  it("a copy made with other settings at the same moment is unrecorded, and still goes", async () => {
    const { devStore, prodStore } = await copyingAtOnce(
      { copyToRegions: [COPY], tags: { CostCenter: "42" } },
      { copyToRegions: [COPY], tags: { CostCenter: "7" } },
    );
    expect([...ec2.amis.values()].filter((a) => a.region === COPY)).toHaveLength(2);
    await prodStore.setClaim((await prodStore.get("ami-1"))!, "users", prod.stackTag, prod.stackId);
    await releaseImage(devStore, request("ami-1"), log);
    expect(ec2.amis.size).toBe(3);
    await releaseImage(prodStore, { ...request("ami-1"), ...prod }, log);
    expect([...ec2.amis.keys()]).toEqual([]);
  });

  it("a release's deregister landing just after the claim: the claim fails once it has settled", async () => {
    // The release read the AMI unclaimed just before dev's claim; its deregister lands 10 ms
    // after dev's last claim write.
    const releasedAfterClaim = (id: string) =>
      ec2.after.push({
        when: (command, input) =>
          command === "CreateTagsCommand" &&
          JSON.stringify(input).includes(`dse-image:held:${dev.stackTag}`),
        // This test's EC2, should the timer outlive the test (a failing one).
        then: () => void setTimeout((fake: FakeEc2) => fake.amis.delete(id), 10, ec2),
      });
    const withSettle = (settleSeconds: number) =>
      new AwsImageStore({ region: HOME }, log, undefined, { ...WAIT, settleSeconds });
    complete("ami-1");
    releasedAfterClaim("ami-1");
    // Read back at once, the AMI is still there: the stack would export a deregistered AMI.
    expect((await claimImage(withSettle(0), request("ami-1"), log)).id).toBe("ami-1");
    complete("ami-2");
    releasedAfterClaim("ami-2");
    await expect(claimImage(withSettle(0.05), request("ami-2"), log)).rejects.toThrow(
      new StoreError(
        "image ami-2 is gone: another stack's run released it since this run read it (or it " +
          "was removed by hand); run `pulumi up` again to rebuild it",
      ),
    );
  });

  it("a claim on an AMI deregistered since it was read names it gone", async () => {
    complete("ami-1");
    const store = storeWith();
    const read = (await store.get("ami-1"))!;
    ec2.amis.delete("ami-1");
    await expect(store.setClaim(read, "users", dev.stackTag, dev.stackId)).rejects.toThrow(
      /^image ami-1 is gone: another stack's run released it/,
    );
  });

  it("should EC2 refuse a copy's name as taken, the copy of this AMI under it is this stack's too", async () => {
    ec2.copyNamesUnique = true;
    const { prodRecord } = await copyingAtOnce(
      { copyToRegions: [COPY], tags: { CostCenter: "42" } },
      { copyToRegions: [COPY], tags: { CostCenter: "7" } },
    );
    const [copy] = [...ec2.amis.values()].filter((a) => a.region === COPY);
    expect([...ec2.amis.values()].filter((a) => a.region === COPY)).toHaveLength(1);
    expect(prodRecord).toEqual({ regions: { [HOME]: "ami-1", [COPY]: copy.id } });
    expect(logs).toContain(`${COPY} has a copy of dse_base-ami-1 already: ${copy.id}`);
  });

  it("a copy's name taken by an AMI that is not a copy of it is named, with what to do", async () => {
    ec2.copyNamesUnique = true;
    complete("ami-1");
    ec2.add({ id: "ami-other", region: COPY, name: "dse_base-ami-1" });
    await expect(
      claimImage(storeWith({ copyToRegions: [COPY] }), request("ami-1"), log),
    ).rejects.toThrow(
      new StoreError(
        "aws ec2 copy-image in us-east-1: InvalidAMIName.Duplicate: AMI name dse_base-ami-1 is " +
          "already in use; that AMI is not a copy of ami-1: deregister it or give it another name",
      ),
    );
  });

  it("the copy's client token does not depend on the order of aws.tags", async () => {
    complete("ami-1");
    const tags = { A: "1", B: "2" };
    await storeWith({ copyToRegions: [COPY], tags }).ensureReplicas(
      (await storeWith().get("ami-1"))!,
    );
    const reversed = { B: "2", A: "1" };
    const again = storeWith({ copyToRegions: [COPY], tags: reversed });
    await again.ensureReplicas({ ...(await again.get("ami-1"))!, extra: { copies: {} } });
    expect([...ec2.amis.values()].filter((a) => a.region === COPY)).toHaveLength(1);
  });

  it("copyToken: one per AMI, region settings and replaced copy, as EC2 takes it", () => {
    const input = { SourceRegion: HOME, SourceImageId: "ami-1", Name: "n" };
    expect(copyToken(input)).toMatch(/^dse-image-[0-9a-f]{54}$/);
    expect(copyToken({ ...input })).toBe(copyToken(input));
    expect(copyToken(input, "ami-gone")).not.toBe(copyToken(input));
    expect(copyToken({ ...input, Encrypted: true })).not.toBe(copyToken(input));
  });

  it("reads the copies an earlier version listed in one tag, under the per-region tags", async () => {
    complete("ami-1", {
      "dse-image:copies": `${COPY}=ami-c1,us-west-2=ami-w1`,
      "dse-image:copy:us-west-2": "ami-w2",
    });
    expect((await storeWith().get("ami-1"))!.extra.copies).toEqual({
      [COPY]: "ami-c1",
      "us-west-2": "ami-w2",
    });
  });

  it("with retention.keep 1 a rebuild keeps the previous AMI, deprecated and superseded", async () => {
    complete(
      "ami-old",
      { [`dse-image:user:${dev.stackTag}`]: dev.stackId },
      "2026-11-01T00:00:00Z",
    );
    complete("ami-new");
    const store = storeWith();
    await claimImage(store, request("ami-new", 1), log);
    await releaseImage(store, request("ami-old", 1), log);
    const old = ec2.amis.get("ami-old")!;
    expect(old.tags[`dse-image:kept:${dev.stackTag}`]).toBe(dev.stackId);
    expect(old.tags[`dse-image:user:${dev.stackTag}`]).toBeUndefined();
    expect(old.tags["dse-image:superseded-by"]).toBe("dse_base-ami-new");
    // EC2 rounds to the minute and refuses a time in the past.
    expect(old.deprecateAt!.getUTCSeconds()).toBe(0);
    expect(old.deprecateAt!.getTime()).toBeGreaterThan(Date.now());
  });

  it("with retention.keep 1 a claim kept in this pass and beyond the count is dropped again", async () => {
    // Both previous AMIs still used by the stack (a release that never ran): both become kept,
    // then the older one is beyond the count; its claim is on the AMI only since this pass.
    const user = { [`dse-image:user:${dev.stackTag}`]: dev.stackId };
    complete("ami-a", user, "2026-10-01T00:00:00Z");
    complete("ami-b", user, "2026-11-01T00:00:00Z");
    complete("ami-new");
    await claimImage(storeWith(), request("ami-new", 1), log);
    expect(ec2.amis.get("ami-b")!.tags[`dse-image:kept:${dev.stackTag}`]).toBe(dev.stackId);
    expect(ec2.amis.get("ami-a")?.tags[`dse-image:kept:${dev.stackTag}`]).toBeUndefined();
  });

  it("a home AMI deregistered outside Pulumi: its copies go, unless another stack claims them", async () => {
    const store = storeWith({ copyToRegions: [COPY] });
    complete("ami-1");
    await claimImage(store, request("ami-1"), log);
    await claimImage(store, { ...request("ami-1"), ...prod }, log);
    const copy = [...ec2.amis.values()].find((a) => a.region === COPY)!;
    ec2.amis.delete("ami-1");
    await releaseImage(store, request("ami-1"), log);
    expect(copy.tags).toMatchObject({ [`dse-image:user:${prod.stackTag}`]: prod.stackId });
    expect(copy.tags).not.toHaveProperty(`dse-image:user:${dev.stackTag}`);
    expect(logs).toContain(`keeping copy ${copy.id} in ${COPY}: still claimed by others`);
    await releaseImage(store, { ...request("ami-1"), ...prod }, log);
    expect(ec2.amis.has(copy.id)).toBe(false);
    expect(logs).toContain(`deleting copy ${copy.id} in ${COPY} of the gone AMI ami-1`);
  });
});

describe("copies and shares a stack no longer asks for", () => {
  const A = "111111111111";
  const B = "222222222222";
  const WEST = "us-west-2";
  const copyIn = (region: string) => [...ec2.amis.values()].find((a) => a.region === region);

  it("an update takes back those no other claim asks for; the last release takes back the rest", async () => {
    complete("ami-1");
    const before = { copyToRegions: [COPY, WEST], shareWithAccounts: [A, B] };
    await claimImage(storeWith(before), request("ami-1"), log);
    const prodStore = storeWith({ copyToRegions: [WEST], shareWithAccounts: [B] });
    await claimImage(prodStore, { ...request("ami-1"), ...prod }, log);
    const east = copyIn(COPY)!;
    const west = copyIn(WEST)!;
    logs = [];

    const record = await claimImage(storeWith(), request("ami-1"), log, {
      ...dev,
      settings: before,
    });
    expect(ec2.amis.has(east.id)).toBe(false);
    expect(ec2.deletedSnapshots).toEqual(east.snapshots);
    const home = ec2.amis.get("ami-1")!;
    expect(home.tags).not.toHaveProperty(`dse-image:copy:${COPY}`);
    expect(home.tags[`dse-image:copy:${WEST}`]).toBe(west.id);
    expect(home.tags[`dse-image:held:${dev.stackTag}`]).toBe("regions: accounts:");
    // The copy's record goes only while it names the deleted copy.
    expect(ec2.calls.filter((c) => c.command === "DeleteTagsCommand").map((c) => c.input)).toEqual([
      { Resources: ["ami-1"], Tags: [{ Key: `dse-image:copy:${COPY}`, Value: east.id }] },
    ]);
    expect(home.launchPermissions).toEqual([B]);
    expect(west.launchPermissions).toEqual([B]);
    expect(record.regions).toEqual({ [HOME]: "ami-1" });
    expect(logs).toEqual([
      `the copies in ${WEST} and the shares with ${B} of ami-1 stay: the claims of ${prod.stackId} ask for them`,
      `no stack asks for a copy in ${COPY} any more: deleting ${east.id} there`,
      `no stack shares ami-1 with ${A} any more: revoking their launch permission on it and its copies`,
    ]);
    expect(
      ec2.calls
        .filter(
          (c) =>
            c.command === "ModifyImageAttributeCommand" &&
            (c.input.LaunchPermission as { Remove?: unknown }).Remove !== undefined,
        )
        .map((c) => [c.region, c.input.ImageId]),
    ).toEqual([
      [HOME, "ami-1"],
      [WEST, west.id],
    ]);

    // prod leaves the AMI to dev, which asks for nothing: prod's copy and share go.
    logs = [];
    await releaseImage(prodStore, { ...request("ami-1"), ...prod }, log);
    expect(ec2.amis.has("ami-1")).toBe(true);
    expect(ec2.amis.has(west.id)).toBe(false);
    expect(home.launchPermissions).toEqual([]);
    expect(logs).toContain(
      `no stack asks for a copy in ${WEST} any more: deleting ${west.id} there`,
    );
  });

  it("a claim that records nothing (an earlier version's) keeps every copy and share", async () => {
    complete("ami-1", {
      [`dse-image:user:${prod.stackTag}`]: prod.stackId,
      [`dse-image:held:${prod.stackTag}`]: "true",
    });
    const before = { copyToRegions: [COPY], shareWithAccounts: [A] };
    await claimImage(storeWith(before), request("ami-1"), log);
    const east = copyIn(COPY)!;
    logs = [];
    await claimImage(storeWith(), request("ami-1"), log, { ...dev, settings: before });
    expect(ec2.amis.has(east.id)).toBe(true);
    expect(ec2.amis.get("ami-1")!.launchPermissions).toEqual([A]);
    expect(logs).toEqual([
      `the copies in ${COPY} and the shares with ${A} of ami-1 stay: the claims of ${prod.stackId} do not record which copies and shares they use (made by an earlier version, or kept by retention); they go with the AMI`,
    ]);
  });

  it("settings the same as before take nothing back and write nothing", async () => {
    complete("ami-1");
    const settings = { copyToRegions: [COPY], shareWithAccounts: [A] };
    await claimImage(storeWith(settings), request("ami-1"), log);
    const calls = ec2.calls.length;
    await claimImage(storeWith(settings), request("ami-1"), log, { ...dev, settings });
    const writes = ec2.calls
      .slice(calls)
      .filter((c) => !/^Describe/.test(c.command) && c.command !== "ModifyImageAttributeCommand");
    expect(writes).toEqual([]);
    expect(copyIn(COPY)!.state).toBe("available");
  });

  it("settings too long for one tag record nothing, and say so", async () => {
    complete("ami-1");
    const accounts = Array.from({ length: 20 }, (_, i) => String(100000000000 + i));
    await claimImage(storeWith({ shareWithAccounts: accounts }), request("ami-1"), log);
    expect(ec2.amis.get("ami-1")!.tags[`dse-image:held:${dev.stackTag}`]).toBe("true");
    expect(logs).toContain(
      "copyToRegions and shareWithAccounts do not fit in one tag (EC2 takes 256 characters): other stacks never take back a copy or share of ami-1 while this stack claims it",
    );
  });
});

describe("the AMI wait", () => {
  it("fails at once on a failed copy with EC2's reason", async () => {
    complete("ami-1");
    ec2.copyBecomes = { state: "failed", reason: "InsufficientCapacity" };
    const store = storeWith({ copyToRegions: [COPY] });
    await expect(claimImage(store, request("ami-1"), log)).rejects.toThrow(
      /^AMI ami-\d+ in us-east-1 is failed: InsufficientCapacity$/,
    );
    // The copy was recorded before the wait: the next run finds it, deletes it and copies again.
    const failed = ec2.amis.get("ami-1")!.tags["dse-image:copy:us-east-1"];
    expect(failed).toMatch(/^ami-/);
    ec2.copyBecomes = { state: "available" };
    const again = await claimImage(store, request("ami-1"), log);
    expect(ec2.amis.has(failed)).toBe(false);
    expect(again.regions![COPY]).not.toBe(failed);
    expect(ec2.amis.get(again.regions![COPY])!.state).toBe("available");
    expect(logs).toContain(`copy ${failed} in ${COPY} is broken: deleting it and copying again`);
  });

  it("a Read names the copyToRegions copies gone or broken; a pending one is not", async () => {
    complete("ami-1", {
      [`dse-image:copy:${COPY}`]: "ami-c1",
      "dse-image:copy:us-west-2": "ami-w1",
    });
    const store = storeWith({ copyToRegions: [COPY, "us-west-2", "ap-south-1"] });
    ec2.add({ id: "ami-c1", region: COPY, state: "pending" });
    ec2.add({ id: "ami-w1", region: "us-west-2", state: "failed" });
    expect(await store.replicasGone((await store.get("ami-1"))!)).toEqual([
      "us-west-2",
      "ap-south-1",
    ]);
    expect(await storeWith().replicasGone((await store.get("ami-1"))!)).toEqual([]);
  });

  it("a Read names a launch permission removed from the AMI or a copy outside Pulumi", async () => {
    const [a, b] = ["111111111111", "222222222222"];
    complete("ami-1", { [`dse-image:copy:${COPY}`]: "ami-c1" }).launchPermissions = [a, b];
    ec2.add({ id: "ami-c1", region: COPY, launchPermissions: [b] });
    const store = storeWith({ copyToRegions: [COPY], shareWithAccounts: [a, b] });
    const image = (await store.get("ami-1"))!;
    expect(await store.replicasGone(image)).toEqual([
      `launch permission of ${a} on ami-c1 in ${COPY}`,
    ]);
    ec2.amis.get("ami-1")!.launchPermissions = [];
    expect(await store.replicasGone(image)).toEqual([
      `launch permission of ${a}, ${b} on ami-1 in ${HOME}`,
      `launch permission of ${a} on ami-c1 in ${COPY}`,
    ]);
    // Shared again, as the claim's update after `up --refresh` does.
    await store.ensureReplicas(image);
    expect(await store.replicasGone(image)).toEqual([]);
    expect(await storeWith({ copyToRegions: [COPY] }).replicasGone(image)).toEqual([]);
    expect(ec2.calls.filter((c) => c.command === "DescribeImageAttributeCommand")).toHaveLength(6);
  });

  it("without ec2:DescribeImageAttribute a Read checks the copies only, and says so once", async () => {
    complete("ami-1");
    ec2.mock.on(DescribeImageAttributeCommand).rejects(
      Object.assign(new Error("You are not authorized to perform this operation."), {
        name: "UnauthorizedOperation",
      }),
    );
    const store = storeWith({ copyToRegions: [COPY], shareWithAccounts: ["111111111111"] });
    const image = (await store.get("ami-1"))!;
    expect(await store.replicasGone(image)).toEqual([COPY]);
    expect(await store.replicasGone(image)).toEqual([COPY]);
    expect(logs).toEqual([
      "cannot read the launch permissions of ami-1 (UnauthorizedOperation): a refresh does not see a share with shareWithAccounts removed outside Pulumi; allow ec2:DescribeImageAttribute to have it checked",
    ]);
  });

  it("an AMI gone by the time its launch permissions are read is skipped, not the rest", async () => {
    const a = "111111111111";
    complete("ami-1", { [`dse-image:copy:${COPY}`]: "ami-c1" }).launchPermissions = [a];
    ec2.add({ id: "ami-c1", region: COPY });
    ec2.mock
      .on(DescribeImageAttributeCommand, { ImageId: "ami-1" })
      .rejects(Object.assign(new Error("gone"), { name: "InvalidAMIID.NotFound" }));
    const store = storeWith({ copyToRegions: [COPY], shareWithAccounts: [a] });
    expect(await store.replicasGone((await store.get("ami-1"))!)).toEqual([
      `launch permission of ${a} on ami-c1 in ${COPY}`,
    ]);
    expect(logs).toEqual([]);
  });

  it("another failure to read launch permissions fails the Read, naming the call", async () => {
    complete("ami-1");
    ec2.mock
      .on(DescribeImageAttributeCommand)
      .rejects(
        Object.assign(new Error("Request limit exceeded."), { name: "RequestLimitExceeded" }),
      );
    const store = storeWith({ shareWithAccounts: ["111111111111"] });
    await expect(store.replicasGone((await store.get("ami-1"))!)).rejects.toThrow(
      new StoreError(
        `aws ec2 describe-image-attribute in ${HOME}: RequestLimitExceeded: Request limit exceeded.`,
      ),
    );
  });

  it("gives up after AMI_WAIT_MINUTES, saying so", async () => {
    complete("ami-1");
    ec2.copyBecomes = { state: "pending" };
    const store = new AwsImageStore({ region: HOME, copyToRegions: [COPY] }, log, undefined, {
      pollSeconds: 0.001,
      minutes: 0.0001,
      settleSeconds: 0,
    });
    await expect(claimImage(store, request("ami-1"), log)).rejects.toThrow(
      /^AMI ami-\d+ in us-east-1 is still pending after 0.0001 minutes \(AMI_WAIT_MINUTES\)$/,
    );
  });

  it("reads POLL_SECONDS, AMI_WAIT_MINUTES and EC2_SETTLE_SECONDS, with EC2-sized defaults", () => {
    expect(amiWait({})).toEqual({ pollSeconds: 15, minutes: 90, settleSeconds: 5 });
    expect(amiWait({ POLL_SECONDS: "2", AMI_WAIT_MINUTES: "5", EC2_SETTLE_SECONDS: "0" })).toEqual({
      pollSeconds: 2,
      minutes: 5,
      settleSeconds: 0,
    });
  });
});

describe("credentials as the aws provider takes them", () => {
  it("reads assumeRoles durations as Go durations, and names a bad one", () => {
    expect(durationSeconds("1h30m")).toBe(5400);
    expect(durationSeconds("900s")).toBe(900);
    expect(durationSeconds(undefined)).toBeUndefined();
    expect(() => durationSeconds("an hour")).toThrow(
      'aws assumeRoles duration "an hour" is not a duration like 1h or 15m',
    );
  });
});
