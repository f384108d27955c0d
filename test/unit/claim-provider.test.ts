/**
 * The ImageClaim's diff (components/store/claim-provider.ts): only another image (or another kind
 * of store) is another claim; the store's settings and the stack's are an update of the same one.
 */
import { describe, expect, it } from "vitest";
import { type ClaimInputs, claimProvider } from "../../components/store/claim-provider";

const claim: ClaimInputs = {
  store: { store: "aws", config: { region: "eu-west-1", copyToRegions: ["eu-central-1"] } },
  imageId: "ami-1",
  imageName: "dse_base",
  imageGen: "g1",
  stackId: "organization/dse-image/dev",
  stackTag: "3476bb56",
  retainImages: false,
  keep: 0,
};
const diff = (news: Partial<ClaimInputs>) =>
  claimProvider.diff!("id", claim, { ...claim, ...news });

describe("the ImageClaim's diff", () => {
  it("the same inputs: no change", async () => {
    expect(await diff({})).toEqual({ changes: false, replaces: [], deleteBeforeReplace: false });
  });

  it("a store setting that leaves the image as it is: an update, never a replace", async () => {
    const config = { region: "eu-west-1", copyToRegions: ["us-west-2"], shareWithAccounts: ["1"] };
    expect(await diff({ store: { store: "aws", config } })).toEqual({
      changes: true,
      replaces: [],
      deleteBeforeReplace: false,
    });
    expect(await diff({ keep: 2 })).toMatchObject({ changes: true, replaces: [] });
  });

  it("another image, or another kind of store: a replace, the new claim created first", async () => {
    expect(await diff({ imageId: "ami-2" })).toEqual({
      changes: true,
      replaces: ["imageId"],
      deleteBeforeReplace: false,
    });
    expect(await diff({ store: { store: "openstack", config: {} } })).toMatchObject({
      replaces: ["store"],
    });
  });
});
