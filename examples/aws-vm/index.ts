import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { dseAmiId } from "dse-image/reader";
import { sshAllowedCidr } from "../ssh-cidr";

const config = new pulumi.Config();
/** This program's own region; unset: the AWS provider's (aws:region, AWS_REGION, the profile). */
const region = config.get("region");
const subnetId = config.get("subnetId");

const images = new pulumi.StackReference("dse-image", { name: config.require("imageStack") });
const allowed = sshAllowedCidr(config);

// The image has no key and no password: the key pair is the only way in, so it is required.
// The group must live in the instance's VPC: the subnet's, else the region's default VPC.
const ssh = new aws.ec2.SecurityGroup("dse-vm-ssh", {
  region,
  vpcId:
    subnetId === undefined ? undefined : aws.ec2.getSubnetOutput({ id: subnetId, region }).vpcId,
  description: "SSH to the dse-image VM",
  ingress: [{ protocol: "tcp", fromPort: 22, toPort: 22, cidrBlocks: [allowed] }],
  egress: [{ protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"] }],
});

const vm = new aws.ec2.Instance("dse-vm", {
  region,
  ami: dseAmiId(images, region ?? aws.getRegionOutput().region),
  instanceType: config.get("instanceType") ?? "t3.micro",
  keyName: config.require("keyName"),
  subnetId,
  vpcSecurityGroupIds: [ssh.id],
  associatePublicIpAddress: true,
  metadataOptions: { httpTokens: "required" },
  tags: { Name: "dse-vm" },
});

export const ami = vm.ami;
export const publicIp = vm.publicIp;
