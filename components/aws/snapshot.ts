import { type AwsImageStore, ec2Sdk } from "../store/aws";
import { StoreError, type StoreLog } from "../store/image-store";
import { type PendingMeta, discardUnpublished, pendingMeta } from "../store/pending";

/**
 * The AWS snapshot: tags the provisioned builder sealed, stops it, and makes this build's PENDING
 * AMI of the stopped instance with CreateImage, every tag of the build (and the user's
 * `aws.tags`) in the create call, on the AMI and its snapshots: an interrupted snapshot still
 * leaves a whole pending AMI that the next run tests and publishes. AMI names are final at
 * creation, so "pending" is the dse-image:state tag. It tears nothing down; the teardown step
 * runs after it. Returns the AMI's ID once EC2 made it available.
 *
 * Why stop first: CreateImage on a running instance stops it and starts it again. After
 * cleanup.sh's `cloud-init clean` that boot is a first boot to cloud-init (rule S1): it authorizes
 * the build key again and rewrites the dead-man switch and machine-id, so if the AMI then fails,
 * the builder a retry finds is no longer the sealed disk. A stopped instance is imaged as it is
 * and stays stopped ("sealed" to the probe), so a retry images the same sealed disk.
 */
export async function snapshotInstance(
  store: AwsImageStore,
  instanceId: string,
  build: PendingMeta,
  log: StoreLog,
): Promise<string> {
  const ec2 = store.client();
  await store.run("create-tags", () =>
    ec2.send(
      new (ec2Sdk().CreateTagsCommand)({
        Resources: [instanceId],
        Tags: [{ Key: "dse-image:sealed", Value: "true" }],
      }),
    ),
  );
  log(`stopping ${instanceId}: a stopped instance is imaged as cleanup.sh left it`);
  await store.run("stop-instances", () =>
    ec2.send(new (ec2Sdk().StopInstancesCommand)({ InstanceIds: [instanceId] })),
  );
  const { pollSeconds, minutes } = store.waitSettings();
  await store.run("wait instance-stopped", () =>
    ec2Sdk().waitUntilInstanceStopped(
      { client: ec2, maxWaitTime: minutes * 60, minDelay: pollSeconds, maxDelay: pollSeconds },
      { InstanceIds: [instanceId] },
    ),
  );
  await freeTheName(store, build, log);
  log(`Creating the AMI ${build.name} from ${instanceId} ...`);
  const tags = store.creationTags(pendingMeta(build), build.manifest);
  const created = await store.run("create-image", () =>
    ec2.send(
      new (ec2Sdk().CreateImageCommand)({
        InstanceId: instanceId,
        Name: build.name,
        Description: `dse-image ${build.name} (fingerprint ${build.fingerprint})`,
        TagSpecifications: [
          { ResourceType: "image", Tags: tags },
          { ResourceType: "snapshot", Tags: tags },
        ],
      }),
    ),
  );
  const id = created.ImageId;
  if (!id) throw new StoreError(`aws ec2 create-image returned no AMI ID for ${build.name}`);
  log(`AMI: ${id}; waiting until it is available ...`);
  await store.waitAvailable(id);
  return id;
}

/** An AMI name is unique: a pending or failed AMI of this stack's earlier attempt goes first. */
async function freeTheName(store: AwsImageStore, build: PendingMeta, log: StoreLog) {
  for (const image of await store.named(build.name)) {
    const { state, buildStack } = image.meta;
    if (state === "complete" || buildStack !== build.stackTag) {
      throw new StoreError(
        `AMI name ${build.name} is taken by ${image.id} (state ${state ?? "unknown"}, stack ${buildStack ?? "unknown"}): ` +
          "another stack's run built the same image at the same time; run `pulumi up` again to " +
          "use that AMI once it is complete, or to build under the next free name",
      );
    }
    log(`removing the unpublished AMI ${image.id} of an earlier attempt`);
    await discardUnpublished(store, image, log);
  }
}
