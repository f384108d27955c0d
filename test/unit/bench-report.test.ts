import { describe, expect, it } from "vitest";
import {
  TARGETS,
  median,
  medianPhases,
  packerPhases,
  pipelinePhases,
  parseRatioLines,
  ratio,
  ratioLines,
  resultsMarkdown,
  verdict,
  type BenchRun,
  type Ratios,
} from "../../bench/report";

const ratios: Ratios = {
  "pipeline/packer": 0.74,
  "unchanged-rebuild/full": 0.0123,
  "install/naive": 0.55,
  "size/uncleaned": 0.48,
  "boot-test/build": 0.13,
};

const run: BenchRun = {
  date: "2026-11-28T14:00:00Z",
  machine: "x86_64, Test CPU, 2 CPUs (nproc 2), accel tcg",
  mode: "quick: one build each",
  tools: "python from apt",
  pipeline: [300],
  packer: [400],
  unchangedRebuild: 3.69,
  install: 55,
  naive: 100,
  outputSize: 480 * 2 ** 20,
  uncleanedSize: 1000 * 2 ** 20,
  ratios,
  notes: ["B zero-fills free space"],
};

describe("bench report", () => {
  it("median of odd, even and unsorted lists; none is an error", () => {
    expect(median([3])).toBe(3);
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow(/nothing/);
  });

  it("ratio refuses a zero or negative denominator", () => {
    expect(ratio(1, 4)).toBe(0.25);
    expect(() => ratio(1, 0)).toThrow();
    expect(() => ratio(1, -1)).toThrow();
  });

  it("writes the five lines exactly in the issues' form and order", () => {
    expect(ratioLines(ratios)).toEqual([
      "pipeline/packer: 0.74",
      "unchanged-rebuild/full: 0.012",
      "install/naive: 0.55",
      "size/uncleaned: 0.48",
      "boot-test/build: 0.13",
    ]);
  });

  it("the lines parse back (round trip through the markdown)", () => {
    const parsed = parseRatioLines(resultsMarkdown(run));
    expect(Object.keys(parsed).sort()).toEqual(Object.keys(TARGETS).sort());
    expect(parsed["pipeline/packer"]).toBe(0.74);
    expect(parsed["unchanged-rebuild/full"]).toBe(0.012);
    expect(parsed["install/naive"]).toBe(0.55);
    expect(parsed["size/uncleaned"]).toBe(0.48);
    expect(parsed["boot-test/build"]).toBe(0.13);
    expect(parseRatioLines(ratioLines(ratios).join("\n"))).toEqual(parsed);
  });

  it("ignores lines that are not ratios", () => {
    expect(parseRatioLines("foo/bar: 1\npipeline/packer:0.5\n pipeline/packer: 0.5")).toEqual({});
  });

  it("says met or by how much a target is missed", () => {
    expect(verdict("pipeline/packer", 0.8)).toBe("met");
    expect(verdict("pipeline/packer", 1)).toBe("missed by 0.200 (25% over)");
  });

  it("the markdown names date, machine, the medians and the notes", () => {
    const md = resultsMarkdown(run);
    expect(md).toContain("2026-11-28T14:00:00Z");
    expect(md).toContain("accel tcg");
    expect(md).toContain("median 300.0");
    expect(md).toContain("## Notes\n\n- B zero-fills free space");
    expect(md).toContain("| pipeline/packer | 0.740 | ≤ 0.8 | met |");
  });

  const step = (name: string, seconds: number) => ({
    name: `qemu-dse_bench-56605d6f6018-20261129-gmx26c8ue-${name}`,
    seconds,
  });

  it("groups A's steps into phases, leaves the boot test out and keeps the rest as between steps", () => {
    const times = [
      ...["sweep", "fetch", "seed", "start"].map((n) => step(n, 1)),
      step("wait-ssh", 40),
      ...["prepare", "upload", "install", "verify", "inventory", "cleanup"].map((n) =>
        step(`provision-${n}`, 10),
      ),
      step("sbom", 0.5),
      step("snapshot", 17),
      step("teardown", 0.1),
      step("boot-test", 66),
      step("publish", 0.6),
      { name: "qemu-dse_bench-56605d6f6018-20261129-image", seconds: 0.3 },
    ];
    expect(pipelinePhases(times, 130)).toEqual({
      setup: 4,
      "boot to SSH": 40,
      provisioning: 60.5,
      "shutdown and export": 17,
      publish: 1,
      "between steps": 7.5,
    });
  });

  it("fails on a step no phase claims, instead of dropping it from the table", () => {
    expect(() => pipelinePhases([step("resize", 3)], 3)).toThrow(
      "bench: no phase for step qemu-dse_bench-56605d6f6018-20261129-gmx26c8ue-resize",
    );
  });

  it("reads Packer's phases from the times of its log lines", () => {
    const lines = [
      { at: 0.5, line: "==> qemu: Retrieving ISO" },
      { at: 2, line: "==> qemu: Starting VM, booting disk image" },
      { at: 73, line: "==> qemu: Connected to SSH!" },
      { at: 180, line: "==> qemu: Gracefully halting virtual machine..." },
      { at: 183, line: "==> qemu: Converting hard drive..." },
    ];
    expect(packerPhases(lines, 205)).toEqual({
      setup: 2,
      "boot to SSH": 71,
      provisioning: 107,
      "shutdown and export": 25,
      publish: 0,
      "between steps": 0,
    });
    expect(() => packerPhases(lines.slice(0, 2), 205)).toThrow(
      "bench: Packer's log has no line matching /==> qemu: Connected to SSH!/",
    );
  });

  it("tables the median of each phase with its share of Packer's median build", () => {
    const a = pipelinePhases([step("wait-ssh", 40), step("provision-install", 100)], 150);
    const b = packerPhases(
      [
        { at: 0, line: "==> qemu: Starting VM" },
        { at: 60, line: "==> qemu: Connected to SSH!" },
        { at: 170, line: "==> qemu: Gracefully halting virtual machine..." },
      ],
      200,
    );
    expect(medianPhases([a, { ...a, provisioning: 120 }, { ...a, provisioning: 90 }])).toEqual(a);
    const md = resultsMarkdown({ ...run, packer: [200], phases: { pipeline: a, packer: b } });
    expect(md).toContain(
      [
        "| phase | dse-image | Packer |",
        "|---|---|---|",
        "| setup | 0.0 (0%) | 0.0 (0%) |",
        "| boot to SSH | 40.0 (20%) | 60.0 (30%) |",
        "| provisioning | 100.0 (50%) | 110.0 (55%) |",
        "| shutdown and export | 0.0 (0%) | 30.0 (15%) |",
        "| publish | 0.0 (0%) | 0.0 (0%) |",
        "| between steps | 10.0 (5%) | 0.0 (0%) |",
        "| sum | 150.0 | 200.0 |",
      ].join("\n"),
    );
    expect(md).toContain(
      "A's provisioning alone is 50% of Packer's build, its boot to SSH another 20%.",
    );
  });
});
