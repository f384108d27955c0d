// The real-cloud adapter's reading of the openstack client: a wrong reading turns a 404 the
// provider ignores (tf-provider-openstack CheckDeleted) into a failed destroy on the lane.
import { describe, expect, it } from "vitest";
import { firstIpv4, isNotFound, stateChangeWaits } from "./real-openstack";

describe("isNotFound", () => {
  it.each([
    "No server with a name or ID of '72e0bab7-eee8-46ac-ab90-23a8cb5f150f' exists.",
    "No SecurityGroup found for dse-b",
    "Failed to delete image with name or ID 'x': 404 Not Found",
    "Resource could not be found.",
  ])("reads %j as gone", (message) => {
    expect(isNotFound(new Error(message))).toBe(true);
  });

  it.each([
    "ConflictException: 409: Security Group 1a in use.",
    "Quota exceeded for instances: Requested 1, but already used 10 of 10 instances",
    "No valid host was found. There are not enough hosts available.",
  ])("does not read %j as gone", (message) => {
    expect(isNotFound(new Error(message))).toBe(false);
  });
});

describe("firstIpv4", () => {
  it("reads python-openstackclient 6's map and older clients' text", () => {
    expect(firstIpv4({ private: ["fd00::5", "10.0.0.5"] })).toBe("10.0.0.5");
    expect(firstIpv4("private=fd00::5, 10.0.0.7")).toBe("10.0.0.7");
  });
});

describe("stateChangeWaits", () => {
  const first = (n: number, waits: Generator<number, never>) =>
    Array.from({ length: n }, () => waits.next().value);

  it("waits as the provider does for an instance: the delay, then 3, 6 and 10 s on", () => {
    expect(first(7, stateChangeWaits(10_000, 3_000))).toEqual([
      10_000, 3_000, 6_000, 10_000, 10_000, 10_000, 10_000,
    ]);
  });

  it("doubles from the bounded wait when MinTimeout is lower, and never waits over 10 s", () => {
    expect(first(9, stateChangeWaits(0, 500))).toEqual([
      0, 500, 1_000, 2_000, 4_000, 8_000, 10_000, 10_000, 10_000,
    ]);
  });
});
