/**
 * The OpenStack platform's one-shot host commands: `node --import tsx
 * components/openstack/cli.ts <command>`, everything else from the environment as command.local
 * passes it (teardown.sh, console.sh and boot-test.sh run this), with the OS_* variables of a
 * sourced openrc. Exit status 1 with "==> openstack: ..." on stderr when it fails; 3 when the
 * image under test is one Glance failed (the boot test's check "image").
 *   OS_FLAGS       extra flags for every openstack call (`--insecure`, `--os-cacert FILE`)
 *   teardown       PREFIX [RETRY_SECONDS]: deletes the builder-side objects whose name starts
 *                  with PREFIX (servers, floating IPs by description, key pairs, security groups)
 *   console        SERVER_ID [LINES]: prints the last lines of a server's console log
 *   launch-test    IMAGE_ID TEST_NAME STACK_TAG USER_DATA_FILE FLAVOR NETWORKS SECURITY_GROUPS
 *                  AVAILABILITY_ZONE FLOATING_IP FLOATING_IP_POOL SSH_ALLOWED_CIDRS
 *                  [POLL_SECONDS]: removes what an earlier attempt at this test left (a killed
 *                  run), launches the boot test's server, prints "<server> <group> <allocated
 *                  floating IP ID or -> <host>"; removes what it made when it fails
 *   remove-test    TEST_SERVER_ID TEST_GROUP_ID TEST_ALLOCATED_IP_ID: deletes the test server,
 *                  releases the address, deletes the group
 */
import { envList as list, envSeconds as seconds, requiredEnv as need } from "../host-env";
import { storeLog } from "../store/provider-util";
import { OpenStackImageStore } from "../store/openstack";
import {
  type OpenStackContext,
  type TestServer,
  UnusableImage,
  consoleTail,
  launchTestServer,
  removeTestServer,
  sweepBuilderObjects,
} from "./servers";

function context(env: NodeJS.ProcessEnv): OpenStackContext {
  return {
    store: new OpenStackImageStore({ osFlags: list(env.OS_FLAGS) }),
    log: storeLog("openstack"),
    retrySeconds: seconds(env.RETRY_SECONDS, 5),
    pollSeconds: seconds(env.POLL_SECONDS, 5),
  };
}

async function launchTest(ctx: OpenStackContext, env: NodeJS.ProcessEnv): Promise<string> {
  const name = need(env, "TEST_NAME");
  // A killed earlier attempt at this test left its server, group and floating IP under its name.
  await sweepBuilderObjects(ctx, name);
  const made: TestServer = {};
  try {
    await launchTestServer(
      ctx,
      {
        imageId: need(env, "IMAGE_ID"),
        name,
        stackTag: env.STACK_TAG ?? "",
        userDataFile: need(env, "USER_DATA_FILE"),
        flavor: need(env, "FLAVOR"),
        networks: list(env.NETWORKS),
        securityGroups: list(env.SECURITY_GROUPS),
        availabilityZone: env.AVAILABILITY_ZONE || undefined,
        floatingIp: env.FLOATING_IP || undefined,
        floatingIpPool: env.FLOATING_IP_POOL || undefined,
        sshAllowedCidrs: list(env.SSH_ALLOWED_CIDRS),
      },
      made,
    );
  } catch (e) {
    await removeTestServer(ctx, made);
    throw e;
  }
  return `${made.serverId} ${made.groupId} ${made.allocatedIpId ?? "-"} ${made.host}\n`;
}

/** Runs one command; what it prints on stdout. */
export async function main(command: string | undefined, env = process.env): Promise<string> {
  const ctx = context(env);
  switch (command) {
    case "teardown":
      await sweepBuilderObjects(ctx, need(env, "PREFIX"));
      return "";
    case "console":
      return `${await consoleTail(ctx, need(env, "SERVER_ID"), Number(env.LINES) || 30)}\n`;
    case "launch-test":
      return launchTest(ctx, env);
    case "remove-test":
      await removeTestServer(ctx, {
        serverId: env.TEST_SERVER_ID || undefined,
        groupId: env.TEST_GROUP_ID || undefined,
        allocatedIpId: env.TEST_ALLOCATED_IP_ID || undefined,
      });
      return "";
    default:
      throw new Error(`unknown command ${command ?? "(none)"}`);
  }
}

if (require.main === module) {
  main(process.argv[2]).then(
    (out) => process.stdout.write(out),
    (e: Error) => {
      process.stderr.write(`==> openstack: ${e.message}\n`);
      process.exitCode = e instanceof UnusableImage ? 3 : 1;
    },
  );
}
