/**
 * Claims one local image COUNT times under tags PREFIX0..PREFIX<COUNT-1>, as a run's store does
 * (record-lock.test.ts runs two at once). Env: OUTPUT_DIR, IMAGE_ID, PREFIX, COUNT. Test utility.
 */
import { LocalImageStore } from "../../components/store/local";
import type { StoredImage } from "../../components/store/image";

const env = (name: string) => process.env[name] ?? "";
const store = new LocalImageStore("qemu", { outputDir: env("OUTPUT_DIR"), ext: "qcow2" });
const image = { id: env("IMAGE_ID") } as StoredImage;
async function main() {
  for (let i = 0; i < Number(env("COUNT")); i++)
    await store.setClaim(image, "users", `${env("PREFIX")}${i}`, "organization/dse-image/s");
}
void main();
