import { describe, expect, it } from "vitest";
import {
  buildSbom,
  formatSbom,
  parseInventory,
  uuidV5,
  validateSbom,
  type Inventory,
  type SbomMeta,
} from "../../components/lifecycle/sbom";
import pkg from "../../package.json";

/** Shaped like inventory.sh's output on a Debian 12 builder with python, scipy and r. */
const inventory = (): Inventory => ({
  os: {
    id: "debian",
    versionId: "12",
    prettyName: "Debian GNU/Linux 12 (bookworm)",
    arch: "amd64",
  },
  dpkg: [
    { name: "bash", version: "5.2.15-2+b7", arch: "amd64" },
    { name: "libc6", version: "2.36-9+deb12u9", arch: "amd64", source: "glibc" },
    { name: "python3", version: "3.11.2-1+b1", arch: "amd64", source: "python3-defaults" },
    { name: "r-base-core", version: "4.2.2.20221110-2", arch: "amd64", source: "r-base" },
    { name: "tzdata", version: "2024b-0+deb12u1", arch: "all" },
  ],
  pip: [
    { name: "jupyter_core", version: "5.7.2" },
    { name: "numpy", version: "1.26.4" },
    { name: "pillow", version: "10.4.0" },
    { name: "python-dateutil", version: "2.9.0.post0" },
    { name: "scikit-learn", version: "1.5.2" },
  ],
  r: [
    { name: "IRkernel", version: "1.3.2" },
    { name: "jsonlite", version: "1.8.4" },
    { name: "Matrix", version: "1.5-3" },
  ],
});

const FP = "3f9c0e8a1b2d4c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a";
const QCOW2_SHA = "5da221d8f7434ee86145e78a2c60ca45eb4ef8296535e04f6f333193225792aa";
const meta = (over: Partial<SbomMeta> = {}): SbomMeta => ({
  imageName: "dse-3f9c0e8a1b2d",
  fingerprint: FP,
  platform: "qemu",
  sourceImage: {
    ref: "https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2",
    sha256: QCOW2_SHA,
  },
  createdAt: "2026-11-29T10:00:00Z",
  ...over,
});

const EXPECTED_PURLS = [
  "pkg:cran/IRkernel@1.3.2",
  "pkg:cran/Matrix@1.5-3",
  "pkg:cran/jsonlite@1.8.4",
  "pkg:deb/debian/bash@5.2.15-2+b7?arch=amd64&distro=debian-12",
  "pkg:deb/debian/libc6@2.36-9+deb12u9?arch=amd64&distro=debian-12&upstream=glibc",
  "pkg:deb/debian/python3@3.11.2-1+b1?arch=amd64&distro=debian-12&upstream=python3-defaults",
  "pkg:deb/debian/r-base-core@4.2.2.20221110-2?arch=amd64&distro=debian-12&upstream=r-base",
  "pkg:deb/debian/tzdata@2024b-0+deb12u1?arch=all&distro=debian-12",
  "pkg:pypi/jupyter-core@5.7.2",
  "pkg:pypi/numpy@1.26.4",
  "pkg:pypi/pillow@10.4.0",
  "pkg:pypi/python-dateutil@2.9.0.post0",
  "pkg:pypi/scikit-learn@1.5.2",
];

interface Component {
  type: string;
  name: string;
  version?: string;
  purl?: string;
  "bom-ref"?: string;
  [key: string]: unknown;
}
interface Doc {
  specVersion: string;
  serialNumber: string;
  metadata: {
    timestamp?: string;
    tools: { components: Component[] };
    component: Component & { pedigree: { ancestors: Component[] } };
    properties: { name: string; value: string }[];
  };
  components: Component[];
  dependencies: { ref: string; dependsOn?: string[] }[];
}
const build = (inv: Inventory = inventory(), m: SbomMeta = meta()) =>
  buildSbom(inv, m) as unknown as Doc;

describe("buildSbom", () => {
  it("builds a document the CycloneDX 1.5 JSON schema accepts", async () => {
    const doc = build();
    expect(doc.specVersion).toBe("1.5");
    await expect(validateSbom(doc as unknown as Record<string, unknown>)).resolves.toBeUndefined();
  });

  it("gives every package one library component with its exact purl as name, version, bom-ref", () => {
    const doc = build();
    expect(doc.components.map((c) => c.purl).sort()).toEqual(EXPECTED_PURLS);
    expect(doc.components.every((c) => c.type === "library" && c["bom-ref"] === c.purl)).toBe(true);
    expect(doc.components.find((c) => c.purl?.startsWith("pkg:deb/debian/libc6@"))).toEqual({
      type: "library",
      name: "libc6",
      version: "2.36-9+deb12u9",
      "bom-ref": "pkg:deb/debian/libc6@2.36-9+deb12u9?arch=amd64&distro=debian-12&upstream=glibc",
      purl: "pkg:deb/debian/libc6@2.36-9+deb12u9?arch=amd64&distro=debian-12&upstream=glibc",
    });
    // The component keeps the distribution's spelling; only the purl is normalized.
    expect(doc.components.find((c) => c.purl === "pkg:pypi/jupyter-core@5.7.2")?.name).toBe(
      "jupyter_core",
    );
  });

  it("names the distribution of an Ubuntu image in its deb purls", () => {
    const inv = inventory();
    inv.os = { id: "ubuntu", versionId: "24.04", prettyName: "Ubuntu 24.04.1 LTS", arch: "amd64" };
    inv.dpkg = [{ name: "bash", version: "5.2.21-2ubuntu4", arch: "amd64" }];
    inv.pip = [];
    inv.r = [];
    expect(build(inv).components.map((c) => c.purl)).toEqual([
      "pkg:deb/ubuntu/bash@5.2.21-2ubuntu4?arch=amd64&distro=ubuntu-24.04",
    ]);
  });

  it("makes the image the root, with fingerprint and platform in the metadata", () => {
    const { metadata } = build();
    expect(metadata.timestamp).toBe("2026-11-29T10:00:00.000Z");
    expect(metadata.properties).toEqual([
      { name: "dse-image:fingerprint", value: FP },
      { name: "dse-image:platform", value: "qemu" },
    ]);
    expect(metadata.tools.components).toEqual([
      { type: "application", name: "dse-image", version: pkg.version },
    ]);
    const { pedigree, ...root } = metadata.component;
    expect(root).toEqual({
      type: "operating-system",
      name: "dse-3f9c0e8a1b2d",
      version: FP,
      "bom-ref": "image",
      description: "Data-science VM image based on Debian GNU/Linux 12 (bookworm), amd64",
      properties: [
        { name: "dse-image:arch", value: "amd64" },
        { name: "dse-image:os-id", value: "debian" },
        { name: "dse-image:os-version-id", value: "12" },
      ],
    });
    expect(pedigree.ancestors).toHaveLength(1);
  });

  it("records the source image as the root's pedigree ancestor, with its sha256 and URL", () => {
    expect(build().metadata.component.pedigree).toEqual({
      ancestors: [
        {
          type: "operating-system",
          name: meta().sourceImage.ref,
          "bom-ref": "source-image",
          description: "The image this image was built from",
          hashes: [{ alg: "SHA-256", content: QCOW2_SHA }],
          externalReferences: [{ url: meta().sourceImage.ref, type: "distribution" }],
        },
      ],
    });
  });

  it("records a cloud image ID without hash or URL, and rejects a malformed sha256", async () => {
    const doc = build(inventory(), meta({ platform: "aws", sourceImage: { ref: "ami-0a1b2c3d" } }));
    expect(doc.metadata.component.pedigree.ancestors).toEqual([
      {
        type: "operating-system",
        name: "ami-0a1b2c3d",
        "bom-ref": "source-image",
        description: "The image this image was built from",
      },
    ]);
    await expect(validateSbom(doc as unknown as Record<string, unknown>)).resolves.toBeUndefined();
    expect(() => build(inventory(), meta({ sourceImage: { ref: "x", sha256: "abc" } }))).toThrow(
      "sourceImage.sha256 is not a sha256: abc",
    );
  });

  it("links the root to every package and claims no dependencies between packages", () => {
    const deps = build().dependencies;
    expect(deps.map((d) => d.ref)).toEqual(["image"]);
    expect([...(deps[0].dependsOn ?? [])].sort()).toEqual(EXPECTED_PURLS);
  });

  it("is deterministic: the same inventory in any order gives byte-identical JSON", () => {
    const text = formatSbom(buildSbom(inventory(), meta()));
    const shuffled = inventory();
    shuffled.dpkg.reverse();
    shuffled.pip.reverse();
    shuffled.r.reverse();
    expect(formatSbom(buildSbom(shuffled, meta()))).toBe(text);
    expect(text.endsWith("}\n")).toBe(true);
    expect(JSON.parse(text)).toEqual(buildSbom(inventory(), meta()));
  });

  it("derives the serial number from fingerprint, image name and platform (UUID v5)", () => {
    // Python: uuid.uuid5(uuid.NAMESPACE_DNS, "python.org")
    expect(uuidV5("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "python.org")).toBe(
      "886313e1-3b8a-5372-9b90-0c9aee199e5d",
    );
    // Python: uuid.uuid5(UUID("0b5d7c52-a90d-41cf-84fd-987e6117b473"), f"{FP}\0{name}\0qemu")
    expect(build().serialNumber).toBe("urn:uuid:50e32d8a-22a4-5cc1-bca9-ad0437260ac9");
    expect(build(inventory(), meta({ platform: "aws" })).serialNumber).not.toBe(
      build().serialNumber,
    );
  });

  it("gives two platforms with the same inventory the same components", () => {
    const qemu = build();
    const aws = build(inventory(), meta({ platform: "aws", sourceImage: { ref: "ami-0a1b2c3d" } }));
    expect(aws.components).toEqual(qemu.components);
    expect(aws.dependencies).toEqual(qemu.dependencies);
    expect(aws.metadata.properties).toEqual([
      { name: "dse-image:fingerprint", value: FP },
      { name: "dse-image:platform", value: "aws" },
    ]);
  });

  it("lists a package the inventory repeats once", () => {
    const inv = inventory();
    inv.pip.push({ name: "numpy", version: "1.26.4" }, { name: "NumPy", version: "1.26.4" });
    expect(build(inv).components.filter((c) => c.purl === "pkg:pypi/numpy@1.26.4")).toHaveLength(1);
  });

  it("has no timestamp without createdAt and rejects a createdAt that is no date", () => {
    expect(build(inventory(), meta({ createdAt: undefined })).metadata.timestamp).toBeUndefined();
    expect(() => build(inventory(), meta({ createdAt: "yesterday" }))).toThrow(
      "createdAt is not a date: yesterday",
    );
  });
});

describe("validateSbom", () => {
  it("rejects a component type the spec does not know", async () => {
    const doc = build();
    doc.components[0].type = "virtual-machine";
    await expect(validateSbom(doc as unknown as Record<string, unknown>)).rejects.toThrow(
      /^not a valid CycloneDX 1\.5 document: .*components\/0\/type/,
    );
  });

  it("rejects a property the spec does not have (strict schema)", async () => {
    const doc = build() as unknown as Record<string, unknown>;
    doc.imageName = "dse-3f9c0e8a1b2d";
    await expect(validateSbom(doc)).rejects.toThrow(/imageName/);
  });
});

describe("parseInventory", () => {
  it("reads inventory.sh's stdout", () => {
    expect(parseInventory(`${JSON.stringify(inventory())}\n`)).toEqual(inventory());
  });

  it("names what is missing or not JSON", () => {
    const { r: _r, ...withoutR } = inventory();
    expect(() => parseInventory(JSON.stringify(withoutR))).toThrow("inventory: r is not a list");
    const badVersion = inventory() as unknown as { pip: { version: unknown }[] };
    badVersion.pip[1].version = 1.26;
    expect(() => parseInventory(JSON.stringify(badVersion))).toThrow(
      "inventory: pip[1].version is not a string: 1.26",
    );
    expect(() => parseInventory("inventory.sh: FAILED")).toThrow(
      "inventory.sh printed no JSON object: inventory.sh: FAILED",
    );
  });
});
