/**
 * Fault injection for the engine model: make a named step fail once or every time, on one
 * platform or all. Names: `remote:<script>` (install, verify, inventory, cleanup, smoke),
 * `host:<script>` (snapshot, teardown, boot-test, wait-ssh, publish, record, release, ...),
 * `cli:<tool> <subcommand words>` (e.g. `cli:openstack image set`), `guest:retry-within-30s` (the
 * run after a failed step starts before the builder's 30-second power-off fires), `glance:killed`
 * (an OpenStack image turns `killed` at its next status poll), `glance:killed-upload` (a
 * snapshot's upload fails), `ec2:ami-failed` (a new AMI ends `failed`), and `kill:<tool>
 * <word>...` (the first call of that CLI whose arguments hold the words SIGKILLs its whole host
 * step, or the dynamic provider plugin whose provider ran it, as a killed `pulumi up` does: no
 * EXIT trap or `finally` runs). An image that does not boot is a disk's `broken` (guest.ts).
 * Test utility, never shipped.
 */
export interface Fault {
  name: string;
  platform?: string;
  /** How many more times it fires; Infinity for every time. */
  times: number;
}

export class Faults {
  private list: Fault[] = [];
  /** Names that fired, in order. */
  readonly fired: string[] = [];

  fail(name: string, opts: { platform?: string; times?: number | "always" } = {}): void {
    const times = opts.times === "always" ? Infinity : (opts.times ?? 1);
    this.list.push({ name, platform: opts.platform, times });
  }

  clear(): void {
    this.list = [];
  }

  /** Consumes the first platform-less fault whose name passes `test`; true when one fired. */
  takeWhere(test: (name: string) => boolean): boolean {
    const f = this.list.find((x) => x.times > 0 && x.platform === undefined && test(x.name));
    if (!f) return false;
    f.times--;
    this.fired.push(f.name);
    return true;
  }

  /** Consumes a matching fault, if any; returns its description. */
  take(name: string, platform?: string): string | undefined {
    const f = this.list.find(
      (x) =>
        x.times > 0 && x.name === name && (x.platform === undefined || x.platform === platform),
    );
    if (!f) return undefined;
    f.times--;
    this.fired.push(name);
    return `${name}${platform ? ` on ${platform}` : ""}`;
  }
}
