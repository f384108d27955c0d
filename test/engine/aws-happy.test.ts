import { happyPaths } from "./suites";

happyPaths("aws");
