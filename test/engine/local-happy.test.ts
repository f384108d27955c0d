import { happyPaths } from "./suites";

happyPaths("local");
