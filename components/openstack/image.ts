import * as pulumi from "@pulumi/pulumi";
import * as openstack from "@pulumi/openstack";
import { declareImage } from "../lifecycle/chain";
import * as path from "node:path";
import {
  type BuildSettings,
  type Builder,
  type LaunchRequest,
  type PlatformDriver,
  tsCommand,
} from "../lifecycle/driver";
import type { ImageRecordOutput } from "../lifecycle/image-record";
import type { Plan } from "../lifecycle/plan";
import type { StoreRef } from "../lifecycle/store";
import { shellQuote } from "../shell";

export interface OpenStackImageArgs {
  /** What this run declares (components/lifecycle/plan.ts). A plain value: it decides which resources exist. */
  plan: Plan;
  /** Build fingerprint (recorded on the image as `dse_fingerprint`). */
  fingerprint: string;
  /** Base name of the image (`imageName`). */
  imageName: string;
  /** `<org>/<project>/<stack>` and its tag: whose claims and builders these are. */
  stackId: string;
  stackTag: string;
  settings: BuildSettings;
  /** Source image ID (UUID) or name. */
  sourceImage: string;
  /** Flavor ID (numeric or UUID) or name. */
  flavor: string;
  /** Network IDs for the builder. Default: the project's default network. */
  networks?: string[];
  /** Existing floating IP address to associate. Default: none. */
  floatingIp?: string;
  /** Pool to allocate a temporary floating IP from (released after). Default: none. */
  floatingIpPool?: string;
  /** Availability zone. Default: the cloud's. */
  availabilityZone?: string;
  /** Login user of the source image. Default `ubuntu`. */
  sshUser?: string;
  /** Extra existing security groups. Default: none. */
  securityGroups?: string[];
  /**
   * Sources allowed on port 22. Default `["0.0.0.0/0"]` (with a warning). A plain list because
   * it decides how many rules exist.
   */
  sshAllowedCidrs?: string[];
  /**
   * Skip TLS verification of the OpenStack API (for the CLI; give the component an
   * `openstack.Provider` with the same setting through `providers`). Default false.
   */
  insecure?: boolean;
  /** CA bundle for the OpenStack API. Default: the system's. */
  cacertFile?: string;
  /** Glance visibility of the published image. Default `private`. */
  imageVisibility?: string;
  /** Extra image properties, set when the image is published. Default: none. */
  imageProperties?: Record<string, string>;
}

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
  public readonly image: pulumi.Output<ImageRecordOutput>;
  /** Path of the image's CycloneDX SBOM on this machine, when there is one. */
  public readonly sbom: pulumi.Output<string | undefined>;

  constructor(name: string, args: OpenStackImageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("dse-image:index:OpenStackImage", name, {}, opts);
    const store = openStackStore(args);
    const cidrs = args.sshAllowedCidrs?.length ? args.sshAllowedCidrs : ["0.0.0.0/0"];
    const driver: PlatformDriver = {
      platform: "openstack",
      scripts: __dirname,
      consoleCommand: tsCommand(path.join(__dirname, "cli.ts"), "console"),
      env: {
        OS_FLAGS: osFlags(args.insecure ?? false, args.cacertFile)
          .map(shellQuote)
          .join(" "),
      },
      store,
      sshUser: args.sshUser ?? "ubuntu",
      // Volume snapshots store only written blocks; zero-filling would only grow them.
      zeroFreeSpace: false,
      userInUserData: false,
      launch: (request) => this.launchBuilder(request, args, cidrs),
      bootTestEnv: {
        FLAVOR: args.flavor,
        NETWORKS: (args.networks ?? []).join(" "),
        FLOATING_IP: args.floatingIp ?? "",
        FLOATING_IP_POOL: args.floatingIpPool ?? "",
        AVAILABILITY_ZONE: args.availabilityZone ?? "",
        SECURITY_GROUPS: (args.securityGroups ?? []).join(" "),
        SSH_ALLOWED_CIDRS: cidrs.join(" "),
      },
    };
    const declared = declareImage(
      this,
      name,
      {
        plan: args.plan,
        fingerprint: args.fingerprint,
        imageName: args.imageName,
        sourceImage: args.sourceImage,
        stackId: args.stackId,
        stackTag: args.stackTag,
        settings: args.settings,
      },
      driver,
    );

    this.image = declared.image;
    this.imageId = declared.imageId;
    this.sbom = declared.sbom;
    this.registerOutputs({ imageId: this.imageId, image: this.image });
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
