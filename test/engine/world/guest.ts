/**
 * A fake machine for the engine model: its "disk" (uploaded files, what ran on it, what cleanup
 * removed), its SSH identity (host key, authorized keys) and how it answers the exact commands
 * the Provisioner and the boot test send. "install without upload" fails here as on a real
 * builder, and an image made from a disk carries that disk's history (its provenance), which
 * the invariants check. Test utility, never shipped.
 */
import { createHash } from "node:crypto";
import { gunzipSync } from "node:zlib";
import { parse } from "yaml";
import type { Faults } from "./faults";

/** One step that ran on a builder, in order. */
export interface Provenance {
  step: "prepare" | "upload" | "install" | "verify" | "inventory" | "cleanup";
  fingerprint: string;
  builder: string;
}

export interface Disk {
  /** What ran on the builders this disk went through. */
  log: Provenance[];
  /** Paths under /var/tmp/dse-build (uploaded files). */
  files: Record<string, string>;
  /** What cleanup.sh left: an image must have all four. */
  hostKeysRemoved: boolean;
  machineIdEmptied: boolean;
  buildKeyRemoved: boolean;
  cloudInitCleaned: boolean;
  /**
   * An image that does not boot (its kernel panics: no SSH, the console says so), or whose
   * cloud-init fails; a scenario sets it on a world's image, and machines booted from it copy it.
   */
  broken?: "boot" | "cloud-init";
}

/** A console as a machine booting `disk` prints it: up to init, or to a panic that ends it. */
export function consoleOf(disk: Disk, who: string): string {
  return (
    `[    0.000000] Linux version 6.1.0 (fake console of ${who})\n` +
    (disk.broken === "boot"
      ? "[    0.900000] Kernel panic - not syncing: VFS: Unable to mount root fs\n"
      : "[    0.900000] Run /init as init process\n")
  );
}

export function baseDisk(): Disk {
  return {
    log: [],
    files: {},
    hostKeysRemoved: false,
    machineIdEmptied: false,
    buildKeyRemoved: false,
    cloudInitCleaned: false,
  };
}

export const copyDisk = (d: Disk): Disk => JSON.parse(JSON.stringify(d)) as Disk;

// --- keys ------------------------------------------------------------------------------------
let keySerial = 0;

/** A fake key pair whose public half can be derived from the private one. */
export function fakeKeyPair(): { privateKey: string; publicKey: string } {
  const id = `k${++keySerial}${Date.now().toString(36)}`;
  return {
    privateKey: `-----BEGIN OPENSSH PRIVATE KEY-----\nfake:${id}\n-----END OPENSSH PRIVATE KEY-----\n`,
    publicKey: `ssh-ed25519 AAAAfake${id}\n`,
  };
}

export function publicOf(privateKey: string): string {
  const m = /fake:(\S+)/.exec(privateKey);
  return m ? `ssh-ed25519 AAAAfake${m[1]}` : "";
}

/** `type blob` of a key line, for comparisons. */
export const keyId = (line: string) => line.trim().split(/\s+/).slice(0, 2).join(" ");

// --- user data -------------------------------------------------------------------------------
export interface UserData {
  hostKey?: string;
  authorized: string[];
  /** Paths written by write_files (the per-boot dead-man switch lives there). */
  writeFiles: string[];
  perBootTtl: boolean;
}

export function parseUserData(text: string | undefined): UserData {
  const doc = (text ? parse(text) : {}) as Record<string, unknown> | null;
  const d = doc ?? {};
  const users = (d.users as { ssh_authorized_keys?: string[] }[] | undefined) ?? [];
  const keys = d.ssh_keys as { ed25519_public?: string } | undefined;
  const files = ((d.write_files as { path: string }[] | undefined) ?? []).map((f) => f.path);
  return {
    hostKey: keys?.ed25519_public,
    authorized: [
      ...((d.ssh_authorized_keys as string[] | undefined) ?? []),
      ...users.flatMap((u) => u.ssh_authorized_keys ?? []),
    ],
    writeFiles: files,
    perBootTtl: files.some((f) => f.startsWith("/var/lib/cloud/scripts/per-boot/")),
  };
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Words of a POSIX command line, with single quotes as shellQuote writes them. */
export function shellWords(line: string): string[] {
  const out: string[] = [];
  let word = "";
  let quoted = false;
  let started = false;
  for (const ch of line) {
    if (quoted) {
      if (ch === "'") quoted = false;
      else word += ch;
    } else if (ch === "'") {
      quoted = true;
      started = true;
    } else if (/\s/.test(ch)) {
      if (started || word) out.push(word);
      word = "";
      started = false;
    } else {
      word += ch;
    }
  }
  if (started || word) out.push(word);
  return out;
}

const sha = (s: string) => createHash("sha256").update(s).digest("hex").slice(0, 16);
const BUILD_DIR = "/var/tmp/dse-build/";

/**
 * The files of the upload step's stdin (components/provision-archive.ts: base64 of a gzipped
 * ustar archive), by path: what `base64 -d | tar -xzf -` unpacks on a real builder.
 */
export function unpackArchive(base64: string): Record<string, string> {
  const tar = gunzipSync(Buffer.from(base64, "base64"));
  const files: Record<string, string> = {};
  const field = (at: number, len: number) =>
    tar.toString("latin1", at, at + len).replace(/\0[\s\S]*$/, "");
  for (let at = 0; at + 512 <= tar.length;) {
    const name = field(at, 100);
    if (name === "") break;
    const size = parseInt(field(at + 124, 12).trim() || "0", 8);
    const prefix = field(at + 345, 155);
    const type = field(at + 156, 1);
    if (type === "0" || type === "") {
      files[prefix ? `${prefix}/${name}` : name] = tar.toString("utf8", at + 512, at + 512 + size);
    }
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

/** A fake machine. `platform` and `id` name it in faults and messages. */
export class Guest {
  running = true;
  /** Boots so far; the dead-man switch must be armed after every one of them. */
  boots = 1;
  ttlArmed: boolean;
  /**
   * A failed step armed the 30-second power-off (provision-commands.ts onFailure) and the next
   * run came before it fired: the machine still answers, and powers off in the middle of the
   * first step that does not disarm it first.
   */
  failurePowerOffArmed = false;
  /** Debian 12's sshd reloads host keys per connection: once cleanup removed them, no new session. */
  sshdHasHostKeys = true;
  readonly authorized: Set<string>;
  readonly hostKey: string;
  /** Commands run on this machine, for assertions. */
  readonly commands: string[] = [];
  onPowerOff?: () => void;

  constructor(
    readonly platform: string,
    readonly id: string,
    public disk: Disk,
    readonly userData: UserData,
    extraAuthorized: string[],
    private readonly faults: Faults,
  ) {
    this.authorized = new Set([...userData.authorized, ...extraAuthorized].map(keyId));
    this.hostKey = userData.hostKey ?? fakeKeyPair().publicKey;
    this.ttlArmed = userData.writeFiles.length > 0 || userData.perBootTtl;
  }

  /**
   * The machine booted again (started outside Pulumi, by a provider, or by CreateImage's reboot):
   * rule S1. After cleanup.sh ran `cloud-init clean`, cloud-init takes this boot for the
   * instance's first: it runs every module of the user data again, so the build key is authorized
   * again, the pinned host key and the dead-man switch are written again and machine-id is set.
   * The disk is no longer what cleanup.sh sealed.
   */
  restart(): void {
    this.running = true;
    this.boots++;
    if (this.disk.cloudInitCleaned) {
      Object.assign(this.disk, {
        hostKeysRemoved: false,
        machineIdEmptied: false,
        buildKeyRemoved: false,
        cloudInitCleaned: false,
      });
      for (const key of this.userData.authorized) this.authorized.add(keyId(key));
      this.sshdHasHostKeys = true;
      this.ttlArmed = this.userData.writeFiles.length > 0 || this.userData.perBootTtl;
      return;
    }
    this.ttlArmed = this.userData.perBootTtl;
  }

  powerOff(): void {
    if (!this.running) return;
    this.running = false;
    this.onPowerOff?.();
  }

  /** Why a new SSH session with this key and pinned host key would fail; undefined when it works. */
  refuses(privateKey: string, pinnedHostKey?: string): string | undefined {
    if (!this.running || this.disk.broken === "boot")
      return "dial tcp: connect: connection refused";
    if (!this.sshdHasHostKeys) return "ssh: handshake failed: EOF (sshd: no hostkeys available)";
    if (pinnedHostKey && keyId(pinnedHostKey) !== keyId(this.hostKey)) {
      return "ssh: handshake failed: ssh: host key mismatch";
    }
    if (!this.authorized.has(keyId(publicOf(privateKey)))) {
      return "ssh: handshake failed: ssh: unable to authenticate, attempted methods [none publickey]";
    }
    return undefined;
  }

  /** Copies files (relative path -> content) under `dir` on this machine. */
  upload(dir: string, files: Record<string, string>, fingerprint: string, builder: string): void {
    for (const [rel, content] of Object.entries(files))
      this.disk.files[`${dir}/${rel}`] = sha(content);
    if (dir.startsWith(BUILD_DIR.slice(0, -1)))
      this.disk.log.push({ step: "upload", fingerprint, builder });
  }

  /** Runs one of the commands the lifecycle sends over SSH, with its stdin. */
  exec(command: string, builder: string, stdin = ""): ExecResult {
    this.commands.push(command);
    if (command.startsWith("base64 -d | tar -xzf - -C ")) {
      this.upload(shellWords(command)[7], unpackArchive(stdin), "", builder);
      return { code: 0, stdout: "", stderr: "" };
    }
    if (command.includes("rm -rf /var/tmp/dse-build && mkdir -p /var/tmp/dse-build")) {
      for (const f of Object.keys(this.disk.files))
        if (f.startsWith(BUILD_DIR)) delete this.disk.files[f];
      this.disk.log.push({ step: "prepare", fingerprint: "", builder });
      return { code: 0, stdout: "", stderr: "" };
    }
    if (command.startsWith("rm -rf /tmp/dse-boot-test")) return { code: 0, stdout: "", stderr: "" };
    const words = shellWords(command.split("||")[0]);
    const at = words.indexOf("bash");
    if (at < 0 || at + 1 >= words.length) {
      return { code: 127, stdout: "", stderr: `fake guest: unknown command ${command}` };
    }
    const script = words[at + 1];
    const env = Object.fromEntries(
      words
        .slice(0, at)
        .filter((w) => /^[A-Za-z_][A-Za-z0-9_]*=/.test(w))
        .map((w) => [w.slice(0, w.indexOf("=")), w.slice(w.indexOf("=") + 1)]),
    );
    if (command.includes("systemctl stop dse-builder-failed.timer")) {
      this.failurePowerOffArmed = false;
    }
    if (this.failurePowerOffArmed) {
      // The power-off lands mid-step: the session ends without an exit status, which
      // pulumi-command reports once its connection's keepalive gives up (x/crypto/ssh
      // ExitMissingError).
      this.failurePowerOffArmed = false;
      this.powerOff();
      return {
        code: -1,
        stdout: "",
        stderr: "wait: remote command exited without exit status or exit signal",
      };
    }
    const result = this.runScript(script, env, builder);
    if (result.code !== 0 && command.includes("systemctl poweroff")) {
      // onFailure: the builder powers itself off 30 s after the failed step: before the next run
      // looks, unless the fault says the operator (or a CI retry) was quicker.
      if (this.faults.take("guest:retry-within-30s", this.platform)) {
        this.failurePowerOffArmed = true;
      } else {
        queueMicrotask(() => this.powerOff());
      }
    }
    return result;
  }

  private runScript(script: string, env: Record<string, string>, builder: string): ExecResult {
    const name = script.split("/").pop()!.replace(/\.sh$/, "");
    const fp = env.DSE_FINGERPRINT ?? "";
    if (script.startsWith(BUILD_DIR) && this.disk.files[script] === undefined) {
      return { code: 127, stdout: "", stderr: `bash: ${script}: No such file or directory` };
    }
    const fault = this.faults.take(`remote:${name}`, this.platform);
    if (fault) return { code: 1, stdout: "", stderr: `${name}.sh: FAILED (injected: ${fault})` };
    const installed = this.disk.log.some(
      (p) => p.step === "install" && (fp === "" || p.fingerprint === fp),
    );
    switch (name) {
      case "install":
        this.disk.log.push({ step: "install", fingerprint: fp, builder });
        return { code: 0, stdout: "installed\n", stderr: "" };
      case "verify":
        if (!installed)
          return { code: 1, stdout: "", stderr: "verify.sh: these tools do not work: python" };
        if (script.startsWith(BUILD_DIR))
          this.disk.log.push({ step: "verify", fingerprint: fp, builder });
        return {
          code: 0,
          stdout: `${JSON.stringify({ python: "3.11.2", fingerprint: fp })}\n`,
          stderr: "",
        };
      case "inventory":
        this.disk.log.push({ step: "inventory", fingerprint: fp, builder });
        return {
          code: 0,
          stdout: `${JSON.stringify({ os: { id: "debian", versionId: "12", prettyName: "Debian GNU/Linux 12", arch: "amd64" }, dpkg: [{ name: "bash", version: "5.2.15-2+b7", arch: "amd64" }], pip: [], r: [] })}\n`,
          stderr: "",
        };
      case "cleanup":
        this.disk.log.push({ step: "cleanup", fingerprint: fp, builder });
        Object.assign(this.disk, {
          hostKeysRemoved: true,
          machineIdEmptied: true,
          buildKeyRemoved: true,
          cloudInitCleaned: true,
        });
        for (const f of Object.keys(this.disk.files))
          if (f.startsWith(BUILD_DIR)) delete this.disk.files[f];
        this.authorized.clear();
        this.sshdHasHostKeys = false;
        return { code: 0, stdout: "", stderr: "" };
      case "smoke":
        return this.smoke(env);
      default:
        return { code: 127, stdout: "", stderr: `fake guest: unknown script ${script}` };
    }
  }

  /** components/lifecycle/smoke.sh's checks, on what this image's builder left. */
  private smoke(env: Record<string, string>): ExecResult {
    const lines: string[] = [];
    const check = (name: string, good: boolean, why: string) =>
      lines.push(good ? `ok ${name}` : `FAILED ${name}: ${why}`);
    check(
      "cloud-init",
      this.disk.broken !== "cloud-init",
      "cloud-init status exit 1: status: error",
    );
    check(
      "host-keys",
      this.disk.hostKeysRemoved && keyId(env.EXPECTED_HOST_KEY ?? "") === keyId(this.hostKey),
      "host keys older than this boot (left in the image)",
    );
    check("machine-id", this.disk.machineIdEmptied, "/etc/machine-id predates this boot");
    check("build-key", this.disk.buildKeyRemoved, "keys other than this test's are authorized");
    check("builder-ttl", this.disk.cloudInitCleaned, "the builder TTL script is in the image");
    const failed = lines.some((l) => l.startsWith("FAILED"));
    return { code: failed ? 1 : 0, stdout: `${lines.join("\n")}\n`, stderr: "" };
  }
}
