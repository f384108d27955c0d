import { describe, expect, it } from "vitest";
import {
  decodeGlanceWants,
  encodeGlanceWants,
  glanceWantsOf,
  takingBack,
} from "../../components/store/glance-wants";

describe("what a claim asks of a Glance image (glance-wants.ts)", () => {
  it("encodes the visibility and the property names, and reads them back", () => {
    const wants = glanceWantsOf({ visibility: "shared", properties: { b: "2", a: "1" } });
    expect(encodeGlanceWants(wants)).toBe('{"visibility":"shared","properties":["a","b"]}');
    expect(decodeGlanceWants(encodeGlanceWants(wants))).toEqual(wants);
    expect(glanceWantsOf({})).toEqual({ visibility: "private", properties: [] });
  });

  it("an earlier version's `true`, or anything else, records nothing", () => {
    for (const value of ["true", "", undefined, "{}", '{"visibility":1,"properties":[]}', "{"])
      expect(decodeGlanceWants(value)).toBeUndefined();
  });

  it("names longer than Glance's 255 characters are not encoded", () => {
    const properties = Object.fromEntries(
      Array.from({ length: 30 }, (_, i) => [`property_${i}`, "x"]),
    );
    expect(encodeGlanceWants(glanceWantsOf({ properties }))).toBeUndefined();
  });

  it("narrows to the widest visibility asked for, removes the properties nobody names", () => {
    const before = { visibility: "public", properties: ["a", "b", "c"] };
    const asked = [
      { visibility: "private", properties: ["b"] },
      { visibility: "community", properties: [] },
    ];
    const now = { visibility: "public", properties: { a: "1", b: "2" } };
    expect(takingBack(before, asked, now)).toEqual({ visibility: "community", unset: ["a"] });
    // Already as narrow, or wider than this stack ever asked for: the visibility stays.
    expect(takingBack(before, asked, { ...now, visibility: "community" })).toEqual({
      unset: ["a"],
    });
    expect(takingBack({ ...before, visibility: "shared" }, asked, now)).toEqual({ unset: ["a"] });
    expect(takingBack(before, [{ visibility: "public", properties: ["a", "b"] }], now)).toEqual({});
  });
});
