/**
 * The OpenStack platform's one-shot host commands: `node --require ./components/ts-hook.cjs
 * components/openstack/cli.ts <command>`, everything else from the environment as command.local
 * passes it (the stored delete teardown.sh runs `teardown`; the SSH wait and the boot test run
 * `console` for their errors),
 * with the OS_* variables of a sourced openrc. Exit status 1 with "==> openstack: ..." on stderr
 * when it fails.
 *   OS_FLAGS       extra flags for every openstack call (`--insecure`, `--os-cacert FILE`)
 *   teardown       PREFIX [RETRY_SECONDS]: deletes the builder-side objects whose name starts
 *                  with PREFIX (servers, floating IPs by description, key pairs, security groups)
 *   console        SERVER_ID [LINES]: prints the last lines of a server's console log
 *   stop           SERVER_ID: stops a builder whose SSH never came up (the SSH wait runs it)
 */
import {
  envList as list,
  envSeconds as seconds,
  requiredEnv as need,
  runHostCommand,
} from "../host-env";
import { storeLog } from "../store/provider-util";
import { OpenStackImageStore } from "../store/openstack";
import { type OpenStackContext, consoleTail, stopBuilder, sweepBuilderObjects } from "./servers";

/** The store's transport with the flags of the environment. */
export function openStackContext(env: NodeJS.ProcessEnv): OpenStackContext {
  return {
    store: new OpenStackImageStore({ osFlags: list(env.OS_FLAGS) }),
    log: storeLog("openstack"),
    retrySeconds: seconds(env.RETRY_SECONDS, 5),
    pollSeconds: seconds(env.POLL_SECONDS, 5),
  };
}

/** Runs one command; what it prints on stdout. */
export async function main(command: string | undefined, env = process.env): Promise<string> {
  const ctx = openStackContext(env);
  switch (command) {
    case "teardown":
      await sweepBuilderObjects(ctx, need(env, "PREFIX"));
      return "";
    case "console":
      return `${await consoleTail(ctx, need(env, "SERVER_ID"), Number(env.LINES) || 30)}\n`;
    case "stop":
      await stopBuilder(ctx, need(env, "SERVER_ID"));
      return "";
    default:
      throw new Error(`unknown command ${command ?? "(none)"}`);
  }
}

if (require.main === module) runHostCommand("==> openstack: ", () => main(process.argv[2]));
