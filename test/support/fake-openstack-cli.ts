/**
 * A small in-memory Glance and Nova answering the `openstack` calls the typed store makes
 * (components/store/openstack.ts) with the JSON python-openstackclient 6.x prints (`image show`,
 * `image list --long`, `server list --long`, `token issue`). Every call is recorded as its argv.
 * Test utility, never shipped.
 */
import type { CliResult } from "../../components/store/openstack";

export interface GlanceImage {
  id: string;
  name: string;
  status: string;
  owner: string;
  created_at: string;
  visibility: string;
  os_hidden: boolean;
  /** Glance's digest of the image's bytes. */
  os_hash_value?: string;
  properties: Record<string, string>;
}

export interface NovaServer {
  ID: string;
  Name: string;
  Status: string;
  Properties: Record<string, string>;
}

export const PROJECT = "5b6c0d8e4f2a4c6b9e1d3f5a7c9b1d3e";
export const ok = (stdout: string): CliResult => ({ code: 0, stdout, stderr: "" });

/** The calls the store makes, answered from memory; every call recorded as its argv. */
export class FakeOpenStack {
  readonly images = new Map<string, GlanceImage>();
  readonly servers: NovaServer[] = [];
  readonly calls: string[][] = [];
  /** Answers a call that is not about images (Nova's servers), for a test that needs them. */
  other?: (args: string[]) => CliResult;
  /**
   * Another change to one image at the same moment as the next `image set` or `unset` of it:
   * read before that call's change, saved after it, whole (Glance's ImageRepo.save,
   * purge_props=True), so the call's change is undone. Fires once per entry.
   */
  readonly concurrent: { id: string; change: (image: GlanceImage) => void }[] = [];

  add(image: Partial<GlanceImage> & { id: string; properties: Record<string, string> }): void {
    this.images.set(image.id, {
      name: image.id,
      status: "active",
      owner: PROJECT,
      created_at: "2026-12-01T00:00:00Z",
      visibility: "private",
      os_hidden: false,
      ...image,
    });
  }

  cli = (argv: string[]): Promise<CliResult> => {
    this.calls.push(argv);
    const args = argv.filter((a) => a !== "--insecure");
    const [noun, verb] = args;
    const last = args[args.length - 1];
    const missing = (id: string): CliResult => ({
      code: 1,
      stdout: "",
      stderr: `No Image found for ${id}`,
    });
    if (noun === "token") return Promise.resolve(ok(`${PROJECT}\n`));
    if (noun === "server" && verb === "list") {
      const prefix = args[args.indexOf("--name") + 1].replace(/^\^/, "");
      return Promise.resolve(
        ok(JSON.stringify(this.servers.filter((s) => s.Name.startsWith(prefix)))),
      );
    }
    if (noun !== "image" && this.other) return Promise.resolve(this.other(args));
    if (noun !== "image") throw new Error(`unexpected call: ${argv.join(" ")}`);
    if (verb === "list") {
      const [key, value] = args[args.indexOf("--property") + 1].split("=");
      const hidden = args.includes("--hidden");
      const rows = [...this.images.values()]
        .filter((i) => i.properties[key] === value && i.os_hidden === hidden)
        .map((i) => ({ ID: i.id, Name: i.name, Status: i.status, Project: i.owner }));
      return Promise.resolve(ok(JSON.stringify(rows)));
    }
    const image = this.images.get(last);
    if (image === undefined) return Promise.resolve(missing(last));
    if (verb === "show") {
      // python-openstackclient 6 prints os_hidden among the properties.
      const { os_hidden: hidden, ...row } = image;
      const properties = { ...row.properties, os_hidden: hidden };
      return Promise.resolve(ok(JSON.stringify({ ...row, properties })));
    }
    if (verb === "delete") {
      this.images.delete(last);
      return Promise.resolve(ok(""));
    }
    const race = this.concurrent.findIndex((c) => c.id === last);
    const read = race < 0 ? undefined : { ...image, properties: { ...image.properties } };
    for (let i = 2; i < args.length - 1; i++) {
      const arg = args[i];
      if (arg === "--property" && verb === "set") {
        const [k, ...v] = args[++i].split("=");
        image.properties[k] = v.join("=");
      } else if (arg === "--property" && verb === "unset") delete image.properties[args[++i]];
      else if (arg === "--name") image.name = args[++i];
      else if (arg === "--hidden") image.os_hidden = true;
      else if (/^--(private|public|shared|community)$/.test(arg)) image.visibility = arg.slice(2);
      else throw new Error(`unexpected argument ${arg} in ${argv.join(" ")}`);
    }
    if (read !== undefined) {
      this.concurrent.splice(race, 1)[0].change(read);
      this.images.set(last, read);
    }
    return Promise.resolve(ok(""));
  };
}
