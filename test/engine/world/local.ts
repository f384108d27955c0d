/**
 * The fake local machine for the QEMU and VirtualBox platforms: `qemu-system-x86_64` starts a
 * fake guest behind a real process (so pidfiles, `kill -0` and the watchdog behave), a real TCP
 * port with an SSH banner and a real monitor socket; `qemu-img` and `genisoimage` write JSON
 * stand-ins for disks and seeds. The real host scripts (start.sh, stop.sh, snapshot.sh,
 * make-seed.sh, teardown.sh, the OVA export and the boot test) run against them. A disk file holds the guest's
 * history, so a qcow2 image carries its provenance like a cloud image. Test utility, never shipped.
 */
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { CliResult, fail, ok, parseArgs } from "./cli-server";
import type { Faults } from "./faults";
import { Disk, Guest, baseDisk, consoleOf, copyDisk, parseUserData } from "./guest";

interface DiskFile {
  fake: "disk";
  disk?: Disk;
  backing?: string;
}

export function writeBaseImage(file: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify({ fake: "disk", disk: baseDisk() } satisfies DiskFile));
}

/** The disk a file stands for: its own content or its backing chain's. */
export function readDisk(file: string): Disk {
  const data = JSON.parse(fs.readFileSync(file, "utf8")) as DiskFile;
  if (data.disk) return data.disk;
  if (data.backing) return readDisk(data.backing);
  throw new Error(`${file} is not a fake disk`);
}

interface LocalVm {
  guest: Guest;
  port: number;
  overlay: string;
  process: ChildProcess;
  listeners: net.Server[];
}

export class FakeLocal {
  readonly vms = new Map<number, LocalVm>();
  /** Every qemu start, for assertions (accelerator, kernel, ...). */
  readonly starts: string[][] = [];

  constructor(private readonly faults: Faults) {}

  guestAt(port: number): Guest | undefined {
    const vm = this.vms.get(port);
    return vm?.guest.running ? vm.guest : undefined;
  }

  async stopAll(): Promise<void> {
    for (const vm of this.vms.values()) vm.process.kill("SIGKILL");
    await new Promise((r) => setTimeout(r, 50));
  }

  qemuImg(args: string[], cwd: string): CliResult {
    const a = parseArgs(args, ["-q", "-c", "-W", "-p"]);
    const [command, ...files] = a.positional;
    const abs = (f: string) => path.resolve(cwd, f);
    switch (command) {
      case "create": {
        const backing = a.one("-b");
        fs.writeFileSync(
          abs(files[0]),
          JSON.stringify({ fake: "disk", backing: backing && abs(backing) }),
        );
        return ok();
      }
      case "resize":
        return ok();
      case "info":
        return ok(JSON.stringify({ format: "qcow2", "virtual-size": 6 * 1024 ** 3 }));
      case "convert": {
        const fault = this.faults.take("cli:qemu-img convert", "qemu");
        if (fault) return fail(`qemu-img: error while writing (injected: ${fault})`);
        fs.writeFileSync(
          abs(files[1]),
          JSON.stringify({ fake: "disk", disk: readDisk(abs(files[0])) }),
        );
        return ok();
      }
      default:
        return fail(`fake qemu-img: unsupported ${command}`);
    }
  }

  /** A `qemu-img convert` killed mid-write: qemu-img creates its output first, so it stays. */
  qemuImgKilled(args: string[], cwd: string): void {
    const a = parseArgs(args, ["-q", "-c", "-W", "-p"]);
    const [command, , output] = a.positional;
    if (command === "convert" && output) fs.writeFileSync(path.resolve(cwd, output), "QFI\xfb");
  }

  genisoimage(args: string[], cwd: string): CliResult {
    // genisoimage's single-dash options: -output and -volid take a value.
    let out = "";
    const inputs: string[] = [];
    for (let i = 0; i < args.length; i++) {
      if (args[i] === "-output" || args[i] === "-o") out = path.resolve(cwd, args[++i]);
      else if (args[i] === "-volid" || args[i] === "-V") i++;
      else if (!args[i].startsWith("-")) inputs.push(args[i]);
    }
    if (!out) return fail("genisoimage: no -output");
    const files = Object.fromEntries(
      inputs.map((f) => [path.basename(f), fs.readFileSync(path.resolve(cwd, f), "utf8")]),
    );
    fs.writeFileSync(out, JSON.stringify({ fake: "seed", files }));
    return ok();
  }

  async qemuSystem(args: string[], cwd: string): Promise<CliResult> {
    this.starts.push(args);
    const drives = args
      .filter((_, i) => args[i - 1] === "-drive")
      .map((d) => /file=([^,]+)/.exec(d)![1]);
    const netdev = args[args.indexOf("-netdev") + 1] ?? "";
    const port = Number(/hostfwd=tcp:127\.0\.0\.1:(\d+)-/.exec(netdev)?.[1]);
    const serial = (args[args.indexOf("-serial") + 1] ?? "").replace(/^file:/, "");
    const relative = /^unix:([^,]+)/.exec(args[args.indexOf("-monitor") + 1] ?? "")?.[1];
    const monitor = relative ? path.resolve(cwd, relative) : undefined;
    const pidfile = args[args.indexOf("-pidfile") + 1];
    if (!port || !pidfile || drives.length < 2)
      return fail("fake qemu: expected -drive x2, hostfwd, -pidfile");
    const overlay = path.resolve(cwd, drives[0]);
    // `cli:qemu-system-x86_64 builder|test`: qemu refuses to start (no memory, a taken port).
    const role = path.basename(path.dirname(overlay)).endsWith("-test") ? "test" : "builder";
    const fault = this.faults.take(`cli:qemu-system-x86_64 ${role}`, "qemu");
    if (fault) return fail(`qemu-system-x86_64: cannot set up guest memory 'pc.ram' (${fault})`);
    const seed = JSON.parse(fs.readFileSync(path.resolve(cwd, drives[1]), "utf8")) as {
      files: Record<string, string>;
    };
    const disk = copyDisk(readDisk(overlay));
    const guest = new Guest(
      "qemu",
      `qemu:${port}`,
      disk,
      parseUserData(seed.files["user-data"]),
      [],
      this.faults,
    );

    // QEMU binds its host forwarding before it daemonizes: a port something else took meanwhile
    // (start.sh picks a free one, then starts qemu) ends it there, with no process left, and
    // start.sh tries another port. (A kernel that panics never answers on it: no listener.)
    let ssh: net.Server | undefined;
    if (disk.broken !== "boot") {
      ssh = net.createServer((s) => s.end("SSH-2.0-OpenSSH_9.2 fake\r\n"));
      try {
        await new Promise<void>((resolve, reject) =>
          ssh!.once("error", reject).listen(port, "127.0.0.1", resolve),
        );
      } catch (e) {
        return fail(
          `qemu-system-x86_64: -netdev ${netdev}: Could not set up host forwarding rule ` +
            `'tcp:127.0.0.1:${port}-:22' (${(e as Error).message})\n`,
        );
      }
    }

    // A process that only waits, with qemu's arguments on its command line as a real qemu's
    // are: the scripts tell their builder's qemu from a process that reused its PID by them.
    const child = spawn("perl", ["-e", "sleep", "--", ...args], {
      detached: true,
      stdio: "ignore",
    });
    child.unref();
    fs.writeFileSync(path.resolve(cwd, pidfile), `${child.pid}\n`);
    // A kernel's log as start.sh's boot watch reads it: up to init, or to the panic of a disk
    // that does not boot.
    if (serial) fs.writeFileSync(path.resolve(cwd, serial), consoleOf(disk, `qemu:${port}`));
    const vm: LocalVm = { guest, port, overlay, process: child, listeners: ssh ? [ssh] : [] };
    this.vms.set(port, vm);

    // Node reports this process's exit later than qemu's own exit happens: by then start.sh may
    // have started another qemu in the same folder, with its own pidfile and a new overlay (a new
    // inode), which this one's exit must not touch.
    const pidPath = path.resolve(cwd, pidfile);
    const overlayInode = fs.statSync(overlay).ino;
    const exited = (_code: number | null, signal: NodeJS.Signals | null) => {
      guest.running = false;
      // QEMU unlinks its pidfile on a clean exit (a signal it handles included), not on SIGKILL.
      if (signal !== "SIGKILL" && readIfExists(pidPath)?.trim() === String(child.pid))
        fs.rmSync(pidPath, { force: true });
      // What the guest wrote stays in its overlay, as qemu's writes do: into its open file, so
      // an overlay (or folder) removed meanwhile just loses them, as an unlinked file does. The
      // folder can go between any check and the write (a teardown runs beside this).
      try {
        if (fs.statSync(overlay).ino === overlayInode)
          fs.writeFileSync(overlay, JSON.stringify({ fake: "disk", disk: guest.disk }));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      }
      for (const l of vm.listeners) l.close();
      if (monitor) fs.rmSync(monitor, { force: true });
    };
    child.on("exit", exited);
    guest.onPowerOff = () => child.kill("SIGTERM");
    if (disk.broken === "boot") {
      // A kernel that panics: -no-reboot ends qemu.
      setTimeout(() => child.kill("SIGTERM"), 100);
      return ok();
    }
    if (monitor) {
      const mon = net.createServer((s) =>
        s.on("data", (d) => {
          if (/system_powerdown|quit/.test(d.toString())) child.kill("SIGTERM");
        }),
      );
      // This process cannot bind a long path (107 bytes) the way qemu does from its cwd: bind a
      // short one and link it where the scripts connect.
      const short = path.join(os.tmpdir(), `dse-mon-${port}.sock`);
      fs.rmSync(short, { force: true });
      await new Promise<void>((resolve) => mon.listen(short, resolve));
      fs.symlinkSync(short, monitor);
      vm.listeners.push(mon);
    }
    return ok();
  }
}

function readIfExists(file: string): string | undefined {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}
