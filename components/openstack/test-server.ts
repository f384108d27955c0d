import * as path from "node:path";
import { requiredEnv as need, envList } from "../host-env";
import type { Launcher } from "../lifecycle/boot-test-run";
import { tsCommand } from "../lifecycle/driver";
import { shellQuote } from "../shell";
import { openStackContext } from "./cli";
import {
  type OpenStackContext,
  type TestServer,
  launchTestServer,
  removeTestServer,
  sweepBuilderObjects,
} from "./servers";

/**
 * The OpenStack boot test's server (components/lifecycle/boot-test-run.ts): first what a killed
 * earlier attempt at this test left goes (its server, group and floating IP, named after it),
 * then a fresh server from the pending image once Glance made it active, with the builder's
 * flavor, networks and groups, its own SSH group and the build's floating IP.
 *
 * Env: OS_FLAGS, IMAGE_ID, NAME, TEST_NAME, STACK_TAG, FLAVOR, NETWORKS, SECURITY_GROUPS,
 * AVAILABILITY_ZONE, FLOATING_IP, FLOATING_IP_POOL, SSH_ALLOWED_CIDRS (lists space-separated),
 * POLL_SECONDS (the image wait).
 */
export function openStackTestServer(
  env: NodeJS.ProcessEnv,
  ctx: OpenStackContext = openStackContext(env),
): Launcher {
  const name = need(env, "TEST_NAME");
  const made: TestServer = {};
  return {
    describe: `server ${name}`,
    async launch(tmp: string) {
      const imageId = need(env, "IMAGE_ID");
      await sweepBuilderObjects(ctx, name);
      await launchTestServer(
        ctx,
        {
          imageId,
          name,
          stackTag: env.STACK_TAG ?? "",
          userDataFile: path.join(tmp, "user-data"),
          flavor: need(env, "FLAVOR"),
          networks: envList(env.NETWORKS),
          securityGroups: envList(env.SECURITY_GROUPS),
          availabilityZone: env.AVAILABILITY_ZONE || undefined,
          floatingIp: env.FLOATING_IP || undefined,
          floatingIpPool: env.FLOATING_IP_POOL || undefined,
          sshAllowedCidrs: envList(env.SSH_ALLOWED_CIDRS),
        },
        made,
      );
      const id = made.serverId!;
      ctx.log(`booting ${env.NAME ?? ""} (${imageId}) as server ${id} at ${made.host}`);
      return {
        host: made.host!,
        port: 22,
        describe: `server ${id}`,
        consoleCommand: `SERVER_ID=${shellQuote(id)} ${tsCommand(path.join(__dirname, "cli.ts"), "console")}`,
      };
    },
    remove: () => removeTestServer(ctx, made),
  };
}
