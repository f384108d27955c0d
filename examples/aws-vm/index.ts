import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { dseAmiId } from "../../components/reader";

const config = new pulumi.Config();
/** This program's own region; unset: the AWS provider's (aws:region, AWS_REGION, the profile). */
const region = config.get("region");

const images = new pulumi.StackReference("dse-image", { name: config.require("imageStack") });

const vm = new aws.ec2.Instance("dse-vm", {
  region,
  ami: dseAmiId(images, region ?? aws.getRegionOutput().region),
  instanceType: config.get("instanceType") ?? "t3.micro",
  keyName: config.get("keyName"),
  subnetId: config.get("subnetId"),
  associatePublicIpAddress: true,
  metadataOptions: { httpTokens: "required" },
  tags: { Name: "dse-vm" },
});

export const ami = vm.ami;
export const publicIp = vm.publicIp;
