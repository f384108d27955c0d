/**
 * imagestore.py `record`: a stack claims only a complete image. Any other finds one line that
 * says what became of the image and that the next `pulumi up` rebuilds it (through the local
 * store, whose record states are files the test can write).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

const IMAGESTORE = path.join(__dirname, "..", "..", "components", "lifecycle", "imagestore.py");

let dir: string;
let image: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dse-imagestore-"));
  image = path.join(dir, "dse_base-0123456789ab-20261129.qcow2");
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** An image file whose record says `state`. */
function imageIn(state: string) {
  fs.writeFileSync(image, "qcow2");
  fs.writeFileSync(`${image}.json`, JSON.stringify({ state }));
}

function record() {
  const r = spawnSync("python3", [IMAGESTORE, "record"], {
    env: {
      ...process.env,
      STORE: "qemu",
      STORE_CONFIG: JSON.stringify({ outputDir: dir }),
      IMAGE_ID: image,
      STACK_TAG: "3476bb56",
      STACK_ID: "organization/dse-image/dev",
    },
    encoding: "utf8",
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("imagestore.py record", () => {
  it("refuses an image deleted outside Pulumi", () => {
    const r = record();
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(
      `imagestore: image ${image} is gone: it was deleted outside Pulumi; run \`pulumi up\` again to rebuild it\n`,
    );
  });

  it("refuses an image the cloud marked broken", () => {
    imageIn("broken");
    const r = record();
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `imagestore: image ${image} is broken: the cloud can no longer boot it; run \`pulumi up\` again to rebuild it\n`,
    );
  });

  it("refuses an image that is no longer complete", () => {
    imageIn("pending");
    const r = record();
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `imagestore: image ${image} is pending: it was changed outside Pulumi; run \`pulumi up\` again to rebuild it\n`,
    );
  });
});
