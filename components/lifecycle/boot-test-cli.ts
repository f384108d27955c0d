/**
 * The boot test step:
 * `node --require ./components/ts-hook.cjs components/lifecycle/boot-test-cli.ts <platform>`
 * (aws, openstack or qemu), everything else from the environment boot-test.ts declares. Prints the
 * result line; on failure the report (`boot test of <name> FAILED in check "<check>": ...`) on
 * stderr and exit status 1.
 *   IMAGE_ID NAME TEST_NAME SSH_USER SSH_PRIVATE_KEY AUTHORIZED_KEY HOST_PUBLIC_KEY USER_DATA
 *   DSE_TOOLS DSE_PYTHON_SOURCE SSH_TIMEOUT_SECONDS KEEP_ON_FAILURE SBOM_PATH
 *   CONSOLE_WATCH_SECONDS  how often the SSH wait reads the console (wait-ssh.ts; default 30)
 *   STORE STORE_CONFIG    the image store (a rejected image is discarded or marked failed)
 *   and the platform's own (components/{aws/test-instance,openstack/test-server,qemu/test-machine}.ts)
 */
import { awsTestInstance } from "../aws/test-instance";
import { envSeconds, requiredEnv as need, runHostCommand } from "../host-env";
import { openStackTestServer } from "../openstack/test-server";
import { qemuTestMachine } from "../qemu/test-machine";
import { openStore } from "../store/open";
import { storeLog } from "../store/provider-util";
import { type BootTestSettings, type Launcher, runBootTest } from "./boot-test-run";
import type { StoreRef } from "./store";
import { consoleWatchSeconds } from "./wait-ssh";

export function bootTestSettings(env: NodeJS.ProcessEnv): BootTestSettings {
  return {
    imageId: need(env, "IMAGE_ID"),
    name: need(env, "NAME"),
    testName: need(env, "TEST_NAME"),
    sshUser: need(env, "SSH_USER"),
    privateKey: need(env, "SSH_PRIVATE_KEY"),
    authorizedKey: env.AUTHORIZED_KEY ?? "",
    hostPublicKey: need(env, "HOST_PUBLIC_KEY"),
    userData: env.USER_DATA ?? "",
    tools: env.DSE_TOOLS ?? "",
    pythonSource: env.DSE_PYTHON_SOURCE || "pip",
    sshTimeoutSeconds: envSeconds(env.SSH_TIMEOUT_SECONDS, 600),
    consoleWatchSeconds: consoleWatchSeconds(env),
    keepOnFailure: env.KEEP_ON_FAILURE === "true",
    sbomPath: env.SBOM_PATH || undefined,
  };
}

function launcherOf(platform: string | undefined, env: NodeJS.ProcessEnv): Launcher {
  switch (platform) {
    case "aws":
      return awsTestInstance(env);
    case "openstack":
      return openStackTestServer(env);
    case "qemu":
      return qemuTestMachine(env, storeLog("qemu"));
    default:
      throw new Error(`boot test: unknown platform ${platform ?? "(none)"}`);
  }
}

async function main(platform: string | undefined, env = process.env): Promise<string> {
  const settings = bootTestSettings(env);
  const store = openStore({
    store: need(env, "STORE") as StoreRef["store"],
    config: JSON.parse(env.STORE_CONFIG || "{}") as Record<string, unknown>,
  });
  return runBootTest(settings, launcherOf(platform, env), {
    store,
    log: (m) => process.stderr.write(`==> boot test: ${m}\n`),
  });
}

runHostCommand("", async () => `${await main(process.argv[2])}\n`);
