import type * as pulumi from "@pulumi/pulumi";
import { claimProvider } from "./claim-provider";
import { pendingImageProvider } from "./pending-provider";
import { publishProvider } from "./publish-provider";

/**
 * The implementations of dse-image's dynamic resources by kind: what `dse-image/providers`
 * (package.json `exports`) gives the thin serialized providers (thin-provider.ts).
 */
export const providers: Record<string, pulumi.dynamic.ResourceProvider> = {
  ImageClaim: claimProvider,
  PendingImage: pendingImageProvider,
  ImagePublish: publishProvider,
};
