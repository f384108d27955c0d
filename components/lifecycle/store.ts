import { execFile } from "node:child_process";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { projectRelative } from "../project-files";
import { shellQuote } from "../shell";
import { probeViewOf } from "../store/image";
import { TYPED_STORES, openStore } from "../store/open";
import type { ProbeResult } from "./plan";

/** The shared image store tool (components/lifecycle/imagestore.py). */
export const IMAGESTORE = path.join(__dirname, "imagestore.py");

export type StoreCommand =
  "probe" | "source" | "pending" | "publish" | "record" | "release" | "discard" | "fail";

/** The exact shell command of a store step, as command.local runs it (rule P3). */
export function storeCommand(command: StoreCommand): string {
  return `python3 ${shellQuote(projectRelative(IMAGESTORE))} ${command}`;
}

/** Which store, and its settings (`STORE`, `STORE_CONFIG`). */
export interface StoreRef {
  store: "openstack" | "aws" | "qemu" | "virtualbox";
  config: Record<string, unknown>;
  /** Extra environment for the CLIs (e.g. AWS_PROFILE). */
  env?: Record<string, string>;
}

export function storeEnv(ref: StoreRef): Record<string, string> {
  return { STORE: ref.store, STORE_CONFIG: JSON.stringify(ref.config), ...ref.env };
}

/** What the program asks the store before it declares anything. */
export type Probe = (
  ref: StoreRef,
  query: { imageName: string; stackTag: string },
) => Promise<ProbeResult>;

/** A cloud's base image by content: its ID and the cloud's digest of its bytes. */
export interface SourceImage {
  id: string;
  checksum: string;
}

/** What the program asks the store about the image a build starts from. */
export type DescribeSource = (ref: StoreRef, sourceImage: string) => Promise<SourceImage>;

/**
 * Runs `imagestore.py <command>` with the operator's credentials (rule C4: the same environment
 * the lifecycle's commands get) and parses its JSON; a failure rejects with the tool's last line.
 * Asynchronous on purpose: the program must not block while it waits.
 */
function askStore<T>(
  ref: StoreRef,
  command: StoreCommand,
  env: Record<string, string>,
): Promise<T> {
  return new Promise((resolve, reject) => {
    execFile(
      "python3",
      [IMAGESTORE, command],
      { env: { ...process.env, ...storeEnv(ref), ...env }, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(stderr.trim().split("\n").pop() || error.message));
        else resolve(JSON.parse(stdout) as T);
      },
    );
  });
}

/** The images of the family and the stack's builders, from the platform's typed store. */
async function probeTyped(
  ref: StoreRef,
  query: { imageName: string; stackTag: string },
): Promise<ProbeResult> {
  const store = openStore(ref);
  const images = (await store.listFamily(query.imageName)).map(probeViewOf);
  return { images, builders: await store.listBuilders(query.stackTag) };
}

export const probeStore: Probe = (ref, query) =>
  (TYPED_STORES.includes(ref.store)
    ? probeTyped(ref, query)
    : askStore<ProbeResult>(ref, "probe", {
        IMAGE_NAME: query.imageName,
        STACK_TAG: query.stackTag,
      })
  ).catch((e: Error) => {
    throw new pulumi.RunError(`${ref.store}: could not look up existing images: ${e.message}`);
  });

export const describeSourceImage: DescribeSource = (ref, sourceImage) => {
  const typed = TYPED_STORES.includes(ref.store) ? openStore(ref) : undefined;
  return typed?.describeSource
    ? typed.describeSource(sourceImage)
    : askStore<SourceImage>(ref, "source", { SOURCE_IMAGE: sourceImage });
};
