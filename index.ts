import { loadConfig } from "./components/config";
import { buildImages } from "./components";

// Pulumi runs the exported function and exports what it resolves to as stack outputs.
export = async () => buildImages(loadConfig());
