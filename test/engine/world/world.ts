/**
 * Everything outside Pulumi that a scenario touches: a fake OpenStack project, a fake AWS
 * account, the fake local machine, fault injection, and the fake CLIs on PATH that the real host
 * scripts and the program's probe call. One world per test file; several stacks share it.
 * Test utility, never shipped.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import { createRequire } from "node:module";
import * as path from "node:path";
import { CliResult, CliServer, fail, keyValues, ok, parseArgs } from "./cli-server";
import { FakeAws } from "./aws";
import { Faults } from "./faults";
import { Guest } from "./guest";
import { FakeLocal, writeBaseImage } from "./local";
import { FakeOpenStack } from "./openstack";

/**
 * The scripts' documented pauses (polls, retries, the QEMU monitor's settle time), shortened: the
 * fakes answer at once. No wait before a Glance change's or an AWS claim's read-back: the fakes
 * have made every change when they answer, one made at the same moment included.
 */
const TIMING: Record<string, string> = {
  POLL_SECONDS: "0.05",
  RETRY_SECONDS: "0.05",
  MONITOR_DELAY: "0.05",
  GLANCE_SETTLE_SECONDS: "0",
  EC2_SETTLE_SECONDS: "0",
  // wait-ssh reads the console once a second (it counts whole seconds), not every 30.
  CONSOLE_WATCH_SECONDS: "0.05",
};

/** Sends `@aws-sdk/client-ec2` calls to this world (ec2-bridge.cjs). */
const EC2_BRIDGE = path.join(__dirname, "ec2-bridge.cjs");
const bridge = createRequire(__filename)(EC2_BRIDGE) as {
  install(client: unknown): () => void;
};
/** V8's code cache for the dependencies of every node process the model starts. */
const COMPILE_CACHE = path.join(__dirname, "..", "..", "support", "compile-cache.cjs");

/**
 * tsx keeps its transform cache in TMPDIR (`tsx-<uid>`), which a user's runs share from one step
 * to the next. Every world has a TMPDIR of its own, so without this each scenario's host commands
 * would transform the project's TypeScript again (about 120 ms more per process start).
 */
function shareTsxCache(tmpDir: string): void {
  const name = `tsx-${process.geteuid?.() ?? os.userInfo().username}`;
  const shared = path.join(os.tmpdir(), name);
  fs.mkdirSync(shared, { recursive: true });
  fs.symlinkSync(shared, path.join(tmpDir, name));
}

export class World {
  readonly faults = new Faults();
  readonly openstack = new FakeOpenStack(this.faults);
  readonly aws = new FakeAws(this.faults);
  readonly local = new FakeLocal(this.faults);
  readonly cli = new CliServer();
  readonly root: string;
  readonly bin: string;
  /** A fake base image for the local platforms. */
  readonly baseImage: string;
  /** TMPDIR of every host step: what a killed step leaves there stays visible to the tests. */
  readonly tmpDir: string;
  private savedPath = process.env.PATH;
  private savedNodeOptions = process.env.NODE_OPTIONS;
  private uninstallEc2?: () => void;

  private constructor() {
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), "dse-engine-"));
    this.bin = path.join(this.root, "bin");
    this.baseImage = path.join(this.root, "base", "debian-12.qcow2");
    this.tmpDir = path.join(this.root, "tmp");
    fs.mkdirSync(this.tmpDir);
    shareTsxCache(this.tmpDir);
  }

  static async create(): Promise<World> {
    const w = new World();
    writeBaseImage(w.baseImage);
    w.cli.on("openstack", (args, cwd) => w.openstack.cli(args, cwd));
    w.cli.on("aws", (args, cwd) => w.aws.call(args, cwd));
    w.cli.on("qemu-img", (args, cwd) => w.local.qemuImg(args, cwd));
    w.cli.on("qemu-system-x86_64", (args, cwd) => w.local.qemuSystem(args, cwd));
    w.cli.on("genisoimage", (args, cwd) => w.local.genisoimage(args, cwd));
    w.cli.on("ssh", (args, cwd) => w.ssh(args, cwd));
    w.cli.on("scp", (args, cwd) => w.scp(args, cwd));
    w.cli.on("ssh-keyscan", (args) => w.keyscan(args));
    // `kill:<tool> <word>...`: the first call of <tool> whose argv holds every word (a word or
    // its basename) kills its step. A tool killed while it writes leaves what it wrote.
    w.cli.killsCall = (tool, args, cwd) => {
      const words = new Set([...args, ...args.map((a) => path.basename(a))]);
      const killed = w.faults.takeWhere(
        (name) =>
          name.startsWith(`kill:${tool} `) &&
          name
            .slice(`kill:${tool} `.length)
            .split(" ")
            .every((x) => words.has(x)),
      );
      if (killed && tool === "qemu-img") w.local.qemuImgKilled(args, cwd);
      return killed;
    };
    await w.cli.start(w.bin);
    // The system python: a version manager's shim (pyenv) costs a second per start.
    if (fs.existsSync("/usr/bin/python3"))
      fs.symlinkSync("/usr/bin/python3", path.join(w.bin, "python3"));
    process.env.PATH = `${w.bin}:${w.savedPath}`;
    process.env.DSE_FAKE_WORLD_PORT = String(w.cli.port);
    Object.assign(process.env, TIMING);
    // The SDK's EC2 in every node process of the model, and in this one (the program's); V8's
    // code cache for their dependencies (compile-cache.cjs: parsing them is most of a start).
    process.env.NODE_OPTIONS = [
      w.savedNodeOptions,
      `--require ${COMPILE_CACHE}`,
      `--require ${EC2_BRIDGE}`,
    ]
      .filter(Boolean)
      .join(" ");
    const { EC2Client } = await import("@aws-sdk/client-ec2");
    w.uninstallEc2 = bridge.install(EC2Client);
    return w;
  }

  async close(): Promise<void> {
    await this.local.stopAll();
    await this.cli.stop();
    process.env.PATH = this.savedPath;
    if (this.savedNodeOptions === undefined) delete process.env.NODE_OPTIONS;
    else process.env.NODE_OPTIONS = this.savedNodeOptions;
    this.uninstallEc2?.();
    for (const name of Object.keys(TIMING)) delete process.env[name];
    // Watchdogs of killed fake qemus exit within a poll; their folders are in root.
    fs.rmSync(this.root, { recursive: true, force: true });
  }

  /** The fake machine answering SSH at host:port, on any platform. */
  guestAt(host: string, port: number): Guest | undefined {
    if (host === "127.0.0.1") return this.local.guestAt(port);
    return this.openstack.serverAt(host)?.guest ?? this.aws.instanceAt(host)?.guest;
  }

  /** Every fake machine, running or not. */
  guests(): Guest[] {
    return [
      ...[...this.openstack.servers.values()].map((s) => s.guest),
      ...[...this.aws.instances.values()].map((i) => i.guest),
      ...[...this.local.vms.values()].map((v) => v.guest),
    ];
  }

  // --- ssh and scp as the boot test calls them (-i key, -p/-P port, pinned known_hosts) ------
  private target(args: string[], cwd: string, portFlag: string) {
    const a = parseArgs(args, ["-q", "-r"]);
    const opts = keyValues(a.all("-o"));
    const key = fs.readFileSync(path.resolve(cwd, a.one("-i")!), "utf8");
    const port = Number(a.one(portFlag) ?? 22);
    return { a, opts, key, port };
  }

  private connect(
    dest: string,
    port: number,
    key: string,
    knownHosts: string | undefined,
  ): Guest | CliResult {
    const host = dest.split("@").pop()!.split(":")[0];
    const guest = this.guestAt(host, port);
    if (!guest) return fail(`ssh: connect to host ${host} port ${port}: Connection refused`, 255);
    const known =
      knownHosts && fs.existsSync(knownHosts) ? fs.readFileSync(knownHosts, "utf8") : "";
    const label = port === 22 ? host : `[${host}]:${port}`;
    const pinned = known
      .split("\n")
      .find((l) => l.split(/\s+/)[0] === label)
      ?.split(/\s+/)
      .slice(1)
      .join(" ");
    if (!pinned)
      return fail(
        `No ED25519 host key is known for ${label} and you have requested strict checking.\nHost key verification failed.`,
        255,
      );
    const why = guest.refuses(key, pinned);
    if (why?.includes("host key mismatch")) {
      return fail(
        "@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@\nHost key verification failed.",
        255,
      );
    }
    if (why) return fail(`ssh: ${why}`, 255);
    return guest;
  }

  /** `ssh-keyscan -T t -p port host`: the host key line when the machine answers SSH. */
  private keyscan(args: string[]): CliResult {
    const a = parseArgs(args);
    const host = a.positional[0];
    const port = Number(a.one("-p") ?? 22);
    const guest = this.guestAt(host, port);
    if (!guest || guest.refuses("", undefined)?.startsWith("dial")) return ok();
    const label = port === 22 ? host : `[${host}]:${port}`;
    return ok(`${label} ${guest.hostKey.trim()}\n`);
  }

  private ssh(args: string[], cwd: string): CliResult {
    const { a, opts, key, port } = this.target(args, cwd, "-p");
    const [dest, ...command] = a.positional;
    const guest = this.connect(dest, port, key, opts.UserKnownHostsFile);
    if (!(guest instanceof Guest)) return guest;
    const r = guest.exec(command.join(" "), guest.id);
    return { code: r.code, stdout: r.stdout, stderr: r.stderr };
  }

  private scp(args: string[], cwd: string): CliResult {
    const { a, opts, key, port } = this.target(args, cwd, "-P");
    const dest = a.positional[a.positional.length - 1];
    const guest = this.connect(dest, port, key, opts.UserKnownHostsFile);
    if (!(guest instanceof Guest)) return guest;
    const dir = dest.split(":").slice(1).join(":").replace(/\/$/, "");
    const files: Record<string, string> = {};
    for (const src of a.positional.slice(0, -1)) {
      files[path.basename(src)] = fs.readFileSync(path.resolve(cwd, src), "utf8");
    }
    guest.upload(dir, files, "", guest.id);
    return ok();
  }
}
