/**
 * The OpenStack platform's host commands (components/openstack/servers.ts) over the store's
 * transport, the `openstack` CLI, answered by a small in-memory Nova and Neutron with the JSON
 * and value output python-openstackclient prints: the sweep of a stack's builder-side objects,
 * the boot test's server (removed when its launch fails) and the console tail.
 */
import { beforeEach, describe, expect, it } from "vitest";
import {
  type OpenStackContext,
  type TestServer,
  type TestServerRequest,
  consoleTail,
  firstAddress,
  launchTestServer,
  removeTestServer,
  stopBuilder,
  sweepBuilderObjects,
} from "../../components/openstack/servers";
import { UnusableImage } from "../../components/store/image-store";
import { type CliResult, OpenStackImageStore } from "../../components/store/openstack";

const PREFIX = "dse-3476bb56-openstack-";
const ok = (stdout = ""): CliResult => ({ code: 0, stdout, stderr: "" });
const fail = (stderr: string): CliResult => ({ code: 1, stdout: "", stderr });

/** Nova servers, floating IPs, key pairs and security groups by ID (or name for key pairs). */
class FakeCloud {
  servers = new Map<string, string>();
  /** Servers' statuses (ACTIVE unless set). */
  status = new Map<string, string>();
  fips = new Map<string, string>();
  keypairs = new Set<string>();
  groups = new Map<string, string>();
  imageStatus = "active";
  addresses: unknown = { private: ["10.0.0.5"] };
  /** Calls answered with this failure, once each, by their first words. */
  failing = new Map<string, string>();
  /** Deletes that fail while the object stays. */
  stuck = new Set<string>();
  /** Deletes that fail because another delete removed the object first. */
  vanishing = new Set<string>();
  noL3 = false;
  calls: string[][] = [];
  private seq = 0;

  cli = (args: string[]): Promise<CliResult> => {
    this.calls.push(args);
    return Promise.resolve(this.answer(args));
  };

  private answer(argv: string[]): CliResult {
    const args = argv.filter((a) => a !== "--insecure");
    const line = args.join(" ");
    for (const [start, error] of this.failing)
      if (line.startsWith(start)) {
        this.failing.delete(start);
        return fail(error);
      }
    const last = args[args.length - 1];
    const rows = (m: Map<string, string>, name: string) =>
      ok(JSON.stringify([...m].map(([ID, v]) => ({ ID, [name]: v }))));
    const remove = (m: Map<string, string> | Set<string>, id: string) => {
      if (this.stuck.has(id)) return fail(`Conflict: ${id} is in use (HTTP 409)`);
      if (this.vanishing.has(id)) {
        m.delete(id);
        return fail(`${id} could not be found (HTTP 404)`);
      }
      return m.delete(id) ? ok() : fail(`${id} could not be found (HTTP 404)`);
    };
    if (line.startsWith("server list")) return rows(this.servers, "Name");
    if (line.startsWith("floating ip list"))
      return this.noL3
        ? fail("The resource could not be found. (HTTP 404)")
        : rows(this.fips, "Description");
    if (line.startsWith("keypair list"))
      return ok(JSON.stringify([...this.keypairs].map((Name) => ({ Name }))));
    if (line.startsWith("security group list")) return rows(this.groups, "Name");
    if (line.startsWith("server delete")) return remove(this.servers, last);
    if (line.startsWith("floating ip delete")) return remove(this.fips, last);
    if (line.startsWith("keypair delete")) return remove(this.keypairs, last);
    if (line.startsWith("security group delete")) return remove(this.groups, last);
    if (line.startsWith("image show")) return ok(`${this.imageStatus}\n`);
    if (line.startsWith("security group create")) {
      const id = `sg-${++this.seq}`;
      this.groups.set(id, last);
      return ok(`${id}\n`);
    }
    if (line.startsWith("security group rule create")) return ok();
    if (line.startsWith("server create")) {
      const id = `srv-${++this.seq}`;
      this.servers.set(id, last);
      return ok(`\rProgress: 100\n${id}\n`);
    }
    if (line.startsWith("server stop")) {
      const status = this.status.get(last) ?? "ACTIVE";
      if (status !== "ACTIVE")
        return fail(
          `Cannot 'stop' instance ${last} while it is in vm_state ${status.toLowerCase()} (HTTP 409)`,
        );
      this.status.set(last, "SHUTOFF");
      return ok();
    }
    if (line.startsWith("server show -f value -c status"))
      return ok(`${this.status.get(last) ?? "ACTIVE"}\n`);
    if (line.startsWith("server show")) return ok(JSON.stringify({ addresses: this.addresses }));
    if (line.startsWith("floating ip create")) {
      const id = `fip-${++this.seq}`;
      this.fips.set(id, args[args.indexOf("--description") + 1]);
      return ok(`${id} 198.51.100.7\n`);
    }
    if (line.startsWith("server add floating ip")) return ok();
    if (line.startsWith("console log show")) return ok("boot\nlogin:\n");
    throw new Error(`unexpected call: ${line}`);
  }
}

let cloud: FakeCloud;
let logs: string[];
let ctx: OpenStackContext;

beforeEach(() => {
  cloud = new FakeCloud();
  logs = [];
  ctx = {
    store: new OpenStackImageStore({ osFlags: ["--insecure"] }, cloud.cli, { settleSeconds: 0 }),
    log: (m) => logs.push(m),
    retrySeconds: 0,
    pollSeconds: 0,
  };
});

describe("openstack teardown", () => {
  it("deletes the servers, floating IPs, key pairs and groups under the prefix, nothing else", async () => {
    cloud.servers.set("s1", `${PREFIX}b-g1`).set("s2", "someone-else");
    cloud.fips.set("f1", `${PREFIX}b-g1-test`).set("f2", "");
    cloud.keypairs.add(`${PREFIX}b-g1`).add("mine");
    cloud.groups.set("g1", `${PREFIX}b-g1`).set("g2", "default");
    await sweepBuilderObjects(ctx, PREFIX);
    expect([...cloud.servers.keys(), ...cloud.fips.keys(), ...cloud.keypairs]).toEqual([
      "s2",
      "f2",
      "mine",
    ]);
    expect([...cloud.groups.keys()]).toEqual(["g2"]);
    expect(cloud.calls[0]).toEqual([
      "--insecure",
      "server",
      "list",
      "--name",
      `^${PREFIX}`,
      "-f",
      "json",
    ]);
    // The four lists first, together; then the deletes, servers before the rest.
    expect(cloud.calls.slice(0, 4).map((c) => c.slice(1, 3).join(" "))).toEqual([
      "server list",
      "floating ip",
      "keypair list",
      "security group",
    ]);
    expect(cloud.calls[4]).toEqual(["--insecure", "server", "delete", "--wait", "s1"]);
    expect(logs).toEqual([
      "Terminating server s1 ...",
      "Releasing floating IP f1 ...",
      `Deleting key pair ${PREFIX}b-g1 ...`,
      "Deleting security group g1 ...",
    ]);
  });

  it("a cloud without floating IPs (404) is no error", async () => {
    cloud.noL3 = true;
    await expect(sweepBuilderObjects(ctx, PREFIX)).resolves.toBeUndefined();
  });

  it("a delete that failed because another delete won the race counts as done", async () => {
    cloud.keypairs.add(`${PREFIX}k`);
    cloud.vanishing.add(`${PREFIX}k`);
    await expect(sweepBuilderObjects(ctx, PREFIX)).resolves.toBeUndefined();
    expect(cloud.keypairs.size).toBe(0);
  });

  it("retries a group a deleted server's port still holds, then names what is left", async () => {
    cloud.groups.set("g1", `${PREFIX}g`);
    cloud.servers.set("s1", `${PREFIX}s`);
    cloud.stuck.add("g1").add("s1");
    await expect(sweepBuilderObjects(ctx, PREFIX)).rejects.toThrow(
      "teardown incomplete; left behind:\n  server s1: openstack server delete s1\n  security group g1: openstack security group delete g1",
    );
    expect(
      cloud.calls.filter((c) => c.join(" ") === "--insecure security group delete g1"),
    ).toHaveLength(7);
  });
});

const REQUEST: TestServerRequest = {
  imageId: "img-1",
  name: `${PREFIX}b-g1-test`,
  stackTag: "3476bb56",
  userDataFile: "/tmp/dse-boot-test-x/user-data",
  flavor: "m1.small",
  networks: ["net-a", "net-b"],
  securityGroups: ["extra"],
  availabilityZone: "nova",
  sshAllowedCidrs: ["203.0.113.0/24"],
};

describe("openstack boot test server", () => {
  it("launches from the image with its own group, the user data file and the test's properties", async () => {
    const made: TestServer = {};
    await launchTestServer(ctx, REQUEST, made);
    expect(made).toEqual({ groupId: "sg-1", serverId: "srv-2", host: "10.0.0.5" });
    expect(cloud.calls.map((c) => c.slice(1).join(" "))).toEqual([
      "image show -f value -c status img-1",
      `security group create -f value -c id --description dse-image boot test ${REQUEST.name}`,
      "security group rule create --ingress --protocol tcp --dst-port 22 --remote-ip 203.0.113.0/24 sg-1",
      `server create --image img-1 --flavor m1.small --user-data ${REQUEST.userDataFile} --security-group sg-1 --property dse_role=test --property dse_stack=3476bb56 --network net-a --network net-b --security-group extra --availability-zone nova --wait -f value -c id ${REQUEST.name}`,
      "server show -f json srv-2",
    ]);
  });

  it("allocates a floating IP from the pool, described by the test's name, and attaches it", async () => {
    const made: TestServer = {};
    await launchTestServer(ctx, { ...REQUEST, floatingIpPool: "public" }, made);
    expect(made).toEqual({
      groupId: "sg-1",
      serverId: "srv-2",
      allocatedIpId: "fip-3",
      host: "198.51.100.7",
    });
    expect(cloud.fips.get("fip-3")).toBe(REQUEST.name);
    expect(cloud.calls.at(-1)).toEqual([
      "--insecure",
      "server",
      "add",
      "floating",
      "ip",
      "srv-2",
      "198.51.100.7",
    ]);
  });

  it("an image Glance killed is UnusableImage, and nothing is launched", async () => {
    cloud.imageStatus = "killed";
    const made: TestServer = {};
    const launched = launchTestServer(ctx, REQUEST, made);
    await expect(launched).rejects.toBeInstanceOf(UnusableImage);
    await expect(launchTestServer(ctx, REQUEST, {})).rejects.toThrow(
      "image img-1 is killed: its snapshot cannot be booted",
    );
    expect(made).toEqual({});
  });

  it("a server without an IPv4 address fails naming it; remove-test removes what was made", async () => {
    cloud.addresses = { private: ["fd00::5"] };
    const made: TestServer = {};
    await expect(launchTestServer(ctx, REQUEST, made)).rejects.toThrow(
      "server srv-2 has no IPv4 address",
    );
    await removeTestServer(ctx, made);
    expect(cloud.servers.size + cloud.groups.size).toBe(0);
  });

  it("remove-test logs what it could not remove and goes on", async () => {
    cloud.servers.set("s1", "x");
    cloud.groups.set("g1", "x");
    cloud.stuck.add("s1");
    await removeTestServer(ctx, { serverId: "s1", groupId: "g1" });
    expect(cloud.groups.size).toBe(0);
    expect(logs).toEqual([
      "could not delete server s1: openstack server delete --wait exited 1: Conflict: s1 is in use (HTTP 409)",
    ]);
  });
});

describe("openstack stop (a builder whose SSH never came up)", () => {
  it("stops it: SHUTOFF, as its own power-off after a failed step leaves it", async () => {
    await stopBuilder(ctx, "srv-1");
    expect(cloud.status.get("srv-1")).toBe("SHUTOFF");
    expect(cloud.calls).toEqual([["--insecure", "server", "stop", "srv-1"]]);
  });

  it("one Nova refuses to stop because it is SHUTOFF or ERROR already needs nothing", async () => {
    for (const status of ["SHUTOFF", "ERROR"]) {
      cloud.status.set("srv-1", status);
      await expect(stopBuilder(ctx, "srv-1")).resolves.toBeUndefined();
    }
  });

  it("a refusal for another status (still building) fails with Nova's words", async () => {
    cloud.status.set("srv-1", "BUILD");
    await expect(stopBuilder(ctx, "srv-1")).rejects.toThrow(
      "Cannot 'stop' instance srv-1 while it is in vm_state build (HTTP 409)",
    );
  });
});

describe("openstack addresses and console", () => {
  it.each([
    [{ private: ["fd00::1", "10.0.0.9"] }, "10.0.0.9"],
    ["private=10.0.0.7, 198.51.100.2", "10.0.0.7"],
    [{}, undefined],
  ])("the first IPv4 address of %j is %s", (addresses, ip) => {
    expect(firstAddress(addresses)).toBe(ip);
  });

  it("prints the console tail, or says there is none", async () => {
    await expect(consoleTail(ctx, "s1", 30)).resolves.toBe("boot\nlogin:");
    cloud.failing.set("console log show", "No server found");
    await expect(consoleTail(ctx, "s1", 30)).resolves.toBe("(no console log for server s1)");
  });
});
