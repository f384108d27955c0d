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
import { PROVISION_DIR, fingerprint, imageNameFor } from "../components/lifecycle/fingerprint";
import type { ProvisionSettings } from "../components/provision-commands";
import { QEMU_ZERO_FREE_SPACE, localImageExists } from "../components/qemu/image";
import {
  buildLocalImage,
  mustRun,
  sha256File,
  waitForWatchdogs,
} from "../test/e2e/helpers/local-pipeline";
import { detectAccel, ensureDebianBase, startVm, type Vm } from "../test/vm";
import { killPackerSync, packerBuild, removePackerWork } from "./packer";
import { median, ratio, ratioLines, resultsMarkdown, type BenchRun } from "./report";

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
  const accel = detectAccel(
    (process.env.DSE_ACCEL as "kvm" | "tcg" | "auto" | undefined) ?? "auto",
  );
  say(
    `mode ${quick ? "quick" : "full"}, accel ${accel}, tools ${TOOLS.join(" ")} (${PYTHON_SOURCE})`,
  );
  const base = await ensureDebianBase({ log: quiet });
  const baseSha = sha256File(base.disk);
  root = fs.mkdtempSync(path.join(os.tmpdir(), "dse-bench-"));

  // The fingerprint exactly as the qemu platform computes it (qemuFingerprint): provision/, tools,
  // python source, the pinned source image and the settings that change the image's content.
  const qemuSettings = {
    platform: "qemu",
    diskSizeGb: 6,
    sshUser: base.user,
    kernel: base.kernel,
    initrd: base.initrd,
    append: base.append,
  };
  const fpInputs = {
    provisionDir: PROVISION_DIR,
    tools: TOOLS,
    pythonSource: PYTHON_SOURCE,
    sourceImage: baseSha,
    settings: qemuSettings,
  };
  const fp = fingerprint(fpInputs);
  const imageName = imageNameFor("dse_bench", fp);
  const settingsA: ProvisionSettings = {
    tools: TOOLS,
    pythonSource: PYTHON_SOURCE,
    fingerprint: fp,
    zeroFreeSpace: QEMU_ZERO_FREE_SPACE,
  };
  // Packer's qemu drive ignores discards (no discard=unmap), so fstrim frees nothing there: a
  // Packer user zero-fills free space before the compressed conversion to get a small image.
  const settingsB: ProvisionSettings = { ...settingsA, zeroFreeSpace: true };

  const rounds = quick ? 1 : 2;
  const pipeline: number[] = [];
  const packer: number[] = [];
  let lastA: Awaited<ReturnType<typeof buildLocalImage>> | undefined;
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
      settings: settingsB,
      memoryMb: 2048,
      cpus: 2,
      log: quiet,
    });
    packer.push(b.seconds);
    packerSize = fs.statSync(b.output).size;
    say(`B${i}: ${b.seconds.toFixed(1)} s (output ${(packerSize / 2 ** 20).toFixed(0)} MiB)`);
    removePackerWork(b);
    // A: each round in a fresh root (a cold cache, as a first `pulumi up`); the last one is kept.
    if (lastA)
      fs.rmSync(path.dirname(path.dirname(lastA.record.id)), { recursive: true, force: true });
    const rootA = path.join(root, `a${i}`);
    fs.mkdirSync(rootA);
    say(`A${i}: dse-image local pipeline ...`);
    lastA = await buildLocalImage({
      base,
      settings: settingsA,
      imageName,
      root: rootA,
      log: quiet,
      diskSizeGb: 6,
    });
    pipeline.push(lastA.seconds);
    const s = lastA.steps;
    say(
      `A${i}: ${lastA.seconds.toFixed(1)} s (${Object.entries(s)
        .map(([k, v]) => `${k} ${v.toFixed(0)}`)
        .join(", ")})`,
    );
    await waitForWatchdogs();
  }
  if (!lastA) throw new Error("no build ran");
  const output = lastA.record.id;

  // Unchanged rebuild: what the program does on an unchanged `pulumi up` before declaring
  // anything: the fingerprint, then the lookup (the file exists and matches its .sha256).
  say("unchanged rebuild (fingerprint + lookup of the existing output) ...");
  const t0 = process.hrtime.bigint();
  const again = fingerprint(fpInputs);
  const exists = await localImageExists(
    path.join(path.dirname(output), `${imageNameFor("dse_bench", again)}.qcow2`),
  );
  const unchangedRebuild = Number(process.hrtime.bigint() - t0) / 1e9;
  if (!exists || again !== fp)
    throw new Error("the unchanged rebuild did not find the image it built");
  say(`unchanged rebuild: ${unchangedRebuild.toFixed(3)} s`);

  // Naive: a fresh VM from the same base, plain apt-get install with recommends, no cleanup.
  say(`naive: apt-get install ${NAIVE_PACKAGES.join(" ")} in a fresh VM ...`);
  naiveVm = await startVm({ ...base, log: quiet, builderTtlMinutes: 60 });
  const t1 = Date.now();
  await naiveVm.run(
    `sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y ${NAIVE_PACKAGES.join(" ")}`,
    { check: true },
  );
  const naive = (Date.now() - t1) / 1000;
  say(`naive install: ${naive.toFixed(1)} s (install.sh: ${lastA.steps.install.toFixed(1)} s)`);
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
    install: lastA.steps.install,
    naive,
    outputSize,
    uncleanedSize,
    ratios: {
      "pipeline/packer": ratio(median(pipeline), median(packer)),
      "unchanged-rebuild/full": ratio(unchangedRebuild, median(pipeline)),
      "install/naive": ratio(lastA.steps.install, naive),
      "size/uncleaned": ratio(outputSize, uncleanedSize),
    },
    notes: [
      `Same Debian 12 base (test/vm, sha256 ${baseSha.slice(0, 12)}), same provision/ scripts and commands (prepare, upload, install.sh, verify.sh, cleanup.sh), 2 vCPUs, 2048 MiB, accel ${accel}, -cpu ${accel === "kvm" ? "host" : "max"} on both sides, direct kernel boot, NoCloud seed, 6 GiB disk, compressed qcow2 output.`,
      "A: the local QEMU pipeline exactly as the QemuImage component runs it (test/e2e/helpers/local-pipeline.ts): overlay on the cached base, discard=unmap, cleanup.sh fstrims (zeroFreeSpace false), `qemu-img convert -c`.",
      "B: Packer 1.6.6 `qemu` builder (bench/packer.ts): disk_image, use_backing_file false (Packer 1.6.6 creates its overlay without -F, which QEMU 7.2 refuses), so it copies the base; disk_compression. Its drive ignores discards, so fstrim frees nothing: B runs cleanup.sh with zeroFreeSpace true, which is what a Packer user needs for a small image" +
        ` (B's output: ${(packerSize / 2 ** 20).toFixed(1)} MiB).`,
      "Unchanged rebuild: the fingerprint of provision/ + tools + settings and the lookup of the existing qcow2 (file + .sha256 match), as components/platforms/qemu.ts does before declaring the builder; Pulumi's own engine overhead is not included.",
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
