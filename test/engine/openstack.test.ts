import { happyPaths, recoveryPaths, sharedImages } from "./suites";

happyPaths("openstack");
recoveryPaths("openstack");
sharedImages("openstack");
