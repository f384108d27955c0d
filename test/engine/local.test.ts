import { happyPaths, recoveryPaths, sharedImages } from "./suites";

happyPaths("local");
recoveryPaths("local");
sharedImages("local");
