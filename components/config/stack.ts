import { AwsConfig, parseAwsConfig } from "../aws/config";
import { fail, show } from "./errors";
import { OpenStackConfig, parseOpenStackConfig } from "../openstack/config";
import { parseQemuConfig } from "../qemu/config";
import { parseVirtualBoxConfig } from "../virtualbox/config";
import {
  RawObject,
  booleanOr,
  enumArray,
  integerOr,
  oneOf,
  optionalString,
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
  provisionEnv: ProvisionEnv;
  openstack?: OpenStackConfig;
  aws?: AwsConfig;
}

const SCALAR_KEYS = [
  "imageName",
  "platforms",
  "tools",
  "pythonSource",
  "retainImages",
  "keepBuilderOnFailure",
  "builderTtlMinutes",
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
    provisionEnv: dropUnset({
      APT_MIRROR: optionalString("aptMirror", raw.aptMirror, "a mirror URL"),
      PIP_INDEX_URL: optionalString("pipIndexUrl", raw.pipIndexUrl, "an index URL"),
      http_proxy: optionalString("httpProxy", raw.httpProxy, "a proxy URL"),
      https_proxy: optionalString("httpsProxy", raw.httpsProxy, "a proxy URL"),
      no_proxy: optionalString("noProxy", raw.noProxy, "a list of hosts"),
    }),
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

function dropUnset<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
