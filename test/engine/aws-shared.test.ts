import { sharedImages } from "./suites";

sharedImages("aws");
