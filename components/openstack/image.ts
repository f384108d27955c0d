import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as openstack from "@pulumi/openstack";
import * as tls from "@pulumi/tls";
import { ImageRecordOutput, imageRecord, parseImageRecord } from "../lifecycle/image-record";
import { ttlUserData } from "../provision-commands";
import { Provisioner } from "../provisioner";
import type { ProvisioningArgs } from "../provisioning-args";
import { shellQuote } from "../shell";

export interface OpenStackImageArgs extends ProvisioningArgs {
  /** Full image name, `<imageName>-<fingerprint prefix>`. */
  imageName: pulumi.Input<string>;
  /**
   * Build fingerprint, stored as the image property `dse_fingerprint`. A plain value because its
   * prefix is part of every child's name (see the constructor).
   */
  fingerprint: string;
  /**
   * Whether to launch a builder: false when an image with this fingerprint already exists
   * (see `findOpenStackImage`). A plain value because it decides which resources exist.
   * Default true.
   */
  build?: boolean;
  /** Source image ID (UUID) or name. */
  sourceImage: pulumi.Input<string>;
  /** Flavor ID (numeric or UUID) or name. */
  flavor: pulumi.Input<string>;
  /** Network IDs for the builder. Default: the project's default network. */
  networks?: pulumi.Input<pulumi.Input<string>[]>;
  /** Existing floating IP address to associate. Default: none. */
  floatingIp?: pulumi.Input<string>;
  /** Pool to allocate a temporary floating IP from (released after). Default: none. */
  floatingIpPool?: pulumi.Input<string>;
  /** Availability zone. Default: the cloud's. */
  availabilityZone?: pulumi.Input<string>;
  /** Login user of the source image. Default `ubuntu`. */
  sshUser?: pulumi.Input<string>;
  /** Extra existing security groups. Default: none. */
  securityGroups?: pulumi.Input<pulumi.Input<string>[]>;
  /**
   * Sources allowed on port 22. Default `["0.0.0.0/0"]` (with a warning). A plain list because
   * it decides how many rules exist.
   */
  sshAllowedCidrs?: string[];
  /**
   * Skip TLS verification of the OpenStack API (for the snapshot CLI; give the component an
   * `openstack.Provider` with the same setting through `providers`). Default false.
   */
  insecure?: pulumi.Input<boolean>;
  /** CA bundle for the OpenStack API. Default: the system's. */
  cacertFile?: pulumi.Input<string>;
  /** Glance visibility of the image. Default `private`. */
  imageVisibility?: pulumi.Input<string>;
  /** Extra image properties. Default: none. */
  imageProperties?: pulumi.Input<Record<string, string>>;
  /** Keep the image on `pulumi destroy` and on rebuilds. Default false. */
  retainImages?: pulumi.Input<boolean>;
  /** Power the builder off after this many minutes whatever happens. Default 120. */
  builderTtlMinutes?: pulumi.Input<number>;
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

/** The ID of an existing image with this exact name, if any. */
export async function findOpenStackImage(
  imageName: string,
  opts?: pulumi.InvokeOptions,
): Promise<string | undefined> {
  const found = await openstack.images.getImageIds({ name: imageName }, opts);
  return found.ids[0];
}

const SNAPSHOT_SCRIPT = path.join(__dirname, "snapshot.sh");

/**
 * Bakes the DSE image on OpenStack: a temporary builder from `sourceImage`, provisioned over SSH,
 * snapshotted, then torn down within the same `pulumi up`.
 */
export class OpenStackImage extends pulumi.ComponentResource {
  public readonly imageId: pulumi.Output<string>;
  public readonly image: pulumi.Output<ImageRecordOutput>;
  /** The temporary build key, while a builder exists. Secret. */
  public readonly privateKey?: pulumi.Output<string>;

  constructor(name: string, args: OpenStackImageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("dse-image:index:OpenStackImage", name, {}, opts);
    // Every resource of one build carries the fingerprint in its name. A new fingerprint then
    // makes new resources instead of replacing old ones: Pulumi would replace the image record
    // with the *old* values of its ignored, builder-derived inputs (a builder long gone).
    const base = `${name}-${args.fingerprint.slice(0, 12)}`;
    const osFlags = pulumi
      .all([args.insecure ?? false, args.cacertFile ?? ""])
      .apply(([insecure, cacert]) =>
        [insecure ? "--insecure" : "", cacert ? `--os-cacert ${shellQuote(cacert)}` : ""]
          .filter(Boolean)
          .join(" "),
      );
    const deleteCommand = pulumi
      .output(args.retainImages ?? false)
      .apply((retain) =>
        retain
          ? "echo 'dse-image: retainImages is set: keeping the image' >&2"
          : `python3 -c 'import json,sys; print(json.loads(sys.argv[1].strip().splitlines()[-1])["id"])' "$PULUMI_COMMAND_STDOUT" | xargs -r openstack $OS_FLAGS image delete`,
      );

    let builderEnv: Record<string, pulumi.Input<string>> = {};
    let dependsOn: pulumi.Resource[] = [];
    if (args.build ?? true) {
      const chain = this.declareBuilder(base, args);
      builderEnv = chain.env;
      dependsOn = [chain.done];
      this.privateKey = chain.privateKey;
    }

    const record = imageRecord(
      `${base}-image`,
      {
        imageName: args.imageName,
        create: `bash ${shellQuote(SNAPSHOT_SCRIPT)}`,
        environment: {
          ...builderEnv,
          IMAGE_NAME: args.imageName,
          FINGERPRINT: args.fingerprint,
          VISIBILITY: args.imageVisibility ?? "private",
          PROPERTIES: pulumi.output(args.imageProperties ?? {}).apply((p) => JSON.stringify(p)),
          OS_FLAGS: osFlags,
        },
        delete: deleteCommand,
        dependsOn,
      },
      this,
    );
    this.image = record.stdout.apply(parseImageRecord);
    this.imageId = this.image.id;
    this.registerOutputs({ imageId: this.imageId, image: this.image });
  }

  private declareBuilder(name: string, args: OpenStackImageArgs) {
    // The snapshot step deletes these within the run. They are not retained: once no longer
    // declared, Pulumi deletes them again, which the provider takes as done on a 404, and which
    // cleans up after a failed build (whose snapshot step never ran) on the next `pulumi up`.
    const res = { parent: this };

    const key = new tls.PrivateKey(
      `${name}-key`,
      { algorithm: "RSA", rsaBits: 4096 },
      { parent: this },
    );
    const privateKey = pulumi.secret(key.privateKeyOpenssh);
    const buildName = pulumi.interpolate`${args.imageName}-build`;
    const keypair = new openstack.compute.Keypair(
      `${name}-keypair`,
      { name: buildName, publicKey: key.publicKeyOpenssh },
      res,
    );

    const cidrs = args.sshAllowedCidrs?.length ? args.sshAllowedCidrs : ["0.0.0.0/0"];
    if (!args.sshAllowedCidrs?.length) {
      void pulumi.log.warn(
        "dse-image:openstack.sshAllowedCidrs is not set: the builder accepts SSH from the whole internet while it runs; set it to your address range",
        this,
      );
    }
    const group = new openstack.networking.SecGroup(
      `${name}-ssh`,
      {
        name: buildName,
        description: "dse-image builder: SSH from sshAllowedCidrs",
        deleteDefaultRules: false,
      },
      res,
    );
    const rules = cidrs.map(
      (cidr, i) =>
        new openstack.networking.SecGroupRule(
          `${name}-ssh-${i}`,
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

    const server = new openstack.compute.Instance(
      `${name}-builder`,
      {
        name: buildName,
        flavorId: pulumi.output(args.flavor).apply((f) => flavorRef(f).flavorId as string),
        flavorName: pulumi.output(args.flavor).apply((f) => flavorRef(f).flavorName as string),
        imageId: pulumi.output(args.sourceImage).apply((s) => imageRef(s).imageId as string),
        imageName: pulumi.output(args.sourceImage).apply((s) => imageRef(s).imageName as string),
        keyPair: keypair.name,
        securityGroups: pulumi
          .all([group.name, args.securityGroups ?? []])
          .apply(([temp, extra]) => [temp, ...extra]),
        networks: pulumi.output(args.networks ?? []).apply((ids) => ids.map((uuid) => ({ uuid }))),
        availabilityZone: args.availabilityZone,
        userData: pulumi.output(args.builderTtlMinutes ?? 120).apply(ttlUserData),
        metadata: { dse_fingerprint: args.fingerprint, dse_role: "builder" },
        // After a failed step powered the builder off, `pulumi up --refresh` starts it again.
        powerState: "active",
      },
      { ...res, dependsOn: rules },
    );

    let host: pulumi.Output<string> = server.accessIpV4;
    let floatingIpId: pulumi.Input<string> = "";
    const poolIp = args.floatingIpPool
      ? new openstack.networking.FloatingIp(
          `${name}-fip`,
          { pool: args.floatingIpPool, description: buildName },
          res,
        )
      : undefined;
    const address = poolIp ? poolIp.address : args.floatingIp;
    if (address !== undefined) {
      const assoc = new openstack.compute.FloatingIpAssociate(
        `${name}-fip-assoc`,
        { floatingIp: address, instanceId: server.id },
        res,
      );
      host = assoc.floatingIp;
      floatingIpId = poolIp ? poolIp.id : "";
    }

    const provisioner = new Provisioner(
      `${name}-provision`,
      {
        host,
        user: args.sshUser ?? "ubuntu",
        privateKey,
        tools: args.tools,
        pythonSource: args.pythonSource,
        fingerprint: args.fingerprint,
        env: args.provisionEnv,
        builderTtlMinutes: args.builderTtlMinutes,
        keepBuilderOnFailure: args.keepBuilderOnFailure,
      },
      { parent: this },
    );

    const env: Record<string, pulumi.Input<string>> = {
      SERVER_ID: server.id,
      KEYPAIR: keypair.name,
      SECGROUP_ID: group.id,
      FLOATING_IP_ID: floatingIpId,
      MANIFEST: provisioner.manifest,
    };
    return { env, done: provisioner.done, privateKey };
  }
}
