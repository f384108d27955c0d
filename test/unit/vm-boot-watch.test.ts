/**
 * test/vm's BootWatch: which serial logs mean a kernel hung before init (boot it again) and which
 * a boot still going or one it cannot follow. The clock is a variable; the log a temp file.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BootWatch } from "../vm/boot-watch";

const LINUX = "[    0.000000] Linux version 6.1.0-28-amd64\n";
const HPET = "[    1.169492] clocksource: Switched to clocksource hpet\n";

let dir: string;
let log: string;
let now: number;
let watch: BootWatch;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dse-boot-watch-"));
  log = path.join(dir, "serial.log");
  now = 0;
  watch = new BootWatch(log, 60_000, () => now);
});

afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The watch's verdict at `at` ms, the log holding `text`. */
function at(ms: number, text?: string): string | undefined {
  if (text !== undefined) fs.writeFileSync(log, text);
  now = ms;
  return watch.stalled();
}

describe("BootWatch (test VMs booted again when their kernel hangs)", () => {
  it("calls a kernel silent for the stall time before init stalled, naming its last line", () => {
    expect(at(1_000, LINUX + HPET)).toBeUndefined();
    expect(at(60_999)).toBeUndefined();
    expect(at(61_000)).toBe(
      "its kernel wrote nothing for 60 s before running init (its last line: [    1.169492] clocksource: Switched to clocksource hpet)",
    );
  });

  it("restarts the count at every new line", () => {
    expect(at(1_000, LINUX)).toBeUndefined();
    expect(at(50_000, LINUX + HPET)).toBeUndefined();
    expect(at(109_000)).toBeUndefined();
    expect(at(110_000)).toMatch(/^its kernel wrote nothing for 60 s/);
  });

  it("never calls a kernel that ran init, or panicked, stalled", () => {
    expect(at(1_000, LINUX + "[    8.8] Run /init as init process\n")).toBeUndefined();
    expect(at(600_000)).toBeUndefined();
    // A log level that hides the kernel's own line: user space's lines say the same.
    watch = new BootWatch(log, 60_000, () => now);
    expect(at(1_000, LINUX + "[   20.1] cloud-init[345]: Cloud-init v. 22.4.2 running\n")).toBe(
      undefined,
    );
    expect(at(600_000)).toBeUndefined();
    watch = new BootWatch(log, 60_000, () => now);
    expect(at(1_000, LINUX + "[    0.9] Kernel panic - not syncing: VFS\n")).toBeUndefined();
    expect(at(600_000)).toBeUndefined();
  });

  it("cannot follow a log without the kernel's messages: empty, missing or a quiet kernel's", () => {
    expect(at(600_000)).toBeUndefined();
    expect(at(601_000, "")).toBeUndefined();
    expect(at(1_000_000)).toBeUndefined();
    expect(at(1_001_000, "Booting 'Debian GNU/Linux'\n")).toBeUndefined();
    expect(at(2_000_000)).toBeUndefined();
  });
});
