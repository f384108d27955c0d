/**
 * The model's qemu (world/local.ts) where start.sh meets a race of the real machine: the port it
 * picked as free is taken before qemu binds it (by any process's outgoing connection: the fake
 * CLIs alone open thousands). Real QEMU fails to set up its host forwarding and exits, leaving no
 * process and no pidfile, and start.sh tries another port; the fake once started its process and
 * left it running, a builder no teardown knew (seen once as "left behind: qemu process on port").
 */
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Faults } from "./world/faults";
import { FakeLocal, writeBaseImage } from "./world/local";

let dir: string;
let local: FakeLocal;
const servers: net.Server[] = [];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dse-local-world-"));
  writeBaseImage(path.join(dir, "overlay.qcow2"));
  fs.writeFileSync(path.join(dir, "seed.iso"), JSON.stringify({ fake: "seed", files: {} }));
  local = new FakeLocal(new Faults());
});
afterEach(async () => {
  await local.stopAll();
  for (const s of servers) s.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function listening(): Promise<number> {
  const server = net.createServer();
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as net.AddressInfo).port;
}

/** qemu's arguments as start.sh gives them (the parts the fake reads). */
const qemuArgs = (port: number) => [
  "-drive",
  `file=${path.join(dir, "overlay.qcow2")},if=virtio,format=qcow2`,
  "-drive",
  `file=${path.join(dir, "seed.iso")},if=virtio,format=raw,readonly=on`,
  "-netdev",
  `user,id=net0,hostfwd=tcp:127.0.0.1:${port}-:22`,
  "-pidfile",
  path.join(dir, "qemu.pid"),
];

describe("the model's qemu on a taken port", () => {
  it("fails to start as QEMU does: exit 1 naming the forwarding rule, no process, no pidfile", async () => {
    const port = await listening();
    const r = await local.qemuSystem(qemuArgs(port), dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`Could not set up host forwarding rule 'tcp:127.0.0.1:${port}-:22'`);
    expect(fs.existsSync(path.join(dir, "qemu.pid"))).toBe(false);
    expect([...local.vms.values()]).toEqual([]);
  });

  it("starts on a free port: a process, its pidfile and an SSH banner there", async () => {
    const taken = await listening();
    servers.pop()!.close();
    const r = await local.qemuSystem(qemuArgs(taken), dir);
    expect(r.code).toBe(0);
    const pid = Number(fs.readFileSync(path.join(dir, "qemu.pid"), "utf8"));
    expect(local.vms.get(taken)?.process.pid).toBe(pid);
    const banner = await new Promise<string>((resolve, reject) =>
      net
        .connect(taken, "127.0.0.1")
        .once("data", (d) => resolve(d.toString()))
        .once("error", reject),
    );
    expect(banner).toMatch(/^SSH-2\.0-/);
  });
});
