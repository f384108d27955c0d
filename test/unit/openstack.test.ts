/**
 * OpenStackImage under mocks: how the stack config reaches the builder, its key pair, security
 * group and floating IP, the scripts' environment and the image store. The lifecycle graph shared
 * by all platforms is in lifecycle.test.ts; multi-run behaviour in test/engine.
 */
import { describe, expect, it } from "vitest";
import { builderObjectName, stackTagOf } from "../../components/lifecycle/names";
import { secretInput, stackConfig } from "./mocks";
import { PRIVATE_KEY, STACK_ID, runProgram, type ProgramRun } from "./program";
import { stackFileConfig } from "./stack-files";

const T = {
  instance: "openstack:compute/instance:Instance",
  keypair: "openstack:compute/keypair:Keypair",
  secGroup: "openstack:networking/secGroup:SecGroup",
  rule: "openstack:networking/secGroupRule:SecGroupRule",
  fip: "openstack:networking/floatingIp:FloatingIp",
  assoc: "openstack:compute/floatingIpAssociate:FloatingIpAssociate",
  local: "command:local:Command",
  remote: "command:remote:Command",
  pending: "pulumi-nodejs:dynamic:PendingImage",
  claim: "pulumi-nodejs:dynamic:ImageClaim",
};

const env = (r: ProgramRun, name: string) =>
  secretInput<Record<string, string>>(r.run.get(T.local, name).inputs.environment).value;

/** The snapshot's inputs: this build's name, generation and fingerprint. */
const snapshotOf = (r: ProgramRun) =>
  r.run.get(T.pending, "openstack-snapshot").inputs as Record<string, string>;

/** The cloud name of this run's builder-side objects. */
function cloudName(r: ProgramRun): string {
  const snapshot = snapshotOf(r);
  return builderObjectName(stackTagOf(STACK_ID), "openstack", snapshot.name, snapshot.gen);
}

describe("OpenStackImage on the dev stack (the old Packer template)", () => {
  it("launches the builder with the template's image, flavor, network and AZ, labelled for the probe", async () => {
    const r = await runProgram(stackFileConfig("dev"));
    const builder = r.run.get(T.instance, "openstack-builder");
    const name = cloudName(r);
    const snapshot = snapshotOf(r);
    expect(builder.inputs).toMatchObject({
      name,
      imageId: "22a2004b-8cb6-4526-aa87-8fed5b3ad1e5",
      flavorId: "2",
      networks: [{ uuid: "c18e3d7d-1b38-433e-8fdd-84389291b119" }],
      availabilityZone: "nova",
      keyPair: name,
      securityGroups: [name],
      metadata: {
        dse_stack: stackTagOf(STACK_ID),
        dse_build: snapshot.name,
        dse_gen: snapshot.gen,
        dse_role: "builder",
        dse_fingerprint: snapshot.fingerprint,
      },
    });
    expect(builder.inputs.imageName).toBeUndefined();
    expect(builder.inputs.flavorName).toBeUndefined();
    // Rule O2: a stopped builder is never started again by a refresh-then-update.
    expect(builder.ignoreChanges).toEqual(["powerState"]);
    expect(builder.retainOnDelete).toBe(false);
    expect(r.run.get(T.keypair, "openstack-keypair").inputs).toEqual({
      name,
      publicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAbuild",
    });
  });

  it("associates the template's floating IP and provisions through it", async () => {
    const r = await runProgram(stackFileConfig("dev"));
    expect(r.run.get(T.assoc, "openstack-fip-assoc").inputs).toEqual({
      floatingIp: "192.168.0.2",
      instanceId: `${r.run.get(T.instance, "openstack-builder").name}-id`,
    });
    expect(r.run.ofType(T.fip)).toHaveLength(0);
    const install = r.run.get(T.remote, "openstack-provision-install");
    const { secret, value: connection } = secretInput<Record<string, unknown>>(
      install.inputs.connection,
    );
    expect(secret).toBe(true);
    expect(connection).toMatchObject({
      host: "192.168.0.2",
      port: 22,
      user: "ubuntu",
      privateKey: PRIVATE_KEY,
    });
    expect(env(r, "openstack-wait-ssh")).toMatchObject({
      HOST: "192.168.0.2",
      PORT: "22",
      TIMEOUT_SECONDS: "600",
      CONSOLE_COMMAND:
        "node --require ./components/ts-hook.cjs components/openstack/cli.ts console",
      STOP_COMMAND: "node --require ./components/ts-hook.cjs components/openstack/cli.ts stop",
    });
  });

  it("hands the CLI steps the TLS flags and the store its settings", async () => {
    const r = await runProgram(stackFileConfig("dev"));
    const provider = r.run.get("pulumi:providers:openstack", "openstack");
    expect(provider.inputs.insecure).toBe("true");
    for (const step of ["openstack-sweep", "openstack-teardown", "openstack-boot-test"]) {
      expect(env(r, step).OS_FLAGS, step).toBe("--insecure");
    }
    const store = {
      store: "openstack",
      config: { osFlags: ["--insecure"], visibility: "private", properties: {} },
    };
    expect(JSON.parse(env(r, "openstack-boot-test").STORE_CONFIG)).toEqual(store.config);
    // The typed store runs the CLI with the flags of its config, in the snapshot, publish and claim.
    expect(snapshotOf(r).store).toEqual(store);
    expect(snapshotOf(r).snapshot).toBe("openstack");
    expect(r.run.get(T.claim, "openstack-image").inputs.store).toEqual(store);
    expect(env(r, "openstack-teardown").PREFIX).toBe(`dse-${stackTagOf(STACK_ID)}-openstack-`);
  });

  it("opens SSH to the whole internet only when no CIDR is given", async () => {
    const r = await runProgram(stackFileConfig("dev"));
    expect(r.run.ofType(T.rule).map((x) => x.inputs.remoteIpPrefix)).toEqual(["0.0.0.0/0"]);
    const dev = stackFileConfig("dev");
    const os = JSON.parse(dev["dse-image:openstack"]) as Record<string, unknown>;
    dev["dse-image:openstack"] = JSON.stringify({
      ...os,
      sshAllowedCidrs: ["203.0.113.0/24", "2001:db8::/32"],
    });
    const limited = await runProgram(dev);
    expect(
      limited.run.ofType(T.rule).map((x) => [x.inputs.remoteIpPrefix, x.inputs.ethertype]),
    ).toEqual([
      ["203.0.113.0/24", "IPv4"],
      ["2001:db8::/32", "IPv6"],
    ]);
    expect(env(limited, "openstack-boot-test").SSH_ALLOWED_CIDRS).toBe(
      "203.0.113.0/24 2001:db8::/32",
    );
  });

  it("boots the test server like the builder: flavor, networks, zone, address", async () => {
    const r = await runProgram(stackFileConfig("dev"));
    expect(env(r, "openstack-boot-test")).toMatchObject({
      FLAVOR: "2",
      NETWORKS: "c18e3d7d-1b38-433e-8fdd-84389291b119",
      AVAILABILITY_ZONE: "nova",
      FLOATING_IP: "192.168.0.2",
      FLOATING_IP_POOL: "",
      SSH_USER: "ubuntu",
    });
  });

  it("keeps the private keys out of every input but secret ones", async () => {
    const r = await runProgram(stackFileConfig("dev"));
    for (const res of r.run.resources) {
      for (const [key, value] of Object.entries(res.inputs)) {
        if (secretInput(value).secret) continue;
        expect(JSON.stringify(value), `${res.name}.${key}`).not.toContain("PRIVATE KEY");
      }
    }
  });
});

describe("a floating IP from a pool", () => {
  it("is allocated per builder, named for the teardown, and the address is provisioned through", async () => {
    const r = await runProgram(
      stackConfig({
        platforms: ["openstack"],
        openstack: { sourceImage: "ubuntu-24.04", flavor: "m1.small", floatingIpPool: "public" },
      }),
    );
    const fip = r.run.get(T.fip, "openstack-fip");
    expect(fip.inputs).toEqual({ pool: "public", description: cloudName(r) });
    expect(r.run.get(T.assoc, "openstack-fip-assoc").inputs.floatingIp).toBe("203.0.113.7");
    const { value: connection } = secretInput<Record<string, unknown>>(
      r.run.get(T.remote, "openstack-provision-prepare").inputs.connection,
    );
    expect(connection.host).toBe("203.0.113.7");
    expect(r.run.get(T.instance, "openstack-builder").inputs).toMatchObject({
      imageName: "ubuntu-24.04",
      flavorName: "m1.small",
    });
    expect(env(r, "openstack-boot-test").FLOATING_IP_POOL).toBe("public");
  });
});

describe("the openstack CLI", () => {
  it("is required before anything is created, with the install command", async () => {
    const { requireOpenStackCli } = await import("../../components/openstack/prerequisites");
    expect(() => requireOpenStackCli(() => false)).toThrow(
      "dse-image:platforms: platform openstack needs the openstack CLI on this machine to look up, snapshot, boot-test and tear down builds; install it with `sudo apt-get install python3-openstackclient` or `pipx install python-openstackclient`",
    );
    expect(() => requireOpenStackCli(() => true)).not.toThrow();
  });
});

describe("the source image by content", () => {
  const fingerprint = (r: ProgramRun) => snapshotOf(r).fingerprint;
  const source = (id: string, checksum: string) => ({
    describeSource: (_ref: unknown, sourceImage: string) => {
      expect(sourceImage).toBe("22a2004b-8cb6-4526-aa87-8fed5b3ad1e5");
      return Promise.resolve({ id, checksum });
    },
  });

  it("a new image or new bytes behind the same reference is a new fingerprint", async () => {
    const dev = stackFileConfig("dev");
    const a = await runProgram(dev, undefined, { host: source("id-1", "sum-1") });
    const same = await runProgram(dev, undefined, { host: source("id-1", "sum-1") });
    const other = await runProgram(dev, undefined, { host: source("id-2", "sum-2") });
    expect(fingerprint(same)).toBe(fingerprint(a));
    expect(fingerprint(other)).not.toBe(fingerprint(a));
  });

  it("names the key when the source image cannot be found", async () => {
    await expect(
      runProgram(stackFileConfig("dev"), undefined, {
        host: {
          describeSource: () =>
            Promise.reject(
              new Error(
                "imagestore: source image 22a2004b-8cb6-4526-aa87-8fed5b3ad1e5: No Image found for 22a2004b-8cb6-4526-aa87-8fed5b3ad1e5",
              ),
            ),
        },
      }),
    ).rejects.toThrow(
      "dse-image:openstack.sourceImage: source image 22a2004b-8cb6-4526-aa87-8fed5b3ad1e5: No Image found for 22a2004b-8cb6-4526-aa87-8fed5b3ad1e5",
    );
  });
});
