import { createHash } from "node:crypto";
import { Enums, Models, Serialize, Spec, Validation } from "@cyclonedx/cyclonedx-library";
import { PackageURL } from "packageurl-js";
import { version as programVersion } from "../../package.json";

/** What provision/inventory.sh prints on the builder. */
export interface Inventory {
  /** From /etc/os-release (`ID`, `VERSION_ID`, `PRETTY_NAME`) and `dpkg --print-architecture`. */
  os: { id: string; versionId: string; prettyName: string; arch: string };
  /** Installed dpkg packages; `source` only when the source package's name differs. */
  dpkg: { name: string; version: string; arch: string; source?: string }[];
  /** Python distributions of the image's Python (the venv, or the system's for pythonSource apt). */
  pip: { name: string; version: string }[];
  /** R packages (without R's own base packages); empty without R. */
  r: { name: string; version: string }[];
}

export interface SbomMeta {
  /** The image's name (with the fingerprint prefix): the SBOM's root component. */
  imageName: string;
  fingerprint: string;
  /** qemu, aws, openstack, virtualbox: a metadata property, never part of the components. */
  platform: string;
  /** What the image was built from: AMI or Glance ID, URL or path, and its sha256 when known. */
  sourceImage: { ref: string; sha256?: string };
  /** ISO 8601; the document's timestamp. Without it the document has none. */
  createdAt?: string;
}

type Entry = Record<string, unknown>;

function isEntry(value: unknown): value is Entry {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `value`, checked to have a string at every key (and at every optional key it has). */
function stringsOf(value: unknown, where: string, keys: string[], optional: string[] = []): Entry {
  if (!isEntry(value)) throw new Error(`inventory: ${where} is not an object`);
  for (const key of [...keys, ...optional.filter((k) => value[k] !== undefined)]) {
    if (typeof value[key] !== "string") {
      throw new Error(`inventory: ${where}.${key} is not a string: ${JSON.stringify(value[key])}`);
    }
  }
  return value;
}

function listOf(value: Entry, key: string, fields: string[], optional: string[] = []): Entry[] {
  const list = value[key];
  if (!Array.isArray(list)) throw new Error(`inventory: ${key} is not a list`);
  return list.map((item, i) => stringsOf(item, `${key}[${i}]`, fields, optional));
}

/** inventory.sh's stdout, checked: a wrong shape fails here, naming the field. */
export function parseInventory(stdout: string): Inventory {
  let data: unknown;
  try {
    data = JSON.parse(stdout);
  } catch {
    throw new Error(`inventory.sh printed no JSON object: ${stdout.slice(0, 200)}`);
  }
  if (!isEntry(data)) throw new Error("inventory: not a JSON object");
  stringsOf(data.os, "os", ["id", "versionId", "prettyName", "arch"]);
  listOf(data, "dpkg", ["name", "version", "arch"], ["source"]);
  listOf(data, "pip", ["name", "version"]);
  listOf(data, "r", ["name", "version"]);
  return data as unknown as Inventory;
}

/** Property names in the document, namespaced as CycloneDX asks of non-`cdx:` properties. */
export const SBOM_PROPERTY = {
  fingerprint: "dse-image:fingerprint",
  platform: "dse-image:platform",
  osId: "dse-image:os-id",
  osVersionId: "dse-image:os-version-id",
  arch: "dse-image:arch",
} as const;

type NormalizedComponent = Serialize.JSON.Types.Normalized.Component;

const SPEC = Spec.Spec1dot5;
const ROOT_REF = "image";
const SOURCE_IMAGE_REF = "source-image";
/** Fixed namespace of the name-based (v5) serial numbers; changing it changes every serial. */
const SERIAL_NAMESPACE = "0b5d7c52-a90d-41cf-84fd-987e6117b473";

/** RFC 4122 version 5 UUID: the same name always gives the same UUID (exported for its test). */
export function uuidV5(namespace: string, name: string): string {
  const bytes = createHash("sha1")
    .update(Buffer.from(namespace.replace(/-/g, ""), "hex"))
    .update(name, "utf8")
    .digest()
    .subarray(0, 16);
  bytes[6] = (bytes[6] & 0x0f) | 0x50;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const h = bytes.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function purlOf(
  type: "deb" | "pypi" | "cran",
  namespace: string | undefined,
  name: string,
  version: string,
  qualifiers?: Record<string, string>,
): string {
  return new PackageURL(type, namespace, name, version, qualifiers, undefined).toString();
}

function library(name: string, version: string, purl: string): Models.Component {
  return new Models.Component(Enums.ComponentType.Library, name, { version, purl, bomRef: purl });
}

/**
 * One component per package. Deb purls carry the distribution (`distro=debian-12`) and, when it
 * differs, the source package (`upstream=`), which is what Debian's and Ubuntu's security
 * trackers name; pypi purls normalize the name as the purl spec says (lower case, `_` -> `-`).
 */
function packageComponents(inv: Inventory): Models.Component[] {
  const distro = `${inv.os.id}-${inv.os.versionId}`;
  const all = [
    ...inv.dpkg.map((p) =>
      library(
        p.name,
        p.version,
        purlOf("deb", inv.os.id, p.name, p.version, {
          arch: p.arch,
          distro,
          ...(p.source !== undefined && p.source !== p.name ? { upstream: p.source } : {}),
        }),
      ),
    ),
    ...inv.pip.map((p) => library(p.name, p.version, purlOf("pypi", undefined, p.name, p.version))),
    ...inv.r.map((p) => library(p.name, p.version, purlOf("cran", undefined, p.name, p.version))),
  ];
  // A bom-ref is unique in a document: one component per purl.
  return [...new Map(all.map((c) => [c.purl, c])).values()];
}

function sourceImageComponent(src: SbomMeta["sourceImage"]): Models.Component {
  const component = new Models.Component(Enums.ComponentType.OperatingSystem, src.ref, {
    bomRef: SOURCE_IMAGE_REF,
    description: "The image this image was built from",
  });
  if (src.sha256 !== undefined) {
    if (!/^[0-9a-f]{64}$/i.test(src.sha256)) {
      throw new Error(`sourceImage.sha256 is not a sha256: ${src.sha256}`);
    }
    component.hashes.set(Enums.HashAlgorithm["SHA-256"], src.sha256.toLowerCase());
  }
  if (/^https?:\/\//i.test(src.ref)) {
    component.externalReferences.add(
      new Models.ExternalReference(src.ref, Enums.ExternalReferenceType.Distribution),
    );
  }
  return component;
}

function imageComponent(inventory: Inventory, meta: SbomMeta): Models.Component {
  const { os } = inventory;
  const root = new Models.Component(Enums.ComponentType.OperatingSystem, meta.imageName, {
    bomRef: ROOT_REF,
    version: meta.fingerprint,
    description: `Data-science VM image based on ${os.prettyName}, ${os.arch}`,
  });
  root.properties.add(new Models.Property(SBOM_PROPERTY.osId, os.id));
  root.properties.add(new Models.Property(SBOM_PROPERTY.osVersionId, os.versionId));
  root.properties.add(new Models.Property(SBOM_PROPERTY.arch, os.arch));
  return root;
}

/** The same image on the same platform always has the same serial number. */
function serialNumberOf(meta: SbomMeta): string {
  const name = [meta.fingerprint, meta.imageName, meta.platform].join("\0");
  return `urn:uuid:${uuidV5(SERIAL_NAMESPACE, name)}`;
}

function dateOf(iso: string): Date {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) throw new Error(`createdAt is not a date: ${iso}`);
  return date;
}

/**
 * The image's CycloneDX 1.5 SBOM as a JSON object. The root (metadata.component) is of type
 * `operating-system`, which CycloneDX defines as an operating system "without regard to
 * deployment model (installed on physical hardware, virtual machine, image, etc)"; `container`
 * means OS-level virtualization, which a VM image is not. The source image is the root's
 * pedigree ancestor (the library models no pedigree, so it is added to the normalized root), so
 * `components` holds the packages only: the same inventory gives the same components on every
 * platform. Deterministic: no random serial number (it is derived from fingerprint, image name
 * and platform), and the timestamp is `meta.createdAt`.
 */
export function buildSbom(inventory: Inventory, meta: SbomMeta): Record<string, unknown> {
  const root = imageComponent(inventory, meta);
  const bom = new Models.Bom({ serialNumber: serialNumberOf(meta) });
  bom.metadata.component = root;
  if (meta.createdAt !== undefined) bom.metadata.timestamp = dateOf(meta.createdAt);
  bom.metadata.tools.components.add(
    new Models.Component(Enums.ComponentType.Application, "dse-image", {
      version: programVersion,
    }),
  );
  bom.metadata.properties.add(new Models.Property(SBOM_PROPERTY.fingerprint, meta.fingerprint));
  bom.metadata.properties.add(new Models.Property(SBOM_PROPERTY.platform, meta.platform));
  for (const component of packageComponents(inventory)) {
    bom.components.add(component);
    root.dependencies.add(component.bomRef);
  }

  const factory = new Serialize.JSON.Normalize.Factory(SPEC);
  const options = { sortLists: true };
  const doc = factory.makeForBom().normalize(bom, options);
  const normalizedRoot = doc.metadata?.component;
  const ancestor = factory
    .makeForComponent()
    .normalize(sourceImageComponent(meta.sourceImage), options);
  if (normalizedRoot === undefined || ancestor === undefined) {
    throw new Error("the library normalized the image or its source image away");
  }
  const withPedigree: NormalizedComponent & { pedigree: { ancestors: NormalizedComponent[] } } = {
    ...normalizedRoot,
    pedigree: { ancestors: [ancestor] },
  };
  doc.metadata = { ...doc.metadata, component: withPedigree };
  // The library lists every component in the graph, and an entry without dependsOn claims "no
  // dependencies", which the inventory does not know for a package: only the root's stays.
  doc.dependencies = doc.dependencies?.filter((d) => d.ref === ROOT_REF);
  return doc as unknown as Record<string, unknown>;
}

/** The document's file content: what `<image name>.cdx.json` holds and its sha256 is over. */
export function formatSbom(doc: Record<string, unknown>): string {
  return `${JSON.stringify(doc, null, 2)}\n`;
}

let validator: Validation.JsonStrictValidator | undefined;

/**
 * Validates against the CycloneDX 1.5 JSON schema, strictly (no properties the spec lacks).
 * Needs the library's optional peer dependencies ajv, ajv-formats and ajv-formats-draft2019
 * (devDependencies here: validation runs in tests).
 */
export async function validateSbom(doc: Record<string, unknown>): Promise<void> {
  // The validator compiles the schema once, on first use.
  validator ??= new Validation.JsonStrictValidator(Spec.Version.v1dot5);
  const errors: unknown = await validator.validate(JSON.stringify(doc));
  if (errors !== null) {
    throw new Error(`not a valid CycloneDX 1.5 document: ${JSON.stringify(errors)}`);
  }
}
