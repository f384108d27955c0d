import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { type ImageStore, type StoreLog, UnusableImage } from "../store/image-store";
import { discardImage, failImage } from "../store/pending";
import { runProgram } from "../run-program";
import { waitForSsh } from "./wait-ssh";

/*
 * The boot test's run (components/lifecycle/boot-test-cli.ts): a fresh instance from the pending
 * image, launched by the platform (a Launcher), then the checks over SSH with this test's key and
 * its pinned host key: the SSH wait (wait-ssh.ts), smoke.sh and provision/verify.sh on the instance. The
 * instance is removed on every way out but a kill (KEEP_ON_FAILURE keeps a failed test's). A check
 * that fails rejects the image; so does an image the cloud reports unusable (check "image"). A
 * launch the cloud refuses (quota, capacity, API errors) says nothing about the image: it stays
 * pending, and the next `pulumi up` tests it again (rule C6: the failed create is not in the
 * state).
 */

const LIFECYCLE = __dirname;
const PROVISION = path.join(__dirname, "..", "..", "provision");
/** Where the checks go on the instance. */
const REMOTE_DIR = "/tmp/dse-boot-test/provision";

/** The instance a platform launched, as SSH reaches it. */
export interface TestMachine {
  host: string;
  port: number;
  /** How the log names it (`instance i-...`, `server ...`). */
  describe: string;
  /** Prints its console's last lines, for the SSH wait's error (a shell command). */
  consoleCommand?: string;
}

/** How one platform launches and removes its test instance. */
export interface Launcher {
  /**
   * Removes what a killed earlier attempt at this test left, then launches from the image; `tmp`
   * is this test's private folder (it holds `user-data`). Rejects with UnusableImage for an image
   * the cloud failed.
   */
  launch(tmp: string): Promise<TestMachine>;
  /** Removes what launch made (also after a failed launch); logs what it could not remove. */
  remove(): Promise<void>;
  /** How the log names the instance before launch made one. */
  describe: string;
}

/** The test's settings, from the environment boot-test.ts declares. */
export interface BootTestSettings {
  imageId: string;
  /** The image's final name. */
  name: string;
  /** The test instance's name (per build generation). */
  testName: string;
  sshUser: string;
  privateKey: string;
  /** This test's public key line (the only one that may be authorized on the instance). */
  authorizedKey: string;
  /** The host key line the instance was given (pinned). */
  hostPublicKey: string;
  userData: string;
  tools: string;
  pythonSource: string;
  sshTimeoutSeconds: number;
  /** Seconds between the SSH wait's reads of the console (wait-ssh.ts); default 30. */
  consoleWatchSeconds?: number;
  keepOnFailure: boolean;
  /** The image's SBOM, removed with a rejected image. */
  sbomPath?: string;
}

export interface BootTestDeps {
  store: ImageStore;
  log: StoreLog;
  /** Runs a program; resolves with its exit status and output (never rejects on a status). */
  run?: typeof runProgram;
  /** Waits for the instance's SSH (wait-ssh.ts). */
  waitSsh?: typeof waitForSsh;
  tmpDir?: string;
  now?: () => number;
}

/** The `type blob` of a key line (its comment dropped). */
const keyOf = (line: string) => line.trim().split(/\s+/).slice(0, 2).join(" ");
const indent = (text: string) =>
  text
    .split("\n")
    .map((l) => `    ${l}`)
    .join("\n");
const tail = (text: string, n: number) => text.trimEnd().split("\n").slice(-n).join("\n");

/** A failed check: its name and what it printed. */
class CheckFailed extends Error {
  constructor(
    readonly check: string,
    readonly output: string,
  ) {
    super(`check ${check} failed`);
  }
}

/**
 * This test's private folder, `<tmp>/dse-boot-test-<test name>.XXXXXX`, with the key and the user
 * data. A killed earlier attempt at the same test never removed its folder: it goes first.
 */
export function makeTestFolder(tmpDir: string, s: BootTestSettings): string {
  const prefix = `dse-boot-test-${s.testName}.`;
  for (const entry of fs.readdirSync(tmpDir))
    if (entry.startsWith(prefix) && entry.length === prefix.length + 6)
      fs.rmSync(path.join(tmpDir, entry), { recursive: true, force: true });
  const dir = fs.mkdtempSync(path.join(tmpDir, prefix));
  fs.writeFileSync(path.join(dir, "id"), `${s.privateKey.trimEnd()}\n`, { mode: 0o600 });
  fs.writeFileSync(path.join(dir, "user-data"), `${s.userData}\n`, { mode: 0o600 });
  return dir;
}

/** The result line the publish step records: `{"passed": true, "seconds": N, "checks": [...]}`. */
export function resultLine(seconds: number, checks: string[]): string {
  return `{"passed": true, "seconds": ${seconds}, "checks": [${checks.map((c) => JSON.stringify(c)).join(", ")}]}`;
}

/** The checks over SSH of one launched machine, in this test's folder. */
class Checks {
  readonly passed: string[] = [];

  constructor(
    private readonly s: BootTestSettings,
    private readonly machine: TestMachine,
    private readonly tmp: string,
    private readonly run: typeof runProgram,
  ) {}

  private options(portFlag: string): string[] {
    // prettier-ignore
    return [
      "-i", path.join(this.tmp, "id"), portFlag, String(this.machine.port),
      "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
      "-o", `UserKnownHostsFile=${path.join(this.tmp, "known_hosts")}`,
      "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
      "-o", "HostKeyAlgorithms=ssh-ed25519", "-o", "BatchMode=yes",
      "-o", "ConnectTimeout=20", "-o", "LogLevel=ERROR",
    ];
  }

  private get target() {
    return `${this.s.sshUser}@${this.machine.host}`;
  }

  ssh(command: string) {
    return this.run("ssh", [...this.options("-p"), this.target, command]);
  }

  /** Any host key but the one the instance was given fails the connection. */
  pinHostKey(): void {
    const { host, port } = this.machine;
    const name = port === 22 ? host : `[${host}]:${port}`;
    fs.writeFileSync(
      path.join(this.tmp, "known_hosts"),
      `${name} ${keyOf(this.s.hostPublicKey)}\n`,
    );
  }

  async waitForSsh(wait: typeof waitForSsh): Promise<void> {
    const options = {
      host: this.machine.host,
      port: this.machine.port,
      timeoutSeconds: this.s.sshTimeoutSeconds,
      pollSeconds: 1,
      consoleWatchSeconds: this.s.consoleWatchSeconds,
      consoleCommand: this.machine.consoleCommand,
    };
    await wait(options, (m) => process.stderr.write(`==> wait-ssh: ${m}\n`)).catch((e: Error) => {
      process.stderr.write(`wait-ssh: ${e.message}\n`);
      throw new CheckFailed(
        "boot",
        `the instance booted from ${this.s.name} never answered on SSH`,
      );
    });
  }

  async upload(): Promise<void> {
    const files = [
      path.join(LIFECYCLE, "smoke.sh"),
      ...["verify.sh", "lib.sh", "python-requirements.lock"].map((f) => path.join(PROVISION, f)),
    ];
    const made = await this.ssh(`rm -rf /tmp/dse-boot-test && mkdir -p ${REMOTE_DIR}`);
    const copied =
      made.code === 0 &&
      (
        await this.run("scp", [
          "-q",
          "-r",
          ...this.options("-P"),
          ...files,
          `${this.target}:${REMOTE_DIR}/`,
        ])
      ).code === 0;
    if (!copied)
      throw new CheckFailed(
        "ssh",
        "could not reach the instance with the pinned host key (did the host key match?)",
      );
  }

  /** smoke.sh prints `ok <check>` or `FAILED <check>: <why>` per check. */
  async smoke(): Promise<void> {
    const r = await this.ssh(
      `sudo env EXPECTED_HOST_KEY='${keyOf(this.s.hostPublicKey)}' AUTHORIZED_KEY='${keyOf(this.s.authorizedKey)}' bash ${REMOTE_DIR}/smoke.sh`,
    );
    const out = r.both.trimEnd();
    process.stderr.write(`${indent(out)}\n`);
    for (const line of out.split("\n")) {
      const [verdict, check] = line.split(/\s+/);
      if (verdict === "ok" && check) this.passed.push(check);
    }
    if (r.code !== 0) {
      const first = /^FAILED (.*)$/m.exec(out)?.[1] ?? `smoke: exit ${r.code}`;
      throw new CheckFailed(first.split(":")[0], out);
    }
  }

  async verify(): Promise<void> {
    const r = await this.ssh(
      `sudo env DSE_TOOLS='${this.s.tools}' DSE_PYTHON_SOURCE='${this.s.pythonSource}' bash ${REMOTE_DIR}/verify.sh`,
    );
    if (r.code !== 0) throw new CheckFailed("verify", tail(r.stderr, 20));
    this.passed.push("verify");
  }
}

/**
 * Runs the whole boot test; resolves with the result line, or rejects with the failure report
 * (`boot test of <name> FAILED in check "<check>": ...`) after rejecting the image when the image
 * is at fault. The launcher's instance is removed on every way out (unless kept for debugging).
 */
export async function runBootTest(
  s: BootTestSettings,
  launcher: Launcher,
  deps: BootTestDeps,
): Promise<string> {
  const run = deps.run ?? runProgram;
  const now = deps.now ?? Date.now;
  const started = now();
  const elapsed = () => `${Math.floor((now() - started) / 1000)} s`;
  const log = (m: string) => deps.log(m);
  const tmp = makeTestFolder(deps.tmpDir ?? os.tmpdir(), s);
  let instance = launcher.describe;
  let failed: CheckFailed | undefined;
  try {
    const machine = await launcher.launch(tmp).catch((e: Error) => {
      process.stderr.write(`==> boot test: ${e.message}\n`);
      if (e instanceof UnusableImage) throw new CheckFailed("image", e.message);
      throw report(
        s,
        "launch",
        `could not launch a test instance from ${s.imageId} (see the errors above); the image stays pending and the next \`pulumi up\` tests it again`,
      );
    });
    instance = machine.describe;
    const checks = new Checks(s, machine, tmp, run);
    checks.pinHostKey();
    await checks.waitForSsh(deps.waitSsh ?? waitForSsh);
    log(`SSH up at ${elapsed()}`);
    await checks.upload();
    await checks.smoke();
    log(`smoke checks passed at ${elapsed()}`);
    await checks.verify();
    log(`verify.sh passed at ${elapsed()}`);
    return resultLine(Math.floor((now() - started) / 1000), checks.passed);
  } catch (e) {
    if (!(e instanceof CheckFailed)) throw e;
    failed = e;
    await rejectImage(s, deps);
    throw report(s, e.check, e.output);
  } finally {
    // A kept failure stays for debugging; a launch the cloud refused is removed (nothing to see).
    if (s.keepOnFailure && failed) log(`kept the test ${instance} for debugging`);
    else await launcher.remove();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function report(s: BootTestSettings, check: string, output: string): Error {
  return new Error(
    `boot test of ${s.name} FAILED in check "${check}":\n${indent(tail(output, 30))}`,
  );
}

/**
 * What a failed test leaves: nothing but the error, or (KEEP_ON_FAILURE) the instance and the
 * image marked failed, which is never published.
 */
async function rejectImage(s: BootTestSettings, deps: BootTestDeps): Promise<void> {
  if (s.keepOnFailure) {
    await failImage(deps.store, s.imageId);
    deps.log(
      `keepBuilderOnFailure is set: kept the test instance and image ${s.imageId} (marked failed)`,
    );
    return;
  }
  await discardImage(deps.store, s.imageId, deps.log);
  // No SBOM of an image that does not exist (a rebuild under this name writes its own).
  if (s.sbomPath) fs.rmSync(s.sbomPath, { force: true });
}
