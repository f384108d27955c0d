/**
 * The boot test's run (components/lifecycle/boot-test-run.ts) with a fake launcher, a fake SSH
 * wait and fake ssh/scp, on a local image store in a temp folder: the checks and their exact remote
 * commands, the result line, the failure report per check, what happens to the image (discarded,
 * or kept marked failed with KEEP_ON_FAILURE) and to the test instance (removed on every way out
 * but a kept failure), and the private temp folder.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type BootTestSettings,
  type Launcher,
  makeTestFolder,
  resultLine,
  runBootTest,
} from "../../components/lifecycle/boot-test-run";
import type { WaitSshOptions } from "../../components/lifecycle/wait-ssh";
import type { ProgramResult } from "../../components/run-program";
import { UnusableImage } from "../../components/store/image-store";
import { openStore } from "../../components/store/open";

const HOST_KEY = "ssh-ed25519 AAAAhost dse-test-host";
const AUTHORIZED = "ssh-ed25519 AAAAtest dse-test";

let dir: string;
let tmpDir: string;
let image: string;
let sbom: string;
let settings: BootTestSettings;
let calls: { file: string; args: string[]; env?: NodeJS.ProcessEnv }[];
let answers: Record<string, Partial<ProgramResult>>;
let logs: string[];
let removed: number;
let knownHosts: string;
let waits: WaitSshOptions[];
let sshAnswers: boolean;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dse-boot-run-"));
  tmpDir = path.join(dir, "tmp");
  fs.mkdirSync(tmpDir);
  image = path.join(dir, ".pending", "dse_base-x.qcow2");
  fs.mkdirSync(path.dirname(image));
  fs.writeFileSync(image, "qcow2");
  fs.writeFileSync(`${image}.json`, JSON.stringify({ state: "pending", imageName: "dse_base" }));
  sbom = path.join(dir, "dse_base-x.cdx.json");
  fs.writeFileSync(sbom, "{}");
  settings = {
    imageId: image,
    name: "dse_base-x",
    testName: "dse-3476bb56-qemu-dse_base-x-g1-test",
    sshUser: "debian",
    privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nk\n-----END OPENSSH PRIVATE KEY-----\n",
    authorizedKey: AUTHORIZED,
    hostPublicKey: HOST_KEY,
    userData: "#cloud-config",
    tools: "python scipy",
    pythonSource: "apt",
    sshTimeoutSeconds: 600,
    keepOnFailure: false,
    sbomPath: sbom,
  };
  calls = [];
  answers = {};
  logs = [];
  removed = 0;
  knownHosts = "";
  waits = [];
  sshAnswers = true;
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** ssh and scp answered by what the command holds; ok by default. */
const run = (file: string, args: string[], opts: { env?: NodeJS.ProcessEnv } = {}) => {
  calls.push({ file, args, env: opts.env });
  const id = args.find((a) => a.endsWith("/id"));
  if (id) knownHosts = fs.readFileSync(path.join(path.dirname(id), "known_hosts"), "utf8");
  const last = args[args.length - 1];
  const key = Object.keys(answers).find((k) => `${file} ${last}`.includes(k));
  const a = { code: 0, stdout: "", stderr: "", both: "", ...(key ? answers[key] : {}) };
  return Promise.resolve(a);
};

function launcher(launch?: () => Promise<never>): Launcher {
  return {
    describe: "machine dse-test",
    launch:
      launch ??
      (() =>
        Promise.resolve({
          host: "127.0.0.1",
          port: 2222,
          describe: "machine in /cache/builds/x-test",
          consoleCommand: "WORK_DIR=/cache/builds/x-test bash console.sh",
        })),
    remove: () => {
      removed++;
      return Promise.resolve();
    },
  };
}

const store = () => openStore({ store: "qemu", config: { outputDir: dir, ext: "qcow2" } });

const bootTest = (l = launcher()) =>
  runBootTest(settings, l, {
    store: store(),
    log: (m) => logs.push(m),
    run,
    waitSsh: (options) => {
      waits.push(options);
      return sshAnswers ? Promise.resolve() : Promise.reject(new Error("no SSH"));
    },
    tmpDir,
    now: (() => {
      let t = 0;
      return () => (t += 1000);
    })(),
  });

const SMOKE_OK = "ok cloud-init\nok host-keys\nok machine-id\nok build-key\nok builder-ttl";

describe("a boot test that passes", () => {
  it("prints the result line with every passed check", async () => {
    answers["smoke.sh"] = { both: SMOKE_OK };
    const line = await bootTest();
    expect(JSON.parse(line)).toEqual({
      passed: true,
      seconds: 4,
      checks: ["cloud-init", "host-keys", "machine-id", "build-key", "builder-ttl", "verify"],
    });
    expect(removed).toBe(1);
    expect(fs.readdirSync(tmpDir)).toEqual([]);
    expect(fs.existsSync(image)).toBe(true);
  });

  it("waits, uploads and runs the checks with the pinned host key and these exact commands", async () => {
    await bootTest();
    expect(knownHosts).toBe("[127.0.0.1]:2222 ssh-ed25519 AAAAhost\n");
    const [mkdir, scp, smoke, verify] = calls;
    expect(waits).toEqual([
      {
        host: "127.0.0.1",
        port: 2222,
        timeoutSeconds: 600,
        pollSeconds: 1,
        consoleCommand: "WORK_DIR=/cache/builds/x-test bash console.sh",
      },
    ]);
    expect(mkdir.args.slice(-2)).toEqual([
      "debian@127.0.0.1",
      "rm -rf /tmp/dse-boot-test && mkdir -p /tmp/dse-boot-test/provision",
    ]);
    expect(mkdir.args).toEqual(expect.arrayContaining(["-p", "2222", "StrictHostKeyChecking=yes"]));
    expect(scp.file).toBe("scp");
    expect(scp.args).toEqual(expect.arrayContaining(["-q", "-r", "-P", "2222"]));
    expect(scp.args.slice(-5, -1).map((a) => path.basename(a))).toEqual([
      "smoke.sh",
      "verify.sh",
      "lib.sh",
      "python-requirements.lock",
    ]);
    expect(scp.args.at(-1)).toBe("debian@127.0.0.1:/tmp/dse-boot-test/provision/");
    expect(smoke.args.at(-1)).toBe(
      "sudo env EXPECTED_HOST_KEY='ssh-ed25519 AAAAhost' AUTHORIZED_KEY='ssh-ed25519 AAAAtest' bash /tmp/dse-boot-test/provision/smoke.sh",
    );
    expect(verify.args.at(-1)).toBe(
      "sudo env DSE_TOOLS='python scipy' DSE_PYTHON_SOURCE='apt' bash /tmp/dse-boot-test/provision/verify.sh",
    );
    expect(logs).toEqual([
      "SSH up at 1 s",
      "smoke checks passed at 2 s",
      "verify.sh passed at 3 s",
    ]);
  });
});

describe("a boot test that fails", () => {
  it("a failed smoke check discards the image and its SBOM and names the check", async () => {
    answers["smoke.sh"] = {
      code: 1,
      both: "ok cloud-init\nFAILED host-keys: the ed25519 host key is not the one",
    };
    await expect(bootTest()).rejects.toThrow(
      'boot test of dse_base-x FAILED in check "host-keys":\n    ok cloud-init\n    FAILED host-keys: the ed25519 host key is not the one',
    );
    expect([fs.existsSync(image), fs.existsSync(`${image}.json`), fs.existsSync(sbom)]).toEqual([
      false,
      false,
      false,
    ]);
    expect(removed).toBe(1);
    expect(fs.readdirSync(tmpDir)).toEqual([]);
  });

  it("with KEEP_ON_FAILURE keeps the instance and the image, marked failed", async () => {
    settings.keepOnFailure = true;
    answers["verify.sh"] = { code: 1, stderr: "verify.sh: these tools do not work: python" };
    await expect(bootTest()).rejects.toThrow(
      'boot test of dse_base-x FAILED in check "verify":\n    verify.sh: these tools do not work: python',
    );
    expect(JSON.parse(fs.readFileSync(`${image}.json`, "utf8"))).toMatchObject({ state: "failed" });
    expect(removed).toBe(0);
    expect(logs.slice(-2)).toEqual([
      `keepBuilderOnFailure is set: kept the test instance and image ${image} (marked failed)`,
      "kept the test machine in /cache/builds/x-test for debugging",
    ]);
  });

  it("no SSH: check boot", async () => {
    sshAnswers = false;
    await expect(bootTest()).rejects.toThrow(
      'FAILED in check "boot":\n    the instance booted from dse_base-x never answered on SSH',
    );
    expect(fs.existsSync(image)).toBe(false);
  });

  it("a host key that does not match: check ssh", async () => {
    answers["mkdir -p"] = { code: 255 };
    await expect(bootTest()).rejects.toThrow(
      'FAILED in check "ssh":\n    could not reach the instance with the pinned host key (did the host key match?)',
    );
  });

  it("a launch the cloud refuses leaves the image pending, and removes what was made", async () => {
    const refused = launcher(() => Promise.reject(new Error("quota exceeded")));
    await expect(bootTest(refused)).rejects.toThrow(
      `boot test of dse_base-x FAILED in check "launch":\n    could not launch a test instance from ${image} (see the errors above); the image stays pending and the next \`pulumi up\` tests it again`,
    );
    expect(fs.existsSync(image)).toBe(true);
    expect(fs.existsSync(sbom)).toBe(true);
    expect(removed).toBe(1);
  });

  it("an image the cloud failed is rejected: check image", async () => {
    const unusable = launcher(() =>
      Promise.reject(new UnusableImage("image x is killed: its snapshot cannot be booted")),
    );
    await expect(bootTest(unusable)).rejects.toThrow(
      'FAILED in check "image":\n    image x is killed: its snapshot cannot be booted',
    );
    expect(fs.existsSync(image)).toBe(false);
  });
});

describe("the test's private folder", () => {
  it("holds the key (0600) and the user data; an earlier attempt's folder goes first", () => {
    const earlier = path.join(tmpDir, `dse-boot-test-${settings.testName}.abcdef`);
    const other = path.join(tmpDir, `dse-boot-test-${settings.testName}-other.abcdef`);
    fs.mkdirSync(earlier);
    fs.mkdirSync(other);
    const made = makeTestFolder(tmpDir, settings);
    expect(fs.existsSync(earlier)).toBe(false);
    expect(fs.existsSync(other)).toBe(true);
    expect(fs.statSync(path.join(made, "id")).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(path.join(made, "id"), "utf8")).toBe(settings.privateKey);
    expect(fs.readFileSync(path.join(made, "user-data"), "utf8")).toBe("#cloud-config\n");
  });
});

describe("the result line", () => {
  it("is JSON with quotes and backslashes escaped", () => {
    expect(resultLine(42, ["ssh", 'a"b', "c\\d"])).toBe(
      '{"passed": true, "seconds": 42, "checks": ["ssh", "a\\"b", "c\\\\d"]}',
    );
    expect(JSON.parse(resultLine(42, ['a"b']))).toEqual({
      passed: true,
      seconds: 42,
      checks: ['a"b'],
    });
  });
});
