import * as pulumi from "@pulumi/pulumi";
import type { ProvisionEnv, PythonSource, ToolGroup } from "./config/stack";

/** What every platform component passes straight on to its Provisioner. */
export interface ProvisioningArgs {
  /** Tool groups to install. */
  tools: pulumi.Input<ToolGroup[]>;
  /** `pip` or `apt`. Default `pip`. */
  pythonSource?: pulumi.Input<PythonSource>;
  /** Mirror, index and proxy variables for install.sh. Default: none. */
  provisionEnv?: pulumi.Input<ProvisionEnv>;
  /** Keep the builder running when provisioning fails. Default false. */
  keepBuilderOnFailure?: pulumi.Input<boolean>;
}
