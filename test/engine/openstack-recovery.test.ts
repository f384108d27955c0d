import { recoveryPaths } from "./suites";

recoveryPaths("openstack");
