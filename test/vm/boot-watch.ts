/**
 * Tells a test VM whose kernel hangs before init from one still booting, by its serial log: the
 * rule of components/qemu/start.sh's boot watch (docs/platforms.md), for the VMs test/vm starts
 * itself. A TCG guest was seen in CI hanging for ten minutes right after "clocksource: Switched
 * to clocksource hpet"; booted again, it comes up in seconds.
 */
import * as fs from "node:fs";

/** What a guest writes once its kernel runs user space, or when it gives up (start.sh's). */
const KERNEL_RAN_INIT =
  /Run .* as init process|Freeing unused kernel|systemd\[1\]|cloud-init\[|login: |Kernel panic - not syncing/;
/** Opens a kernel log that reaches the console at its default level: only then is silence news. */
const KERNEL_VERBOSE = "Linux version ";

export class BootWatch {
  private size = -1;
  private changedAt: number;
  private done = false;

  constructor(
    private readonly serialLog: string,
    private readonly stallMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.changedAt = now();
  }

  /** Why the boot stalled (the kernel's last line), or undefined while it may still be booting. */
  stalled(): string | undefined {
    if (this.done) return undefined;
    let text = "";
    try {
      text = fs.readFileSync(this.serialLog, "utf8");
    } catch {
      // not written yet
    }
    if (text.length !== this.size) {
      this.size = text.length;
      this.changedAt = this.now();
      if (KERNEL_RAN_INIT.test(text)) this.done = true;
      return undefined;
    }
    if (this.now() - this.changedAt < this.stallMs || !text.includes(KERNEL_VERBOSE)) {
      return undefined;
    }
    const last = text.trimEnd().split("\n").pop()?.trim();
    return `its kernel wrote nothing for ${Math.round(this.stallMs / 1000)} s before running init (its last line: ${last})`;
  }
}
