import { describe, expect, it } from "vitest";
import {
  decodeWants,
  droppedWants,
  encodeWants,
  unwantedBy,
  wantsOf,
} from "../../components/store/aws-wants";

describe("what a claim asks of an AMI (aws-wants.ts)", () => {
  it("encodes sorted and unique, and reads it back", () => {
    const wants = wantsOf({
      copyToRegions: ["us-west-2", "eu-central-1", "us-west-2"],
      shareWithAccounts: ["222222222222", "111111111111"],
    });
    expect(encodeWants(wants)).toBe(
      "regions:eu-central-1,us-west-2 accounts:111111111111,222222222222",
    );
    expect(decodeWants(encodeWants(wants))).toEqual(wants);
    expect(decodeWants(encodeWants(wantsOf({})))).toEqual({ regions: [], accounts: [] });
  });

  it("an earlier version's `true`, or anything else, records nothing", () => {
    for (const value of ["true", "", undefined, "regions:a accounts:x", "regions:a"])
      expect(decodeWants(value)).toBeUndefined();
  });

  it("a value longer than EC2's 256 characters is not encoded", () => {
    const accounts = Array.from({ length: 18 }, (_, i) => String(100000000000 + i));
    expect(encodeWants(wantsOf({ shareWithAccounts: accounts }))).toHaveLength(251);
    expect(encodeWants(wantsOf({ shareWithAccounts: [...accounts, "999999999999"] }))).toBe(
      undefined,
    );
  });

  it("takes back only what was dropped and no other claim asks for", () => {
    const before = { regions: ["a", "b", "c"], accounts: ["1", "2"] };
    const dropped = droppedWants(before, { regions: ["c"], accounts: [] });
    expect(dropped).toEqual({ regions: ["a", "b"], accounts: ["1", "2"] });
    expect(
      unwantedBy(dropped, [
        { regions: ["b"], accounts: [] },
        { regions: [], accounts: ["2"] },
      ]),
    ).toEqual({ regions: ["a"], accounts: ["1"] });
  });
});
