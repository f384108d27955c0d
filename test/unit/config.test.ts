import { describe, expect, it } from "vitest";
import * as pulumi from "@pulumi/pulumi";
import { CONFIG_KEYS, ConfigError, loadConfig, parseStackConfig } from "../../components/config";
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
      sshTimeoutMinutes: 10,
      bootTest: true,
      maxImageAgeDays: 30,
      retention: { keep: 0 },
      sbomDir: "./images",
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
      "dse-image:imageNmae: unknown key; expected one of imageName, platforms, tools, pythonSource, retainImages, keepBuilderOnFailure, builderTtlMinutes, sshTimeoutMinutes, bootTest, maxImageAgeDays, retention, sbomDir, aptMirror, pipIndexUrl, httpProxy, httpsProxy, noProxy, openstack, aws, virtualbox, qemu",
    ],
    [
      { ...base, sshTimeoutMinutes: 0 },
      "dse-image:sshTimeoutMinutes: expected a whole number from 1 to 120, got 0",
    ],
    [{ ...base, bootTest: "yes" }, 'dse-image:bootTest: expected true or false, got "yes"'],
    [
      { ...base, maxImageAgeDays: -1 },
      "dse-image:maxImageAgeDays: expected a whole number from 0 to 3650, got -1",
    ],
    [
      { ...base, retention: { keep: 2.5 } },
      "dse-image:retention.keep: expected a whole number from 0 to 100, got 2.5",
    ],
    [
      { ...base, retention: { kept: 2 } },
      "dse-image:retention.kept: unknown key; expected one of keep",
    ],
  ])("rejects %j", (raw, message) => {
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
    [withOs({ flavor: 2.5 }), "dse-image:openstack.flavor: expected a flavor ID or name, got 2.5"],
    [withOs({ flavor: -1 }), "dse-image:openstack.flavor: expected a flavor ID or name, got -1"],
    [withOs({ flavor: "" }), 'dse-image:openstack.flavor: expected a flavor ID or name, got ""'],
    [
      withOs({ flavor: true }),
      "dse-image:openstack.flavor: expected a flavor ID or name, got true",
    ],
    [
      withOs({ flavor: 2 ** 60 }),
      "dse-image:openstack.flavor: the number 1152921504606847000 is too large to be read exactly; set it as a string: pulumi config set --path --type string 'dse-image:openstack.flavor' <ID>",
    ],
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
    [
      { ...base, sshTimeoutMinutes: 0 },
      "dse-image:sshTimeoutMinutes: expected a whole number from 1 to 120, got 0",
    ],
    [{ ...base, bootTest: "yes" }, 'dse-image:bootTest: expected true or false, got "yes"'],
    [
      { ...base, maxImageAgeDays: -1 },
      "dse-image:maxImageAgeDays: expected a whole number from 0 to 3650, got -1",
    ],
    [
      { ...base, retention: { keep: 2.5 } },
      "dse-image:retention.keep: expected a whole number from 0 to 100, got 2.5",
    ],
    [
      { ...base, retention: { kept: 2 } },
      "dse-image:retention.kept: unknown key; expected one of keep",
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

describe("numeric IDs as `pulumi config set --path` stores them", () => {
  it('takes the README\'s `openstack.flavor 2` (stored as the number 2) as the flavor ID "2"', () => {
    // pulumi config set --path 'dse-image:openstack.flavor' 2: the object arrives as JSON.
    const all = stackConfig({ platforms: ["openstack"], openstack: { ...openstack, flavor: 2 } });
    expect(all["dse-image:openstack"]).toBe('{"flavor":2,"sourceImage":"ubuntu-24.04"}');
    expect(loadConfig(all).openstack?.flavor).toBe("2");
  });

  it.each([
    [0, "0"],
    [42, "42"],
    ["2", "2"],
    ["m1.small", "m1.small"],
  ])("accepts the flavor %j as %j", (flavor, expected) => {
    expect(
      parseStackConfig({ ...base, openstack: { ...openstack, flavor } }).openstack?.flavor,
    ).toBe(expected);
  });
});

describe("mirror, index and proxies", () => {
  it("accepts http(s) URLs, proxies with a port and credentials, and a no_proxy list", () => {
    const config = parseStackConfig({
      ...base,
      aptMirror: "https://mirror.example/debian/",
      pipIndexUrl: "http://pypi.internal:8080/simple/",
      httpProxy: "http://proxy.example:3128",
      httpsProxy: "http://user:secret@10.0.0.5:3128/",
      noProxy: ".example.com,10.0.0.0/8,localhost,127.0.0.1,::1,2001:db8::/32,*.corp.example,*",
    });
    expect(config.provisionEnv).toEqual({
      APT_MIRROR: "https://mirror.example/debian/",
      PIP_INDEX_URL: "http://pypi.internal:8080/simple/",
      http_proxy: "http://proxy.example:3128",
      https_proxy: "http://user:secret@10.0.0.5:3128/",
      no_proxy: ".example.com,10.0.0.0/8,localhost,127.0.0.1,::1,2001:db8::/32,*.corp.example,*",
    });
  });

  it.each(["aptMirror", "pipIndexUrl", "httpProxy", "httpsProxy", "noProxy"])(
    'takes %s "" (Pulumi.yaml\'s default, which the CLI hands over when the stack sets nothing) as not set',
    (key) => {
      const local = { platforms: ["qemu"], qemu: { sourceImageUrl: "/srv/base.qcow2" } };
      expect(stackConfig(local)[`dse-image:${key}`]).toBe("");
      expect(loadConfig(stackConfig({ ...local, [key]: "" })).provisionEnv).toEqual({});
    },
  );

  it("does not require /simple/ at the end of the index", () => {
    expect(
      parseStackConfig({ ...base, pipIndexUrl: "https://nexus.example/pypi" }).provisionEnv,
    ).toEqual({ PIP_INDEX_URL: "https://nexus.example/pypi" });
  });

  const PROXY = "an http(s) URL with a host and an optional port like http://proxy.example:3128";
  const NO_PROXY =
    "expected hosts, domains, IPs or CIDR blocks separated by commas without spaces, like .example.com,10.0.0.0/8,localhost";

  it.each<[Record<string, unknown>, string]>([
    [
      { aptMirror: "not a url" },
      'dse-image:aptMirror: expected an http(s) URL like http://deb.debian.org/debian, got "not a url"',
    ],
    [
      { aptMirror: "deb.debian.org/debian" },
      'dse-image:aptMirror: expected an http(s) URL like http://deb.debian.org/debian, got "deb.debian.org/debian"; write it as http://deb.debian.org/debian',
    ],
    [
      { aptMirror: "ftp://ftp.debian.org/debian" },
      'dse-image:aptMirror: expected an http(s) URL like http://deb.debian.org/debian, got "ftp://ftp.debian.org/debian"',
    ],
    // WHATWG URL reads this as http://deb.debian.org/debian; apt does not.
    [
      { aptMirror: "http:deb.debian.org/debian" },
      'dse-image:aptMirror: expected an http(s) URL like http://deb.debian.org/debian, got "http:deb.debian.org/debian"',
    ],
    [
      { aptMirror: " http://deb.debian.org/debian" },
      'dse-image:aptMirror: expected an http(s) URL like http://deb.debian.org/debian, got " http://deb.debian.org/debian"',
    ],
    [
      { pipIndexUrl: "file:///srv/simple/" },
      'dse-image:pipIndexUrl: expected an http(s) URL like https://pypi.org/simple/, got "file:///srv/simple/"',
    ],
    [
      { pipIndexUrl: "http://" },
      'dse-image:pipIndexUrl: expected an http(s) URL like https://pypi.org/simple/, got "http://"',
    ],
    [
      { httpProxy: "proxy:3128" },
      `dse-image:httpProxy: expected ${PROXY}, got "proxy:3128"; write it as http://proxy:3128`,
    ],
    [
      { httpsProxy: "10.0.0.5:3128" },
      `dse-image:httpsProxy: expected ${PROXY}, got "10.0.0.5:3128"; write it as http://10.0.0.5:3128`,
    ],
    [
      { httpsProxy: "socks5://proxy.example:1080" },
      `dse-image:httpsProxy: expected ${PROXY}, got "socks5://proxy.example:1080"`,
    ],
    [
      { httpProxy: "http://proxy.example:3128/squid" },
      `dse-image:httpProxy: expected ${PROXY}, got "http://proxy.example:3128/squid"`,
    ],
    [
      { httpProxy: "http://proxy.example:99999" },
      `dse-image:httpProxy: expected ${PROXY}, got "http://proxy.example:99999"`,
    ],
    [
      { noProxy: ".example.com, localhost" },
      `dse-image:noProxy: ${NO_PROXY}, got ".example.com, localhost": remove the spaces`,
    ],
    [
      { noProxy: "localhost,,10.0.0.0/8" },
      `dse-image:noProxy: ${NO_PROXY}, got "localhost,,10.0.0.0/8": an entry is empty`,
    ],
    [
      { noProxy: "localhost,http://internal.example" },
      `dse-image:noProxy: ${NO_PROXY}, got "localhost,http://internal.example": "http://internal.example" is none of them`,
    ],
    [
      { noProxy: "10.0.0.256" },
      `dse-image:noProxy: ${NO_PROXY}, got "10.0.0.256": "10.0.0.256" is none of them`,
    ],
    [
      { noProxy: "10.0.0.0/33" },
      `dse-image:noProxy: ${NO_PROXY}, got "10.0.0.0/33": "10.0.0.0/33" is none of them`,
    ],
    [{ noProxy: ["localhost"] }, `dse-image:noProxy: ${NO_PROXY}, got ["localhost"]`],
  ])("rejects %j before anything is created", (extra, message) => {
    expect(errorOf({ ...base, ...extra })).toBe(message);
  });
});

describe("an empty value is a mistake, not the default", () => {
  const os = (extra: Record<string, unknown>) => ({ openstack: { ...openstack, ...extra } });
  const qemu = (extra: Record<string, unknown>) => ({
    qemu: { sourceImageUrl: "/srv/base.qcow2", ...extra },
  });
  const vbox = (extra: Record<string, unknown>) => ({ virtualbox: extra });

  it.each<[Record<string, unknown>, string]>([
    [{ imageName: "" }, 'dse-image:imageName: expected an image name, got ""'],
    [{ imageName: "  " }, 'dse-image:imageName: expected an image name, got "  "'],
    [{ tools: "" }, 'dse-image:tools: expected a list of strings, got ""'],
    [{ pythonSource: "" }, 'dse-image:pythonSource: expected one of pip, apt, got ""'],
    [{ retainImages: "" }, 'dse-image:retainImages: expected true or false, got ""'],
    [
      { keepBuilderOnFailure: "" },
      'dse-image:keepBuilderOnFailure: expected true or false, got ""',
    ],
    [
      { builderTtlMinutes: "" },
      'dse-image:builderTtlMinutes: expected a whole number from 10 to 1440, got ""',
    ],
    [
      { openstack: "" },
      'dse-image:openstack: expected an object with keys sourceImage, flavor, networks, floatingIp, floatingIpPool, availabilityZone, sshUser, securityGroups, sshAllowedCidrs, insecure, cacertFile, imageVisibility, imageProperties, got ""',
    ],
    [
      os({ sourceImage: " " }),
      'dse-image:openstack.sourceImage: expected an image ID or name, got " "',
    ],
    [os({ floatingIp: "" }), 'dse-image:openstack.floatingIp: expected an IPv4 address, got ""'],
    // Named as empty, not as a conflict with the pool.
    [
      os({ floatingIp: "", floatingIpPool: "public" }),
      'dse-image:openstack.floatingIp: expected an IPv4 address, got ""',
    ],
    [
      os({ floatingIpPool: "" }),
      'dse-image:openstack.floatingIpPool: expected a pool name, got ""',
    ],
    [
      os({ availabilityZone: "" }),
      'dse-image:openstack.availabilityZone: expected an availability zone name, got ""',
    ],
    [os({ sshUser: "" }), 'dse-image:openstack.sshUser: expected a user name, got ""'],
    [os({ cacertFile: "" }), 'dse-image:openstack.cacertFile: expected a file path, got ""'],
    [os({ insecure: "" }), 'dse-image:openstack.insecure: expected true or false, got ""'],
    [
      os({ imageVisibility: "" }),
      'dse-image:openstack.imageVisibility: expected one of private, shared, community, public, got ""',
    ],
    [os({ networks: "" }), 'dse-image:openstack.networks: expected a list of network IDs, got ""'],
    [
      os({ imageProperties: "" }),
      'dse-image:openstack.imageProperties: expected a map of names to strings, got ""',
    ],
    [
      qemu({ sourceImageUrl: "" }),
      'dse-image:qemu.sourceImageUrl: expected an http(s) URL, file:// URL or path, got ""',
    ],
    [
      qemu({ sourceImageSha256: "" }),
      'dse-image:qemu.sourceImageSha256: expected a sha256, got ""',
    ],
    [qemu({ cacheDir: "" }), 'dse-image:qemu.cacheDir: expected a folder path, got ""'],
    [qemu({ outputDir: "" }), 'dse-image:qemu.outputDir: expected a folder path, got ""'],
    [
      qemu({ accelerator: "" }),
      'dse-image:qemu.accelerator: expected one of auto, kvm, tcg, got ""',
    ],
    [qemu({ sshUser: "" }), 'dse-image:qemu.sshUser: expected a user name, got ""'],
    [qemu({ kernel: "" }), 'dse-image:qemu.kernel: expected a kernel file path, got ""'],
    [qemu({ initrd: "" }), 'dse-image:qemu.initrd: expected an initrd file path, got ""'],
    [qemu({ append: "" }), 'dse-image:qemu.append: expected a kernel command line, got ""'],
    [
      qemu({ memoryMb: "" }),
      'dse-image:qemu.memoryMb: expected a whole number from 256 to 1048576, got ""',
    ],
    [vbox({ outputDir: "" }), 'dse-image:virtualbox.outputDir: expected a folder path, got ""'],
    [
      vbox({ builder: "" }),
      'dse-image:virtualbox.builder: expected one of qemu, vboxmanage, got ""',
    ],
    [vbox({ vmName: "" }), 'dse-image:virtualbox.vmName: expected a VM name, got ""'],
    [
      vbox({ cpus: " " }),
      'dse-image:virtualbox.cpus: expected a whole number from 1 to 128, got " "',
    ],
  ])("rejects %j", (extra, message) => {
    expect(errorOf({ ...base, ...extra })).toBe(message);
  });

  it("still takes an unset (absent or null) key as its default", () => {
    const config = parseStackConfig({
      ...base,
      imageName: null,
      aptMirror: null,
      openstack: { ...openstack, sshUser: null, availabilityZone: undefined },
      qemu: { outputDir: null, sourceImageUrl: "/srv/base.qcow2" },
    });
    expect(config.imageName).toBe("dse_base");
    expect(config.provisionEnv).toEqual({});
    expect(config.openstack?.sshUser).toBe("ubuntu");
    expect(config.openstack?.availabilityZone).toBeUndefined();
    expect(config.qemu?.outputDir).toBe("./images");
  });
});

describe("Pulumi.yaml's config schema", () => {
  it("declares only keys the program reads, with the program's defaults", async () => {
    const fs = await import("node:fs");
    const path = await import("node:path");
    const { parse } = await import("yaml");
    const project = parse(
      fs.readFileSync(path.resolve(__dirname, "..", "..", "Pulumi.yaml"), "utf8"),
    ) as { config: Record<string, { default?: unknown }> };
    const defaults = parseStackConfig({
      platforms: ["qemu"],
      qemu: { sourceImageUrl: "/base.qcow2" },
    }) as unknown as Record<string, unknown>;
    const env: Record<string, string> = {
      aptMirror: "APT_MIRROR",
      pipIndexUrl: "PIP_INDEX_URL",
      httpProxy: "http_proxy",
      httpsProxy: "https_proxy",
      noProxy: "no_proxy",
    };
    for (const [key, schema] of Object.entries(project.config)) {
      expect(CONFIG_KEYS, key).toContain(key);
      if (key in env) continue;
      if ("default" in schema) expect(defaults[key], key).toEqual(schema.default);
    }
  });
});
