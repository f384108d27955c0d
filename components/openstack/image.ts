import * as pulumi from "@pulumi/pulumi";
import * as openstack from "@pulumi/openstack";
import * as path from "node:path";
import { ConfigError, fullKey } from "../config/errors";
import type { ImageSettings } from "../config/stack";
import { type DeclaredImage, declareImage } from "../lifecycle/chain";
import {
  type Builder,
  type ChainArgs,
  type LaunchRequest,
  type PlatformDriver,
  tsCommand,
} from "../lifecycle/driver";
import { stackFingerprint } from "../lifecycle/fingerprint";
import type { Host } from "../lifecycle/host";
import {
  type ImageComponentOptions,
  declaredOutput,
  splitImageOptions,
} from "../lifecycle/image-component";
import { type ImageInfo, buildSettings, imageInfo } from "../lifecycle/outputs";
import { resolvePlan } from "../lifecycle/resolve";
import type { StoreRef } from "../lifecycle/store";
import { shellQuote } from "../shell";
import type { OpenStackConfig } from "./config";
import { requireOpenStackCli } from "./prerequisites";

/**
 * An OpenStack image's settings, as the user writes them: the stack's image settings and the
 * `dse-image:openstack` object (components/openstack/config.ts, each field with its default).
 * Plain values: the source image and the images that exist decide which resources are declared.
 */
export interface OpenStackImageArgs extends ImageSettings, OpenStackConfig {}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Nova takes either an ID or a name; a UUID is an ID, anything else a name. */
export function imageRef(sourceImage: string): { imageId?: string; imageName?: string } {
  return UUID.test(sourceImage) ? { imageId: sourceImage } : { imageName: sourceImage };
}

/** Flavor IDs are numeric (`2`) or UUIDs; anything else is a flavor name (`m1.small`). */
export function flavorRef(flavor: string): { flavorId?: string; flavorName?: string } {
  return /^\d+$/.test(flavor) || UUID.test(flavor) ? { flavorId: flavor } : { flavorName: flavor };
}

/** `--insecure`, `--os-cacert FILE`: the CLI's spelling of the provider's TLS settings. */
export function osFlags(insecure: boolean, cacertFile?: string): string[] {
  return [...(insecure ? ["--insecure"] : []), ...(cacertFile ? ["--os-cacert", cacertFile] : [])];
}

/** The image store of this project's Glance images. */
export function openStackStore(a: {
  insecure?: boolean;
  cacertFile?: string;
  imageVisibility?: string;
  imageProperties?: Record<string, string>;
}): StoreRef {
  return {
    store: "openstack",
    config: {
      osFlags: osFlags(a.insecure ?? false, a.cacertFile),
      visibility: a.imageVisibility ?? "private",
      properties: a.imageProperties ?? {},
    },
  };
}

/**
 * Bakes the DSE image on OpenStack: a temporary builder from `sourceImage`, provisioned over SSH,
 * snapshotted, torn down, boot-tested and published within the same `pulumi up`
 * (components/lifecycle/chain.ts); this class only says how to launch a builder.
 */
export class OpenStackImage extends pulumi.ComponentResource {
  public readonly imageId: pulumi.Output<string>;
  /** `images.openstack` of the stack outputs (components/reader.ts). */
  public readonly image: pulumi.Output<ImageInfo>;
  /** Settles once every child is declared; rejects with what stopped it (a ConfigError). */
  public readonly ready: Promise<void>;

  constructor(name: string, args: OpenStackImageArgs, opts?: ImageComponentOptions) {
    const { resourceOpts, host } = splitImageOptions(opts);
    super("dse-image:index:OpenStackImage", name, {}, resourceOpts);
    const declared = this.declare(name, args, host);
    this.ready = declared.then(() => undefined);
    this.imageId = declaredOutput(declared, (d) => d.imageId);
    this.image = declaredOutput(declared, (d) => d.image);
    this.registerOutputs({ imageId: this.imageId, image: this.image });
  }

  /** Looks the source image and this family's images up, then declares what the plan says. */
  private async declare(name: string, args: OpenStackImageArgs, host: Host) {
    requireOpenStackCli(host.hasCommand);
    const store = openStackStore(args);
    // By content: an image republished under the same name is another base (a new ID and digest).
    const source = await host.describeSource(store, args.sourceImage).catch((e: Error) => {
      throw new ConfigError(
        fullKey("openstack.sourceImage"),
        e.message.replace(/^imagestore: /, ""),
      );
    });
    const fingerprint = stackFingerprint(args, `glance:${source.id}:${source.checksum}`, {
      platform: "openstack",
      flavor: args.flavor,
    });
    const plan = await resolvePlan("openstack", host, store, args, fingerprint);
    const declared = this.declareImage(name, args, store, {
      plan,
      fingerprint,
      imageName: args.imageName,
      sourceImage: args.sourceImage,
      stackId: host.stackId,
      stackTag: host.stackTag,
      settings: buildSettings(args),
    });
    return {
      imageId: declared.imageId,
      image: imageInfo(declared.image, plan, args.sourceImage, declared.sbom),
    };
  }

  private declareImage(
    name: string,
    args: OpenStackImageArgs,
    store: StoreRef,
    chain: ChainArgs,
  ): DeclaredImage {
    const cidrs = args.sshAllowedCidrs.length ? args.sshAllowedCidrs : ["0.0.0.0/0"];
    const driver: PlatformDriver = {
      platform: "openstack",
      scripts: __dirname,
      consoleCommand: tsCommand(path.join(__dirname, "cli.ts"), "console"),
      stopCommand: tsCommand(path.join(__dirname, "cli.ts"), "stop"),
      env: {
        OS_FLAGS: osFlags(args.insecure, args.cacertFile).map(shellQuote).join(" "),
      },
      store,
      sshUser: args.sshUser,
      // Volume snapshots store only written blocks; zero-filling would only grow them.
      zeroFreeSpace: false,
      userInUserData: false,
      launch: (request) => this.launchBuilder(request, args, cidrs),
      bootTestEnv: {
        FLAVOR: args.flavor,
        NETWORKS: args.networks.join(" "),
        FLOATING_IP: args.floatingIp ?? "",
        FLOATING_IP_POOL: args.floatingIpPool ?? "",
        AVAILABILITY_ZONE: args.availabilityZone ?? "",
        SECURITY_GROUPS: args.securityGroups.join(" "),
        SSH_ALLOWED_CIDRS: cidrs.join(" "),
      },
    };
    return declareImage(this, name, chain, driver);
  }

  private launchBuilder(
    request: LaunchRequest,
    args: OpenStackImageArgs,
    cidrs: string[],
  ): Builder {
    // Not retained: when a generation leaves the program Pulumi deletes them, which the provider
    // takes as done when the teardown already did (rule O1: a 404 on delete is success).
    const res = { parent: this, dependsOn: request.after };
    if (!args.sshAllowedCidrs?.length) {
      void pulumi.log.warn(
        "dse-image:openstack.sshAllowedCidrs is not set: the builder accepts SSH from the whole internet while it runs; set it to your address range",
        this,
      );
    }
    const keypair = new openstack.compute.Keypair(
      `${request.base}-keypair`,
      { name: request.cloudName, publicKey: request.publicKey },
      res,
    );
    const group = new openstack.networking.SecGroup(
      `${request.base}-ssh`,
      {
        name: request.cloudName,
        description: "dse-image builder: SSH from sshAllowedCidrs",
        deleteDefaultRules: false,
      },
      res,
    );
    const rules = cidrs.map(
      (cidr, i) =>
        new openstack.networking.SecGroupRule(
          `${request.base}-ssh-${i}`,
          {
            securityGroupId: group.id,
            direction: "ingress",
            ethertype: cidr.includes(":") ? "IPv6" : "IPv4",
            protocol: "tcp",
            portRangeMin: 22,
            portRangeMax: 22,
            remoteIpPrefix: cidr,
          },
          res,
        ),
    );
    const poolIp = args.floatingIpPool
      ? new openstack.networking.FloatingIp(
          `${request.base}-fip`,
          { pool: args.floatingIpPool, description: request.cloudName },
          res,
        )
      : undefined;
    const guard = request.sweepOnDelete([keypair, group, ...rules, ...(poolIp ? [poolIp] : [])]);
    const server = new openstack.compute.Instance(
      `${request.base}-builder`,
      {
        name: request.cloudName,
        ...flavorRef(args.flavor),
        ...imageRef(args.sourceImage),
        keyPair: keypair.name,
        securityGroups: [group.name, ...(args.securityGroups ?? [])],
        networks: (args.networks ?? []).map((uuid) => ({ uuid })),
        availabilityZone: args.availabilityZone,
        userData: request.userData,
        metadata: request.labels,
      },
      {
        parent: this,
        dependsOn: [...request.after, ...rules, guard],
        // Rule O2: after a refresh the provider would start a shut-off builder to match the
        // default power state. A builder that stopped (failure, TTL, snapshot) is never
        // restarted: a sealed one would regenerate its keys and machine-id before the
        // snapshot, a failed one is replaced by a new generation.
        ignoreChanges: ["powerState"],
      },
    );

    let host: pulumi.Output<string> = server.accessIpV4;
    let ready: pulumi.Resource[] = [server];
    const address = poolIp ? poolIp.address : args.floatingIp;
    if (address !== undefined) {
      const assoc = new openstack.compute.FloatingIpAssociate(
        `${request.base}-fip-assoc`,
        { floatingIp: address, instanceId: server.id },
        { parent: this },
      );
      host = assoc.floatingIp;
      ready = [assoc];
    }
    return { id: server.id, host, port: 22, ready, env: { SERVER_ID: server.id } };
  }
}
