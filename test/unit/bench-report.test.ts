import { describe, expect, it } from "vitest";
import {
  TARGETS,
  median,
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
});
