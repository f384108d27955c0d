import * as openstack from "@pulumi/openstack";
import * as pulumi from "@pulumi/pulumi";
import { dseImageId } from "dse-image/reader";
import { sshAllowedCidr } from "../ssh-cidr";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const config = new pulumi.Config();
/** The network to attach, by name or UUID; unset: Nova picks the project's only network. */
const network = config.get("network");

const images = new pulumi.StackReference("dse-image", { name: config.require("imageStack") });
const allowed = sshAllowedCidr(config);

// The image has no key and no password: the key pair is the only way in, so it is required.
const ssh = new openstack.networking.SecGroup("dse-vm-ssh", {
  description: "SSH to the dse-image VM",
});
new openstack.networking.SecGroupRule("dse-vm-ssh", {
  securityGroupId: ssh.id,
  direction: "ingress",
  ethertype: "IPv4",
  protocol: "tcp",
  portRangeMin: 22,
  portRangeMax: 22,
  remoteIpPrefix: allowed,
});

const vm = new openstack.compute.Instance("dse-vm", {
  imageId: dseImageId(images, "openstack"),
  flavorName: config.get("flavor") ?? "m1.small",
  keyPair: config.require("keyPair"),
  securityGroups: ["default", ssh.name],
  networks:
    network === undefined
      ? undefined
      : [UUID.test(network) ? { uuid: network } : { name: network }],
});

export const imageId = vm.imageId;
export const address = vm.accessIpV4;
