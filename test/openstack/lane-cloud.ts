/**
 * The lane's cloud for vitest: brings it up with cloud.sh (or says in one line why it cannot run
 * here), puts the VM tests' base into its Glance, reads the test project's credentials, and lists
 * through the API what a stack may have left behind. Test utility, never shipped.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { OpenStackCli } from "../engine/real-openstack";
import { run, tail } from "../support/run";
import type { DebianBase } from "../vm";

const HERE = __dirname;
export const LANE_DIR = process.env.OS_LANE_DIR ?? "/var/tmp/dse-openstack";

export interface LaneCloud {
  /** The test project's OS_* variables and the lane's OS_LANE_* settings. */
  env: Record<string, string>;
  /** The Glance ID of the base (a Debian 12 disk booting its kernel directly). */
  sourceImage: string;
}

async function sh(
  args: string[],
  env: Record<string, string> = {},
  log?: (line: string) => void,
): Promise<string> {
  const r = await run("bash", args, {
    env,
    timeoutMs: 40 * 60_000,
    onStderr: (text) => {
      for (const line of text.split("\n")) if (line.trim()) log?.(line);
    },
  });
  if (r.code !== 0) throw new Error(`${args.join(" ")} exited ${r.code}: ${tail(r.stderr)}`);
  return r.stdout;
}

/** Why the lane cannot run on this machine, or undefined when it can. */
export function laneUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "the lane's cloud runs daemons as their users: needs root";
  const debian = fs.existsSync("/etc/debian_version")
    ? fs.readFileSync("/etc/debian_version", "utf8").trim()
    : "";
  if (!debian.startsWith("12")) {
    return `the lane's cloud is Debian 12's OpenStack Zed: this is not Debian 12 (${debian || "no /etc/debian_version"})`;
  }
  return undefined;
}

/** The openrc's exported variables, as a shell sourcing it sees them. */
export async function readOpenrc(file: string): Promise<Record<string, string>> {
  const out = await sh(["-c", `set -a; . "$1"; env -0`, "openrc", file]);
  const env: Record<string, string> = {};
  for (const entry of out.split("\0")) {
    const eq = entry.indexOf("=");
    const key = entry.slice(0, eq);
    if (/^OS_/.test(key)) env[key] = entry.slice(eq + 1);
  }
  return env;
}

/** `cloud.sh up`, the base in Glance, the credentials. */
export async function laneCloudUp(
  base: DebianBase,
  log: (line: string) => void,
): Promise<LaneCloud> {
  await sh([path.join(HERE, "cloud.sh"), "up"], {}, log);
  const sourceImage = (
    await sh([path.join(HERE, "base-image.sh")], { BASE_DIR: path.dirname(base.disk) }, log)
  ).trim();
  return { env: await readOpenrc(path.join(LANE_DIR, "openrc")), sourceImage };
}

/** `cloud.sh down`: every daemon and guest it started, stopped by PID. */
export async function laneCloudDown(log: (line: string) => void): Promise<void> {
  await sh([path.join(HERE, "cloud.sh"), "down"], {}, log);
}

interface Row {
  [k: string]: unknown;
}

/**
 * What the test project holds beyond the cloud's own objects: servers, ports (but DHCP's), key
 * pairs, security groups (but `default`), images it owns (the base is the admin's), volumes.
 */
export async function projectObjects(cli: OpenStackCli): Promise<string[]> {
  const list = async (args: string[]) => JSON.parse(await cli([...args, "-f", "json"])) as Row[];
  const project = String(
    (JSON.parse(await cli(["token", "issue", "-f", "json"])) as Row).project_id,
  );
  const left: string[] = [];
  for (const s of await list(["server", "list"]))
    left.push(`server ${String(s.ID)} ${String(s.Name)}`);
  for (const p of await list(["port", "list", "--long"]))
    if (p["Device Owner"] !== "network:dhcp") left.push(`port ${String(p.ID)}`);
  for (const k of await list(["keypair", "list"])) left.push(`key pair ${String(k.Name)}`);
  for (const g of await list(["security", "group", "list", "--project", project]))
    if (g.Name !== "default") left.push(`security group ${String(g.Name)}`);
  for (const hidden of [[], ["--hidden"]])
    for (const i of await list(["image", "list", "--long", ...hidden]))
      if (i.Project === project)
        left.push(`image ${String(i.ID)} ${String(i.Name)} ${String(i.Status)}`);
  const services = (await list(["catalog", "list"])).map((c) => String(c.Type));
  if (services.some((t) => /^(volumev[23]|block-storage)$/.test(t)))
    for (const v of await list(["volume", "list"])) left.push(`volume ${String(v.ID)}`);
  return [...new Set(left)];
}
