import { sharedImages } from "./suites";

sharedImages("local");
