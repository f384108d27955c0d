/**
 * The engine model's EC2 for the SDK (world/ec2-bridge.cjs): the typed AWS store, run in the
 * engine's own process and in a child node process as the dynamic provider plugin runs it, sees
 * the same fake EC2 as the `aws` CLI shims, with EC2's error codes and the world's faults.
 */
import { execFile } from "node:child_process";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AwsImageStore } from "../../components/store/aws";
import { World } from "./world/world";

const REGION = "eu-west-1";
const REPO = path.resolve(__dirname, "..", "..");

let world: World;
beforeEach(async () => {
  world = await World.create();
});
afterEach(async () => world.close());

const store = (copyToRegions: string[] = []) =>
  new AwsImageStore({ region: REGION, copyToRegions }, () => undefined, undefined, {
    pollSeconds: 0.01,
    minutes: 1,
    settleSeconds: 0,
  });

describe("the SDK's EC2 in the engine model", () => {
  it("reads and tags the world's AMIs, as the CLI shims see them", async () => {
    const ami = world.aws.addAmi({
      name: "dse_base-1",
      region: REGION,
      tags: { "dse-image:state": "complete", "dse-image:image-name": "dse_base" },
    });
    const s = store();
    expect((await s.listFamily("dse_base")).map((i) => [i.id, i.meta.state])).toEqual([
      [ami.id, "complete"],
    ]);
    await s.setClaim((await s.get(ami.id))!, "users", "3476bb56", "organization/dse-image/dev");
    expect(ami.tags["dse-image:user:3476bb56"]).toBe("organization/dse-image/dev");
    expect(world.cli.calls.at(-1)).toEqual({
      tool: "aws",
      args: [
        ...["--region", REGION, "--output", "json", "ec2", "create-tags"],
        ...["--resources", ami.id],
        ...["--tags", '[{"Key":"dse-image:user:3476bb56","Value":"organization/dse-image/dev"}]'],
      ],
    });
  });

  it("answers an unknown AMI with EC2's code, which the store reads as gone", async () => {
    await expect(store().get("ami-00000000000000000")).resolves.toBeUndefined();
  });

  it("a copy the world keeps pending is waited for with the SDK's waiter, then tagged", async () => {
    const ami = world.aws.addAmi({
      name: "dse_base-1",
      region: REGION,
      tags: { "dse-image:state": "complete", "dse-image:image-name": "dse_base" },
    });
    const s = store(["us-east-1"]);
    const extra = await s.ensureReplicas((await s.get(ami.id))!);
    const copyId = (extra.regions as Record<string, string>)["us-east-1"];
    expect(world.aws.amis.get(copyId)).toMatchObject({ state: "available", region: "us-east-1" });
    expect(world.aws.amis.get(copyId)!.tags["dse-image:source-ami"]).toBe(ami.id);
  });

  it("reaches a child node process the way the dynamic provider plugin runs the store", async () => {
    const ami = world.aws.addAmi({ name: "dse_base-1", region: REGION, tags: {} });
    const script = `
      require("dse-image/ts-hook");
      const { AwsImageStore } = require("./components/store/aws.ts");
      new AwsImageStore({ region: "${REGION}" }).get("${ami.id}")
        .then((i) => console.log(JSON.stringify(i.name)), (e) => { console.error(e); process.exit(1); });`;
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ["-e", script], { cwd: REPO }, (e, stdout, stderr) =>
        e ? reject(new Error(stderr)) : resolve(stdout),
      ),
    );
    expect(JSON.parse(out)).toBe("dse_base-1");
  });
});
