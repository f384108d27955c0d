/**
 * The lifecycle's resource graph on every platform, under mocks: what a run declares in each
 * phase (build, pending, published), in which order, with which inputs; the pinned host key on
 * every remote step and in the builder's user data or seed; the boot test before publishing; and
 * the contract as two successive program runs (the second finds the image: no builder, same
 * outputs). Multi-run behaviour under the engine's rules is test/engine's job.
 */
import { describe, expect, it } from "vitest";
import type { ProbeImage, ProbeResult } from "../../components/lifecycle/plan";
import { TTL_SCRIPT } from "../../components/lifecycle/user-data";
import { secretInput, stackConfig } from "./mocks";
import { HOST_PUBLIC_KEY, PUBLIC_KEY, STACK_ID, runProgram, type ProgramRun } from "./program";
import { stackFileConfig } from "./stack-files";

const L = "command:local:Command";
const R = "command:remote:Command";
const CLAIM = "pulumi-nodejs:dynamic:ImageClaim";

const PENDING = "pulumi-nodejs:dynamic:PendingImage";
const PUBLISH = "pulumi-nodejs:dynamic:ImagePublish";

interface Case {
  platform: "openstack" | "aws" | "qemu";
  config: () => Record<string, string>;
  /** The builder machine: its type and logical name. */
  builder: [string, string];
  /** Where the builder's cloud-config is: the instance's userData, or the start step's USER_DATA. */
  userData: (r: ProgramRun) => string;
}

const CASES: Case[] = [
  {
    platform: "openstack",
    config: () => stackFileConfig("dev"),
    builder: ["openstack:compute/instance:Instance", "openstack-builder"],
    userData: (r) =>
      secretInput<string>(
        r.run.get("openstack:compute/instance:Instance", "openstack-builder").inputs.userData,
      ).value,
  },
  {
    platform: "aws",
    config: () =>
      stackConfig({
        platforms: ["aws"],
        aws: {
          region: "eu-west-1",
          sourceAmi: "ami-0123456789abcdef0",
          sshAllowedCidrs: ["203.0.113.0/24"],
        },
      }),
    builder: ["aws:ec2/instance:Instance", "aws-builder"],
    userData: (r) =>
      secretInput<string>(r.run.get("aws:ec2/instance:Instance", "aws-builder").inputs.userData)
        .value,
  },
  {
    platform: "qemu",
    config: () => stackFileConfig("local"),
    builder: [L, "qemu-start"],
    userData: (r) =>
      secretInput<Record<string, string>>(r.run.get(L, "qemu-start").inputs.environment).value
        .USER_DATA,
  },
];

/** Each typed platform's store as the dev and local stack files configure it. */
const STORES: Record<string, unknown> = {
  qemu: { store: "qemu", config: { outputDir: "images", cacheDir: "", ext: "qcow2" } },
  aws: {
    store: "aws",
    config: {
      region: "eu-west-1",
      copyToRegions: [],
      shareWithAccounts: [],
      encrypted: true,
      kmsKeyId: "",
    },
  },
  openstack: {
    store: "openstack",
    config: { osFlags: ["--insecure"], visibility: "private", properties: {} },
  },
};

const image = (over: Partial<ProbeImage>): ProbeImage => ({
  id: "img-1",
  name: "dse_base-000000000000-20261128",
  state: "complete",
  fingerprint: "",
  gen: "g1",
  buildStack: "",
  createdAt: "2026-11-28T09:00:00Z",
  users: [],
  kept: [],
  ...over,
});

describe.each(CASES)("$platform: the lifecycle graph", (c) => {
  const deps = (r: ProgramRun, type: string, name: string) => r.run.get(type, name).dependencies;
  const urn = (r: ProgramRun, type: string, name: string) => r.run.get(type, name).urn;

  it("builds in order: teardown of old builders, builder, SSH wait, provisioning, snapshot, teardown, boot test, publish, record", async () => {
    const r = await runProgram(c.config());
    const p = c.platform;
    // The first builder-side resource waits for the teardown of earlier generations.
    const [bType, bName] = c.builder;
    expect(deps(r, bType, bName)).toContain(urn(r, L, `${p}-sweep`));
    expect(deps(r, L, `${p}-wait-ssh`).length).toBeGreaterThan(0);
    expect(deps(r, R, `${p}-provision-prepare`)).toContain(urn(r, L, `${p}-wait-ssh`));
    expect(deps(r, R, `${p}-provision-upload`)).toContain(urn(r, R, `${p}-provision-prepare`));
    const steps = ["install", "verify", "inventory", "cleanup"];
    steps.forEach((step, i) => {
      const before =
        i === 0 ? urn(r, R, `${p}-provision-upload`) : urn(r, R, `${p}-provision-${steps[i - 1]}`);
      expect(deps(r, R, `${p}-provision-${step}`)).toContain(before);
    });
    const snap = PENDING;
    const pub = PUBLISH;
    expect(deps(r, snap, `${p}-snapshot`)).toContain(urn(r, R, `${p}-provision-cleanup`));
    expect(deps(r, L, `${p}-teardown`)).toContain(urn(r, snap, `${p}-snapshot`));
    expect(deps(r, L, `${p}-boot-test`)).toContain(urn(r, L, `${p}-teardown`));
    expect(deps(r, pub, `${p}-publish`)).toContain(urn(r, L, `${p}-boot-test`));
    expect(deps(r, CLAIM, `${p}-image`)).toContain(urn(r, pub, `${p}-publish`));
  });

  it("pins the builder's host key on every remote step, re-runs every step for a new builder, and never deletes them", async () => {
    const r = await runProgram(c.config());
    const remote = r.run.ofType(R);
    expect(remote.map((s) => s.logical).sort()).toEqual(
      ["cleanup", "install", "inventory", "prepare", "upload", "verify"]
        .map((s) => `${c.platform}-provision-${s}`)
        .sort(),
    );
    const snapshot = r.run.get(PENDING, `${c.platform}-snapshot`).inputs;
    const fingerprint = snapshot.fingerprint as string;
    expect(r.images[c.platform].fingerprint).toBe(fingerprint);
    for (const step of remote) {
      const { value: connection } = secretInput<Record<string, unknown>>(step.inputs.connection);
      expect(connection.hostKey, step.name).toBe(HOST_PUBLIC_KEY);
      expect(step.inputs.triggers, step.name).toEqual([fingerprint, expect.any(String)]);
      expect(step.retainOnDelete, step.name).toBe(true);
    }
    const builderIds = new Set(remote.map((s) => (s.inputs.triggers as string[])[1]));
    expect(builderIds.size).toBe(1);
  });

  it("gives the builder its host key and a dead-man switch that runs at every boot", async () => {
    const r = await runProgram(c.config());
    const userData = c.userData(r);
    expect(userData).toContain(
      "ssh_keys:\n  ed25519_private: |\n    -----BEGIN OPENSSH PRIVATE KEY-----\n    host-secret",
    );
    expect(userData).toContain(`  ed25519_public: "${HOST_PUBLIC_KEY}"`);
    expect(userData).toContain(`  - path: ${TTL_SCRIPT}`);
    expect(userData).toContain("--on-active=120m /bin/systemctl poweroff");
    if (c.platform === "qemu") expect(userData).toContain(`      - "${PUBLIC_KEY}"`);
  });

  it("boot-tests the pending image with its own key and pinned host key before publishing it", async () => {
    const r = await runProgram(c.config());
    const test = r.run.get(L, `${c.platform}-boot-test`);
    const env = secretInput<Record<string, unknown>>(test.inputs.environment).value;
    expect(env.IMAGE_ID).toBe("pending-1");
    expect(env.HOST_PUBLIC_KEY).toBe(HOST_PUBLIC_KEY);
    expect(secretInput<string>(env.USER_DATA).value).toContain(
      "/var/lib/cloud/scripts/per-boot/dse-boot-test-ttl.sh",
    );
    expect(
      secretInput(env.SSH_PRIVATE_KEY).secret || secretInput(test.inputs.environment).secret,
    ).toBe(true);
    const publish = r.run.get(PUBLISH, `${c.platform}-publish`).inputs;
    const published = {
      PENDING_ID: publish.pendingId as string,
      BOOT_TEST: publish.bootTest as string,
    };
    expect(published).toMatchObject({ PENDING_ID: "pending-1" });
    expect(JSON.parse(published.BOOT_TEST)).toEqual({
      passed: true,
      seconds: 42,
      checks: ["cloud-init", "verify"],
    });
  });

  it("records the published image as this stack's claim, released on delete", async () => {
    const r = await runProgram(c.config());
    {
      const claim = r.run.get(CLAIM, `${c.platform}-image`);
      expect(claim.inputs).toMatchObject({
        store: STORES[c.platform],
        imageId: "published-1",
        imageName: "dse_base",
        stackId: STACK_ID,
        retainImages: false,
        keep: 0,
      });
      expect(claim.dependencies).toContain(r.run.get(PUBLISH, `${c.platform}-publish`).urn);
      expect(r.images[c.platform].bootTest).toBeUndefined();
    }
  });

  it("a second run that finds the image declares only the record, with the same image ID", async () => {
    const first = await runProgram(c.config());
    const fingerprint = first.images[c.platform].fingerprint;
    const found: ProbeResult = {
      images: [image({ id: "published-1", name: first.images[c.platform].name, fingerprint })],
      builders: [],
    };
    const second = await runProgram(c.config(), (ref) =>
      ref.store === c.platform ? found : { images: [], builders: [] },
    );
    const types = new Set(
      second.run.resources.filter((x) => x.logical.startsWith(`${c.platform}-`)).map((x) => x.type),
    );
    const claim = CLAIM;
    expect([...types]).toEqual([claim]);
    expect(
      second.run
        .ofType(claim)
        .filter((x) => x.logical.startsWith(c.platform))
        .map((x) => x.logical),
    ).toEqual([`${c.platform}-image`]);
    expect(second.imageIds[c.platform]).toEqual(first.imageIds[c.platform]);
    expect(second.run.get(claim, `${c.platform}-image`).name).toBe(
      first.run.get(claim, `${c.platform}-image`).name,
    );
  });

  it("a pending image of this stack is tested and published without a builder", async () => {
    const first = await runProgram(c.config());
    const fingerprint = first.images[c.platform].fingerprint;
    const pending: ProbeResult = {
      images: [
        image({
          id: "pending-9",
          state: "pending",
          fingerprint,
          buildStack: "8c4a3f1e",
          name: first.images[c.platform].name,
        }),
      ],
      builders: [],
    };
    const { stackTagOf } = await import("../../components/lifecycle/names");
    pending.images[0].buildStack = stackTagOf(STACK_ID);
    const r = await runProgram(c.config(), (ref) =>
      ref.store === c.platform ? pending : { images: [], builders: [] },
    );
    const mine = r.run.resources.filter(
      (x) => x.logical.startsWith(`${c.platform}-`) && x.type !== `dse-image:index:${x.type}`,
    );
    expect(mine.map((x) => x.logical).sort()).toEqual(
      [
        `${c.platform}-boot-test`,
        `${c.platform}-image`,
        `${c.platform}-publish`,
        `${c.platform}-teardown`,
        `${c.platform}-test-hostkey`,
        `${c.platform}-test-key`,
      ].sort(),
    );
    expect(
      secretInput(r.run.get(L, `${c.platform}-boot-test`).inputs.environment).value,
    ).toMatchObject({ IMAGE_ID: "pending-9" });
  });
});

describe("host tools of every lifecycle", () => {
  it("names what is missing and how to install it", async () => {
    const { requireLifecycleTools } = await import("../../components/lifecycle/host");
    expect(() => requireLifecycleTools((t) => t !== "ssh-keyscan" && t !== "scp")).toThrow(
      "dse-image:platforms: building images needs scp, ssh-keyscan on this machine (the SSH wait and the boot test); install them with `sudo apt-get install openssh-client`",
    );
    // Every image store is TypeScript: no python3 on any platform.
    expect(() => requireLifecycleTools((t) => t !== "python3")).not.toThrow();
  });
});
