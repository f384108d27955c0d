import { recoveryPaths } from "./suites";

recoveryPaths("local");
