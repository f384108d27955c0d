import { beforeEach, describe, expect, it } from "vitest";
import * as pulumi from "@pulumi/pulumi";
import { MockRun, freshProgram, installMocks, secretInput, valueOf } from "./mocks";
import { stackFileConfig } from "./stack-files";

const SOURCE_IMAGE = "22a2004b-8cb6-4526-aa87-8fed5b3ad1e5";
const NETWORK = "c18e3d7d-1b38-433e-8fdd-84389291b119";
const PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nsecret-material\n";
const MANIFEST = '{"python":"3.12.3","numpy":"1.26.4"}';

const T = {
  instance: "openstack:compute/instance:Instance",
  keypair: "openstack:compute/keypair:Keypair",
  secGroup: "openstack:networking/secGroup:SecGroup",
  secGroupRule: "openstack:networking/secGroupRule:SecGroupRule",
  fipAssoc: "openstack:compute/floatingIpAssociate:FloatingIpAssociate",
  fip: "openstack:networking/floatingIp:FloatingIp",
  remote: "command:remote:Command",
  copy: "command:remote:CopyToRemote",
  local: "command:local:Command",
  key: "tls:index/privateKey:PrivateKey",
  component: "dse-image:index:OpenStackImage",
  provisioner: "dse-image:index:Provisioner",
};

interface Run {
  run: MockRun;
  imageIds: Record<string, unknown>;
  images: Record<string, { name: string; id: string; fingerprint: string; manifest: unknown }>;
}

/** One simulated `pulumi up` of the real program with the given stack config. */
async function up(config: Record<string, string>, existingImage?: string): Promise<Run> {
  freshProgram();
  const run = installMocks(
    {
      "openstack:images/getImageIds:getImageIds": () => ({
        ids: existingImage ? [existingImage] : [],
      }),
    },
    {
      [T.key]: () => ({ privateKeyOpenssh: PRIVATE_KEY, publicKeyOpenssh: "ssh-rsa AAAAB3 build" }),
      [T.instance]: () => ({ accessIpV4: "10.1.2.3" }),
      [T.fip]: () => ({ address: "203.0.113.7" }),
      [T.remote]: (name) => ({ stdout: name.endsWith("-verify") ? MANIFEST : "" }),
      [T.local]: (_name, inputs) => {
        const env = (inputs.environment ?? {}) as Record<string, string>;
        const record = {
          id: "img-0001",
          name: env.IMAGE_NAME,
          createdAt: "2026-11-28T12:00:00Z",
          manifest: JSON.parse(env.MANIFEST ?? MANIFEST) as unknown,
        };
        return { stdout: `${JSON.stringify(record)}\n` };
      },
    },
  );
  const { loadConfig } = await import("../../components/config");
  const { buildImages } = await import("../../components");
  const outputs = await buildImages(loadConfig(config), () => true);
  const imageIds = await valueOf(pulumi.output(outputs.imageIds));
  const images = (await valueOf(pulumi.output(outputs.images))) as Run["images"];
  return { run, imageIds, images };
}

const dev = stackFileConfig("dev");

/** Child names carry the fingerprint prefix of their build. */
function n(r: Run, suffix: string): string {
  return `openstack-${r.images.openstack.fingerprint.slice(0, 12)}-${suffix}`;
}

describe("OpenStackImage on the dev stack (the old Packer template)", () => {
  let first: Run;
  beforeEach(async () => {
    first = await up(dev);
  });

  it("launches the builder with exactly the template's image, flavor, network and AZ", () => {
    const builders = first.run.ofType(T.instance);
    expect(builders).toHaveLength(1);
    const builder = builders[0];
    expect(builder.name).toBe(n(first, "builder"));
    expect(builder.inputs.imageId).toBe(SOURCE_IMAGE);
    expect(builder.inputs.imageName).toBeUndefined();
    expect(builder.inputs.flavorId).toBe("2");
    expect(builder.inputs.flavorName).toBeUndefined();
    expect(builder.inputs.networks).toEqual([{ uuid: NETWORK }]);
    expect(builder.inputs.availabilityZone).toBe("nova");
    expect(builder.inputs.keyPair).toBe(first.images.openstack.name + "-build");
    expect(builder.inputs.securityGroups).toEqual([first.images.openstack.name + "-build"]);
    expect(builder.inputs.userData).toBe(
      '#cloud-config\nruncmd:\n  - [sh, -c, "systemd-run --no-block --unit=dse-builder-ttl-boot --on-active=120m /bin/systemctl poweroff || shutdown -P +120"]\n',
    );
  });

  it("configures the provider from openstack.insecure", () => {
    const provider = first.run.get("pulumi:providers:openstack", "openstack");
    expect(provider.inputs.insecure).toBe("true");
    const builder = first.run.get(T.instance, n(first, "builder"));
    expect(builder.provider).toBe(`${provider.urn}::openstack-id`);
  });

  it("associates the template's floating IP and provisions through it", () => {
    const assoc = first.run.get(T.fipAssoc, n(first, "fip-assoc"));
    expect(assoc.inputs).toEqual({
      floatingIp: "192.168.0.2",
      instanceId: `${n(first, "builder")}-id`,
    });
    expect(first.run.ofType(T.fip)).toHaveLength(0);
    const install = first.run.get(T.remote, n(first, "provision-install"));
    // The connection carries the private key, so the whole object is a secret.
    const { secret, value: connection } = secretInput(install.inputs.connection);
    expect(secret).toBe(true);
    expect(connection.privateKey).toBe(PRIVATE_KEY);
    expect(connection.host).toBe("192.168.0.2");
    expect(connection.user).toBe("ubuntu");
    expect(connection.port).toBe(22);
    // Builders take minutes to boot: SSH is retried for ~10 minutes, not the default 10 dials.
    expect([connection.dialErrorLimit, connection.perDialTimeout]).toEqual([40, 15]);
    expect(install.inputs.create).toMatch(
      /^sudo env DSE_FINGERPRINT=[0-9a-f]{64} DSE_PYTHON_SOURCE=pip 'DSE_TOOLS=python scipy jupyter' bash \/var\/tmp\/dse-build\/provision\/install\.sh \|\| /,
    );
    expect(install.dependencies).toContain(first.run.get(T.copy, n(first, "provision-upload")).urn);
  });

  it("runs the provisioning steps in order and snapshots only after the last one", () => {
    const urn = (type: string, name: string) => first.run.get(type, name).urn;
    const prepare = first.run.get(T.remote, n(first, "provision-prepare"));
    const upload = first.run.get(T.copy, n(first, "provision-upload"));
    expect(upload.dependencies).toContain(prepare.urn);
    expect(upload.inputs.remotePath).toBe("/var/tmp/dse-build");
    expect(first.run.get(T.remote, n(first, "provision-verify")).dependencies).toContain(
      urn(T.remote, n(first, "provision-install")),
    );
    expect(first.run.get(T.remote, n(first, "provision-cleanup")).dependencies).toContain(
      urn(T.remote, n(first, "provision-verify")),
    );
    const snapshot = first.run.get(T.local, n(first, "image"));
    expect(snapshot.dependencies).toContain(urn(T.remote, n(first, "provision-cleanup")));
    expect(snapshot.inputs.create).toMatch(/^bash .*\/components\/openstack\/snapshot\.sh$/);
    const env = snapshot.inputs.environment as Record<string, string>;
    expect(env).toMatchObject({
      SERVER_ID: `${n(first, "builder")}-id`,
      KEYPAIR: first.images.openstack.name + "-build",
      SECGROUP_ID: `${n(first, "ssh")}-id`,
      FLOATING_IP_ID: "",
      MANIFEST,
      VISIBILITY: "private",
      PROPERTIES: "{}",
      OS_FLAGS: "--insecure",
      FINGERPRINT: first.images.openstack.fingerprint,
    });
    expect(snapshot.ignoreChanges).toEqual(["create", "environment"]);
    expect(snapshot.retainOnDelete).toBe(false);
  });

  it("opens SSH to the whole internet only when no CIDR is given", () => {
    const rules = first.run.ofType(T.secGroupRule);
    expect(rules.map((r) => r.inputs)).toEqual([
      {
        securityGroupId: `${n(first, "ssh")}-id`,
        direction: "ingress",
        ethertype: "IPv4",
        protocol: "tcp",
        portRangeMin: 22,
        portRangeMax: 22,
        remoteIpPrefix: "0.0.0.0/0",
      },
    ]);
  });

  it("exports the image ID and the fingerprinted name", () => {
    const { fingerprint, name } = first.images.openstack;
    expect(fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(name).toBe(`dse_base-${fingerprint.slice(0, 12)}`);
    expect(first.imageIds).toEqual({ openstack: "img-0001" });
    expect(first.images.openstack).toEqual({
      name,
      id: "img-0001",
      fingerprint,
      createdAt: "2026-11-28T12:00:00Z",
      sourceImage: SOURCE_IMAGE,
      manifest: { python: "3.12.3", numpy: "1.26.4" },
    });
  });

  it("lets Pulumi delete leftover cloud resources but never reconnect to a builder", () => {
    // Cloud resources: deleted by the snapshot step, and by Pulumi (404 = done) when a failed
    // build's leftovers are no longer declared. Remote steps: retained, no delete command.
    for (const type of [T.instance, T.keypair, T.secGroup, T.secGroupRule, T.fipAssoc]) {
      for (const r of first.run.ofType(type)) {
        expect([type, r.name, r.retainOnDelete]).toEqual([type, r.name, false]);
      }
    }
    for (const r of [...first.run.ofType(T.remote), ...first.run.ofType(T.copy)]) {
      expect([r.name, r.retainOnDelete, r.inputs.delete]).toEqual([r.name, true, undefined]);
    }
    expect(first.run.get(T.instance, n(first, "builder")).inputs.powerState).toBe("active");
  });

  it("keeps the private key out of every command and log", () => {
    for (const r of first.run.resources) {
      const { connection: _connection, ...rest } = r.inputs;
      expect(JSON.stringify(rest)).not.toContain("secret-material");
    }
    for (const name of ["install", "cleanup", "prepare"]) {
      const step = first.run.get(T.remote, n(first, `provision-${name}`));
      expect(step.inputs.logging ?? "stdoutAndStderr").toBe("stdoutAndStderr");
    }
    expect(first.run.get(T.remote, n(first, "provision-verify")).inputs.logging).toBe("stderr");
  });
});

describe("lifecycle: two successive runs", () => {
  it("declares no builder once the image with the fingerprint exists, and keeps the image", async () => {
    const first = await up(dev);
    const name = first.images.openstack.name;
    const second = await up(dev, "img-0001");

    expect(second.run.invokes).toEqual([
      { token: "openstack:images/getImageIds:getImageIds", inputs: { name } },
    ]);
    for (const type of [
      T.instance,
      T.keypair,
      T.secGroup,
      T.secGroupRule,
      T.fipAssoc,
      T.fip,
      T.remote,
      T.copy,
      T.key,
    ]) {
      expect([type, second.run.ofType(type).length]).toEqual([type, 0]);
    }
    const before = first.run.get(T.local, n(first, "image"));
    const after = second.run.get(T.local, n(first, "image"));
    expect(after.inputs.triggers).toEqual([name]);
    expect(after.inputs.triggers).toEqual(before.inputs.triggers);
    expect(after.inputs.delete).toEqual(before.inputs.delete);
    expect(after.ignoreChanges).toEqual(["create", "environment"]);
    expect(second.images.openstack.name).toBe(name);
    expect(second.imageIds).toEqual(first.imageIds);
  });

  it("rebuilds with a new image name when a setting in the fingerprint changes", async () => {
    const first = await up(dev);
    const changed = JSON.parse(dev["dse-image:openstack"]) as Record<string, unknown>;
    const second = await up({
      ...dev,
      "dse-image:openstack": JSON.stringify({ ...changed, flavor: "3" }),
    });
    expect(second.images.openstack.name).not.toBe(first.images.openstack.name);
    expect(second.run.ofType(T.instance)).toHaveLength(1);
    // A new build is new resources (new names), never a replacement fed old builder inputs.
    expect(second.run.get(T.local, n(second, "image")).inputs.triggers).toEqual([
      second.images.openstack.name,
    ]);
    expect(second.run.ofType(T.local).map((r) => r.name)).toEqual([n(second, "image")]);
    expect(n(second, "image")).not.toBe(n(first, "image"));
  });

  it("does not change the fingerprint for settings that do not change the image", async () => {
    const first = await up(dev);
    const second = await up({ ...dev, "dse-image:keepBuilderOnFailure": "true" });
    expect(second.images.openstack.fingerprint).toBe(first.images.openstack.fingerprint);
  });
});

describe("image deletion", () => {
  it("deletes the image on destroy and replacement unless retainImages", async () => {
    const first = await up(dev);
    expect(first.run.get(T.local, n(first, "image")).inputs.delete).toContain("image delete");
    const retained = await up({ ...dev, "dse-image:retainImages": "true" });
    expect(retained.run.get(T.local, n(retained, "image")).inputs.delete).toBe(
      "echo 'dse-image: retainImages is set: keeping the image' >&2",
    );
  });
});

describe("floating IP from a pool", () => {
  it("allocates a temporary address, provisions through it and releases it in the snapshot step", async () => {
    const os = JSON.parse(dev["dse-image:openstack"]) as Record<string, unknown>;
    delete os.floatingIp;
    const pooled = await up({
      ...dev,
      "dse-image:openstack": JSON.stringify({
        ...os,
        floatingIpPool: "public",
        sshAllowedCidrs: ["198.51.100.0/24", "2001:db8::/32"],
      }),
    });
    const fip = pooled.run.get(T.fip, n(pooled, "fip"));
    expect(fip.inputs.pool).toBe("public");
    expect(fip.retainOnDelete).toBe(false);
    expect(pooled.run.get(T.fipAssoc, n(pooled, "fip-assoc")).inputs.floatingIp).toBe(
      "203.0.113.7",
    );
    const install = pooled.run.get(T.remote, n(pooled, "provision-install"));
    expect(secretInput(install.inputs.connection).value.host).toBe("203.0.113.7");
    const env = pooled.run.get(T.local, n(pooled, "image")).inputs.environment as Record<
      string,
      string
    >;
    expect(env.FLOATING_IP_ID).toBe(`${n(pooled, "fip")}-id`);
    expect(
      pooled.run.ofType(T.secGroupRule).map((r) => [r.inputs.ethertype, r.inputs.remoteIpPrefix]),
    ).toEqual([
      ["IPv4", "198.51.100.0/24"],
      ["IPv6", "2001:db8::/32"],
    ]);
  });
});
