/**
 * A fake OpenStack project in memory: Nova servers with status, Glance images with properties and
 * owners, key pairs, security groups, floating IPs. The `openstack` CLI the host scripts call and
 * the fake Pulumi providers act on the same objects. Test utility, never shipped.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { CliResult, fail, keyValues, ok, parseArgs } from "./cli-server";
import type { Faults } from "./faults";
import { Disk, Guest, baseDisk, consoleOf, copyDisk, parseUserData } from "./guest";

export interface OsServer {
  id: string;
  name: string;
  status: "ACTIVE" | "SHUTOFF" | "ERROR";
  metadata: Record<string, string>;
  securityGroups: string[];
  fixedIp: string;
  floatingIp?: string;
  guest: Guest;
}

export interface OsImage {
  id: string;
  name: string;
  status: "active" | "queued" | "saving" | "killed" | "deactivated";
  owner: string;
  visibility: string;
  hidden: boolean;
  properties: Record<string, string>;
  createdAt: string;
  disk: Disk;
  /** Glance's digests of the uploaded bytes (`checksum` md5, `os_hash_value` sha512). */
  checksum?: string;
}

export interface OsFloatingIp {
  id: string;
  address: string;
  description: string;
  server?: string;
}

export const PROJECT = "proj-dse";

let serial = 0;
const newId = (kind: string) =>
  `${kind}-${(++serial).toString(16).padStart(4, "0")}-${Date.now().toString(16)}`;

export class FakeOpenStack {
  readonly servers = new Map<string, OsServer>();
  readonly images = new Map<string, OsImage>();
  readonly keypairs = new Map<string, string>();
  readonly groups = new Map<string, { id: string; name: string }>();
  readonly fips = new Map<string, OsFloatingIp>();
  /** Deleted image IDs, for the invariant "no image a stack exports was deleted". */
  readonly deletedImages: string[] = [];
  /**
   * Another change to an image at the same moment as the first `image set` or `unset` whose
   * arguments `when` accepts: read before that call's change and saved after it, whole, as
   * Glance saves every change (glance/db/__init__.py ImageRepo.save, purge_props=True), so the
   * call's change is undone and both answer success. Fires once per entry.
   */
  readonly concurrent: { when: (args: string[]) => boolean; change: (image: OsImage) => void }[] =
    [];
  private ipSerial = 10;

  constructor(private readonly faults: Faults) {}

  // --- helpers the typed providers and tests use -----------------------------------------
  launch(opts: {
    name: string;
    image?: OsImage;
    userData?: string;
    keyName?: string;
    metadata?: Record<string, string>;
    securityGroups?: string[];
  }): OsServer {
    const id = newId("srv");
    const extra =
      opts.keyName && this.keypairs.has(opts.keyName) ? [this.keypairs.get(opts.keyName)!] : [];
    const disk = opts.image ? copyDisk(opts.image.disk) : baseDisk();
    const guest = new Guest(
      "openstack",
      id,
      disk,
      parseUserData(opts.userData),
      extra,
      this.faults,
    );
    const server: OsServer = {
      id,
      name: opts.name,
      status: "ACTIVE",
      metadata: { ...opts.metadata },
      securityGroups: opts.securityGroups ?? [],
      fixedIp: `10.0.0.${++this.ipSerial}`,
      guest,
    };
    guest.onPowerOff = () => {
      if (this.servers.get(id)) server.status = "SHUTOFF";
    };
    this.servers.set(id, server);
    return server;
  }

  deleteServer(id: string): boolean {
    const server = this.servers.get(id);
    if (!server) return false;
    server.guest.running = false;
    for (const fip of this.fips.values()) if (fip.server === id) fip.server = undefined;
    this.servers.delete(id);
    return true;
  }

  /** The server reachable at this address (floating or fixed). */
  serverAt(host: string): OsServer | undefined {
    return [...this.servers.values()].find((s) => s.floatingIp === host || s.fixedIp === host);
  }

  associate(address: string, serverId: string): void {
    const fip = [...this.fips.values()].find((f) => f.address === address);
    if (!fip) throw new Error(`floating IP ${address} not found (404)`);
    const server = this.servers.get(serverId);
    if (!server) throw new Error(`server ${serverId} not found (404)`);
    if (fip.server) {
      const old = this.servers.get(fip.server);
      if (old) old.floatingIp = undefined;
    }
    fip.server = serverId;
    server.floatingIp = address;
  }

  allocateFip(description: string): OsFloatingIp {
    const fip = { id: newId("fip"), address: `203.0.113.${++this.ipSerial}`, description };
    this.fips.set(fip.id, fip);
    return fip;
  }

  addImage(image: Partial<OsImage> & { name: string }): OsImage {
    const full: OsImage = {
      id: newId("img"),
      status: "active",
      owner: PROJECT,
      visibility: "private",
      hidden: false,
      properties: {},
      createdAt: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
      disk: baseDisk(),
      ...image,
    };
    this.images.set(full.id, full);
    return full;
  }

  deleteImage(id: string): boolean {
    if (!this.images.delete(id)) return false;
    this.deletedImages.push(id);
    return true;
  }

  // --- the CLI ------------------------------------------------------------------------------
  cli(args: string[], cwd: string): CliResult {
    const words = args.filter(
      (a, i) => !(a === "--insecure" || a === "--os-cacert" || args[i - 1] === "--os-cacert"),
    );
    // The longest known command the words start with: `server image create` before `server`.
    const line = words.join(" ");
    const command = Object.keys(this.commands)
      .filter((c) => line === c || line.startsWith(`${c} `))
      .sort((x, y) => y.length - x.length)[0];
    if (command === undefined) return fail(`fake openstack: unsupported command: ${line}`);
    const rest = words.slice(command.split(" ").length);
    const fault = this.faults.take(`cli:openstack ${command}`, "openstack");
    if (fault) return fail(`Internal Server Error (HTTP 500) (injected: ${fault})`);
    const a = parseArgs(rest, [
      "--long",
      "--hidden",
      "--unhidden",
      "--wait",
      "--private",
      "--public",
      "--shared",
      "--community",
      "--ingress",
    ]);
    return this.commands[command](a, cwd, words);
  }

  /**
   * With --wait, python-openstackclient's `server create` and `server image create` write their
   * progress to stdout before the formatted result: "\rProgress: N" while the server reports
   * some, then a newline (seen on Zed's client in the OpenStack lane, test/openstack/).
   */
  private waited(a: ReturnType<typeof parseArgs>, out: string): string {
    return a.has("--wait") ? `\rProgress: 100\n${out}` : out;
  }

  private format(a: ReturnType<typeof parseArgs>, row: Record<string, unknown>): string {
    if (a.one("-f") === "value") {
      return `${a
        .all("-c")
        .map((c) => (typeof row[c] === "string" ? row[c] : JSON.stringify(row[c] ?? "")))
        .join(" ")}\n`;
    }
    return `${JSON.stringify(row)}\n`;
  }

  private formatRows(a: ReturnType<typeof parseArgs>, rows: Record<string, unknown>[]): string {
    if (a.one("-f") === "value") return rows.map((r) => this.format(a, r)).join("");
    return `${JSON.stringify(rows)}\n`;
  }

  private image(id: string): OsImage | undefined {
    return this.images.get(id) ?? [...this.images.values()].find((i) => i.name === id);
  }

  /**
   * The change at the same moment as this call, if one waits for it: what it read now, and a
   * function that saves it over the call's change.
   */
  private savedAfter(image: OsImage, argv: string[]): () => void {
    const n = this.concurrent.findIndex((c) => c.when(argv));
    if (n < 0) return () => undefined;
    const [other] = this.concurrent.splice(n, 1);
    const read = { ...image, properties: { ...image.properties } };
    return () => {
      other.change(read);
      Object.assign(image, read);
    };
  }

  private imageView(i: OsImage) {
    return {
      id: i.id,
      name: i.name,
      status: i.status,
      owner: i.owner,
      visibility: i.visibility,
      is_hidden: i.hidden,
      created_at: i.createdAt,
      checksum: i.checksum ?? createHash("md5").update(i.id).digest("hex"),
      os_hash_algo: "sha512",
      os_hash_value: createHash("sha512")
        .update(i.checksum ?? i.id)
        .digest("hex"),
      properties: { ...i.properties, os_hidden: i.hidden },
    };
  }

  private readonly commands: Record<
    string,
    (a: ReturnType<typeof parseArgs>, cwd: string, words: string[]) => CliResult
  > = {
    "token issue": (a) => ok(this.format(a, { project_id: PROJECT })),
    "image list": (a) => {
      const props = keyValues(a.all("--property"));
      const rows = [...this.images.values()]
        .filter((i) => i.hidden === a.has("--hidden"))
        .filter((i) => Object.entries(props).every(([k, v]) => i.properties[k] === v))
        .map((i) => ({
          ID: i.id,
          Name: i.name,
          Status: i.status,
          Visibility: i.visibility,
          Project: i.owner,
        }));
      return ok(this.formatRows(a, rows));
    },
    "image show": (a) => {
      const i = this.image(a.positional[0]);
      if (!i) return fail(`No Image found for ${a.positional[0]}`);
      // `glance:killed`: the image's upload fails after the fact, seen by the next status poll.
      if (a.all("-c").includes("status") && this.faults.take("glance:killed", "openstack"))
        i.status = "killed";
      return ok(this.format(a, this.imageView(i)));
    },
    "image set": (a, _cwd, argv) => {
      const i = this.image(a.positional[0]);
      if (!i) return fail(`No Image found for ${a.positional[0]}`);
      const saved = this.savedAfter(i, argv);
      if (a.one("--name")) i.name = a.one("--name")!;
      for (const v of ["private", "public", "shared", "community"])
        if (a.has(`--${v}`)) i.visibility = v;
      if (a.has("--hidden")) i.hidden = true;
      if (a.has("--unhidden")) i.hidden = false;
      for (const p of a.all("--property")) {
        const [k, v] = p.split(/=(.*)/s, 2);
        if (v.length > 255) return fail(`property ${k} is longer than 255 characters (HTTP 400)`);
        i.properties[k] = v;
      }
      saved();
      return ok();
    },
    "image unset": (a, _cwd, argv) => {
      const i = this.image(a.positional[0]);
      if (!i) return fail(`No Image found for ${a.positional[0]}`);
      const saved = this.savedAfter(i, argv);
      for (const k of a.all("--property")) delete i.properties[k];
      saved();
      return ok();
    },
    "image delete": (a) => {
      const i = this.image(a.positional[0]);
      if (!i) return fail(`No Image found for ${a.positional[0]}`);
      this.deleteImage(i.id);
      return ok();
    },
    "server list": (a) => {
      const re = new RegExp(a.one("--name") ?? "");
      const rows = [...this.servers.values()]
        .filter((s) => re.test(s.name))
        .map((s) => ({ ID: s.id, Name: s.name, Status: s.status, Properties: s.metadata }));
      return ok(this.formatRows(a, rows));
    },
    "server show": (a) => {
      const s = this.servers.get(a.positional[0]);
      if (!s) return fail(`No Server found for ${a.positional[0]}`);
      return ok(
        this.format(a, {
          id: s.id,
          name: s.name,
          status: s.status,
          addresses: { private: [s.fixedIp, ...(s.floatingIp ? [s.floatingIp] : [])] },
          properties: s.metadata,
        }),
      );
    },
    "server set": (a) => {
      const s = this.servers.get(a.positional[0]);
      if (!s) return fail(`No Server found for ${a.positional[0]}`);
      for (const p of a.all("--property")) {
        const [k, v] = p.split(/=(.*)/s, 2);
        s.metadata[k] = v;
      }
      return ok();
    },
    "server stop": (a) => {
      const s = this.servers.get(a.positional[0]);
      if (!s) return fail(`No Server found for ${a.positional[0]}`);
      // Nova stops only an ACTIVE server (nova/api/openstack/common.py
      // raise_http_conflict_for_instance_invalid_state).
      if (s.status !== "ACTIVE")
        return fail(
          `Cannot 'stop' instance ${s.id} while it is in vm_state ${s.status === "SHUTOFF" ? "stopped" : s.status.toLowerCase()} (HTTP 409)`,
        );
      s.guest.powerOff();
      s.status = "SHUTOFF";
      return ok();
    },
    "server delete": (a) =>
      this.deleteServer(a.positional[0])
        ? ok()
        : fail(`No server with a name or ID of '${a.positional[0]}' exists.`),
    "server image create": (a) => {
      const s = this.servers.get(a.positional[0]);
      if (!s) return fail(`No Server found for ${a.positional[0]}`);
      const image = this.addImage({
        name: a.one("--name")!,
        properties: keyValues(a.all("--property")),
        disk: copyDisk(s.guest.disk),
      });
      // `glance:killed-upload`: the snapshot's upload fails; `--wait` reports it, and the killed
      // image stays in Glance until deleted.
      if (this.faults.take("glance:killed-upload", "openstack")) {
        image.status = "killed";
        return fail(`Error creating server snapshot: ${image.name} (image ${image.id} is killed)`);
      }
      return ok(this.waited(a, this.format(a, { id: image.id, name: image.name })));
    },
    "server create": (a, cwd) => {
      const image = this.image(a.one("--image")!);
      if (!image || image.status !== "active")
        return fail(`Image ${a.one("--image")} could not be found.`);
      const file = a.one("--user-data");
      // Nova hands each group to Neutron by name or ID: an empty one is refused, as Neutron does.
      const groups: string[] = [];
      for (const ref of a.all("--security-group")) {
        if (ref === "")
          return fail(
            "Invalid input for field/attribute name. Value: . '' is too short (HTTP 400)",
          );
        const g = [...this.groups.values()].find((x) => x.id === ref || x.name === ref);
        if (!g) return fail(`Security group ${ref} not found. (HTTP 400)`);
        groups.push(g.name);
      }
      const server = this.launch({
        name: a.positional[0],
        image,
        userData: file ? fs.readFileSync(path.resolve(cwd, file), "utf8") : undefined,
        metadata: keyValues(a.all("--property")),
        securityGroups: groups,
      });
      return ok(this.waited(a, this.format(a, { id: server.id, name: server.name })));
    },
    "server add floating ip": (a) => {
      this.associate(a.positional[1], a.positional[0]);
      return ok();
    },
    "floating ip list": (a) =>
      ok(
        this.formatRows(
          a,
          [...this.fips.values()].map((f) => ({
            ID: f.id,
            "Floating IP Address": f.address,
            Description: f.description,
          })),
        ),
      ),
    "floating ip create": (a) => {
      const fip = this.allocateFip(a.one("--description") ?? "");
      return ok(this.format(a, { id: fip.id, floating_ip_address: fip.address }));
    },
    "floating ip delete": (a) =>
      this.fips.delete(a.positional[0])
        ? ok()
        : fail(`Floating IP ${a.positional[0]} not found (404)`),
    "keypair list": (a) =>
      ok(
        this.formatRows(
          a,
          [...this.keypairs.keys()].map((Name) => ({ Name })),
        ),
      ),
    "keypair delete": (a) =>
      this.keypairs.delete(a.positional[0])
        ? ok()
        : fail(`No keypair with a name or ID of '${a.positional[0]}' exists.`),
    "security group list": (a) =>
      ok(
        this.formatRows(
          a,
          [...this.groups.values()].map((g) => ({ ID: g.id, Name: g.name })),
        ),
      ),
    "security group create": (a) => {
      const g = { id: newId("sg"), name: a.positional[0] };
      this.groups.set(g.id, g);
      return ok(this.format(a, { id: g.id }));
    },
    "security group rule create": () => ok(),
    "security group delete": (a) => {
      const g = this.groups.get(a.positional[0]);
      if (!g) return fail(`Security group ${a.positional[0]} not found (404)`);
      if (
        [...this.servers.values()].some(
          (s) => s.securityGroups.includes(g.name) || s.securityGroups.includes(g.id),
        )
      ) {
        return fail(`Security Group ${g.id} in use (HTTP 409)`);
      }
      this.groups.delete(g.id);
      return ok();
    },
    "console log show": (a) => {
      const s = this.servers.get(a.positional[0]);
      return s ? ok(consoleOf(s.guest.disk, s.name)) : fail("No server found");
    },
  };
}
