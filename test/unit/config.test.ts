import { describe, expect, it } from "vitest";
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, loadConfig, parseStackConfig } from "../../components/config";
import { readRawConfig } from "../../components/config/read";
import { stackConfig } from "./mocks";

const openstack = { sourceImage: "ubuntu-24.04", flavor: "m1.small" };
const base = { platforms: ["openstack"], openstack };

function errorOf(raw: Record<string, unknown>): string {
  try {
    parseStackConfig(raw);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    // RunError: Pulumi prints the message alone, without a stack trace.
    expect(pulumi.RunError.isInstance(e)).toBe(true);
    return (e as Error).message;
  }
  throw new Error("expected a ConfigError");
}

describe("stack config", () => {
  it("applies the documented defaults", () => {
    const config = parseStackConfig(base);
    expect(config).toEqual({
      imageName: "dse_base",
      platforms: ["openstack"],
      tools: ["python", "scipy", "jupyter"],
      pythonSource: "pip",
      retainImages: false,
      keepBuilderOnFailure: false,
      builderTtlMinutes: 120,
      provisionEnv: {},
      openstack: {
        sourceImage: "ubuntu-24.04",
        flavor: "m1.small",
        networks: [],
        floatingIp: undefined,
        floatingIpPool: undefined,
        availabilityZone: undefined,
        sshUser: "ubuntu",
        securityGroups: [],
        sshAllowedCidrs: [],
        insecure: false,
        cacertFile: undefined,
        imageVisibility: "private",
        imageProperties: {},
      },
    });
  });

  it("reads scalars as Pulumi stores them (strings) and objects as JSON", () => {
    const raw = readRawConfig(
      stackConfig({
        ...base,
        retainImages: "true",
        builderTtlMinutes: "30",
        aptMirror: "http://mirror.example/debian",
      }),
    );
    const config = parseStackConfig(raw);
    expect(config.retainImages).toBe(true);
    expect(config.builderTtlMinutes).toBe(30);
    expect(config.provisionEnv).toEqual({ APT_MIRROR: "http://mirror.example/debian" });
    expect(config.openstack?.flavor).toBe("m1.small");
  });

  it("ignores other namespaces", () => {
    const config = loadConfig({ ...stackConfig(base), "aws:region": "eu-west-1" });
    expect(config.platforms).toEqual(["openstack"]);
  });

  it.each([
    [
      { ...base, platforms: [] },
      "dse-image:platforms: expected at least one of openstack, aws, virtualbox, qemu",
    ],
    [
      { openstack },
      "dse-image:platforms: expected at least one of openstack, aws, virtualbox, qemu",
    ],
    [
      { ...base, platforms: "openstack" },
      'dse-image:platforms: expected a list of strings, got "openstack"',
    ],
    [
      { ...base, platforms: ["openstak"] },
      'dse-image:platforms[0]: expected one of openstack, aws, virtualbox, qemu, got "openstak"',
    ],
    [
      { ...base, platforms: ["openstack", "openstack"] },
      'dse-image:platforms: lists "openstack" twice',
    ],
    [
      { ...base, tools: ["python", "julia"] },
      'dse-image:tools[1]: expected one of python, scipy, jupyter, r, tools, got "julia"',
    ],
    [
      { ...base, tools: [] },
      "dse-image:tools: expected at least one of python, scipy, jupyter, r, tools",
    ],
    [
      { ...base, pythonSource: "conda" },
      'dse-image:pythonSource: expected one of pip, apt, got "conda"',
    ],
    [{ ...base, retainImages: "yes" }, 'dse-image:retainImages: expected true or false, got "yes"'],
    [
      { ...base, keepBuilderOnFailure: 1 },
      "dse-image:keepBuilderOnFailure: expected true or false, got 1",
    ],
    [
      { ...base, builderTtlMinutes: "5" },
      'dse-image:builderTtlMinutes: expected a whole number from 10 to 1440, got "5"',
    ],
    [
      { ...base, builderTtlMinutes: 90.5 },
      "dse-image:builderTtlMinutes: expected a whole number from 10 to 1440, got 90.5",
    ],
    [
      { ...base, imageName: "dse base" },
      `dse-image:imageName: expected letters, digits, '.', '_' or '-' (at most 100, starting with a letter or digit), got "dse base"`,
    ],
    [
      { ...base, imageNmae: "x" },
      "dse-image:imageNmae: unknown key; expected one of imageName, platforms, tools, pythonSource, retainImages, keepBuilderOnFailure, builderTtlMinutes, aptMirror, pipIndexUrl, httpProxy, httpsProxy, noProxy, openstack, aws, virtualbox, qemu",
    ],
    [{ ...base, aptMirror: "" }, null],
  ])("rejects %j", (raw, message) => {
    if (message === null) {
      expect(parseStackConfig(raw).provisionEnv).toEqual({});
      return;
    }
    expect(errorOf(raw)).toBe(message);
  });

  it("rejects invalid JSON in an object key, naming it", () => {
    expect(() => readRawConfig({ "dse-image:openstack": "{flavor: 2}" })).toThrow(
      /^dse-image:openstack: is not valid JSON \(/,
    );
  });
});

describe("openstack config", () => {
  const withOs = (extra: Record<string, unknown>) => ({
    ...base,
    openstack: { ...openstack, ...extra },
  });

  it.each([
    [
      { openstack: {}, platforms: ["openstack"] },
      "dse-image:openstack.sourceImage: expected an image ID or name, got nothing",
    ],
    [
      { platforms: ["openstack"], openstack: { sourceImage: "x" } },
      "dse-image:openstack.flavor: expected a flavor ID or name, got nothing",
    ],
    [
      { platforms: ["openstack"] },
      "dse-image:openstack.sourceImage: expected an image ID or name, got nothing",
    ],
    [withOs({ flavor: 2 }), "dse-image:openstack.flavor: expected a flavor ID or name, got 2"],
    [
      withOs({ flavour: "2" }),
      "dse-image:openstack.flavour: unknown key; expected one of sourceImage, flavor, networks, floatingIp, floatingIpPool, availabilityZone, sshUser, securityGroups, sshAllowedCidrs, insecure, cacertFile, imageVisibility, imageProperties",
    ],
    [
      withOs({ floatingIp: "192.168.0.2", floatingIpPool: "public" }),
      "dse-image:openstack.floatingIpPool: cannot be set together with openstack.floatingIp; set only one of them",
    ],
    [
      withOs({ floatingIp: "192.168.0.256" }),
      'dse-image:openstack.floatingIp: expected an IPv4 address like 192.168.0.2, got "192.168.0.256"',
    ],
    [
      withOs({ networks: "net-1" }),
      'dse-image:openstack.networks: expected a list of network IDs, got "net-1"',
    ],
    [
      withOs({ networks: ["net-1", 7] }),
      "dse-image:openstack.networks[1]: expected one of network IDs, got 7",
    ],
    [
      withOs({ sshAllowedCidrs: ["10.0.0.0/8", "10.0.0.1"] }),
      'dse-image:openstack.sshAllowedCidrs[1]: expected a CIDR block like 203.0.113.0/24, got "10.0.0.1"',
    ],
    [
      withOs({ sshAllowedCidrs: ["10.0.0.0/33"] }),
      'dse-image:openstack.sshAllowedCidrs[0]: expected a CIDR block like 203.0.113.0/24, got "10.0.0.0/33"',
    ],
    [
      withOs({ insecure: "maybe" }),
      'dse-image:openstack.insecure: expected true or false, got "maybe"',
    ],
    [
      withOs({ imageVisibility: "hidden" }),
      'dse-image:openstack.imageVisibility: expected one of private, shared, community, public, got "hidden"',
    ],
    [
      withOs({ imageProperties: { os_distro: 24 } }),
      "dse-image:openstack.imageProperties.os_distro: expected a string, got 24",
    ],
    [
      withOs({ imageProperties: ["a"] }),
      'dse-image:openstack.imageProperties: expected a map of names to strings, got ["a"]',
    ],
    [
      { ...base, openstack: "22a2004b" },
      'dse-image:openstack: expected an object with keys sourceImage, flavor, networks, floatingIp, floatingIpPool, availabilityZone, sshUser, securityGroups, sshAllowedCidrs, insecure, cacertFile, imageVisibility, imageProperties, got "22a2004b"',
    ],
  ])("rejects %j", (raw, message) => {
    expect(errorOf(raw)).toBe(message);
  });

  it("checks the object of a platform that is not enabled: a typo there is a typo all the same", () => {
    expect(errorOf({ ...base, qemu: { typo: 1 } })).toBe(
      "dse-image:qemu.typo: unknown key; expected one of sourceImageUrl, sourceImageSha256, cacheDir, outputDir, diskSizeGb, memoryMb, cpus, accelerator, sshUser, kernel, initrd, append",
    );
  });

  it("accepts IPv6 CIDRs and a pool", () => {
    const config = parseStackConfig(
      withOs({ sshAllowedCidrs: ["2001:db8::/32"], floatingIpPool: "public" }),
    );
    expect(config.openstack?.sshAllowedCidrs).toEqual(["2001:db8::/32"]);
    expect(config.openstack?.floatingIpPool).toBe("public");
  });
});
