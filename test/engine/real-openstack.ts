/**
 * The engine model's real providers (real.ts) plus the program's typed OpenStack resources served
 * by an adapter that makes the calls terraform-provider-openstack v1.54.1 makes, through the
 * `openstack` CLI (`-f json`), against a real cloud (test/openstack/cloud.sh). The provider plugin
 * cannot be downloaded here; everything else in a lane run is the real thing.
 *
 * Upstream behaviours reproduced (terraform-provider-openstack v1.54.1, openstack/):
 * - compute_instance_v2 Create: servers.Create, then wait from BUILD to ACTIVE
 *   (`resourceComputeInstanceV2Create`, StateChangeConf Pending BUILD, Target ACTIVE); ERROR
 *   fails the step. Upstream the ID is set before the wait, so a server that fails to start stays
 *   in the state, tainted, until the next `up` replaces it; the model keeps no partial state, so
 *   the adapter deletes such a server before it reports the failure (nothing leaks either way).
 * - access_ip_v4: the server's first fixed IPv4 address (`getInstanceAccessAddresses`).
 * - compute_instance_v2 Read: power_state from the status (rule O2); a 404 removes it (E6).
 * - compute_instance_v2 Delete: servers.Delete, then wait until the server is gone (Pending
 *   ACTIVE/SHUTOFF, Target DELETED); a 404 is success (`CheckDeleted`, rule O1).
 * - networking_secgroup_v2 Delete: retried while Neutron answers 409 (in use), up to the
 *   10-minute delete timeout (`networkingSecgroupV2StateRefreshFuncDelete`).
 * - compute_keypair_v2 and networking_secgroup_rule_v2 Delete: a 404 is success (rule O1).
 * - Diffs (ForceNew keys): shared with the fake world, OPENSTACK_DIFFS in providers.ts.
 * Floating IPs are not served: the lane's flat network reaches the builders directly.
 * Test utility, never shipped.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { run } from "../support/run";
import type { StateEntry } from "./engine";
import { OPENSTACK_DIFFS, type ResourceProvider } from "./providers";
import { RealProviders, type RealOptions } from "./real";

const str = (v: unknown): string =>
  typeof v === "string" ? v : v === undefined || v === null ? "" : JSON.stringify(v);

/** The CLI's and the APIs' ways of saying 404. */
/**
 * The client's words for a missing object. `server delete` says "No server with a name or ID of
 * '<uuid>' exists." (quotes and dashes inside), Glance and Neutron "could not be found" or 404;
 * Nova's "No valid host was found" is a failure, not a gone object.
 */
const NOT_FOUND =
  /\bNo \w+ with a name or ID of\b|\bNo \w+ found for\b|could not be found|\b404\b|Not ?Found/i;

export function isNotFound(error: unknown): boolean {
  return NOT_FOUND.test(String(error));
}
/** Neutron's 409 for a security group still used by a port. */
const IN_USE = /\b409\b|in use|InUse/i;

export interface OpenStackCli {
  /** Runs `openstack <args>` with the lane's credentials; stdout, or throws with stderr. */
  (args: string[]): Promise<string>;
}

/** `openstack` with an environment of its own (the openrc's OS_* variables). */
export function openstackCli(env: Record<string, string>): OpenStackCli {
  return async (args) => {
    const r = await run("openstack", args, { env });
    if (r.code !== 0)
      throw new Error(`openstack ${args.slice(0, 3).join(" ")}: ${r.stderr.trim()}`);
    return r.stdout;
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `op`; a 404 (rule O1) is success. */
async function ignoringNotFound(op: () => Promise<unknown>): Promise<void> {
  try {
    await op();
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
}

/** The first fixed IPv4 address of a `server show -f json` document. */
export function firstIpv4(addresses: unknown): string {
  // python-openstackclient 6 prints a map of network name to addresses; older ones "net=a, b".
  const all =
    typeof addresses === "string"
      ? addresses.split(/[;,=\s]+/)
      : Object.values((addresses ?? {}) as Record<string, string[]>).flat();
  return all.find((a) => /^\d+\.\d+\.\d+\.\d+$/.test(a)) ?? "";
}

export interface RealOpenStackOptions extends RealOptions {
  /** The lane's credentials and settings (the openrc's variables). */
  env: Record<string, string>;
  /** Seconds between retries of a security group delete while the group is in use. Default 3. */
  pollSeconds?: number;
}

/**
 * The pauses of terraform-plugin-sdk v2's StateChangeConf.WaitForStateContext
 * (helper/retry/state.go), with which the OpenStack provider waits for an instance: Delay before
 * the first read; after each read still pending, the wait doubles (from 100 ms) and is then held
 * between MinTimeout and 10 s. For the instance: 10, 3, 6, 10, 10, ... seconds, so a guest that
 * takes a minute to become ACTIVE costs the cloud 8 reads, not 20.
 */
export function* stateChangeWaits(delayMs: number, minMs: number): Generator<number, never> {
  yield delayMs;
  let wait = 100;
  for (;;) {
    wait *= 2;
    wait = wait < minMs ? minMs : Math.min(wait, 10_000);
    yield wait;
  }
}

export class RealOpenStackProviders extends RealProviders {
  readonly cli: OpenStackCli;
  private readonly poll: number;
  private readonly files = fs.mkdtempSync(path.join(os.tmpdir(), "dse-os-adapter-"));

  constructor(readonly osOpts: RealOpenStackOptions) {
    super(osOpts);
    this.cli = openstackCli(osOpts.env);
    this.poll = (osOpts.pollSeconds ?? 3) * 1000;
  }

  /** Delay 10 s and MinTimeout 3 s, as resource_openstack_compute_instance_v2.go sets them. */
  private serverWaits(): Generator<number, never> {
    return stateChangeWaits(10_000, 3_000);
  }

  close(): void {
    super.close();
    fs.rmSync(this.files, { recursive: true, force: true });
  }

  protected providers(): Record<string, ResourceProvider> {
    return { ...super.providers(), ...this.openstackTyped() };
  }

  private async json<T>(args: string[]): Promise<T> {
    return JSON.parse(await this.cli([...args, "-f", "json"])) as T;
  }

  private file(name: string, text: string): string {
    const f = path.join(this.files, `${name}-${Math.random().toString(16).slice(2)}`);
    fs.writeFileSync(f, text, { mode: 0o600 });
    return f;
  }

  /** Read of an object whose state holds nothing the cloud changes: there (as stored) or gone. */
  private async readShown(show: string[], e: StateEntry) {
    try {
      await this.cli(show);
      return { outputs: e.outputs };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  /** The server's status, or undefined once Nova answers 404. */
  private async serverStatus(id: string): Promise<string | undefined> {
    try {
      return (await this.json<{ status: string }>(["server", "show", id])).status;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  private async waitServer(id: string, done: (status: string | undefined) => boolean) {
    const deadline = Date.now() + 30 * 60_000; // the provider's default create/delete timeout
    const waits = this.serverWaits();
    for (;;) {
      await sleep(waits.next().value);
      const status = await this.serverStatus(id);
      if (done(status)) return status;
      if (Date.now() > deadline) throw new Error(`server ${id} still ${status} after 30 minutes`);
    }
  }

  private async deleteServer(id: string): Promise<void> {
    await ignoringNotFound(() => this.cli(["server", "delete", id]));
    await this.waitServer(id, (s) => s === undefined || s === "DELETED" || s === "SOFT_DELETED");
  }

  private openstackTyped(): Record<string, ResourceProvider> {
    return {
      "openstack:compute/keypair:Keypair": {
        create: async (inputs) => {
          const name = str(inputs.name);
          await this.cli([
            "keypair",
            "create",
            "--public-key",
            this.file("key", str(inputs.publicKey)),
            name,
          ]);
          return { id: name, outputs: { ...inputs } };
        },
        read: (e) => this.readShown(["keypair", "show", e.id], e),
        diff: OPENSTACK_DIFFS.keypair,
        delete: (e) => ignoringNotFound(() => this.cli(["keypair", "delete", e.id])),
      },
      "openstack:networking/secGroup:SecGroup": {
        create: async (inputs) => {
          const g = await this.json<{ id: string }>([
            "security",
            "group",
            "create",
            "--description",
            str(inputs.description),
            str(inputs.name),
          ]);
          return { id: g.id, outputs: { ...inputs, id: g.id } };
        },
        read: (e) => this.readShown(["security", "group", "show", e.id], e),
        diff: OPENSTACK_DIFFS.secGroup,
        update: (_o, inputs) => inputs,
        delete: async (e) => {
          const deadline = Date.now() + 10 * 60_000;
          for (;;) {
            try {
              await ignoringNotFound(() => this.cli(["security", "group", "delete", e.id]));
              return;
            } catch (err) {
              if (!IN_USE.test(String(err)) || Date.now() > deadline) throw err;
              await sleep(this.poll);
            }
          }
        },
      },
      "openstack:networking/secGroupRule:SecGroupRule": {
        create: async (inputs) => {
          const r = await this.json<{ id: string }>([
            "security",
            "group",
            "rule",
            "create",
            `--${str(inputs.direction)}`,
            "--ethertype",
            str(inputs.ethertype),
            "--protocol",
            str(inputs.protocol),
            "--dst-port",
            `${str(inputs.portRangeMin)}:${str(inputs.portRangeMax)}`,
            "--remote-ip",
            str(inputs.remoteIpPrefix),
            str(inputs.securityGroupId),
          ]);
          return { id: r.id, outputs: { ...inputs } };
        },
        diff: OPENSTACK_DIFFS.secGroupRule,
        delete: (e) =>
          ignoringNotFound(() => this.cli(["security", "group", "rule", "delete", e.id])),
      },
      "openstack:compute/instance:Instance": {
        create: (inputs) => this.createServer(inputs),
        read: async (e) => {
          const status = await this.serverStatus(e.id);
          if (status === undefined) return null;
          const powerState = status === "SHUTOFF" ? "shutoff" : "active";
          return { outputs: { powerState }, inputs: { powerState } };
        },
        diff: OPENSTACK_DIFFS.instance,
        // Rule O2: an update with powerState active starts a shut-off server.
        update: async (old: StateEntry, inputs) => {
          const want = str(inputs.powerState ?? "active");
          if (want === "active" && (await this.serverStatus(old.id)) === "SHUTOFF") {
            await this.cli(["server", "start", old.id]);
            await this.waitServer(old.id, (s) => s === "ACTIVE");
          }
          return { ...old.outputs, ...inputs, powerState: want };
        },
        delete: (e) => this.deleteServer(e.id),
      },
    };
  }

  private async createServer(inputs: Record<string, unknown>) {
    const flavor = str(inputs.flavorId ?? inputs.flavorName);
    const image = str(inputs.imageId ?? inputs.imageName);
    const args = ["server", "create", "--flavor", flavor, "--image", image];
    if (inputs.keyPair) args.push("--key-name", str(inputs.keyPair));
    for (const g of (inputs.securityGroups as string[] | undefined) ?? [])
      args.push("--security-group", g);
    for (const n of (inputs.networks as { uuid: string }[] | undefined) ?? [])
      args.push("--network", n.uuid);
    if (inputs.availabilityZone) args.push("--availability-zone", str(inputs.availabilityZone));
    if (inputs.userData) args.push("--user-data", this.file("user-data", str(inputs.userData)));
    for (const [k, v] of Object.entries((inputs.metadata ?? {}) as Record<string, string>))
      args.push("--property", `${k}=${v}`);
    const { id } = await this.json<{ id: string }>([...args, str(inputs.name)]);
    const status = await this.waitServer(id, (s) => s !== "BUILD");
    if (status !== "ACTIVE") {
      await this.deleteServer(id);
      throw new Error(`Error waiting for instance (${id}) to become ready: status ${status}`);
    }
    const shown = await this.json<{ addresses: unknown }>(["server", "show", id]);
    return {
      id,
      outputs: { ...inputs, id, accessIpV4: firstIpv4(shown.addresses), powerState: "active" },
    };
  }
}
