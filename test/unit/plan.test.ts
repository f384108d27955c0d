import { describe, expect, it } from "vitest";
import { planBuild, type PlanInputs, type ProbeImage } from "../../components/lifecycle/plan";

const FP = "0123456789abcdef".repeat(4);
const OTHER_FP = "fedcba9876543210".repeat(4);
const NOW = new Date("2026-11-29T12:00:00Z");
const ME = "org/dse-image/dev";
const TAG = "aaaabbbb";

const img = (over: Partial<ProbeImage>): ProbeImage => ({
  id: "img-1",
  name: "dse_base-0123456789ab-20261120",
  state: "complete",
  fingerprint: FP,
  gen: "g1",
  buildStack: TAG,
  createdAt: "2026-11-20T09:00:00Z",
  users: [],
  kept: [],
  ...over,
});

const plan = (over: Partial<PlanInputs> = {}) =>
  planBuild({
    probe: { images: [], builders: [] },
    imageName: "dse_base",
    fingerprint: FP,
    stackId: ME,
    stackTag: TAG,
    now: NOW,
    maxImageAgeDays: 30,
    keep: 0,
    ...over,
  });

describe("planBuild", () => {
  it("builds a new image named after the fingerprint and today's date when none exists", () => {
    const p = plan();
    expect(p).toEqual({
      phase: "build",
      name: "dse_base-0123456789ab-20261129",
      gen: `g${NOW.getTime().toString(36)}`,
      reason: "no image dse_base-0123456789ab-* yet: building dse_base-0123456789ab-20261129",
      previous: [],
    });
  });

  it("adopts the newest complete image of this fingerprint, whoever built it", () => {
    const older = img({ id: "img-old", createdAt: "2026-11-10T00:00:00Z" });
    const newer = img({
      id: "img-new",
      name: "dse_base-0123456789ab-20261125",
      createdAt: "2026-11-25T00:00:00Z",
      buildStack: "ffff0000",
    });
    const p = plan({ probe: { images: [older, newer], builders: [] } });
    expect(p.phase).toBe("published");
    expect(p.imageId).toBe("img-new");
    expect(p.name).toBe("dse_base-0123456789ab-20261125");
    expect(p.reason).toBe(
      "image dse_base-0123456789ab-20261125 (img-new) is up to date; no builder needed",
    );
  });

  it("treats an image older than maxImageAgeDays as missing, and says why it rebuilds", () => {
    const old = img({ createdAt: "2026-10-20T12:00:00Z" });
    const p = plan({ probe: { images: [old], builders: [] } });
    expect(p.phase).toBe("build");
    expect(p.reason).toBe(
      "image dse_base-0123456789ab-20261120 is 40 days old (maxImageAgeDays 30): building a fresh one",
    );
    expect(plan({ probe: { images: [old], builders: [] }, maxImageAgeDays: 60 }).phase).toBe(
      "published",
    );
    expect(plan({ probe: { images: [old], builders: [] }, maxImageAgeDays: 0 }).phase).toBe(
      "published",
    );
  });

  it("ignores images that are not complete, of another fingerprint or another image name", () => {
    const images = [
      img({ state: "failed" }),
      img({ id: "x", fingerprint: OTHER_FP }),
      img({ id: "y", name: "other_base-0123456789ab-20261120" }),
      img({ id: "z", state: "pending", buildStack: "ffff0000" }),
    ];
    expect(plan({ probe: { images, builders: [] } }).phase).toBe("build");
  });

  it("finishes this stack's pending image without a builder", () => {
    const pending = img({ id: "img-p", state: "pending", gen: "g7" });
    const p = plan({ probe: { images: [pending], builders: [] } });
    expect(p).toMatchObject({ phase: "pending", name: pending.name, gen: "g7", imageId: "img-p" });
  });

  it("resumes a running or sealed builder of this build, never a stopped one", () => {
    const b = (status: "running" | "sealed" | "stopped", gen: string) => ({
      id: `b-${gen}`,
      build: "dse_base-0123456789ab-20261128",
      gen,
      status,
    });
    expect(
      plan({ probe: { images: [], builders: [b("running", "g2"), b("stopped", "g3")] } }),
    ).toMatchObject({
      phase: "build",
      name: "dse_base-0123456789ab-20261128",
      gen: "g2",
      reason: "resuming the build of dse_base-0123456789ab-20261128 on its running builder b-g2",
    });
    expect(plan({ probe: { images: [], builders: [b("sealed", "g4")] } }).gen).toBe("g4");
    expect(plan({ probe: { images: [], builders: [b("stopped", "g3")] } }).name).toBe(
      "dse_base-0123456789ab-20261129",
    );
  });

  it("does not reuse a name an image of this account holds (EC2 names are unique)", () => {
    const failed = img({ name: "dse_base-0123456789ab-20261129", state: "failed" });
    const second = img({ id: "img-2", name: "dse_base-0123456789ab-20261129-2", state: "failed" });
    expect(plan({ probe: { images: [failed], builders: [] } }).name).toBe(
      "dse_base-0123456789ab-20261129-2",
    );
    expect(plan({ probe: { images: [failed, second], builders: [] } }).name).toBe(
      "dse_base-0123456789ab-20261129-3",
    );
  });

  it("lists the images this stack used or keeps as previous, newest first, at most keep", () => {
    const images = [
      img({ id: "a", fingerprint: OTHER_FP, createdAt: "2026-11-01T00:00:00Z", kept: [ME] }),
      img({ id: "b", fingerprint: OTHER_FP, createdAt: "2026-11-05T00:00:00Z", kept: [ME] }),
      img({ id: "c", fingerprint: OTHER_FP, createdAt: "2026-11-09T00:00:00Z", users: [ME] }),
      img({
        id: "d",
        fingerprint: OTHER_FP,
        createdAt: "2026-11-10T00:00:00Z",
        users: ["org/dse-image/prod"],
      }),
    ];
    expect(plan({ probe: { images, builders: [] }, keep: 2 }).previous.map((i) => i.id)).toEqual([
      "c",
      "b",
    ]);
    expect(plan({ probe: { images, builders: [] }, keep: 0 }).previous).toEqual([]);
    const current = img({ id: "cur", createdAt: "2026-11-28T00:00:00Z", users: [ME] });
    const adopted = plan({ probe: { images: [...images, current], builders: [] }, keep: 5 });
    expect(adopted.phase).toBe("published");
    expect(adopted.previous.map((i) => i.id)).toEqual(["c", "b", "a"]);
  });
});
