import { recoveryPaths } from "./suites";

recoveryPaths("aws");
