import * as pulumi from "@pulumi/pulumi";

const IPV4_CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

/**
 * The example's `sshAllowedCidr`: the only addresses its VM's SSH admits. Checked here so that a
 * typo stops `pulumi up` naming the key, not with the cloud API's error after the group exists.
 */
export function sshAllowedCidr(config: pulumi.Config): string {
  const key = `${pulumi.getProject()}:sshAllowedCidr`;
  const value = config.require("sshAllowedCidr");
  const m = IPV4_CIDR.exec(value);
  if (!m || m.slice(1, 5).some((octet) => Number(octet) > 255) || Number(m[5]) > 32) {
    throw new pulumi.RunError(
      `${key}: expected an IPv4 CIDR such as 203.0.113.7/32 (your address: ` +
        `curl -s https://checkip.amazonaws.com), got "${value}"`,
    );
  }
  return value;
}
