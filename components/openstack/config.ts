import {
  RawObject,
  booleanOr,
  cidrArray,
  exclusive,
  idString,
  isIpv4,
  object,
  oneOf,
  optionalString,
  requireString,
  stringArray,
  stringMap,
  stringOr,
} from "../config/validate";
import { fail, show } from "../config/errors";

const KEYS = [
  "sourceImage",
  "flavor",
  "networks",
  "floatingIp",
  "floatingIpPool",
  "availabilityZone",
  "sshUser",
  "securityGroups",
  "sshAllowedCidrs",
  "insecure",
  "cacertFile",
  "imageVisibility",
  "imageProperties",
] as const;

export const IMAGE_VISIBILITIES = ["private", "shared", "community", "public"] as const;

/** `dse-image:openstack`, named after the Packer openstack builder keys. */
export interface OpenStackConfig {
  /** Source image ID or name (Packer `source_image` / `source_image_name`). */
  sourceImage: string;
  /** Flavor ID or name (Packer `flavor`). */
  flavor: string;
  /** Network IDs the builder attaches to (Packer `networks`). */
  networks: string[];
  /** An existing floating IP address to associate (Packer `floating_ip`). */
  floatingIp?: string;
  /** Pool to allocate a temporary floating IP from (Packer `floating_ip_network`). */
  floatingIpPool?: string;
  availabilityZone?: string;
  sshUser: string;
  /** Extra existing security groups; a temporary one allowing SSH is always added. */
  securityGroups: string[];
  /** Sources allowed to reach the builder on port 22. Empty means the whole internet. */
  sshAllowedCidrs: string[];
  /** Skip TLS verification (Packer `insecure`). */
  insecure: boolean;
  cacertFile?: string;
  imageVisibility: (typeof IMAGE_VISIBILITIES)[number];
  imageProperties: Record<string, string>;
}

export function parseOpenStackConfig(value: unknown): OpenStackConfig {
  const p = "openstack";
  const raw: RawObject = object(p, value, KEYS);
  // Each value first, so that an empty one is named as such rather than as a conflict.
  const floatingIp = optionalString(`${p}.floatingIp`, raw.floatingIp, "an IPv4 address");
  if (floatingIp !== undefined && !isIpv4(floatingIp)) {
    fail(`${p}.floatingIp`, `expected an IPv4 address like 192.168.0.2, got ${show(floatingIp)}`);
  }
  const floatingIpPool = optionalString(`${p}.floatingIpPool`, raw.floatingIpPool, "a pool name");
  exclusive(p, raw, "floatingIp", "floatingIpPool");
  return {
    sourceImage: requireString(`${p}.sourceImage`, raw.sourceImage, "an image ID or name"),
    // `pulumi config set --path 'dse-image:openstack.flavor' 2` stores the number 2.
    flavor: idString(`${p}.flavor`, raw.flavor, "a flavor ID or name"),
    networks: stringArray(`${p}.networks`, raw.networks, [], "network IDs"),
    floatingIp,
    floatingIpPool,
    availabilityZone: optionalString(
      `${p}.availabilityZone`,
      raw.availabilityZone,
      "an availability zone name",
    ),
    sshUser: stringOr(`${p}.sshUser`, raw.sshUser, "ubuntu", "a user name"),
    securityGroups: stringArray(`${p}.securityGroups`, raw.securityGroups, [], "group names"),
    sshAllowedCidrs: cidrArray(`${p}.sshAllowedCidrs`, raw.sshAllowedCidrs, []),
    insecure: booleanOr(`${p}.insecure`, raw.insecure, false),
    cacertFile: optionalString(`${p}.cacertFile`, raw.cacertFile, "a file path"),
    imageVisibility: oneOf(
      `${p}.imageVisibility`,
      raw.imageVisibility,
      IMAGE_VISIBILITIES,
      "private",
    ),
    imageProperties: stringMap(`${p}.imageProperties`, raw.imageProperties),
  };
}
