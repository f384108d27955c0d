/**
 * `npm run bench [-- --quick]`: dse-image's local QEMU pipeline (A) against Packer 1.6.6's qemu
 * builder (B) on the same Debian 12 base with the same provision/ scripts and tool selection,
 * alternating B and A (twice each; once with --quick; B first so a broken template fails fast), then the unchanged rebuild (what an
 * unchanged `pulumi up` computes: the fingerprint and the lookup of the existing output), then a
 * naive `apt-get install` of the same packages in a fresh VM for the install-time and size
 * comparison. Prints the ratios and writes bench/results.md. Everything it starts is removed,
 * also on failure and on SIGINT/SIGTERM.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { ProvisionSettings } from "../components/provision-commands";
import { QEMU_ZERO_FREE_SPACE } from "../components/qemu/image";
import { localConfig, localStack } from "../test/e2e/helpers/program";
import { mustRun, sha256File, waitForWatchdogs } from "../test/e2e/helpers/processes";
import { chooseAccel, ensureDebianBase, startVm, type Vm } from "../test/vm";
import { killPackerSync, packerBuild, removePackerWork } from "./packer";
import {
  median,
  medianPhases,
  packerPhases,
  pipelinePhases,
  ratio,
  ratioLines,
  resultsMarkdown,
  type BenchRun,
  type PhaseTimes,
} from "./report";

const quick = process.argv.includes("--quick");
const verbose = process.argv.includes("--verbose") || !!process.env.DSE_BENCH_VERBOSE;
const started = Date.now();
const stamp = () => `${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s`;
const say = (line: string) => process.stderr.write(`[bench ${stamp()}] ${line}\n`);
const quiet = (line: string) => {
  if (verbose) say(line);
};

/** The packages install.sh installs for the `python` group from apt. */
const NAIVE_PACKAGES = ["python3", "python3-pip", "python3-venv"];
const TOOLS = ["python"] as const;
const PYTHON_SOURCE = "apt" as const;

// ---- cleanup: synchronous, so it also runs from exit and signal handlers ---------------------
let root = "";
let naiveVm: Vm | undefined;
function cleanupSync(): void {
  killPackerSync();
  if (root) {
    // A builder of the pipeline left running by an interrupted build.
    const builds = path.join(root, "cache", "builds");
    for (const name of fs.existsSync(builds) ? fs.readdirSync(builds) : []) {
      try {
        const pid = Number(fs.readFileSync(path.join(builds, name, "qemu.pid"), "utf8").trim());
        if (pid > 0) process.kill(pid, "SIGKILL");
      } catch {
        // no pid file or already gone
      }
    }
    fs.rmSync(root, { recursive: true, force: true });
    root = "";
  }
}
process.on("exit", cleanupSync);
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.once(signal, () => {
    say(`${signal}: stopping everything the benchmark started`);
    process.exit(130);
  });
}

function machine(accel: string): string {
  const arch = execFileSync("uname", ["-m"], { encoding: "utf8" }).trim();
  const cpuinfo = fs.readFileSync("/proc/cpuinfo", "utf8");
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? "unknown CPU";
  return `${arch}, ${model}, ${os.cpus().length} CPUs (nproc ${execFileSync("nproc", { encoding: "utf8" }).trim()}), accel ${accel}`;
}

async function main(): Promise<void> {
  say(`mode ${quick ? "quick" : "full"}, tools ${TOOLS.join(" ")} (${PYTHON_SOURCE})`);
  const base = await ensureDebianBase({ log: quiet });
  // Probed with the base's kernel, which every VM of the benchmark boots.
  const { accel, reason: accelReason } = chooseAccel(
    (process.env.DSE_ACCEL as "kvm" | "tcg" | "auto" | undefined) ?? "auto",
    { kernel: base.kernel, initrd: base.initrd, log: quiet },
  );
  say(`accel ${accel}: ${accelReason}`);
  const baseSha = sha256File(base.disk);
  root = fs.mkdtempSync(path.join(os.tmpdir(), "dse-bench-"));

  const settingsA: ProvisionSettings = {
    tools: [...TOOLS],
    pythonSource: PYTHON_SOURCE,
    fingerprint: "bench",
    zeroFreeSpace: QEMU_ZERO_FREE_SPACE,
  };
  // Packer at its best: its drive passes discards on (disk_discard unmap, bench/packer.ts), so
  // cleanup.sh's fstrim frees the deleted blocks there too and no zero-fill is needed.
  const settingsB: ProvisionSettings = { ...settingsA };

  const rounds = quick ? 1 : 2;
  const pipeline: number[] = [];
  const bootTests: number[] = [];
  const packer: number[] = [];
  const phasesA: PhaseTimes[] = [];
  const phasesB: PhaseTimes[] = [];
  let lastA: { output: string; install: number; stack: ReturnType<typeof localStack> } | undefined;
  let packerSize = 0;
  for (let i = 1; i <= rounds; i++) {
    say(`B${i}: Packer 1.6.6 qemu builder ...`);
    const b = await packerBuild({
      disk: base.disk,
      kernel: base.kernel,
      initrd: base.initrd,
      append: base.append,
      user: base.user,
      accel,
      accelReason,
      settings: settingsB,
      memoryMb: 2048,
      cpus: 2,
      log: quiet,
    });
    packer.push(b.seconds);
    phasesB.push(packerPhases(b.lines, b.seconds));
    packerSize = fs.statSync(b.output).size;
    say(`B${i}: ${b.seconds.toFixed(1)} s (output ${(packerSize / 2 ** 20).toFixed(0)} MiB)`);
    removePackerWork(b);
    // A: the real program (engine model, real providers), each round in a fresh root: a cold
    // cache, as a first `pulumi up`. The last one is kept for the unchanged rebuild.
    if (lastA) {
      lastA.stack.providers.close();
      fs.rmSync(path.dirname(path.dirname(lastA.output)), { recursive: true, force: true });
    }
    const rootA = path.join(root, `a${i}`);
    fs.mkdirSync(rootA);
    say(`A${i}: dse-image, \`pulumi up\` of the local stack ...`);
    const stack = localStack(
      "bench",
      localConfig(base, rootA, {
        imageName: "dse_bench",
        tools: [...TOOLS],
        pythonSource: PYTHON_SOURCE,
        qemu: { ...(localConfig(base, rootA).qemu as object), accelerator: accel },
      }),
      { log: quiet },
    );
    const t0 = Date.now();
    const r = await stack.up();
    const seconds = (Date.now() - t0) / 1000;
    if (!r.ok) throw new Error(`A${i} failed: ${r.error}`);
    const times = stack.providers.times;
    const step = (suffix: string) =>
      times.filter((t) => t.name.endsWith(suffix)).reduce((a, t) => a + t.seconds, 0);
    const bootTest = step("-boot-test");
    const withoutBootTest = seconds - bootTest;
    pipeline.push(withoutBootTest);
    phasesA.push(pipelinePhases(times, withoutBootTest));
    bootTests.push(bootTest);
    const image = (r.outputs!.images as Record<string, { id: string }>).qemu;
    lastA = { output: image.id, install: step("-provision-install"), stack };
    say(
      `A${i}: ${seconds.toFixed(1)} s, ${withoutBootTest.toFixed(1)} s without the boot test (${times
        .map(
          (t) => `${t.name.replace(/^qemu-.+?-\d{8}(-g[0-9a-z]+)?-/, "")} ${t.seconds.toFixed(0)}`,
        )
        .join(", ")})`,
    );
    await waitForWatchdogs();
  }
  if (!lastA) throw new Error("no build ran");
  const output = lastA.output;

  // Unchanged rebuild: a second `pulumi up` of the same stack: the program runs, finds the
  // image and declares only its record; nothing is built.
  say("unchanged rebuild (a second up of the same stack) ...");
  const t0 = process.hrtime.bigint();
  const again = await lastA.stack.up();
  const unchangedRebuild = Number(process.hrtime.bigint() - t0) / 1e9;
  if (!again.ok || again.steps.some((x) => x.op === "create" || x.op === "replace")) {
    throw new Error(`the unchanged rebuild built something: ${again.error ?? ""}`);
  }
  say(`unchanged rebuild: ${unchangedRebuild.toFixed(3)} s`);
  lastA.stack.providers.close();

  // Naive: a fresh VM from the same base, plain apt-get install with recommends, no cleanup.
  say(`naive: apt-get install ${NAIVE_PACKAGES.join(" ")} in a fresh VM ...`);
  naiveVm = await startVm({ ...base, log: quiet, builderTtlMinutes: 60 });
  const t1 = Date.now();
  await naiveVm.run(
    `sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y ${NAIVE_PACKAGES.join(" ")}`,
    { check: true },
  );
  const naive = (Date.now() - t1) / 1000;
  say(`naive install: ${naive.toFixed(1)} s (install.sh: ${lastA.install.toFixed(1)} s)`);
  await naiveVm.shutdown();
  const uncleaned = path.join(root, "uncleaned.qcow2");
  await mustRun("qemu-img", ["convert", "-O", "qcow2", naiveVm.overlay, uncleaned]);
  await naiveVm.stop();
  naiveVm = undefined;
  const uncleanedSize = fs.statSync(uncleaned).size;
  const outputSize = fs.statSync(output).size;

  const run: BenchRun = {
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    machine: machine(accel),
    mode: quick ? "quick: one build each" : `full: ${rounds} builds each, alternating`,
    tools: `${TOOLS.join(" ")} from ${PYTHON_SOURCE}`,
    pipeline,
    packer,
    unchangedRebuild,
    install: lastA.install,
    naive,
    outputSize,
    uncleanedSize,
    ratios: {
      "pipeline/packer": ratio(median(pipeline), median(packer)),
      "unchanged-rebuild/full": ratio(unchangedRebuild, median(pipeline)),
      "install/naive": ratio(lastA.install, naive),
      "size/uncleaned": ratio(outputSize, uncleanedSize),
      "boot-test/build": ratio(median(bootTests), median(pipeline) + median(bootTests)),
    },
    phases: { pipeline: medianPhases(phasesA), packer: medianPhases(phasesB) },
    notes: [
      `Same Debian 12 base (test/vm, sha256 ${baseSha.slice(0, 12)}), same provision/ scripts and commands (prepare, upload, install.sh, verify.sh, cleanup.sh), 2 vCPUs, 2048 MiB, accel ${accel}, -cpu ${accel === "kvm" ? "host" : "max"} on both sides, direct kernel boot, NoCloud seed, 6 GiB disk, compressed qcow2 output.`,
      "A: `pulumi up` of the real program on the local stack (the engine model with real providers, test/e2e/helpers/program.ts): builder on an overlay of the cached base with a pinned host key, discard=unmap, cleanup.sh fstrims, snapshot (`qemu-img convert -c`), boot test of the exported qcow2, publish. pipeline/packer compares A without its boot test (Packer has none); boot-test/build is the boot test's share of A's whole build.",
      "B: Packer 1.6.6 `qemu` builder (bench/packer.ts) at its best: disk_image, use_backing_file false (Packer 1.6.6 creates its overlay without -F, which QEMU 7.2 refuses), so it copies the base; disk_compression; disk_discard and disk_detect_zeroes unmap, so cleanup.sh's fstrim frees the deleted blocks and no zero-fill is needed" +
        ` (B's output: ${(packerSize / 2 ** 20).toFixed(1)} MiB).`,
      "Unchanged rebuild: a second `pulumi up` of A's stack in the engine model: the program computes the fingerprint, looks the image up and declares only its record; Pulumi's own engine overhead is not included.",
      `Naive: a fresh VM from the same base running \`apt-get update && apt-get install -y ${NAIVE_PACKAGES.join(" ")}\` (with recommends, no cleanup); its overlay flattened with \`qemu-img convert -O qcow2\` (no compression) is the un-cleaned size. install.sh's time is A's install step of the last build.`,
    ],
  };
  const lines = ratioLines(run.ratios);
  process.stdout.write(`${lines.join("\n")}\n`);
  const file = path.join(__dirname, "results.md");
  fs.writeFileSync(file, resultsMarkdown(run));
  say(`wrote ${file}; wall time ${((Date.now() - started) / 60_000).toFixed(1)} min`);
}

main().then(
  () => {
    cleanupSync();
  },
  async (err: unknown) => {
    say(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    await naiveVm?.stop();
    cleanupSync();
    await waitForWatchdogs();
    process.exitCode = 1;
  },
);
