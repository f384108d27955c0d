/**
 * One change to a Glance image, and how to tell that it held.
 *
 * Glance saves an image's whole record on every change: glance/db/__init__.py `ImageRepo.save`
 * calls `image_update(..., purge_props=True)`, whose `_set_properties_for_image`
 * (db/sqlalchemy/api.py) deletes each property the request's copy of the image lacks, and the
 * copy was read when the request began. Two changes to one image at the same moment both answer
 * 200, and the one saved last undoes the other: its properties are back as that request read
 * them (on the OpenStack lane's Glance, Zed, one of two simultaneous property additions was lost
 * in 7 of 30 tries). Two stacks claim one image at once, or one releases it while another claims
 * it: a lost claim lets a release delete an image a stack still exports, an undone release keeps
 * an image no stack uses. So a change is read back once every change in flight with it has been
 * saved, and made again until it holds (OpenStackImageStore `change`).
 */

/** What one change sets or removes; every field is optional. */
export interface ImageChange {
  name?: string;
  /** `private`, `public`, `shared` or `community`. */
  visibility?: string;
  /** True to hide the image from default listings (Glance's os_hidden). */
  hidden?: boolean;
  /** Properties to set, in the order the call lists them. */
  set?: Record<string, string>;
  /** Properties to remove. */
  unset?: string[];
}

/** An image as `openstack image show -f json` prints it, as far as a change is concerned. */
export interface GlanceRow {
  id: string;
  name?: string;
  visibility?: string;
  /** Older clients print it beside `properties.os_hidden`. */
  is_hidden?: boolean;
  properties?: Record<string, unknown>;
}

/** The `openstack` calls making the change: `image set` for what it sets, `image unset` after. */
export function changeCalls(id: string, change: ImageChange): string[][] {
  const setArgs = [
    ...(change.name !== undefined ? ["--name", change.name] : []),
    ...(change.visibility !== undefined ? [`--${change.visibility}`] : []),
    ...(change.hidden === true ? ["--hidden"] : change.hidden === false ? ["--unhidden"] : []),
    ...Object.entries(change.set ?? {}).flatMap(([k, v]) => ["--property", `${k}=${v}`]),
  ];
  const unsetArgs = (change.unset ?? []).flatMap((k) => ["--property", k]);
  return [
    ...(setArgs.length > 0 ? [["image", "set", ...setArgs, id]] : []),
    ...(unsetArgs.length > 0 ? [["image", "unset", ...unsetArgs, id]] : []),
  ];
}

const text = (v: unknown): string | undefined =>
  v === undefined || v === null ? undefined : typeof v === "string" ? v : JSON.stringify(v);

/** The parts of the change the image, as read now, does not show (empty: it holds). */
export function undoneParts(change: ImageChange, row: GlanceRow): string[] {
  const props = row.properties ?? {};
  const hidden = row.is_hidden ?? text(props.os_hidden) === "true";
  const undone: string[] = [];
  if (change.name !== undefined && row.name !== change.name) undone.push("name");
  if (change.visibility !== undefined && row.visibility !== change.visibility)
    undone.push("visibility");
  if (change.hidden !== undefined && hidden !== change.hidden) undone.push("os_hidden");
  for (const [k, v] of Object.entries(change.set ?? {})) if (text(props[k]) !== v) undone.push(k);
  for (const k of change.unset ?? []) if (props[k] !== undefined) undone.push(k);
  return undone;
}

/** Glance's visibilities, from the narrowest. */
const VISIBILITIES = ["private", "shared", "community", "public"];

/** True when `a` shows the image to more projects than `b` (unset is private). */
export const wider = (a: string | undefined, b: string | undefined): boolean =>
  VISIBILITIES.indexOf(a ?? "private") > VISIBILITIES.indexOf(b ?? "private");

/**
 * What a claim adds to the image so it meets the stack's imageVisibility and imageProperties,
 * without taking away what another stack asked for: a wider visibility (private < shared <
 * community < public), and the properties the image lacks. Empty when it meets them.
 */
export function widening(
  row: GlanceRow,
  visibility: string,
  properties: Record<string, string>,
): ImageChange {
  const props = row.properties ?? {};
  const missing = Object.entries(properties)
    .filter(([k]) => props[k] === undefined)
    .sort(([a], [b]) => (a < b ? -1 : 1));
  return {
    ...(wider(visibility, row.visibility) ? { visibility } : {}),
    ...(missing.length > 0 ? { set: Object.fromEntries(missing) } : {}),
  };
}
