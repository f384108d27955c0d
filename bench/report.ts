/** Pure helpers of the benchmark: medians, ratios and the results file. No I/O here. */

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error("median of nothing");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The ratios the issue names, in its order; a script reads them as `name: value` lines. */
export interface Ratios {
  "pipeline/packer": number;
  "unchanged-rebuild/full": number;
  "install/naive": number;
  "size/uncleaned": number;
  /** The boot test's share of a build (with it). */
  "boot-test/build": number;
}

/** Targets: each ratio must stay at or below its bound. */
export const TARGETS: Ratios = {
  "pipeline/packer": 0.8,
  "unchanged-rebuild/full": 0.02,
  "install/naive": 0.6,
  "size/uncleaned": 0.6,
  "boot-test/build": 0.15,
};

export function ratio(numerator: number, denominator: number): number {
  if (!(denominator > 0)) throw new Error(`cannot divide by ${denominator}`);
  return numerator / denominator;
}

/** `name: 0.74` lines, two decimals (three when a ratio is below 0.1 so 0.012 stays readable). */
export function ratioLines(ratios: Ratios): string[] {
  return (Object.keys(TARGETS) as (keyof Ratios)[]).map((name) => {
    const value = ratios[name];
    return `${name}: ${value < 0.1 ? value.toFixed(3) : value.toFixed(2)}`;
  });
}

/** Reads `name: value` lines back, as a script consuming results.md would. */
export function parseRatioLines(text: string): Partial<Ratios> {
  const out: Partial<Ratios> = {};
  for (const match of text.matchAll(/^([a-z-]+\/[a-z-]+): (\d+(?:\.\d+)?)$/gm)) {
    if (match[1] in TARGETS) out[match[1] as keyof Ratios] = Number(match[2]);
  }
  return out;
}

/** What every build goes through, in order: the table of where a build's time goes. */
export const PHASES = [
  "setup",
  "boot to SSH",
  "provisioning",
  "shutdown and export",
  "publish",
  "between steps",
] as const;
export type Phase = (typeof PHASES)[number];
export type PhaseTimes = Record<Phase, number>;

const zeroPhases = (): PhaseTimes => Object.fromEntries(PHASES.map((p) => [p, 0])) as PhaseTimes;

/**
 * A's phases from its step times (resource names end with the step) and its wall time, both
 * without the boot test.
 * A step the table does not know fails the benchmark rather than vanishing from the table.
 */
export function pipelinePhases(
  times: readonly { name: string; seconds: number }[],
  total: number,
): PhaseTimes {
  const phaseOf = (name: string): Phase | undefined => {
    if (/-(sweep|fetch|seed|start)$/.test(name)) return "setup";
    if (name.endsWith("-wait-ssh")) return "boot to SSH";
    if (/-(provision-[a-z]+|sbom)$/.test(name)) return "provisioning";
    if (name.endsWith("-snapshot")) return "shutdown and export";
    if (/-(teardown|publish|image)$/.test(name)) return "publish";
    return undefined;
  };
  const out = zeroPhases();
  for (const t of times) {
    if (t.name.endsWith("-boot-test")) continue;
    const phase = phaseOf(t.name);
    if (!phase) throw new Error(`bench: no phase for step ${t.name}`);
    out[phase] += t.seconds;
  }
  // The program's run and the engine's work between steps.
  out["between steps"] = total - PHASES.reduce((a, p) => a + out[p], 0);
  return out;
}

/** Packer's log lines that end one phase and begin the next. */
const PACKER_MARKS: readonly [Phase, RegExp][] = [
  ["setup", /==> qemu: Starting VM/],
  ["boot to SSH", /==> qemu: Connected to SSH!/],
  ["provisioning", /==> qemu: Gracefully halting virtual machine/],
];

/**
 * Packer's phases from the seconds (since the build began) at which its log printed each
 * line; the build's end closes "shutdown and export". Packer publishes nothing, and its phases
 * follow each other with nothing between.
 */
export function packerPhases(
  lines: readonly { at: number; line: string }[],
  total: number,
): PhaseTimes {
  const out = zeroPhases();
  let from = 0;
  for (const [phase, mark] of PACKER_MARKS) {
    const hit = lines.find((l) => mark.test(l.line));
    if (!hit) throw new Error(`bench: Packer's log has no line matching ${mark}`);
    out[phase] = hit.at - from;
    from = hit.at;
  }
  out["shutdown and export"] = total - from;
  return out;
}

/** Per phase, the median over builds. */
export function medianPhases(runs: readonly PhaseTimes[]): PhaseTimes {
  const out = zeroPhases();
  for (const p of PHASES) out[p] = median(runs.map((r) => r[p]));
  return out;
}

export interface BenchRun {
  date: string;
  machine: string;
  mode: string;
  tools: string;
  /** Wall times in seconds, per build, in the order they ran. */
  pipeline: number[];
  packer: number[];
  unchangedRebuild: number;
  install: number;
  naive: number;
  /** Bytes. */
  outputSize: number;
  uncleanedSize: number;
  ratios: Ratios;
  /** Median seconds per phase of A (without its boot test) and of Packer. */
  phases?: { pipeline: PhaseTimes; packer: PhaseTimes };
  /** Free text appended as a "Notes" section (how each side was configured, caveats). */
  notes?: string[];
}

/** `met`, or `missed by 0.12 (15%)`: how far a ratio is over its target. */
export function verdict(name: keyof Ratios, value: number): string {
  const target = TARGETS[name];
  if (value <= target) return "met";
  return `missed by ${(value - target).toFixed(3)} (${Math.round(((value - target) / target) * 100)}% over)`;
}

export function resultsMarkdown(run: BenchRun): string {
  const table = (Object.keys(TARGETS) as (keyof Ratios)[])
    .map(
      (k) =>
        `| ${k} | ${run.ratios[k].toFixed(3)} | ≤ ${TARGETS[k]} | ${verdict(k, run.ratios[k])} |`,
    )
    .join("\n");
  return [
    "# dse-image vs Packer 1.6.6",
    "",
    `Measured ${run.date} on ${run.machine} (${run.mode}; tools: ${run.tools}). Ratios come from`,
    "builds run side by side in this one run; absolute times drift on this shared machine.",
    "",
    "```",
    ...ratioLines(run.ratios),
    "```",
    "",
    "| ratio | value | target | |",
    "|---|---|---|---|",
    table,
    "",
    "Medians behind the ratios (seconds; sizes in MiB):",
    "",
    `- dse-image local pipeline: ${run.pipeline.map((s) => s.toFixed(1)).join(", ")} (median ${median(run.pipeline).toFixed(1)})`,
    `- Packer qemu builder: ${run.packer.map((s) => s.toFixed(1)).join(", ")} (median ${median(run.packer).toFixed(1)})`,
    `- unchanged rebuild (fingerprint short-circuit): ${run.unchangedRebuild.toFixed(2)}`,
    `- install.sh: ${run.install.toFixed(1)}; naive apt-get install: ${run.naive.toFixed(1)}`,
    `- output qcow2: ${(run.outputSize / 2 ** 20).toFixed(1)}; un-cleaned qcow2: ${(run.uncleanedSize / 2 ** 20).toFixed(1)}`,
    "",
    ...(run.phases ? phaseTable(run.phases, median(run.packer)) : []),
    ...(run.notes?.length ? ["## Notes", "", ...run.notes.map((n) => `- ${n}`), ""] : []),
  ].join("\n");
}

function phaseTable(
  phases: { pipeline: PhaseTimes; packer: PhaseTimes },
  packer: number,
): string[] {
  const sum = (t: PhaseTimes) => PHASES.reduce((a, p) => a + t[p], 0);
  const share = (seconds: number) => `${Math.round((seconds / packer) * 100)}%`;
  return [
    "Where the time goes (median seconds per phase; A without its boot test; share of Packer's median build):",
    "",
    "| phase | dse-image | Packer |",
    "|---|---|---|",
    ...PHASES.map(
      (p) =>
        `| ${p} | ${phases.pipeline[p].toFixed(1)} (${share(phases.pipeline[p])}) | ${phases.packer[p].toFixed(1)} (${share(phases.packer[p])}) |`,
    ),
    `| sum | ${sum(phases.pipeline).toFixed(1)} | ${sum(phases.packer).toFixed(1)} |`,
    "",
    "Provisioning runs the same commands in the same guest on both sides (prepare, upload, install.sh, verify.sh, inventory.sh, cleanup.sh), and a boot to SSH is the same kernel, base and cloud-init;",
    `A's provisioning alone is ${share(phases.pipeline.provisioning)} of Packer's build, its boot to SSH another ${share(phases.pipeline["boot to SSH"])}.`,
    "",
  ];
}
