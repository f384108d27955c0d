import { sharedImages } from "./suites";

sharedImages("openstack");
