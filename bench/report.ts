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
    ...(run.notes?.length ? ["## Notes", "", ...run.notes.map((n) => `- ${n}`), ""] : []),
  ].join("\n");
}
