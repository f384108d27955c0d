/**
 * Waits, by time, until a machine's SSH server answers (ssh-keyscan, from openssh-client): the
 * remote steps after it then connect at once. pulumi-command counts failed dials, not time (rule
 * C9: 40 refused dials give up after about 3 minutes), so the wait lives here. On timeout it
 * fails with what it waited for, for how long, and the last lines of the machine's console.
 *
 * As a step: `node --require ./components/ts-hook.cjs components/lifecycle/wait-ssh.ts`, with
 *   HOST, PORT         the SSH address
 *   TIMEOUT_SECONDS    how long to wait (default 600; dse-image:sshTimeoutMinutes)
 *   CONSOLE_COMMAND    optional: prints the console's tail (the platform's consoleCommand)
 *   POLL_SECONDS       pause between attempts (default 1: a refused attempt costs nothing, and
 *                      every second of pause is, on average, half a second of build time)
 *   STACK_TAG, GEN     optional (local builders; CACHE_DIR as components/qemu/paths-lib.sh reads
 *                      it): the builder's folder, whose qemu gone ends the wait at once
 *   CONSOLE_WATCH_SECONDS  how often the console is read for a boot that cannot succeed
 *                      (default 30; 0: never)
 *   STOP_COMMAND       optional: stops the builder from this machine when the wait fails (the
 *                      platform's stopCommand; empty with keepBuilderOnFailure)
 *   ...                anything else the console command needs (SERVER_ID, INSTANCE_ID, ...)
 */
import { runProgram } from "../run-program";
import { envSeconds, requiredEnv, runHostCommand } from "../host-env";
import { builderAlive, builderFolder } from "../store/local";

export interface WaitSshOptions {
  host: string;
  port: number;
  timeoutSeconds: number;
  pollSeconds: number;
  consoleCommand?: string;
  /** A local builder's folder: its qemu.pid says whether the machine still runs. */
  workDir?: string;
  /** Stops the machine when the wait fails (a shell command); absent: it is left running. */
  stopCommand?: string;
  /** Seconds a console read (default 120) and a stop (default 300) may take. */
  consoleTimeoutSeconds?: number;
  stopTimeoutSeconds?: number;
  /** Seconds between reads of the console for a fatal boot line; 0: never. Default 30. */
  consoleWatchSeconds?: number;
  env?: NodeJS.ProcessEnv;
}

/**
 * True when the SSH server answers the key exchange (ssh-keyscan prints its key). Only ed25519,
 * the type of the host key every builder and test instance is given: keyscan makes one
 * connection and key exchange per type, which costs seconds each on a TCG guest.
 */
async function sshAnswers(o: WaitSshOptions): Promise<boolean> {
  const r = await runProgram(
    "ssh-keyscan",
    ["-T", "10", "-t", "ed25519", "-p", String(o.port), o.host],
    { env: o.env },
  );
  return r.code === 0 && /\S/.test(r.stdout);
}

/** Seconds between the wait's reads of the console, when nothing says otherwise. */
const CONSOLE_WATCH_DEFAULT = 30;

/** CONSOLE_WATCH_SECONDS of a step's environment (the SSH wait's, the boot test's). */
export const consoleWatchSeconds = (env: NodeJS.ProcessEnv): number =>
  envSeconds(env.CONSOLE_WATCH_SECONDS, CONSOLE_WATCH_DEFAULT);

/**
 * Seconds a console read and a stop may take: a cloud API that never answers must not hold the
 * wait forever (the CLI and the SDK wait for a reply without a bound of their own).
 */
const CONSOLE_TIMEOUT = 120;
const STOP_TIMEOUT = 300;

/**
 * The console's last lines (the console command prints LINES of them, default 30): its stdout,
 * or, when it failed, everything it said. (The AWS SDK warns on stderr about the Node version.)
 */
async function consoleLines(o: WaitSshOptions): Promise<string[]> {
  if (!o.consoleCommand) return [];
  const r = await runProgram("sh", ["-c", o.consoleCommand], {
    env: o.env,
    timeoutSeconds: o.consoleTimeoutSeconds ?? CONSOLE_TIMEOUT,
  });
  return (r.code === 0 ? r.stdout : r.both).trimEnd().split("\n").slice(-30);
}

const indented = (lines: string[]) => lines.map((l) => `    ${l}\n`).join("");

/**
 * Console lines after which a machine never answers on SSH: the kernel stopped (a panic; Debian
 * and Ubuntu kernels do not reboot after one), or the initramfs found no root file system and
 * dropped to its shell. Waiting out sshTimeoutMinutes after one only delays the same failure.
 */
const FATAL_BOOT = [
  /Kernel panic - not syncing/,
  /Gave up waiting for root (file system )?device/,
  /Dropping to a shell!/,
];

/** The console's last fatal boot line (FATAL_BOOT), if it shows one. */
export function fatalBootLine(lines: string[]): string | undefined {
  return [...lines]
    .reverse()
    .find((l) => FATAL_BOOT.some((re) => re.test(l)))
    ?.trim();
}

/**
 * A builder whose SSH never came up cannot power itself off: its dead-man switch is a unit its
 * boot arms (rule S1) and the onFailure power-off comes over SSH. Stopping it from here leaves
 * what a failed step leaves, a stopped builder, which the next plan never resumes (plan.ts) and
 * the next sweep removes; until then nothing of it runs. Returns what the error says about it.
 */
async function stopMachine(o: WaitSshOptions, log: (m: string) => void): Promise<string> {
  if (!o.stopCommand) return "";
  log(`stopping the machine at ${o.host}:${o.port}: it cannot power itself off without SSH`);
  const r = await runProgram("sh", ["-c", o.stopCommand], {
    env: o.env,
    timeoutSeconds: o.stopTimeoutSeconds ?? STOP_TIMEOUT,
  });
  const said = r.both.trim().split("\n").pop() ?? "";
  return r.code === 0
    ? "the machine is stopped; the next up replaces it (set dse-image:keepBuilderOnFailure to keep it running)\n"
    : `stopping the machine failed (exit status ${r.code}: ${said}); the next up or \`pulumi destroy\` removes it\n`;
}

const pause = (seconds: number) => new Promise((r) => setTimeout(r, seconds * 1000));

/** Resolves once SSH answers; rejects with the operator's message when it will not. */
export async function waitForSsh(o: WaitSshOptions, log: (m: string) => void): Promise<void> {
  const start = Date.now();
  const waited = () => Math.floor((Date.now() - start) / 1000);
  const at = `${o.host}:${o.port}`;
  const watch = o.consoleWatchSeconds ?? CONSOLE_WATCH_DEFAULT;
  let watched = 0;
  log(`waiting up to ${o.timeoutSeconds}s for SSH on ${at}`);
  for (;;) {
    if (await sshAnswers(o)) {
      log(`SSH is up on ${at} after ${waited()}s`);
      return;
    }
    if (o.workDir !== undefined && !builderAlive(o.workDir)) {
      throw new Error(
        `the builder stopped before SSH came up on ${at}; last lines of its console:\n${indented(await consoleLines(o))}`,
      );
    }
    if (waited() >= o.timeoutSeconds) {
      const lines = await consoleLines(o);
      throw new Error(
        `no SSH on ${at} after ${o.timeoutSeconds}s (dse-image:sshTimeoutMinutes); last lines of the builder console:\n${indented(lines)}${await stopMachine(o, log)}`,
      );
    }
    if (o.consoleCommand && watch > 0 && waited() >= watched + watch) {
      watched = waited();
      const lines = await consoleLines(o);
      const fatal = fatalBootLine(lines);
      if (fatal !== undefined)
        throw new Error(
          `the machine at ${at} cannot boot: after ${waited()}s its console shows "${fatal}" (check the base image and the machine's settings); last lines of its console:\n${indented(lines)}${await stopMachine(o, log)}`,
        );
    }
    await pause(o.pollSeconds);
  }
}

export function waitSshOptions(env: NodeJS.ProcessEnv): WaitSshOptions {
  return {
    host: requiredEnv(env, "HOST"),
    port: Number(requiredEnv(env, "PORT")),
    timeoutSeconds: envSeconds(env.TIMEOUT_SECONDS, 600),
    pollSeconds: envSeconds(env.POLL_SECONDS, 1),
    consoleCommand: env.CONSOLE_COMMAND || undefined,
    workDir:
      env.STACK_TAG && env.GEN ? builderFolder(env.CACHE_DIR, env.STACK_TAG, env.GEN) : undefined,
    stopCommand: env.STOP_COMMAND || undefined,
    consoleWatchSeconds: consoleWatchSeconds(env),
    env,
  };
}

if (require.main === module)
  runHostCommand("wait-ssh: ", () =>
    waitForSsh(waitSshOptions(process.env), (m) => process.stderr.write(`==> wait-ssh: ${m}\n`)),
  );
