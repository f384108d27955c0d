/**
 * What a stack's claim on an AMI asks of it besides the AMI itself: copies in its
 * `copyToRegions` and launch permissions for its `shareWithAccounts`. Each claim records its own
 * on the AMI (the value of its `dse-image:held:<stack tag>` tag), so the stack that stops asking
 * for a copy or a share takes it back only when no other claim on the AMI asks for it.
 */
export interface Wants {
  regions: string[];
  accounts: string[];
}

/** EC2 caps a tag value at 256 characters. */
const MAX_VALUE = 256;
const FORMAT = /^regions:([a-z0-9,-]*) accounts:([0-9,]*)$/;

const list = (items: readonly string[] | undefined): string[] =>
  [...new Set(items ?? [])].filter((x) => x !== "").sort();

export function wantsOf(settings: {
  copyToRegions?: string[];
  shareWithAccounts?: string[];
}): Wants {
  return { regions: list(settings.copyToRegions), accounts: list(settings.shareWithAccounts) };
}

/**
 * The held tag's value; undefined when it does not fit in one tag (the claim then records
 * nothing, as a claim of an earlier version, and no other stack takes back what it may use).
 */
export function encodeWants(wants: Wants): string | undefined {
  const value = `regions:${wants.regions.join(",")} accounts:${wants.accounts.join(",")}`;
  return value.length <= MAX_VALUE ? value : undefined;
}

/**
 * A held tag's value read back; undefined for one that records nothing (`true`, from earlier
 * versions).
 */
export function decodeWants(value: string | undefined): Wants | undefined {
  const m = FORMAT.exec(value ?? "");
  if (m === null) return undefined;
  const split = (text: string) => (text === "" ? [] : text.split(","));
  return { regions: split(m[1]), accounts: split(m[2]) };
}

/** What `dropped` names that none of `others` asks for. */
export function unwantedBy(dropped: Wants, others: Wants[]): Wants {
  const wanted = (key: keyof Wants, x: string) => others.some((w) => w[key].includes(x));
  return {
    regions: dropped.regions.filter((r) => !wanted("regions", r)),
    accounts: dropped.accounts.filter((a) => !wanted("accounts", a)),
  };
}

/** What both ask for. */
export function commonWants(a: Wants, b: Wants): Wants {
  return {
    regions: a.regions.filter((r) => b.regions.includes(r)),
    accounts: a.accounts.filter((x) => b.accounts.includes(x)),
  };
}

/** What `before` asks for and `now` does not. */
export function droppedWants(before: Wants, now: Wants): Wants {
  return {
    regions: before.regions.filter((r) => !now.regions.includes(r)),
    accounts: before.accounts.filter((a) => !now.accounts.includes(a)),
  };
}

export const noWants = (w: Wants): boolean => w.regions.length === 0 && w.accounts.length === 0;
