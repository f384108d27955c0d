/**
 * The AWS snapshot (components/aws/snapshot.ts) over `@aws-sdk/client-ec2`, mocked with
 * aws-sdk-client-mock by the in-memory EC2 of test/support: the builder sealed and stopped before
 * CreateImage, every tag in the create call on the AMI and its snapshots, and the AMI name freed
 * only of this stack's own unpublished attempt.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { snapshotInstance } from "../../components/aws/snapshot";
import { AwsImageStore } from "../../components/store/aws";
import { StoreError } from "../../components/store/image-store";
import type { PendingMeta } from "../../components/store/pending";
import { FakeEc2 } from "../support/fake-ec2-sdk";

const HOME = "eu-west-1";
const BUILD: PendingMeta = {
  name: "dse_base-91e2e3577da8-20261205",
  gen: "g2",
  stackTag: "3476bb56",
  imageName: "dse_base",
  fingerprint: "91e2e3577da8aa",
  manifest: { python: "3.11.2" },
};

let ec2: FakeEc2;
let logs: string[];
const store = () =>
  new AwsImageStore({ region: HOME, tags: { CostCenter: "42" } }, (m) => logs.push(m), undefined, {
    pollSeconds: 0.001,
    minutes: 1,
    settleSeconds: 0,
  });
const snapshot = () => snapshotInstance(store(), "i-1", BUILD, (m) => logs.push(m));

beforeEach(() => {
  ec2 = new FakeEc2();
  logs = [];
  ec2.instances.push({ id: "i-1", state: "running", tags: { "dse-image:role": "builder" } });
});
afterEach(() => ec2.restore());

describe("the AWS snapshot", () => {
  it("seals and stops the builder, then images it with every tag in the create call", async () => {
    const id = await snapshot();
    expect(ec2.calls.map((c) => c.command).slice(0, 3)).toEqual([
      "CreateTagsCommand",
      "StopInstancesCommand",
      "DescribeInstancesCommand",
    ]);
    expect(ec2.instances[0]).toMatchObject({
      state: "stopped",
      tags: { "dse-image:sealed": "true" },
    });
    const tags = {
      CostCenter: "42",
      "dse-image:fingerprint": "91e2e3577da8aa",
      "dse-image:state": "pending",
      "dse-image:gen": "g2",
      "dse-image:build-stack": "3476bb56",
      "dse-image:image-name": "dse_base",
      "dse-image:final-name": BUILD.name,
      "dse-image:manifest-0": '{"python":"3.11.2"}',
    };
    const ami = ec2.amis.get(id)!;
    expect([ami.name, ami.tags]).toEqual([BUILD.name, tags]);
    expect(ec2.snapshotTags[ami.snapshots[0]]).toEqual(tags);
    expect(ec2.calls.find((c) => c.command === "CreateImageCommand")?.input).toMatchObject({
      InstanceId: "i-1",
      Name: BUILD.name,
      Description: `dse-image ${BUILD.name} (fingerprint 91e2e3577da8aa)`,
    });
  });

  it("frees the name of this stack's failed earlier attempt", async () => {
    const failed = ec2.add({
      region: HOME,
      name: BUILD.name,
      state: "failed",
      tags: { "dse-image:state": "pending", "dse-image:build-stack": "3476bb56" },
    });
    const id = await snapshot();
    expect(ec2.amis.has(failed.id)).toBe(false);
    expect(id).not.toBe(failed.id);
    expect(logs).toContain(`removing the unpublished AMI ${failed.id} of an earlier attempt`);
  });

  it("never frees a name a complete AMI or another stack holds", async () => {
    const other = ec2.add({
      region: HOME,
      name: BUILD.name,
      tags: { "dse-image:state": "pending", "dse-image:build-stack": "aaaaaaaa" },
    });
    await expect(snapshot()).rejects.toThrow(
      new StoreError(
        `AMI name ${BUILD.name} is taken by ${other.id} (state pending, stack aaaaaaaa): ` +
          "another stack's run built the same image at the same time; run `pulumi up` again to " +
          "use that AMI once it is complete, or to build under the next free name",
      ),
    );
    expect(ec2.amis.has(other.id)).toBe(true);
  });
});
