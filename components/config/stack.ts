import { AwsConfig, parseAwsConfig } from "../aws/config";
import { fail, show } from "./errors";
import { OpenStackConfig, parseOpenStackConfig } from "../openstack/config";
import { parseQemuConfig } from "../qemu/config";
import { parseVirtualBoxConfig } from "../virtualbox/config";
import {
  RawObject,
  booleanOr,
  enumArray,
  httpUrl,
  integerOr,
  noProxyList,
  object,
  oneOf,
  proxyUrl,
  stringOr,
} from "./validate";

export const PLATFORMS = ["openstack", "aws", "virtualbox", "qemu"] as const;
export type Platform = (typeof PLATFORMS)[number];

export const TOOL_GROUPS = ["python", "scipy", "jupyter", "r", "tools"] as const;
export type ToolGroup = (typeof TOOL_GROUPS)[number];

export const PYTHON_SOURCES = ["pip", "apt"] as const;
export type PythonSource = (typeof PYTHON_SOURCES)[number];

/** Per-platform config parsers; `satisfies` makes a new platform without a parser a type error. */
const PLATFORM_PARSERS = {
  openstack: parseOpenStackConfig,
  aws: parseAwsConfig,
  qemu: parseQemuConfig,
  virtualbox: parseVirtualBoxConfig,
} satisfies Record<Platform, (value: unknown) => unknown>;

type Parsers = typeof PLATFORM_PARSERS;
type PlatformConfigs = { [P in keyof Parsers]?: ReturnType<Parsers[P]> };

/** Environment for provision/install.sh; only set keys are passed. */
export interface ProvisionEnv {
  APT_MIRROR?: string;
  PIP_INDEX_URL?: string;
  http_proxy?: string;
  https_proxy?: string;
  no_proxy?: string;
}

export interface StackConfig extends PlatformConfigs {
  imageName: string;
  platforms: Platform[];
  tools: ToolGroup[];
  pythonSource: PythonSource;
  retainImages: boolean;
  keepBuilderOnFailure: boolean;
  builderTtlMinutes: number;
  /** Minutes to wait for a builder's (or test instance's) SSH before failing with its console. */
  sshTimeoutMinutes: number;
  /** Boot a test instance from every new image and check it before publishing. */
  bootTest: boolean;
  /** An image older than this counts as missing and is rebuilt; 0 turns the rule off. */
  maxImageAgeDays: number;
  /** Previous images of this stack kept (and marked superseded) after a rebuild. */
  retention: { keep: number };
  /** Where each image's CycloneDX SBOM is written: `<sbomDir>/<image name>.cdx.json`. */
  sbomDir: string;
  provisionEnv: ProvisionEnv;
  openstack?: OpenStackConfig;
  aws?: AwsConfig;
}

/**
 * What every platform's image takes from the stack: its `dse-image:` settings without the platform
 * list and the per-platform objects. The image components' args start with these.
 */
export type ImageSettings = Omit<StackConfig, "platforms" | Platform>;

/** Only the image settings of `c` (a StackConfig, or an image's args); a new key missing here is a type error. */
export function imageSettings(c: ImageSettings): ImageSettings {
  return {
    imageName: c.imageName,
    tools: c.tools,
    pythonSource: c.pythonSource,
    retainImages: c.retainImages,
    keepBuilderOnFailure: c.keepBuilderOnFailure,
    builderTtlMinutes: c.builderTtlMinutes,
    sshTimeoutMinutes: c.sshTimeoutMinutes,
    bootTest: c.bootTest,
    maxImageAgeDays: c.maxImageAgeDays,
    retention: c.retention,
    sbomDir: c.sbomDir,
    provisionEnv: c.provisionEnv,
  };
}

const SCALAR_KEYS = [
  "imageName",
  "platforms",
  "tools",
  "pythonSource",
  "retainImages",
  "keepBuilderOnFailure",
  "builderTtlMinutes",
  "sshTimeoutMinutes",
  "bootTest",
  "maxImageAgeDays",
  "retention",
  "sbomDir",
  "aptMirror",
  "pipIndexUrl",
  "httpProxy",
  "httpsProxy",
  "noProxy",
] as const;

/** Every top-level key under `dse-image:`. */
export const CONFIG_KEYS: readonly string[] = [...SCALAR_KEYS, ...PLATFORMS];

/** Safe as an OpenStack/AMI image name and as a file name. */
const IMAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export function parseStackConfig(raw: RawObject): StackConfig {
  for (const key of Object.keys(raw)) {
    if (!CONFIG_KEYS.includes(key)) {
      fail(key, `unknown key; expected one of ${CONFIG_KEYS.join(", ")}`);
    }
  }
  const imageName = stringOr("imageName", raw.imageName, "dse_base", "an image name");
  if (!IMAGE_NAME.test(imageName)) {
    fail(
      "imageName",
      `expected letters, digits, '.', '_' or '-' (at most 100, starting with a letter or digit), got ${show(imageName)}`,
    );
  }
  const platforms = enumArray("platforms", raw.platforms, PLATFORMS, []);
  if (platforms.length === 0) {
    fail("platforms", `expected at least one of ${PLATFORMS.join(", ")}`);
  }
  const config: StackConfig = {
    imageName,
    platforms,
    tools: enumArray("tools", raw.tools, TOOL_GROUPS, ["python", "scipy", "jupyter"]),
    pythonSource: oneOf("pythonSource", raw.pythonSource, PYTHON_SOURCES, "pip"),
    retainImages: booleanOr("retainImages", raw.retainImages, false),
    keepBuilderOnFailure: booleanOr("keepBuilderOnFailure", raw.keepBuilderOnFailure, false),
    builderTtlMinutes: integerOr("builderTtlMinutes", raw.builderTtlMinutes, 120, 10, 1440)!,
    sshTimeoutMinutes: integerOr("sshTimeoutMinutes", raw.sshTimeoutMinutes, 10, 1, 120)!,
    bootTest: booleanOr("bootTest", raw.bootTest, true),
    maxImageAgeDays: integerOr("maxImageAgeDays", raw.maxImageAgeDays, 30, 0, 3650)!,
    retention: parseRetention(raw.retention),
    sbomDir: stringOr("sbomDir", raw.sbomDir, "./images", "a folder path"),
    provisionEnv: parseProvisionEnv(raw),
  };
  if (config.tools.length === 0)
    fail("tools", `expected at least one of ${TOOL_GROUPS.join(", ")}`);
  for (const platform of PLATFORMS) {
    const parse = PLATFORM_PARSERS[platform];
    // Objects of disabled platforms are still checked: a typo there is a typo all the same.
    if (platforms.includes(platform) || raw[platform] !== undefined) {
      Object.assign(config, { [platform]: parse(raw[platform]) });
    }
  }
  return config;
}

/** `retention: {keep: N}`: how many previous images of this stack stay after a rebuild. */
export function parseRetention(value: unknown): { keep: number } {
  const raw = object("retention", value, ["keep"]);
  return { keep: integerOr("retention.keep", raw.keep, 0, 0, 100)! };
}

/**
 * Mirror, index and proxies for install.sh, checked here: a malformed one would otherwise fail
 * only on the builder, after the cloud resources exist.
 */
export function parseProvisionEnv(raw: RawObject): ProvisionEnv {
  return dropUnset({
    APT_MIRROR: httpUrl("aptMirror", unsetIfEmpty(raw.aptMirror), "http://deb.debian.org/debian"),
    PIP_INDEX_URL: httpUrl(
      "pipIndexUrl",
      unsetIfEmpty(raw.pipIndexUrl),
      "https://pypi.org/simple/",
    ),
    http_proxy: proxyUrl("httpProxy", unsetIfEmpty(raw.httpProxy)),
    https_proxy: proxyUrl("httpsProxy", unsetIfEmpty(raw.httpsProxy)),
    no_proxy: noProxyList("noProxy", unsetIfEmpty(raw.noProxy)),
  });
}

/**
 * Pulumi.yaml gives these optional keys the default "" (a declared key without a default is
 * required by the CLI: pulumi/pulumi sdk/go/common/workspace/config.go `mergeConfig`, rule P1),
 * so the empty string is "not set".
 */
function unsetIfEmpty(value: unknown): unknown {
  return value === "" ? undefined : value;
}

function dropUnset<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
