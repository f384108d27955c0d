import { happyPaths, recoveryPaths, sharedImages } from "./suites";

happyPaths("aws");
recoveryPaths("aws");
sharedImages("aws");
