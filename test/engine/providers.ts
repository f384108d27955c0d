/**
 * Fake Pulumi providers for the engine model, acting on the fake world. Command resources run
 * the real host scripts (with the fake CLIs on PATH); remote commands act on the fake guests.
 * Each behaviour that matters names its rule from ../shared/reference/pulumi-engine-semantics.md.
 * Test utility, never shipped.
 */
import { createHash } from "node:crypto";
import { DynamicPlugin, dynamicProvider } from "./dynamic";
import { spawner } from "./spawner";
import type { StateEntry } from "./engine";
import { fakeKeyPair } from "./world/guest";
import type { World } from "./world/world";

type Maybe<T> = T | Promise<T>;

export interface ResourceProvider {
  create(
    inputs: Record<string, unknown>,
    ctx: { urn: string; name: string },
  ): Maybe<{ id: string; outputs: Record<string, unknown> }>;
  /** Refresh (rule E6): null when the object is gone. Absent: refresh changes nothing. */
  read?(
    entry: StateEntry,
  ): Maybe<{ outputs: Record<string, unknown>; inputs?: Record<string, unknown> } | null>;
  diff(old: StateEntry, inputs: Record<string, unknown>): Maybe<"same" | "update" | "replace">;
  update?(old: StateEntry, inputs: Record<string, unknown>): Maybe<Record<string, unknown>>;
  delete?(entry: StateEntry): Maybe<void>;
}

/** A stored value as text: strings as they are, anything else as JSON, nothing as "". */
const str = (v: unknown): string =>
  typeof v === "string" ? v : v === undefined || v === null ? "" : JSON.stringify(v);

const json = (v: unknown) => JSON.stringify(v ?? null);
const same = (a: unknown, b: unknown) => json(a) === json(b);

/**
 * A provider's delete retry on "in use": polls until `inUse` is false, or fails with `error` once
 * the delete timeout passes. Parallel deletes of the same antichain (Engine.deleteAll) run
 * meanwhile; 500 polls of 20 ms stand for the provider's 10-15 minutes.
 */
async function whileInUse(inUse: () => boolean, error: string): Promise<void> {
  for (let poll = 0; inUse(); poll++) {
    if (poll >= 500) throw new Error(error);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * A typed create under the account's tag-enforcing policy (FakeAws.requiredTag): the provider
 * surfaces EC2's refusal as its error, and nothing is created.
 */
function refuseUntagged(
  ec2: World["aws"],
  operation: string,
  specs: Record<string, unknown>,
): void {
  const refused = ec2.refuseUntagged(
    operation,
    specs as Record<string, Record<string, string> | undefined>,
    Object.keys(specs),
  );
  if (refused) throw new Error(`creating EC2 ${operation}: ${refused}`);
}

/** Diff of a typed (bridged) resource: ForceNew keys replace, anything else updates. */
export function typedDiff(forceNew: string[]) {
  return (old: StateEntry, inputs: Record<string, unknown>) => {
    const keys = new Set([...Object.keys(old.inputs), ...Object.keys(inputs)]);
    let changed = false;
    for (const k of keys) {
      if (same(old.inputs[k], inputs[k])) continue;
      if (forceNew.includes(k)) return "replace" as const;
      changed = true;
    }
    return changed ? ("update" as const) : ("same" as const);
  };
}

/**
 * How terraform-provider-openstack diffs the builder's typed resources (ForceNew keys in each
 * resource's schema), shared by the fake world and the real cloud's adapter (real-openstack.ts).
 */
export const OPENSTACK_DIFFS = {
  keypair: typedDiff(["name", "publicKey", "region"]),
  secGroup: typedDiff(["region", "tenantId"]),
  secGroupRule: typedDiff([
    "securityGroupId",
    "direction",
    "ethertype",
    "protocol",
    "portRangeMin",
    "portRangeMax",
    "remoteIpPrefix",
  ]),
  instance: (old: StateEntry, inputs: Record<string, unknown>) => {
    // Rule O3: user_data and the image replace the server.
    const base = typedDiff([
      "imageId",
      "imageName",
      "userData",
      "keyPair",
      "networks",
      "availabilityZone",
    ])(
      { ...old, inputs: { ...old.inputs, powerState: undefined } },
      { ...inputs, powerState: undefined },
    );
    if (base === "replace") return base;
    const want = inputs.powerState ?? "active";
    const have = old.outputs.powerState ?? "active";
    return want !== have ? ("update" as const) : base;
  },
};

export interface CommandRun {
  urn: string;
  script: string;
  code: number;
  stderr: string;
  ms: number;
}

export class Providers {
  /** Every host command run, for assertions and failure messages. */
  readonly commandRuns: CommandRun[] = [];
  /**
   * Where local commands run: the project folder of the stack whose run this is (a plugin runs
   * in it, and pulumi-command runs a command without `dir` in its own working folder:
   * provider/pkg/provider/local/commandOutputs.go `run`).
   */
  cwd = process.cwd();
  private table?: Record<string, ResourceProvider>;
  /** The dynamic provider plugin of the current deployment (dynamic.ts). */
  readonly dynamic = new DynamicPlugin();

  constructor(
    private readonly world: World | undefined,
    private readonly awsRegion = "eu-west-1",
  ) {}

  /** The providers by type token; a subclass may replace some (see real.ts). */
  protected providers(): Record<string, ResourceProvider> {
    return {
      "tls:index/privateKey:PrivateKey": this.tls(),
      "command:local:Command": this.localCommand(),
      "command:remote:Command": this.remoteCommand(),
      ...this.openstack(),
      ...this.aws(),
    };
  }

  for(type: string): ResourceProvider {
    // Built on first use, so a subclass's own fields are set by then.
    this.table ??= this.providers();
    if (type.startsWith("pulumi-nodejs:dynamic")) {
      this.table[type] ??= dynamicProvider(
        this.dynamic,
        () => this.cwd,
        (urn) => {
          // `host:<role>` as for a command step: `qemu-<build>-<gen>-publish` -> publish.
          const name = urn.split("::").pop()!;
          const role = name.split("-").pop()!;
          const fault = this.world?.faults.take(`host:${role}`, name.split("-")[0]);
          if (fault) throw new Error(`${role}: injected failure (${fault})`);
        },
      );
    }
    const p = this.table[type];
    if (!p) throw new Error(`engine model: no fake provider for ${type}`);
    return p;
  }

  invoke(token: string, inputs: Record<string, unknown>): Record<string, unknown> {
    switch (token) {
      case "aws:ec2/getAmi:getAmi":
        return { id: "ami-0b0b0000000000001", name: "ubuntu-noble", tags: {} };
      case "aws:ec2/getSubnet:getSubnet":
        return { id: inputs.id, vpcId: "vpc-0123456789abcdef0" };
      default:
        throw new Error(`engine model: unmocked invoke ${token}`);
    }
  }

  // --- tls -------------------------------------------------------------------------------
  private tls(): ResourceProvider {
    return {
      create: (inputs) => {
        const k = fakeKeyPair();
        return {
          id: createHash("sha1").update(k.publicKey).digest("hex"),
          outputs: { ...inputs, privateKeyOpenssh: k.privateKey, publicKeyOpenssh: k.publicKey },
        };
      },
      diff: typedDiff(["algorithm", "rsaBits", "ecdsaCurve"]),
    };
  }

  // --- command:local:Command ---------------------------------------------------------------
  /**
   * The step's name for fault injection and errors: the script or imagestore command it runs; for
   * a TypeScript host command its file without `-cli` (`boot-test-cli.ts qemu` is boot-test), or
   * a `cli.ts`'s command.
   */
  protected static stepName(command: string): string {
    const store = /imagestore\.py'? (\w+)/.exec(command);
    if (store) return store[1];
    const ts = /([\w-]+)\.ts'?(?:\s+'?([\w-]+))?/.exec(command);
    if (ts) return ts[1] === "cli" ? (ts[2] ?? "cli") : ts[1].replace(/-cli$/, "");
    return (/([\w-]+)\.sh'?\s*$/.exec(command.trim())?.[1] ?? command.split(" ")[0]).replace(
      /\.sh$/,
      "",
    );
  }

  protected async shell(
    urn: string,
    command: string,
    env: Record<string, string>,
    stdin?: string,
  ): Promise<{ stdout: string; stderr: string }> {
    const platform = urn.split("::").pop()!.split("-")[0];
    const name = Providers.stepName(command);
    const fault = this.world?.faults.take(`host:${name}`, platform);
    if (fault) throw new Error(`exit status 1: ${name}: injected failure (${fault})`);
    const t0 = Date.now();
    // Its own process group, so a kill fault can SIGKILL the step and all it started.
    const ran = await spawner.run({
      command,
      cwd: this.cwd,
      env: {
        ...process.env,
        ...(this.world ? { TMPDIR: this.world.tmpDir } : {}),
        ...env,
        DSE_ENGINE_KILLABLE: "1",
      },
      stdin: stdin ?? "",
    });
    const result = {
      code: ran.code ?? 1,
      stdout: ran.stdout,
      stderr: ran.signal ? `${ran.stderr}killed by ${ran.signal}\n` : ran.stderr,
    };
    this.commandRuns.push({
      urn,
      script: name,
      code: result.code,
      stderr: result.stderr,
      ms: Date.now() - t0,
    });
    if (process.env.DSE_ENGINE_VERBOSE) process.stderr.write(`[${name}] ${result.stderr}`);
    if (result.code !== 0) {
      const tail = result.stderr.trim().split("\n").slice(-8).join("\n");
      throw new Error(`exit status ${result.code}: ${name}: ${tail}`);
    }
    return result;
  }

  protected localCommand(): ResourceProvider {
    const envOf = (inputs: Record<string, unknown>) =>
      (inputs.environment ?? {}) as Record<string, string>;
    return {
      // Rule C6: a failed create throws, and the engine keeps nothing of it.
      create: async (inputs, ctx) => {
        const r = await this.shell(
          ctx.urn,
          str(inputs.create),
          envOf(inputs),
          inputs.stdin as string | undefined,
        );
        return {
          id: `${ctx.name}-${Date.now().toString(36)}`,
          outputs: { ...inputs, stdout: r.stdout.trimEnd(), stderr: r.stderr.trimEnd() },
        };
      },
      // Rule C1: triggers replace; rule C2: any other change runs update (or create again).
      diff: (old, inputs) => {
        if (!same(old.inputs.triggers, inputs.triggers)) return "replace";
        const keys = new Set([...Object.keys(old.inputs), ...Object.keys(inputs)]);
        return [...keys].some((k) => !same(old.inputs[k], inputs[k])) ? "update" : "same";
      },
      update: async (old, inputs) => {
        const command = str(inputs.update ?? inputs.create);
        const r = await this.shell(old.urn, command, {
          ...envOf(inputs),
          PULUMI_COMMAND_STDOUT: str(old.outputs.stdout),
          PULUMI_COMMAND_STDERR: str(old.outputs.stderr),
        });
        return { ...inputs, stdout: r.stdout.trimEnd(), stderr: r.stderr.trimEnd() };
      },
      // Rule C3: delete runs with the STORED environment and the stored outputs; none: no-op.
      delete: async (entry) => {
        if (!entry.inputs.delete) return;
        await this.shell(entry.urn, str(entry.inputs.delete), {
          ...envOf(entry.inputs),
          PULUMI_COMMAND_STDOUT: str(entry.outputs.stdout),
          PULUMI_COMMAND_STDERR: str(entry.outputs.stderr),
        });
      },
    };
  }

  // --- command:remote --------------------------------------------------------------------
  private guestFor(inputs: Record<string, unknown>) {
    const c = inputs.connection as {
      host: string;
      port?: number;
      privateKey: string;
      hostKey?: string;
      dialErrorLimit?: number;
    };
    const guest = this.world!.guestAt(c.host, Number(c.port ?? 22));
    const why = guest
      ? guest.refuses(c.privateKey, c.hostKey)
      : "dial tcp: connect: connection refused";
    if (why) {
      // Rule C9: dials are retried dialErrorLimit times, then the step fails with the last error.
      throw new Error(
        `Dial failed after ${c.dialErrorLimit ?? 10} failed attempts: ${why} (${c.host}:${c.port ?? 22})`,
      );
    }
    return guest!;
  }

  private remoteCommand(): ResourceProvider {
    const run = (inputs: Record<string, unknown>) => {
      const guest = this.guestFor(inputs);
      const r = guest.exec(str(inputs.create), guest.id, str(inputs.stdin));
      if (r.code !== 0) {
        throw new Error(
          `Process exited with status ${r.code}: running "${str(inputs.create).slice(0, 80)}...":\n${r.stderr}`,
        );
      }
      return { ...inputs, stdout: r.stdout.trimEnd(), stderr: r.stderr.trimEnd() };
    };
    return {
      create: (inputs, ctx) => ({
        id: `${ctx.name}-${Date.now().toString(36)}`,
        outputs: run(inputs),
      }),
      diff: (old, inputs) => {
        if (!same(old.inputs.triggers, inputs.triggers)) return "replace"; // rule C1
        const keys = new Set([...Object.keys(old.inputs), ...Object.keys(inputs)]);
        return [...keys].some((k) => !same(old.inputs[k], inputs[k])) ? "update" : "same";
      },
      // Rule C7: a changed connection (or command) is an update, which runs create again.
      update: (_old, inputs) => run(inputs),
    };
  }

  // --- OpenStack (terraform-provider-openstack) ------------------------------------------
  private openstack(): Record<string, ResourceProvider> {
    const os = this.world!.openstack;
    const notFoundOk = () => undefined; // rule O1: deleting what is gone succeeds
    return {
      "openstack:compute/keypair:Keypair": {
        create: (inputs) => {
          os.keypairs.set(str(inputs.name), str(inputs.publicKey));
          return { id: str(inputs.name), outputs: { ...inputs } };
        },
        read: (e) => (os.keypairs.has(e.id) ? { outputs: e.outputs } : null),
        diff: OPENSTACK_DIFFS.keypair,
        delete: (e) => {
          os.keypairs.delete(e.id);
        },
      },
      "openstack:networking/secGroup:SecGroup": {
        create: (inputs) => {
          const id = `sg-${Math.random().toString(16).slice(2, 10)}`;
          os.groups.set(id, { id, name: str(inputs.name) });
          return { id, outputs: { ...inputs, id } };
        },
        read: (e) => (os.groups.has(e.id) ? { outputs: e.outputs } : null),
        diff: OPENSTACK_DIFFS.secGroup,
        update: (_o, inputs) => inputs,
        // Neutron's 409 (a port still uses the group) is retried until the delete timeout
        // (tf-provider-openstack v1.54.1 networkingSecgroupV2StateRefreshFuncDelete, 10 min).
        delete: async (e) => {
          const g = os.groups.get(e.id);
          const inUse = () =>
            g !== undefined &&
            [...os.servers.values()].some((s) => s.securityGroups.includes(g.name));
          await whileInUse(inUse, `security group ${e.id} in use (HTTP 409)`);
          os.groups.delete(e.id);
        },
      },
      "openstack:networking/secGroupRule:SecGroupRule": {
        create: (inputs) => ({
          id: `rule-${Math.random().toString(16).slice(2, 10)}`,
          outputs: { ...inputs },
        }),
        read: (e) => (os.groups.has(str(e.inputs.securityGroupId)) ? { outputs: e.outputs } : null),
        diff: OPENSTACK_DIFFS.secGroupRule,
        delete: notFoundOk,
      },
      "openstack:compute/instance:Instance": {
        create: (inputs) => {
          const imageRef = str(inputs.imageId ?? inputs.imageName);
          const image = [...os.images.values()].find(
            (i) => i.id === imageRef || i.name === imageRef,
          );
          const server = os.launch({
            name: str(inputs.name),
            image,
            userData: inputs.userData as string | undefined,
            keyName: inputs.keyPair as string | undefined,
            metadata: inputs.metadata as Record<string, string>,
            securityGroups: (inputs.securityGroups as string[] | undefined) ?? [],
          });
          return {
            id: server.id,
            outputs: { ...inputs, id: server.id, accessIpV4: server.fixedIp, powerState: "active" },
          };
        },
        // Rule O2: Read sets power_state from the server status.
        read: (e) => {
          const s = os.servers.get(e.id);
          if (!s) return null;
          const powerState = s.status === "SHUTOFF" ? "shutoff" : "active";
          return { outputs: { powerState }, inputs: { powerState } };
        },
        diff: OPENSTACK_DIFFS.instance,
        // Rule O2: an update with powerState active starts a shut-off server.
        update: (old, inputs) => {
          const s = os.servers.get(old.id);
          const want = inputs.powerState ?? "active";
          if (s && want === "active" && s.status === "SHUTOFF") {
            s.status = "ACTIVE";
            s.guest.restart();
          }
          return { ...old.outputs, ...inputs, powerState: want };
        },
        delete: (e) => {
          os.deleteServer(e.id);
        },
      },
      "openstack:networking/floatingIp:FloatingIp": {
        create: (inputs) => {
          const fip = os.allocateFip(str(inputs.description));
          return { id: fip.id, outputs: { ...inputs, address: fip.address } };
        },
        read: (e) => (os.fips.has(e.id) ? { outputs: e.outputs } : null),
        diff: typedDiff(["pool"]),
        update: (_o, inputs) => inputs,
        delete: (e) => {
          os.fips.delete(e.id);
        },
      },
      "openstack:compute/floatingIpAssociate:FloatingIpAssociate": {
        create: (inputs) => {
          os.associate(str(inputs.floatingIp), str(inputs.instanceId));
          return {
            id: `${str(inputs.floatingIp)}/${str(inputs.instanceId)}`,
            outputs: { ...inputs },
          };
        },
        read: (e) => {
          const s = os.servers.get(str(e.inputs.instanceId));
          return s && s.floatingIp === e.inputs.floatingIp ? { outputs: e.outputs } : null;
        },
        diff: typedDiff(["floatingIp", "instanceId", "fixedIp"]),
        delete: (e) => {
          const s = os.servers.get(str(e.inputs.instanceId));
          if (!s) return; // rule O1
          // Nova answers 409 when the address is not on this server (a later association moved
          // it): the provider logs it and succeeds (tf-provider-openstack v1.54.1
          // resource_openstack_compute_floatingip_associate_v2.go, Delete: ErrDefault409).
          if (s.floatingIp !== e.inputs.floatingIp) return;
          s.floatingIp = undefined;
          for (const f of os.fips.values())
            if (f.address === e.inputs.floatingIp) f.server = undefined;
        },
      },
    };
  }

  // --- AWS (terraform-provider-aws) -------------------------------------------------------
  private aws(): Record<string, ResourceProvider> {
    const ec2 = this.world!.aws;
    const region = this.awsRegion;
    return {
      "aws:ec2/keyPair:KeyPair": {
        create: (inputs) => {
          refuseUntagged(ec2, "ImportKeyPair", { "key-pair": inputs.tags });
          // Names are unique per region (terraform-provider-aws surfaces EC2's error as is).
          if (ec2.keyPairs.has(str(inputs.keyName)))
            throw new Error(
              `importing EC2 Key Pair (${str(inputs.keyName)}): InvalidKeyPair.Duplicate: The keypair already exists`,
            );
          ec2.keyPairs.set(str(inputs.keyName), {
            name: str(inputs.keyName),
            publicKey: str(inputs.publicKey),
            region,
          });
          return { id: str(inputs.keyName), outputs: { ...inputs } };
        },
        read: (e) => (ec2.keyPairs.has(e.id) ? { outputs: e.outputs } : null),
        diff: typedDiff(["keyName", "publicKey"]),
        update: (_o, inputs) => inputs,
        delete: (e) => {
          ec2.keyPairs.delete(e.id); // DeleteKeyPair succeeds for a missing key
        },
      },
      "aws:ec2/securityGroup:SecurityGroup": {
        create: (inputs) => {
          refuseUntagged(ec2, "CreateSecurityGroup", { "security-group": inputs.tags });
          if (
            [...ec2.groups.values()].some((g) => g.name === str(inputs.name) && g.region === region)
          )
            throw new Error(
              `creating Security Group (${str(inputs.name)}): InvalidGroup.Duplicate: The security group '${str(inputs.name)}' already exists for VPC`,
            );
          const id = `sg-${Math.random().toString(16).slice(2, 12)}`;
          ec2.groups.set(id, { id, name: str(inputs.name), region });
          return { id, outputs: { ...inputs, id } };
        },
        read: (e) => (ec2.groups.has(e.id) ? { outputs: e.outputs } : null),
        diff: typedDiff(["name", "vpcId", "description"]),
        update: (_o, inputs) => inputs,
        // DependencyViolation and InvalidGroup.InUse are retried until the delete timeout
        // (terraform-provider-aws internal/service/ec2/vpc_security_group.go
        // resourceSecurityGroupDelete: RetryWhenAWSErrCodeEquals, 15 min).
        delete: async (e) => {
          const inUse = () =>
            [...ec2.instances.values()].some(
              (i) => i.state !== "terminated" && i.securityGroups.includes(e.id),
            );
          await whileInUse(inUse, `DependencyViolation: resource ${e.id} has a dependent object`);
          ec2.groups.delete(e.id);
        },
      },
      "aws:ec2/instance:Instance": {
        create: (inputs) => {
          // The provider tags the instance and, from volumeTags, its volumes in RunInstances.
          refuseUntagged(ec2, "RunInstances", {
            instance: inputs.tags,
            volume: inputs.volumeTags,
          });
          const ami = ec2.amis.get(str(inputs.ami));
          const inst = ec2.launch({
            region,
            ami,
            userData: inputs.userData as string | undefined,
            keyName: inputs.keyName as string | undefined,
            tags: inputs.tags as Record<string, string>,
            securityGroups: (inputs.vpcSecurityGroupIds as string[] | undefined) ?? [],
            shutdownTerminates: inputs.instanceInitiatedShutdownBehavior === "terminate",
          });
          return {
            id: inst.id,
            outputs: { ...inputs, id: inst.id, publicIp: inst.publicIp, privateIp: inst.privateIp },
          };
        },
        // Rule A1: a terminated instance reads as gone.
        read: (e) => {
          const i = ec2.instances.get(e.id);
          return i && i.state !== "terminated" ? { outputs: e.outputs } : null;
        },
        diff: typedDiff([
          "ami",
          "keyName",
          "subnetId",
          "associatePublicIpAddress",
          "instanceMarketOptions",
          "rootBlockDevice",
        ]),
        update: (old, inputs) => ({ ...old.outputs, ...inputs }),
        delete: (e) => {
          ec2.terminate(e.id);
        },
      },
    };
  }
}
