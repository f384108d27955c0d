import { happyPaths } from "./suites";

happyPaths("openstack");
