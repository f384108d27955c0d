import { StoreError, type StoreLog, UnusableImage } from "../store/image-store";
import type { OpenStackImageStore } from "../store/openstack";

/*
 * The builder-side objects of the OpenStack platform that are not resources of the program: the
 * sweep of a stack's servers, floating IPs, key pairs and security groups (what a killed run or a
 * renamed stack left), and the boot test's server. Through the image store's transport (the
 * `openstack` CLI with the operator's openrc and flags; components/store/openstack.ts says why).
 */

export interface OpenStackContext {
  /** Its `run` is the transport: the configured flags, a failure as a StoreError. */
  store: OpenStackImageStore;
  log: StoreLog;
  /** Seconds between security group deletion attempts (RETRY_SECONDS, default 5). */
  retrySeconds: number;
  /** Seconds between image status checks (POLL_SECONDS, default 5). */
  pollSeconds: number;
}

/** Fixed argument words, written as one string (none holds a space). */
const words = (text: string) => text.split(" ");
const DESCRIPTION = "dse-image boot test";
const SSH_RULE = "security group rule create --ingress --protocol tcp --dst-port 22 --remote-ip";

const pause = (seconds: number) => new Promise((r) => setTimeout(r, seconds * 1000));

async function rows(ctx: OpenStackContext, args: string[]): Promise<Record<string, string>[]> {
  const out = await ctx.store.run([...args, "-f", "json"]);
  return JSON.parse(out || "[]") as Record<string, string>[];
}

/**
 * True while `openstack <kind> list` still shows the object, so a failed delete counts only then:
 * Pulumi runs the deletes of one antichain in parallel (pkg/resource/deploy/step_generator.go
 * ScheduleDeletes), and an old sweep step's stored delete runs beside the typed key pair's and
 * group's.
 */
async function stillListed(ctx: OpenStackContext, kind: string[], column: string, id: string) {
  const listed = await rows(ctx, [...kind, "list"]).catch(() => [] as Record<string, string>[]);
  return listed.some((r) => r[column] === id);
}

/** Deletes one object; true when it is gone (deleted now, or by someone else meanwhile). */
async function deleted(
  ctx: OpenStackContext,
  kind: string[],
  column: string,
  id: string,
  extra: string[] = [],
): Promise<boolean> {
  try {
    await ctx.store.run([...kind, "delete", ...extra, id]);
    return true;
  } catch (e) {
    if (await stillListed(ctx, kind, column, id)) {
      ctx.log((e as Error).message);
      return false;
    }
    return true;
  }
}

const named = (prefix: string, column: string) => (r: Record<string, string>) =>
  (r[column] ?? "").startsWith(prefix);

/**
 * Deletes every builder-side object of one stack whose name starts with `prefix` (dse-<stack
 * tag>-openstack-, or one boot test's name): servers (builders and boot-test servers), floating
 * IPs this build allocated (by description), key pairs and security groups. Never images. Throws
 * naming what is left and how to remove it when something could not be deleted.
 */
export async function sweepBuilderObjects(ctx: OpenStackContext, prefix: string): Promise<void> {
  const left: string[] = [];
  // Listed at once (each `openstack` call is seconds of client start): what is deleted below is
  // what the stack had when the sweep began, whatever the order of the lists.
  const [servers, fips, keypairs, groups] = await Promise.all([
    rows(ctx, [...words("server list --name"), `^${prefix}`]),
    rows(ctx, ["floating", "ip", "list", "--long"]).catch((e: Error) => {
      // A cloud without Neutron's L3 extension has no floating IPs: the API answers 404.
      if (!/404|could not be found/.test(e.message))
        left.push(`floating IPs: cannot list them: ${e.message}`);
      return [] as Record<string, string>[];
    }),
    rows(ctx, ["keypair", "list"]),
    rows(ctx, ["security", "group", "list"]),
  ]);
  for (const { ID: id } of servers.filter(named(prefix, "Name"))) {
    ctx.log(`Terminating server ${id} ...`);
    if (!(await deleted(ctx, ["server"], "ID", id, ["--wait"])))
      left.push(`server ${id}: openstack server delete ${id}`);
  }
  for (const { ID: id } of fips.filter(named(prefix, "Description"))) {
    ctx.log(`Releasing floating IP ${id} ...`);
    if (!(await deleted(ctx, ["floating", "ip"], "ID", id)))
      left.push(`floating IP ${id}: openstack floating ip delete ${id}`);
  }
  for (const { Name: name } of keypairs.filter(named(prefix, "Name"))) {
    ctx.log(`Deleting key pair ${name} ...`);
    if (!(await deleted(ctx, ["keypair"], "Name", name)))
      left.push(`key pair ${name}: openstack keypair delete ${name}`);
  }
  // Servers first: a group goes once no server's port holds it.
  for (const { ID: id } of groups.filter(named(prefix, "Name"))) {
    ctx.log(`Deleting security group ${id} ...`);
    if (!(await deleteGroup(ctx, id)))
      left.push(`security group ${id}: openstack security group delete ${id}`);
  }
  if (left.length > 0)
    throw new StoreError(
      `teardown incomplete; left behind:\n${left.map((l) => `  ${l}`).join("\n")}`,
    );
}

/** A deleted server's port can hold its group for a few seconds: retried, then given up. */
async function deleteGroup(ctx: OpenStackContext, id: string): Promise<boolean> {
  for (let attempt = 1; attempt <= 6; attempt++) {
    try {
      await ctx.store.run(["security", "group", "delete", id]);
      return true;
    } catch {
      if (!(await stillListed(ctx, ["security", "group"], "ID", id))) return true;
    }
    await pause(ctx.retrySeconds);
  }
  return deleted(ctx, ["security", "group"], "ID", id);
}

/** Glance states after which nothing can boot from the image. */
const TERMINAL = ["killed", "deleted", "pending_delete", "deactivated"];

/** Waits until the image is active (up to 360 checks); UnusableImage when Glance failed it. */
export async function waitForImage(ctx: OpenStackContext, imageId: string): Promise<void> {
  let status = "";
  for (let check = 1; check <= 360; check++) {
    status = (await ctx.store.run([...words("image show -f value -c status"), imageId])).trim();
    if (status === "active") return;
    if (TERMINAL.includes(status))
      throw new UnusableImage(`image ${imageId} is ${status}: its snapshot cannot be booted`);
    await pause(ctx.pollSeconds);
  }
  throw new StoreError(`image ${imageId} is still ${status}`);
}

/** What the boot test's server is launched with (as the builder, components/openstack/image.ts). */
export interface TestServerRequest {
  imageId: string;
  /** Name of the server and its group, description of its floating IP: the sweep finds them. */
  name: string;
  stackTag: string;
  /** The cloud-config's file (the boot test's private temporary folder holds it). */
  userDataFile: string;
  flavor: string;
  networks: string[];
  securityGroups: string[];
  availabilityZone?: string;
  /** The address to use, or the pool to allocate one from; neither: the server's own address. */
  floatingIp?: string;
  floatingIpPool?: string;
  sshAllowedCidrs: string[];
}

export interface TestServer {
  serverId?: string;
  groupId?: string;
  /** A floating IP this test allocated (released with the server). */
  allocatedIpId?: string;
  host?: string;
}

/** The server's first IPv4 address: newer clients print an object of lists, older "net=ip, ip". */
export function firstAddress(addresses: unknown): string | undefined {
  const found =
    addresses !== null && typeof addresses === "object" && !Array.isArray(addresses)
      ? Object.values(addresses as Record<string, unknown>).flat()
      : typeof addresses === "string"
        ? [...addresses.matchAll(/=?([0-9.]+)/g)].map((m) => m[1])
        : [];
  return found.map(String).find((x) => x.includes("."));
}

/**
 * Launches the boot test's server from the pending image: its own security group (SSH from
 * sshAllowedCidrs, default anywhere), this test's user data, and the build's floating IP (fixed, or allocated from the pool). Fills `made` as it goes, so the caller removes
 * what a failure left.
 */
export async function launchTestServer(
  ctx: OpenStackContext,
  req: TestServerRequest,
  made: TestServer,
): Promise<void> {
  const run = (args: string[]) => ctx.store.run(args);
  await waitForImage(ctx, req.imageId);
  // The group first: the server names it by the ID this returns.
  made.groupId = (
    await run([
      ...words("security group create -f value -c id --description"),
      DESCRIPTION,
      req.name,
    ])
  ).trim();
  for (const cidr of req.sshAllowedCidrs.length ? req.sshAllowedCidrs : ["0.0.0.0/0"]) {
    await run([...words(SSH_RULE), cidr, made.groupId]);
  }
  const args = [
    ...words("server create --image"),
    req.imageId,
    "--flavor",
    req.flavor,
    "--user-data",
    req.userDataFile,
    "--security-group",
    made.groupId,
    ...words(`--property dse_role=test --property dse_stack=${req.stackTag}`),
    ...req.networks.flatMap((n) => ["--network", n]),
    ...req.securityGroups.flatMap((g) => ["--security-group", g]),
    ...(req.availabilityZone ? ["--availability-zone", req.availabilityZone] : []),
    ...words("--wait -f value -c id"),
    req.name,
  ];
  // With --wait the client writes its progress to stdout before the ID: the ID is the last line.
  made.serverId = (await run(args)).trim().split("\n").pop()?.trim();
  if (!made.serverId) throw new StoreError(`openstack server create printed no server ID`);
  if (req.floatingIp) {
    made.host = req.floatingIp;
  } else if (req.floatingIpPool) {
    const out = await run([
      ...words("floating ip create --description"),
      req.name,
      ...words("-f value -c id -c floating_ip_address"),
      req.floatingIpPool,
    ]);
    [made.allocatedIpId, made.host] = out.trim().split(/\s+/);
  } else {
    const shown = JSON.parse(await run(["server", "show", "-f", "json", made.serverId])) as {
      addresses?: unknown;
    };
    made.host = firstAddress(shown.addresses);
    if (!made.host) throw new StoreError(`server ${made.serverId} has no IPv4 address`);
  }
  if (req.floatingIp || req.floatingIpPool)
    await run(["server", "add", "floating", "ip", made.serverId, made.host]);
}

/** Deletes the test server, releases its address, deletes its group; failures are logged. */
export async function removeTestServer(ctx: OpenStackContext, made: TestServer): Promise<void> {
  const attempt = async (args: string[], what: string) =>
    ctx.store.run(args).catch((e: Error) => ctx.log(`could not ${what}: ${e.message}`));
  if (made.serverId)
    await attempt(["server", "delete", "--wait", made.serverId], `delete server ${made.serverId}`);
  if (made.allocatedIpId)
    await attempt(
      ["floating", "ip", "delete", made.allocatedIpId],
      `release ${made.allocatedIpId}`,
    );
  if (made.groupId)
    await attempt(["security", "group", "delete", made.groupId], `delete group ${made.groupId}`);
}

/**
 * Stops a builder whose SSH never came up (the SSH wait's STOP_COMMAND): SHUTOFF, as its own
 * power-off after a failed step leaves it, and never started again (the server ignores
 * powerState, rule O2). Nova refuses to stop a server that is not ACTIVE (409); one already
 * SHUTOFF or in ERROR runs nothing, so only another status fails.
 */
export async function stopBuilder(ctx: OpenStackContext, serverId: string): Promise<void> {
  await ctx.store.run(["server", "stop", serverId]).catch(async (e: unknown) => {
    const status = await serverStatus(ctx.store, serverId).catch(() => "");
    if (status !== "SHUTOFF" && status !== "ERROR") throw e;
  });
}

/** A server's status as Nova reports it (ACTIVE, SHUTOFF, ERROR, ...). */
export async function serverStatus(store: OpenStackImageStore, serverId: string): Promise<string> {
  return (await store.run([...words("server show -f value -c status"), serverId])).trim();
}

/** The last `lines` lines of a server's console log, for error messages. */
export async function consoleTail(
  ctx: OpenStackContext,
  serverId: string,
  lines: number,
): Promise<string> {
  const out = await ctx.store
    .run([...words("console log show --lines"), String(lines), serverId])
    .catch(() => "");
  return out.trimEnd() || `(no console log for server ${serverId})`;
}
