import * as pulumi from "@pulumi/pulumi";
import type { ImageSettings } from "../config/stack";
import type { Host } from "./host";
import { Plan, planBuild } from "./plan";
import type { StoreRef } from "./store";

/**
 * Looks at what exists (images of this family, this stack's builders) and decides what this run
 * declares for one platform; logs why, so `pulumi up` says whether it builds, resumes or adopts.
 */
export async function resolvePlan(
  platform: string,
  host: Host,
  store: StoreRef,
  config: ImageSettings,
  fingerprint: string,
): Promise<Plan> {
  const probe = await host.probe(store, { imageName: config.imageName, stackTag: host.stackTag });
  const plan = planBuild({
    probe,
    imageName: config.imageName,
    fingerprint,
    stackId: host.stackId,
    stackTag: host.stackTag,
    now: host.now(),
    maxImageAgeDays: config.maxImageAgeDays,
    keep: config.retention.keep,
  });
  void pulumi.log.info(`${platform}: ${plan.reason}`);
  return plan;
}
