/**
 * components/lifecycle/wait-ssh.ts, run as the step runs it: waits by time, not by dial count (rule C9), and when it gives
 * up says what it waited for, how long, and the builder console's last lines.
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fatalBootLine, waitForSsh } from "../../components/lifecycle/wait-ssh";

const SCRIPT = path.resolve(__dirname, "..", "..", "components", "lifecycle", "wait-ssh.ts");
const HOOK = path.resolve(__dirname, "..", "..", "components", "ts-hook.cjs");
let dir: string;

/** A fake ssh-keyscan that answers from the Nth call on (0: never). */
function fakeKeyscan(answerFrom: number) {
  fs.writeFileSync(
    path.join(dir, "ssh-keyscan"),
    `#!/usr/bin/env bash\nn=$(($(cat "${dir}/calls" 2>/dev/null || echo 0) + 1)); echo $n >"${dir}/calls"\n` +
      `[ ${answerFrom} -gt 0 ] && [ $n -ge ${answerFrom} ] && echo "[$4]:$3 ssh-ed25519 AAAAkey"\nexit 0\n`,
    { mode: 0o755 },
  );
}

/** Runs the step as command.local does; `cwd` stands for the project folder. */
function run(env: Record<string, string>, cwd?: string) {
  return spawnSync("node", ["--require", HOOK, SCRIPT], {
    cwd,
    env: {
      ...process.env,
      PATH: `${dir}:${process.env.PATH}`,
      HOST: "203.0.113.9",
      PORT: "2222",
      POLL_SECONDS: "0.05",
      ...env,
    },
    encoding: "utf8",
  });
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dse-wait-ssh-"));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("wait-ssh.ts", () => {
  it("returns once the SSH server answers, after as many attempts as it takes", () => {
    fakeKeyscan(3);
    const r = run({ TIMEOUT_SECONDS: "30" });
    expect(r.status, r.stderr).toBe(0);
    expect(fs.readFileSync(path.join(dir, "calls"), "utf8").trim()).toBe("3");
    expect(r.stderr).toMatch(/==> wait-ssh: SSH is up on 203\.0\.113\.9:2222 after \d+s/);
  });

  it("a server that refuses (keyscan prints only to stderr) is not up", () => {
    fs.writeFileSync(
      path.join(dir, "ssh-keyscan"),
      "#!/usr/bin/env bash\necho 'connect to host 203.0.113.9 port 2222: Connection refused' >&2\n",
      { mode: 0o755 },
    );
    const r = run({ TIMEOUT_SECONDS: "1" });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("wait-ssh: no SSH on 203.0.113.9:2222 after 1s");
  });

  it("gives up after TIMEOUT_SECONDS, naming the address, the time and the console's last lines", () => {
    fakeKeyscan(0);
    const r = run({
      TIMEOUT_SECONDS: "1",
      CONSOLE_COMMAND: "printf 'Booting\\nKernel panic - not syncing\\n'",
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      "wait-ssh: no SSH on 203.0.113.9:2222 after 1s (dse-image:sshTimeoutMinutes); last lines of the builder console:\n    Booting\n    Kernel panic - not syncing\n",
    );
  });

  it("stops at the first console read that shows a boot that cannot succeed, quoting it", () => {
    fakeKeyscan(0);
    // A timeout well before the test's: without the watch it fails on the message, not the clock.
    const r = run({
      TIMEOUT_SECONDS: "8",
      CONSOLE_WATCH_SECONDS: "0.2",
      CONSOLE_COMMAND:
        "printf 'Booting\\n[ 2.1] VFS: Cannot open root device\\n[ 2.1] Kernel panic - not syncing: VFS: Unable to mount root fs\\n'",
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /^==> wait-ssh: waiting up to 8s for SSH on 203\.0\.113\.9:2222\nwait-ssh: the machine at 203\.0\.113\.9:2222 cannot boot: after [12]s its console shows "\[ 2\.1\] Kernel panic - not syncing: VFS: Unable to mount root fs" \(check the base image and the machine's settings\); last lines of its console:\n {4}Booting\n {4}\[ 2\.1\] VFS: Cannot open root device\n {4}\[ 2\.1\] Kernel panic - not syncing: VFS: Unable to mount root fs\n$/,
    );
  });

  it("reads the console while it waits, and a boot going on keeps it waiting", () => {
    fakeKeyscan(15);
    const reads = path.join(dir, "reads");
    const r = run({
      TIMEOUT_SECONDS: "600",
      POLL_SECONDS: "0.1",
      CONSOLE_WATCH_SECONDS: "1",
      CONSOLE_COMMAND: `echo read >>${reads}; printf '[ 3.0] Run /init as init process\\n'`,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(fs.readFileSync(reads, "utf8")).toMatch(/^read\n/);
  });

  it("with CONSOLE_WATCH_SECONDS=0 never reads the console before its timeout", () => {
    fakeKeyscan(0);
    const r = run({
      TIMEOUT_SECONDS: "1",
      CONSOLE_WATCH_SECONDS: "0",
      CONSOLE_COMMAND: "printf 'Kernel panic - not syncing\\n'",
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("wait-ssh: no SSH on 203.0.113.9:2222 after 1s");
  });

  it("without HOST says so, without a stack trace", () => {
    const r = run({ HOST: "" });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe("wait-ssh: HOST is required\n");
  });

  it("stops waiting at once when a local builder's qemu is gone (its folder from STACK_TAG, GEN, CACHE_DIR)", () => {
    fakeKeyscan(0);
    // A relative CACHE_DIR is the project folder's, where the step runs.
    const work = path.join(dir, "cache", "builds", "dev-1a2b", "20261208t0253");
    fs.mkdirSync(work, { recursive: true });
    fs.writeFileSync(path.join(work, "qemu.pid"), "999999\n");
    fs.writeFileSync(path.join(work, "serial.log"), "[ 1.0] end Kernel panic\n");
    // A timeout well before the test's: without the folder's check it fails on the message.
    const r = run(
      {
        TIMEOUT_SECONDS: "5",
        CACHE_DIR: "cache",
        STACK_TAG: "dev-1a2b",
        GEN: "20261208t0253",
        CONSOLE_COMMAND: `tail -n 1 ${work}/serial.log`,
        STOP_COMMAND: `echo stopped >${dir}/stopped`,
      },
      dir,
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      "wait-ssh: the builder stopped before SSH came up on 203.0.113.9:2222; last lines of its console:\n    [ 1.0] end Kernel panic\n",
    );
    // Its qemu is gone already: nothing to stop.
    expect(fs.existsSync(path.join(dir, "stopped"))).toBe(false);
  });

  it("a local builder whose qemu runs is waited for (its command line names the folder's overlay)", () => {
    fakeKeyscan(3);
    const work = path.join(dir, "cache", "builds", "dev-1a2b", "20261208t0253");
    fs.mkdirSync(work, { recursive: true });
    const qemu = spawn("perl", ["-e", "sleep 30", "--", `file=${work}/overlay.qcow2,if=virtio`], {
      stdio: "ignore",
    });
    try {
      fs.writeFileSync(path.join(work, "qemu.pid"), `${qemu.pid}\n`);
      const r = run(
        {
          TIMEOUT_SECONDS: "30",
          CACHE_DIR: "cache",
          STACK_TAG: "dev-1a2b",
          GEN: "20261208t0253",
        },
        dir,
      );
      expect(r.status, r.stderr).toBe(0);
    } finally {
      qemu.kill();
    }
  });

  it("stops the machine with STOP_COMMAND when its console shows it cannot boot, and says so", () => {
    fakeKeyscan(0);
    const r = run({
      TIMEOUT_SECONDS: "8",
      CONSOLE_WATCH_SECONDS: "0.2",
      CONSOLE_COMMAND: "printf 'Kernel panic - not syncing: VFS: Unable to mount root fs\\n'",
      STOP_COMMAND: `echo "$SERVER_ID" >${dir}/stopped`,
      SERVER_ID: "srv-1",
    });
    expect(r.status).toBe(1);
    expect(fs.readFileSync(path.join(dir, "stopped"), "utf8")).toBe("srv-1\n");
    expect(r.stderr).toContain(
      "==> wait-ssh: stopping the machine at 203.0.113.9:2222: it cannot power itself off without SSH\n",
    );
    expect(r.stderr).toMatch(
      /Unable to mount root fs\nthe machine is stopped; the next up replaces it \(set dse-image:keepBuilderOnFailure to keep it running\)\n$/,
    );
  });

  it("stops the machine after its timeout too; a stop that fails is named, with what it said", () => {
    fakeKeyscan(0);
    const r = run({
      TIMEOUT_SECONDS: "1",
      CONSOLE_COMMAND: "echo booting",
      STOP_COMMAND: "echo 'Cannot stop server: HTTP 409' >&2; exit 3",
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /no SSH on 203\.0\.113\.9:2222 after 1s \(dse-image:sshTimeoutMinutes\); last lines of the builder console:\n {4}booting\nstopping the machine failed \(exit status 3: Cannot stop server: HTTP 409\); the next up or `pulumi destroy` removes it\n$/,
    );
  });
});

describe("waitForSsh: a console read or a stop that never returns", () => {
  it("is cut off: the console after consoleTimeoutSeconds, the stop after stopTimeoutSeconds, and the error says so", async () => {
    fakeKeyscan(0);
    const wait = waitForSsh(
      {
        host: "203.0.113.9",
        port: 2222,
        timeoutSeconds: 0,
        pollSeconds: 0.05,
        consoleCommand: "echo booting; sleep 30",
        consoleTimeoutSeconds: 0.5,
        stopCommand: "sleep 30",
        stopTimeoutSeconds: 0.5,
        env: { ...process.env, PATH: `${dir}:${process.env.PATH}` },
      },
      () => undefined,
    );
    await expect(wait).rejects.toThrow(
      "no SSH on 203.0.113.9:2222 after 0s (dse-image:sshTimeoutMinutes); last lines of the builder console:\n    booting\n    sh did not finish in 0.5s\nstopping the machine failed (exit status 124: sh did not finish in 0.5s); the next up or `pulumi destroy` removes it\n",
    );
  });
});

describe("fatalBootLine", () => {
  it("names the last line after which no SSH can come: a panic, or no root file system", () => {
    expect(fatalBootLine(["[ 1.0] Kernel panic - not syncing: Attempted to kill init!"])).toBe(
      "[ 1.0] Kernel panic - not syncing: Attempted to kill init!",
    );
    expect(
      fatalBootLine([
        "Gave up waiting for root file system device.  Common problems:",
        " - Boot args (cat /proc/cmdline)",
        "ALERT!  UUID=1234 does not exist.  Dropping to a shell!",
        "(initramfs) ",
      ]),
    ).toBe("ALERT!  UUID=1234 does not exist.  Dropping to a shell!");
    expect(fatalBootLine(["Gave up waiting for root device.  Common problems:"])).toBe(
      "Gave up waiting for root device.  Common problems:",
    );
  });

  it("names nothing in a boot going on, or one that printed nothing", () => {
    expect(fatalBootLine(["[ 0.0] Linux version 6.1.0", "[ 5.2] systemd[1]: Started ssh"])).toBe(
      undefined,
    );
    expect(fatalBootLine([])).toBe(undefined);
  });
});
